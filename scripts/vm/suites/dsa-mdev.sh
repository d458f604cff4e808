# The DSA mdev ("vdcm") of the Rust DSA driver: two dedicated WQs of dsa0 reserved through
# the idxd sysfs ABI (type "mdev", bound to the dsa bus driver "mdev"), the parent's mdev
# type idxd-dsa-1dwq and its available_instances as WQs come and go, then the kselftest
# tools/testing/selftests/ims/dsa_mdev_test.c (QEMU's vfio-pci sequence over type1 and
# iommufd: regions, IRQs, the virtual BAR0, IMS-backed MSI-X vectors enabled one at a time,
# two mdevs isolated from each other, bad input, remove while open, 20 create/remove
# cycles that leave every IMS slot free), then Debian's mdevctl 1.2.0, unmodified: types,
# start, list, stop. Ends with a kmemleak scan for leaks this suite caused. Leaves idxd
# unloaded and the PCI function with the driver it had.
# (accel-config 3.5.3 knows only the WQ types "kernel" and "user", so the WQs are
# configured through sysfs alone.)
# timeout: 900
. /tests/lib.sh
test=/tests/selftests/ims/dsa_mdev_test
type=idxd-dsa-1dwq
uuid=8a1f0bd6-3c3e-4b5e-9d0c-6f1d2a6b7c80
plan=10

echo "TAP version 13"
echo "1..$plan"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ]; then
	for i in $(seq $plan); do echo "ok $i # SKIP no 8086:0b25 device"; done
	exit 0
fi
bdf=${dev##*/}
s=/sys/bus/dsa/devices
t=$dev/mdev_supported_types/$type
k=/sys/kernel/debug/kmemleak

# Leaks kmemleak already suspects (earlier suites'): only new ones count here, and the
# list stays for the kmemleak suite at the end.
if [ -e $k ]; then
	echo scan > $k
	# (never empty: busybox grep -f with an empty file matches every line)
	{ echo none; grep -o 'unreferenced object 0x[0-9a-f]*' $k; } > /tmp/leaks.before
fi

drv=$(idxd_take "$dev")

# is FILE VALUE: the sysfs file reads VALUE.
is() {
	v=$(cat "$1" 2>/dev/null)
	[ "$v" = "$2" ] || { echo "# $1: '$v', expected '$2'"; return 1; }
}
# mdev_wq N SIZE: make wq0.N a dedicated WQ of group 0 reserved for mdevs.
mdev_wq() {
	q=$s/wq0.$1
	echo dedicated > "$q/mode" && echo "$2" > "$q/size" && echo 0 > "$q/group_id" &&
		echo 10 > "$q/priority" && echo mdev > "$q/type" && echo "mdev-$1" > "$q/name" &&
		echo mdev > "$q/driver_name"
}
avail() { is "$t/available_instances" "$1"; }

# 1: dsa0 with two mdev WQs enabled; the parent offers the type, two instances.
setup() {
	[ -d /sys/bus/dsa/drivers/mdev ] || { echo "# no dsa bus driver 'mdev'"; return 1; }
	for e in "$s"/dsa0/engine0.*; do
		echo 0 > "$e/group_id" || return 1
	done
	mdev_wq 0 16 && mdev_wq 1 16 || return 1
	# wq0.2 is an mdev WQ of size 0 and no group, which must not enable (3).
	q=$s/wq0.2
	echo dedicated > "$q/mode" && echo mdev > "$q/type" && echo mdev-2 > "$q/name" &&
		echo mdev > "$q/driver_name" || return 1
	is $s/wq0.0/type mdev || return 1
	echo dsa0 > /sys/bus/dsa/drivers/idxd/bind || return 1
	[ -d "$t" ] || { echo "# no $t"; return 1; }
	avail 0 || return 1
	echo wq0.0 > /sys/bus/dsa/drivers/mdev/bind && echo wq0.1 > /sys/bus/dsa/drivers/mdev/bind &&
		is $s/wq0.0/state enabled && is $s/wq0.1/state enabled &&
		avail 2 && is "$t/device_api" vfio-pci && is "$t/name" "DSA, 1 dedicated WQ" &&
		[ -e "/sys/class/mdev_bus/$bdf" ]
}
# 2: available_instances follows the WQs.
follows() {
	echo wq0.1 > /sys/bus/dsa/drivers/mdev/unbind && is $s/wq0.1/state disabled && avail 1 &&
		echo wq0.1 > /sys/bus/dsa/drivers/mdev/bind && is $s/wq0.1/state enabled && avail 2
}
# 3: an mdev WQ of size 0 (and no group) is refused, and counts for nothing.
refused() {
	! echo wq0.2 > /sys/bus/dsa/drivers/mdev/bind 2>/dev/null &&
		is $s/wq0.2/state disabled && avail 2
}

if ! setup; then
	notok "setup: dsa0 with two mdev WQs, type $type with 2 instances"
	for i in $(seq 2 $plan); do echo "not ok $i # setup failed"; done
	[ -e /sys/module/idxd/refcnt ] && rmmod idxd
	pci_rebind "$dev" "$drv"
	exit 1
fi
ok "setup: dsa0 with two mdev WQs, type $type with 2 instances"
check "available_instances follows an mdev WQ's unbind and bind" follows
check "an mdev WQ of size 0 does not enable" refused

# 4: the kselftest, as a subtest (its results indented under this one).
"$test" > /tmp/mdev.tap 2>&1
rc=$?
sed 's/^/    /' /tmp/mdev.tap
check "dsa_mdev_test (exit status $rc)" [ $rc = 0 ]
# Whatever the test left (it should leave nothing): every WQ free again.
for m in /sys/bus/mdev/devices/*; do
	[ -e "$m/remove" ] || continue
	echo "# left behind: ${m##*/}"
	echo 1 > "$m/remove"
