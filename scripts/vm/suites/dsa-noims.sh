# The Rust DSA driver on a DSA without IMS, as the virtual DSA of an mdev is: the emulated
# device hides its IMS (debug block INJECT action 5), and the driver probes it with no IMS
# domain and no mdev parent; its kernel WQs complete on MSI-X vectors 1..n, as with the C
# driver, with interrupt handles requested for MSI-X vectors. dmatest passes on them.
# Then IMS comes back and the driver takes it again. Leaves the device unbound and the
# module unloaded.
# timeout: 600
. /tests/lib.sh

echo "TAP version 13"
echo "1..8"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ]; then
	for i in $(seq 8); do echo "ok $i # SKIP no 8086:0b25 device"; done
	exit 0
fi
bdf=${dev##*/}
modprobe idxd
[ -e "$dev/driver" ] && echo "$bdf" > "$dev/driver/unbind"
echo > "$dev/driver_override"
bar0=$(head -1 "$dev/resource" | cut -d' ' -f1)
# hide_ims 1|0: the device offers no IMS (1) or its 2048 slots (0), from the next probe.
hide_ims() { devmem $((bar0 + 0x1008)) 32 $((5 | $1 << 8)); }
# irqs PATTERN: the total count of the /proc/interrupts lines matching PATTERN.
irqs() {
	grep "$1" /proc/interrupts | awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }'
}

probe_noims() {
	dmesg -c > /dev/null
	hide_ims 1
	echo "$bdf" > /sys/bus/pci/drivers/idxd/bind || return 1
	dmesg | grep -e idxd -e dsa | sed 's/^/# /'
	dmesg | grep -q "as dsa0: .* 0 IMS slots" &&
		[ "$(cat /sys/bus/dsa/devices/dsa0/ims_size)" = 0 ]
}
# Each enabled WQ's interrupt is an MSI-X vector of the function, not an IMS one.
msix_vectors() {
	grep -e idxd-wq -e idxd-misc /proc/interrupts | sed 's/^ */# /'
	[ "$(grep idxd-wq /proc/interrupts | grep -c PCI-MSIX-"$bdf")" = 8 ] &&
		! grep idxd-wq /proc/interrupts | grep -q IMS
}
probe_ims() {
	dmesg -c > /dev/null
	hide_ims 0
	echo "$bdf" > /sys/bus/pci/drivers/idxd/bind &&
		dmesg | grep -q "as dsa0: .* 2048 IMS slots" &&
		[ "$(cat /sys/bus/dsa/devices/dsa0/ims_size)" = 2048 ]
}

check "probe: no IMS, dsa0 has ims_size 0" probe_noims
check "sysfs: two kernel WQs configured and enabled" dsa_setup
check "interrupts: one MSI-X vector per WQ (8), none on IMS" msix_vectors
check "mdev: no parent without IMS" [ ! -e "/sys/class/mdev_bus/$bdf" ]
wq0=$(irqs idxd-wq)
check "dmatest memcpy: 500 iterations per channel, 0 failures" dmatest_dev "$bdf" 0 500
check "dmatest memset: 100 iterations per channel, 0 failures" dmatest_dev "$bdf" 1 100
wq1=$(irqs idxd-wq)
check "interrupts: completions on the WQs' MSI-X vectors ($((wq1 - wq0)))" \
	[ $((wq1 - wq0)) -ge 1200 ]
echo "$bdf" > "$dev/driver/unbind"
check "probe: with IMS back, dsa0 has 2048 IMS slots again" probe_ims
echo "$bdf" > "$dev/driver/unbind"
rmmod idxd
exit $failed
