#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Compare the idxd sysfs ABI of the upstream C idxd (the peer kernel, IMS_KVARIANT=peer)
# with our Rust idxd's (the main kernel): one VM boot each runs
# scripts/vm/suites/dsa-peer-abi.sh, which loads the same accel-config configuration and
# lists every attribute under /sys/bus/dsa/devices/* with its mode and value. Prints the
# differences, one per line:
#
#	only-c	  ATTR MODE VALUE		the C driver has it, ours lacks it
#	only-rust ATTR MODE VALUE		ours has it, the C driver lacks it
#	mode	  ATTR C-MODE RUST-MODE
#	value	  ATTR C-VALUE | RUST-VALUE
#
# Logs: out/peer-abi/{c,rust}/, the lists in out/peer-abi/{c,rust}.abi, the differences in
# out/peer-abi/diff.txt.

. "$(dirname "$0")/lib/common.sh"

out=$IMS_TOP/out/peer-abi
rm -rf "$out"
mkdir -p "$out"
echo dsa-peer-abi > "$out/abi.list"

for drv in c rust; do
	variant=
	[ $drv = c ] && variant=peer
	log "peer-abi: listing the attributes on the $drv driver"
	IMS_KVARIANT=$variant IMS_OUT=$out/$drv "$IMS_TOP/scripts/vm/run.sh" check "$out/abi.list" \
		> "$out/$drv.txt" 2>&1 || die "the $drv boot failed: see $out/$drv.txt"
	sed -n 's/^# abi //p' "$out/$drv/tap.log" | sort > "$out/$drv.abi"
	[ -s "$out/$drv.abi" ] || die "no attributes listed on the $drv driver"
done

awk '
FNR == 1 { side++ }
{
	attr = $1; mode = $2; val = $0
	sub(/^[^ ]+ [^ ]+ ?/, "", val)
	if (side == 1) { cm[attr] = mode; cv[attr] = val } else { rm[attr] = mode; rv[attr] = val }
	all[attr] = 1
}
END {
	for (a in all) {
		if (!(a in rm))
			printf "only-c    %s %s %s\n", a, cm[a], cv[a]
		else if (!(a in cm))
			printf "only-rust %s %s %s\n", a, rm[a], rv[a]
		else {
			if (cm[a] != rm[a])
				printf "mode      %s %s %s\n", a, cm[a], rm[a]
			if (cv[a] != rv[a])
				printf "value     %s %s | %s\n", a, cv[a], rv[a]
		}
	}
}' "$out/c.abi" "$out/rust.abi" | sort -k1,1 -k2,2 | tee "$out/diff.txt"
log "peer-abi: $(wc -l < "$out/c.abi") attributes on C, $(wc -l < "$out/rust.abi") on Rust," \
	"$(wc -l < "$out/diff.txt") differences (out/peer-abi/diff.txt)"
