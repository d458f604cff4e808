# The Rust DSA driver (drivers/dma/idxd-rs, module idxd) on the emulated DSA: probe, the
# module alias, two kernel WQs configured through the idxd sysfs ABI (lib.sh: dsa_setup),
# dmaengine channels that dmatest drives (memcpy and memset, 0 failures),
# each enabled WQ an IMS user with its own vector and cookie, completions counted on IMS
# vectors rather than MSI-X 0, the driver's KUnit suite (its
# register layouts, run when the module loads), recovery from an injected
# software error and a halted WQ, unbind with work outstanding, and 10 unbind/rebind and
# 10 unload/reload cycles. Leaves the device unbound and the module unloaded.
# timeout: 900
. /tests/lib.sh

echo "TAP version 13"
echo "1..15"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ]; then
	for i in $(seq 15); do echo "ok $i # SKIP no 8086:0b25 device"; done
	exit 0
fi
bdf=${dev##*/}
[ -e "$dev/driver" ] && echo "$bdf" > "$dev/driver/unbind"
echo > "$dev/driver_override"

bound() { [ "$(pci_driver "$dev")" = idxd ]; }
# bound and configured: two kernel WQs enabled as DMA channels.
ready() { bound && dsa_setup; }
# The DMA channels of our device, e.g. "dma0chan0 dma0chan1".
chans() {
	for c in /sys/class/dma/*; do
		[ "$(basename "$(readlink -f "$c/device")")" = "$bdf" ] && basename "$c"
	done
}
# irqs PATTERN: the total count of the /proc/interrupts lines matching PATTERN.
irqs() {
	grep "$1" /proc/interrupts | awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }'
}
# dmatest_run KIND ITERATIONS (lib.sh's, on our device).
dmatest_run() { dmatest_dev "$bdf" "$@"; }
# debug block of the emulated device: INJECT at BAR0 + 0x1008.
bar0=$(head -1 "$dev/resource" | cut -d' ' -f1)
inject() { devmem $((bar0 + 0x1008)) 32 "$1"; }
swerr_reported() { dmesg | grep -q "software error 0x19"; }
# Halt WQ 0 while dmatest keeps it busy (each descriptor takes 20 ms): the descriptors it
# held fail rather than hang (no dmatest timeout, every test reported), the WQ is reset,
# and dmatest then passes.
halt_recovered() {
	rmmod dmatest 2>/dev/null
	dmesg -c > /dev/null
	devmem $((bar0 + 0x1010)) 32 20000
	modprobe dmatest device="$bdf" iterations=60 timeout=3000
	echo 1 > /sys/module/dmatest/parameters/run
	sleep 1
	inject $((2 | 0 << 8 | 0 << 16))
	cat /sys/module/dmatest/parameters/wait > /dev/null
	rmmod dmatest
	devmem $((bar0 + 0x1010)) 32 0
	dmesg | grep -e idxd -e summary -e 'dmatest.*timed out' | sed 's/^/# /'
	lost=$(dmesg | sed -n 's/.*wq0 halted: \([0-9]*\) descriptors failed.*/\1/p')
	# dmatest's own timeouts only: under TCG the kernel may log others (the clocksource
	# watchdog's "read timed out") that say nothing about the DSA.
	[ "${lost:-0}" -ge 1 ] && ! dmesg | grep -q 'dmatest.*timed out' &&
		[ "$(dmesg | grep -c 'summary 60 tests')" = 2 ] &&
		dmesg | grep 'dma0chan0.*summary' | grep -qv ' 0 failures' &&
		dmatest_run 0 50 > /dev/null
}
cycle_bind() {
	i=0
	while [ $i -lt 10 ] && bound; do
		echo "$bdf" > "$dev/driver/unbind"
		echo "$bdf" > /sys/bus/pci/drivers/idxd/bind
		dsa_setup || return 1
		i=$((i + 1))
	done
	[ $i = 10 ] && bound
}
cycle_module() {
	i=0
	while [ $i -lt 10 ]; do
		rmmod idxd && modprobe idxd && ready || return 1
		i=$((i + 1))
	done
	dmatest_run 0 20 > /dev/null
}

modprobe idxd
check "load: idxd binds $bdf, configured and enabled through sysfs" ready
check "alias: modules.alias names idxd for 8086:0b25" \
	grep -q 'alias pci:v00008086d00000B25sv\*sd\*bc\*sc\*i\* idxd' /lib/modules/"$(uname -r)"/modules.alias
regs_kunit() {
	out=$(kunit_results idxd_rs_regs)
	rc=$?
	echo "$out" | sed 's/^/# /'
	return $rc
}
check "kunit: idxd_rs_regs, the register layouts, pass" regs_kunit
set -- $(chans)
echo "# channels: $*"
check "dmaengine: the device has DMA channels" [ $# -ge 1 ]
# Each enabled WQ is its own IMS user: the driver logs its vector as the IMS core reports it,
# which names the vector's device (the WQ's own wqN.M) and its cookie (the WQ device's, 0:
# kernel WQs submit without a PASID); the interrupt is one of the idxd-wq ones.
wq_vectors() {
	n=0
	for w in /sys/bus/dsa/devices/wq*.*; do
		[ "$(cat "$w/state")" = enabled ] || continue
		line=$(dmesg | grep " ${w##*/}: IMS slot " | tail -1)
		echo "# ${line:-${w##*/}: no IMS vector logged}"
		irq=$(echo "$line" | sed -n 's/.*: IMS slot [0-9]* (irq \([0-9]*\)), cookie 0x0$/\1/p')
		[ -n "$irq" ] && grep -q "^ *$irq:.*idxd-wq" /proc/interrupts || return 1
		n=$((n + 1))
	done
	[ $n -ge 2 ]
}
check "ims: each enabled WQ's vector belongs to its wqN.M device, with its cookie" wq_vectors

misc0=$(irqs idxd-misc)
ims0=$(irqs idxd-wq)
check "dmatest memcpy: 1000 iterations per channel, 0 failures" dmatest_run 0 1000
check "dmatest memset: 200 iterations per channel, 0 failures" dmatest_run 1 200
grep -e idxd-wq -e idxd-misc /proc/interrupts | sed 's/^/# /'
ims1=$(irqs idxd-wq)
check "interrupts: completions on IMS vectors ($((ims1 - ims0)))" [ $((ims1 - ims0)) -ge 1200 ]
check "interrupts: the IMS vectors are on the IMS domain" \
	sh -c 'grep idxd-wq /proc/interrupts | grep -q IMS'
check "interrupts: none on MSI-X 0 (misc) for completions" [ "$(irqs idxd-misc)" = "$misc0" ]

# An injected software error is reported (misc interrupt) and the device keeps working.
dmesg -c > /dev/null
inject $((3 | 0x19 << 8 | 0 << 16 | 1 << 24))
sleep 1
dmesg | grep idxd | sed 's/^/# /'
check "software error: reported on the misc interrupt" swerr_reported

check "halted wq: pending work fails, the wq is reset, dmatest passes after it" halt_recovered

# Unbind with work outstanding: dmatest keeps submitting while the device goes away.
rmmod dmatest 2>/dev/null
modprobe dmatest device="$bdf" iterations=0 timeout=2000
echo 1 > /sys/module/dmatest/parameters/run
sleep 2
echo "$bdf" > "$dev/driver/unbind"
sleep 1
echo 0 > /sys/module/dmatest/parameters/run
rmmod dmatest
echo "$bdf" > /sys/bus/pci/drivers/idxd/bind
check "unbind with work outstanding, then rebind" ready

check "10 unbind/rebind cycles" cycle_bind
check "10 unload/reload cycles, then dmatest" cycle_module

rmmod idxd
exit $failed
