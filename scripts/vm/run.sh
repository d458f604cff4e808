#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the test VM and run suites in it.
#
# Usage: run.sh check LISTFILE	run the suites named in LISTFILE, print their TAP as it
#				comes, then judge the run (scripts/vm/tapcheck.py)
#	 run.sh shell		interactive shell on the serial console
#
# Logs of the last run: out/console.log (kernel), out/tap.log (tests), out/qemu.log.
# Environment: IMS_VM_TIMEOUT (whole run, seconds, default 1500), IMS_VM_APPEND (extra
# kernel parameters), IMS_VM_QEMU_ARGS (extra QEMU arguments, e.g. devices), IMS_OUT (log
# directory instead of out/), IMS_VM_KERNEL and IMS_VM_INITRD (another kernel or initramfs),
# IMS_KVARIANT (boot that variant's kernel and initramfs, e.g. builtin: scripts/lib/common.sh).

. "$(dirname "$0")/../lib/common.sh"

mode=${1:?usage: run.sh check LISTFILE | run.sh shell}
out=${IMS_OUT:-$IMS_TOP/out}
mkdir -p "$out"

kernel=${IMS_VM_KERNEL:-$KOBJ/arch/x86/boot/bzImage}
initrd=${IMS_VM_INITRD:-$INITRAMFS}
[ -x "$QEMU_BIN" ] || die "no QEMU at $QEMU_BIN: run scripts/qemu.sh"
[ -f "$kernel" ] || die "no kernel at $kernel: run scripts/kernel.sh"
[ -f "$initrd" ] || die "no initramfs at $initrd: run scripts/initramfs.sh"

# vfio_pci.disable_denylist=1: vfio-pci (6.12 and 7.3) refuses 8086:0b25 (DSA) unless told
# otherwise, and the VFIO suites bind our emulated DSA to it.
append="console=ttyS0,115200 panic=-1 oops=panic printk.devkmsg=on vfio_pci.disable_denylist=1"
# no5lvl: with -cpu max the kernel would use 5-level paging, and Linux (6.12, 7.3) derives
# KASAN's shadow start from the LA57 CPU feature bit, which get_cpu_cap() clears and sets
# again while it identifies the boot CPU. An interrupt in that window made KASAN report a
# wild access at an ff11... (5-level direct map) address, in about one boot of ten on 6.12:
# a false positive that fails the run's log check, and nothing this project tests needs
# 5-level paging. (The kernel lists no5lvl among "unknown" parameters: it is read before
# those are parsed.)
append+=" no5lvl"
append+=" ims_mode=$mode"
qemu=("$QEMU_BIN"
	-M q35,kernel-irqchip=split -accel tcg -cpu max -smp 2 -m 1G
	-device intel-iommu,intremap=on
	-device intel-dsa
	-device ims-eq
	-bios /usr/share/qemu/qboot.rom -L /usr/share/qemu
	-nodefaults -display none -no-reboot
	-kernel "$kernel" -initrd "$initrd")
# shellcheck disable=SC2206
qemu+=(${IMS_VM_QEMU_ARGS:-})

if [ "$mode" = shell ]; then
	exec "${qemu[@]}" -append "$append ${IMS_VM_APPEND:-}" -serial mon:stdio -serial null
fi

list=${2:?usage: run.sh check LISTFILE}
suites=$(grep -v '^#' "$list" | grep . | paste -sd, -)
timeout_s=${IMS_VM_TIMEOUT:-1500}

rm -f "$out"/{console,tap,qemu}.log
: > "$out/tap.log"
log "booting the VM (suites: $suites; timeout ${timeout_s}s)"
start=$(date +%s)
timeout -k 10 "$timeout_s" "${qemu[@]}" \
	-append "$append ims_suites=$suites ${IMS_VM_APPEND:-}" \
	-serial "file:$out/console.log" -serial "file:$out/tap.log" \
	> "$out/qemu.log" 2>&1 &
qpid=$!
tail -n +1 -F --pid=$qpid "$out/tap.log" 2>/dev/null | grep -v '^IMS-' || true
wait $qpid && qrc=0 || qrc=$?
log "VM finished in $(($(date +%s) - start))s (QEMU exit status $qrc)"
[ $qrc = 124 ] && log "the VM hit its ${timeout_s}s timeout"
[ -s "$out/qemu.log" ] && sed 's/^/qemu: /' "$out/qemu.log" >&2

printf '\n'
"$IMS_TOP/scripts/vm/tapcheck.py" "$out/tap.log" "$out/console.log" "$suites"
