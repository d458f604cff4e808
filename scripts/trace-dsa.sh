#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make trace-dsa`: where one DSA completion's time goes, on our Rust idxd (IMS) and on the
# upstream C idxd (MSI-X), each on its trace kernel (scripts/config/trace.config: the main
# and the peer kernel with ftrace). Boots each kernel IMS_TRACE_ROUNDS times (default 2),
# alternating, with the suite dsa-trace, which splits dmatest's 64-byte round trips into
# stages. Prints each stage's median per driver and the ratio Rust/C.
#
# Logs: out/trace-dsa/{c,rust}-N/ (tap.log holds the figures and a few raw round trips).

. "$(dirname "$0")/lib/common.sh"

rounds=${IMS_TRACE_ROUNDS:-2}
out=$IMS_TOP/out/trace-dsa
rm -rf "$out"
mkdir -p "$out"
echo dsa-trace > "$out/trace.list"

boot() {
	local variant=trace

	[ "$1" = c ] && variant=peer+trace
	log "trace-dsa: $1, round $2 of $rounds"
	IMS_KVARIANT=$variant IMS_OUT=$out/$1-$2 "$IMS_TOP/scripts/vm/run.sh" check \
		"$out/trace.list" > "$out/$1-$2.txt" 2>&1 ||
		die "the $1 boot $2 failed: see $out/$1-$2.txt"
	grep -h '^# trace-dsa ' "$out/$1-$2/tap.log" | sed "s/^# trace-dsa /$1 /" >> "$out/figures"
}

: > "$out/figures"
for i in $(seq "$rounds"); do
	boot c "$i"
	boot rust "$i"
done

# The median over boots of each driver's per-boot medians (the second column).
awk -v what="stage (us)" -f "$IMS_TOP/scripts/lib/ratio.awk" "$out/figures" | tee "$out/summary.txt"
