#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench-peer`: the same DSA workloads (scripts/vm/suites/dsa-peer-bench.sh) on the
# upstream C idxd (the peer kernel, IMS_KVARIANT=peer) and on our Rust idxd (the main
# kernel), in alternating VM boots, C first, so that machine noise hits both alike. Prints
# each figure's median per driver and the ratio Rust/C (for throughput, above 1 is better
# for Rust; for the round trip, below 1 is).
#
# Environment: IMS_PEER_BENCH_ROUNDS (boots per driver, default 3, at least 3).
# Logs: out/bench-peer/{c,rust}-N/ (each boot's tap.log and console.log), summary.txt.

. "$(dirname "$0")/lib/common.sh"

rounds=${IMS_PEER_BENCH_ROUNDS:-3}
[ "$rounds" -ge 3 ] || die "IMS_PEER_BENCH_ROUNDS must be at least 3"
out=$IMS_TOP/out/bench-peer
list=$out/bench.list
rm -rf "$out"
mkdir -p "$out"
echo dsa-peer-bench > "$list"

# boot DRIVER N: one VM run of the benchmark suite on DRIVER (c or rust).
boot() {
	local variant=

	[ "$1" = c ] && variant=peer
	log "bench-peer: $1, round $2 of $rounds"
	IMS_KVARIANT=$variant IMS_OUT=$out/$1-$2 "$IMS_TOP/scripts/vm/run.sh" check "$list" \
		> "$out/$1-$2.txt" 2>&1 || die "the $1 boot $2 failed: see $out/$1-$2.txt"
	grep -h '^# peer-bench ' "$out/$1-$2/tap.log" | sed "s/^# peer-bench /$1 /" >> "$out/figures"
}

: > "$out/figures"
for i in $(seq "$rounds"); do
	boot c "$i"
	boot rust "$i"
done

# Medians per driver and figure, then one line per figure: C, Rust, Rust/C.
awk -v what="figure" -f "$IMS_TOP/scripts/lib/ratio.awk" "$out/figures" | tee "$out/summary.txt"
log "bench-peer: $rounds boots per driver; figures in $out/figures"
