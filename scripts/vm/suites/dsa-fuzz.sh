# Hostile input for the Rust DSA driver (module idxd): the kselftest
# tools/testing/selftests/ims/dsa_fuzz_test.c storms every writable attribute on the dsa bus
# (device disabled, then enabled), the bus drivers' bind files, and a user WQ's character
# device with random and malformed descriptors. Then the device must still work: a sane
# configuration enables it, dmatest passes, and the module unloads and loads again. The VM's
# log check and the kmemleak suite at the end catch any splat or leak the storm caused.
# timeout: 400
. /tests/lib.sh
test=/tests/selftests/ims/dsa_fuzz_test

echo "TAP version 13"
echo "1..5"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ]; then
	for i in 1 2 3 4 5; do echo "ok $i # SKIP no 8086:0b25 device"; done
	exit 0
fi
bdf=${dev##*/}
drv=$(idxd_take "$dev")

# 1: the kselftest, as a subtest (its results indented under this one).
dmesg -c > /dev/null
"$test" > /tmp/fuzz.tap 2>&1
rc=$?
sed 's/^/    /' /tmp/fuzz.tap
total=$(sed -n 's/^# hostile inputs: \([0-9]*\)$/\1/p' /tmp/fuzz.tap | awk '{ s += $1 } END { print s + 0 }')
echo "# hostile inputs tried: $total"
if [ $rc = 0 ] && [ "$total" -gt 0 ]; then
	ok "dsa_fuzz_test: $total hostile inputs, each refused or taken cleanly"
else
	notok "dsa_fuzz_test" "exit status $rc, $total inputs"
fi
dmesg | grep -c -e 'user descriptor refused' -e 'software error' |
	sed 's/^/# driver log lines about the storm: /'
# 2: nothing in the storm made the kernel complain beyond the driver's own refusals (the
# harness checks the whole console log as well).
check "kernel log: no oops, BUG or WARNING during the storm" \
	sh -c '! dmesg | grep -q -e "Oops" -e "BUG:" -e "panicked" -e "WARNING:"'

# dmatest_run ITERATIONS: memcpy on every channel of the device, 0 failures (lib.sh).
dmatest_run() { dmatest_dev "$bdf" 0 "$1"; }
# The test's teardown leaves dsa0 disabled; if it could not (a test killed), do it here.
sane() {
	[ "$(cat /sys/bus/dsa/devices/dsa0/state)" = disabled ] ||
		echo dsa0 > /sys/bus/dsa/drivers/idxd/unbind
	dsa_setup && dmatest_run 200
}
reload() { rmmod idxd && modprobe idxd && dsa_setup && dmatest_run 50; }
# The device refuses to enable a WQ once (the emulated DSA's command-failure injection,
# ENABLE_WQ = 6): the bind fails with cmd_status set and the WQ disabled, and the next bind
# works, with nothing left behind by the failed one.
bar0=$(head -1 "$dev/resource" | cut -d' ' -f1)
enable_fails_once() {
	local w=/sys/bus/dsa/devices/wq0.0
	echo wq0.0 > /sys/bus/dsa/drivers/dmaengine/unbind || return 1
	echo 0 > /sys/bus/dsa/devices/dsa0/cmd_status
	devmem $((bar0 + 0x1008)) 32 $((4 | 6 << 8 | 0x22 << 16))
	! echo wq0.0 > /sys/bus/dsa/drivers/dmaengine/bind 2>/dev/null || return 1
	echo "# after the refused enable: state $(cat $w/state), cmd_status $(cat /sys/bus/dsa/devices/dsa0/cmd_status)"
	[ "$(cat $w/state)" = disabled ] &&
		[ "$(cat /sys/bus/dsa/devices/dsa0/cmd_status)" = 0x22 ] &&
		echo wq0.0 > /sys/bus/dsa/drivers/dmaengine/bind &&
		[ "$(cat $w/state)" = enabled ] && dmatest_run 20
}

# 3, 4: after the storm, a sane configuration enables the device and dmatest passes.
check "sane configuration after the storm: enabled, dmatest 200 memcpy, 0 failures" sane
check "a WQ the device refuses to enable once enables at the next bind" enable_fails_once
# 5: the module unloads (every WQ and the device disabled) and loads again.
check "unload, reload, configure, dmatest 50 memcpy" reload

rmmod idxd
pci_rebind "$dev" "$drv"
exit $failed