done

# 5-8: Debian's mdevctl, unmodified.
# mc ARGS...: run mdevctl, its output as TAP comments; keep stdout in /tmp/mc.out.
mc() {
	mdevctl "$@" > /tmp/mc.out 2> /tmp/mc.err
	rc=$?
	sed 's/^/# /' /tmp/mc.out /tmp/mc.err | head -40
	return $rc
}
types() {
	mc types || return 1
	grep -q "^$bdf\$" /tmp/mc.out && grep -q "^  $type\$" /tmp/mc.out &&
		grep -q "Available instances: 2" /tmp/mc.out &&
		grep -q "Device API: vfio-pci" /tmp/mc.out &&
		grep -q "Name: DSA, 1 dedicated WQ" /tmp/mc.out
}
start() {
	mc start -u $uuid -p "$bdf" -t $type && [ -d /sys/bus/mdev/devices/$uuid ] && avail 1 &&
		[ "$(basename "$(readlink /sys/bus/mdev/devices/$uuid/mdev_type)")" = $type ]
}
list() {
	mc list && grep -q "^$uuid $bdf $type manual" /tmp/mc.out
}
stop() {
	mc stop -u $uuid && [ ! -e /sys/bus/mdev/devices/$uuid ] && avail 2 &&
		mc list && ! grep -q $uuid /tmp/mc.out
}
if command -v mdevctl > /dev/null; then
	check "mdevctl types: $bdf offers $type, 2 instances, vfio-pci" types
	check "mdevctl start -u $uuid -p $bdf -t $type" start
	check "mdevctl list: the mdev, on its parent, of its type" list
	check "mdevctl stop -u $uuid: gone, the instance back" stop
else
	for i in types start list stop; do ok "mdevctl $i # SKIP no mdevctl in the initramfs"; done
fi

# 9: the WQs go, the instances with them; the device disables and the module unloads.
teardown() {
	echo wq0.0 > /sys/bus/dsa/drivers/mdev/unbind && echo wq0.1 > /sys/bus/dsa/drivers/mdev/unbind &&
		avail 0 && echo dsa0 > /sys/bus/dsa/drivers/idxd/unbind && is $s/dsa0/state disabled &&
		{ [ ! -e /sys/module/idxd/refcnt ] || rmmod idxd; }
}
check "unbind the mdev WQs (0 instances), disable dsa0, unload idxd" teardown

# 10: kmemleak, for what this suite did (objects younger than 5 s are not reported).
leaks() {
	sleep 6
	echo scan > $k
	echo scan > $k
	grep -o 'unreferenced object 0x[0-9a-f]*' $k > /tmp/leaks.after
	new=$(grep -vxF -f /tmp/leaks.before /tmp/leaks.after)
	[ -z "$new" ] && return 0
	echo "$new" | while read -r o; do
		grep -A 20 "$o\$" $k | sed 's/^/# /'
	done
	echo "# $(echo "$new" | wc -l) new leak(s)"
	return 1
}
if [ -e $k ]; then
	check "kmemleak: nothing new after the mdev cycles" leaks
else
	ok "kmemleak # SKIP CONFIG_DEBUG_KMEMLEAK is off"
fi

pci_rebind "$dev" "$drv"
exit $failed
