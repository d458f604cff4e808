# The Rust DSA driver built into the kernel (CONFIG_INTEL_IDXD_RS=y): it bound the emulated
# DSA at boot, its WQs can be configured and enabled through sysfs, dmatest passes on their
# channels, and unbind/rebind cycles work. Skips when the driver is a module. `make check`
# runs it on its second kernel, which has the driver built in (IMS_KVARIANT=builtin,
# scripts/vm/builtin.list).
# timeout: 600
. /tests/lib.sh
echo "TAP version 13"
echo "1..3"

# Built in: the driver is registered before anything could load it (the VM has no udev),
# and it is no loaded module (those have a refcnt).
dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ] || [ ! -d /sys/bus/pci/drivers/idxd ] || [ -e /sys/module/idxd/refcnt ]; then
	for i in 1 2 3; do echo "ok $i # SKIP no DSA, or idxd is not built in"; done
	exit 0
fi
bdf=${dev##*/}
rc=0
bound() { [ "$(pci_driver "$dev")" = idxd ]; }

if bound && dsa_setup; then echo "ok 1 idxd (built in) bound $bdf at boot, WQs enabled"; else
	echo "not ok 1 idxd (built in) bound $bdf at boot, WQs enabled"; rc=1; fi

dmesg -c > /dev/null
modprobe dmatest device="$bdf" iterations=200 timeout=10000 &&
	echo 1 > /sys/module/dmatest/parameters/run &&
	cat /sys/module/dmatest/parameters/wait > /dev/null
rmmod dmatest
dmesg | grep 'summary' | sed 's/^/# /'
if [ "$(dmesg | grep -c 'summary 200 tests, 0 failures')" -ge 1 ] &&
	[ "$(dmesg | grep -c 'summary 200 tests, 0 failures')" = "$(dmesg | grep -c summary)" ]; then
	echo "ok 2 dmatest: 200 iterations per channel, 0 failures"
else
	echo "not ok 2 dmatest: 200 iterations per channel, 0 failures"; rc=1
fi

i=0
while [ $i -lt 5 ] && bound; do
	echo "$bdf" > "$dev/driver/unbind"
	echo "$bdf" > /sys/bus/pci/drivers/idxd/bind
	dsa_setup || break
	i=$((i + 1))
done
if [ $i = 5 ] && bound; then echo "ok 3 5 unbind/rebind cycles"; else
	echo "not ok 3 5 unbind/rebind cycles"; rc=1; fi
echo "$bdf" > "$dev/driver/unbind"
exit $rc
