# SPDX-License-Identifier: GPL-2.0
#
# Sourced after common.sh by the scripts that set the C idxd (the peer kernels) against our
# Rust idxd: scripts/peer-bench.sh and scripts/trace-dsa.sh.

# alternate NAME SUITE TAG ROUNDS CVARIANT RUSTVARIANT TITLE: boot the C kernel (variant
# CVARIANT) and the Rust one (RUSTVARIANT; empty: the main kernel) in turn, C first, ROUNDS
# times each, each boot running the suite SUITE, so that machine noise hits both alike.
# Every "# TAG FIGURE VALUE" line of a boot goes to out/NAME/figures as "DRIVER FIGURE
# VALUE"; then the medians per driver and Rust/C (scripts/lib/ratio.awk, first column
# headed TITLE) to out/NAME/summary.txt and standard output. Logs: out/NAME/{c,rust}-N/.
alternate() {
	local name=$1 suite=$2 tag=$3 rounds=$4 cvar=$5 rvar=$6 title=$7
	local out=$IMS_TOP/out/$name i drv variant

	rm -rf "$out"
	mkdir -p "$out"
	echo "$suite" > "$out/suite.list"
	: > "$out/figures"
	for i in $(seq "$rounds"); do
		for drv in c rust; do
			variant=$rvar
			[ $drv = c ] && variant=$cvar
			log "$name: $drv, round $i of $rounds"
			IMS_KVARIANT=$variant IMS_OUT=$out/$drv-$i "$IMS_TOP/scripts/vm/run.sh" check \
				"$out/suite.list" > "$out/$drv-$i.txt" 2>&1 ||
				die "the $drv boot $i failed: see $out/$drv-$i.txt"
			grep -h "^# $tag " "$out/$drv-$i/tap.log" |
				sed "s/^# $tag /$drv /" >> "$out/figures"
		done
	done
	awk -v what="$title" -f "$IMS_TOP/scripts/lib/ratio.awk" "$out/figures" |
		tee "$out/summary.txt"
}
