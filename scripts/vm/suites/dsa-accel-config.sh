# The idxd sysfs ABI of the Rust DSA driver, driven by Debian's accel-config 3.5.3,
# unmodified: it lists the device, loads a JSON configuration (a kernel WQ and a user WQ
# in group 0, with an engine), enables dsa0 and both WQs; the values read back from sysfs
# match the file; the kernel WQ is a DMA channel that dmatest passes on; the user WQ's
# character device /dev/dsa/wq0.1 takes descriptors by write() and refuses bad ones; then
# accel-config disables everything. Bad sysfs writes get errnos. Leaves idxd unloaded.
# Runs the same with the driver built in (scripts/vm/builtin.list).
# timeout: 600
. /tests/lib.sh

echo "TAP version 13"
echo "1..19"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ] || ! command -v accel-config > /dev/null; then
	for i in $(seq 19); do echo "ok $i # SKIP no 8086:0b25 device or no accel-config"; done
	exit 0
fi
bdf=${dev##*/}
[ -e "$dev/driver" ] && echo "$bdf" > "$dev/driver/unbind"
modprobe idxd
[ "$(pci_driver "$dev")" = idxd ] || echo "$bdf" > /sys/bus/pci/drivers/idxd/bind

s=/sys/bus/dsa/devices
# ac ARGS...: run accel-config, its output as TAP comments; keep stdout in /tmp/ac.out.
ac() {
	accel-config "$@" > /tmp/ac.out 2> /tmp/ac.err
	rc=$?
	sed 's/^/# /' /tmp/ac.out /tmp/ac.err | head -60
	return $rc
}
# is FILE VALUE: the sysfs file reads VALUE.
is() {
	v=$(cat "$1")
	[ "$v" = "$2" ] || { echo "# $1: '$v', expected '$2'"; return 1; }
}

check "list -i: accel-config lists dsa0, disabled" \
	sh -c 'accel-config list -i > /tmp/l.json 2>/dev/null &&
		grep -q "\"dev\": *\"dsa0\"" /tmp/l.json && grep -q "\"state\": *\"disabled\"" /tmp/l.json'
sed 's/^/# /' /tmp/l.json | head -40

cat > /tmp/dsa.json <<'JSON'
[
  {
    "dev":"dsa0",
    "read_buffer_limit":0,
    "groups":[
      {
        "dev":"group0.0",
        "read_buffers_reserved":0,
        "use_read_buffer_limit":0,
        "read_buffers_allowed":96,
        "grouped_workqueues":[
          {
            "dev":"wq0.0",
            "mode":"dedicated",
            "size":16,
            "group_id":0,
            "priority":10,
            "block_on_fault":0,
            "max_batch_size":1024,
            "max_transfer_size":2097152,
            "type":"kernel",
            "name":"dmaengine-wq",
            "driver_name":"dmaengine",
            "threshold":0,
            "ats_disable":0
          },
          {
            "dev":"wq0.1",
            "mode":"dedicated",
            "size":8,
            "group_id":0,
            "priority":5,
            "block_on_fault":0,
            "max_batch_size":32,
            "max_transfer_size":65536,
            "type":"user",
            "name":"app",
            "driver_name":"user",
            "threshold":0,
            "ats_disable":0
          }
        ],
        "grouped_engines":[
          {
            "dev":"engine0.0",
            "group_id":0
          },
          {
            "dev":"engine0.1",
            "group_id":0
          }
        ]
      }
    ]
  }
]
JSON

check "load-config: accel-config configures dsa0 from a JSON file" ac load-config -c /tmp/dsa.json
readback() {
	is $s/wq0.0/mode dedicated && is $s/wq0.0/size 16 && is $s/wq0.0/group_id 0 &&
		is $s/wq0.0/priority 10 && is $s/wq0.0/type kernel &&
		is $s/wq0.0/name dmaengine-wq && is $s/wq0.0/driver_name dmaengine &&
		is $s/wq0.0/max_batch_size 1024 && is $s/wq0.0/max_transfer_size 2097152 &&
		is $s/wq0.1/size 8 && is $s/wq0.1/priority 5 && is $s/wq0.1/type user &&
		is $s/wq0.1/name app && is $s/wq0.1/max_batch_size 32 &&
		is $s/wq0.1/max_transfer_size 65536 &&
		is $s/engine0.0/group_id 0 && is $s/engine0.1/group_id 0 &&
		is $s/engine0.2/group_id -1 && is $s/wq0.2/group_id -1 &&
		is $s/group0.0/engines "engine0.0 engine0.1 " &&
		is $s/group0.0/work_queues "wq0.0 wq0.1 " && is $s/group0.0/read_buffers_allowed 96
}
check "sysfs: the values read back match the file" readback

# Bad writes get an errno and change nothing.
bad_writes() {
	! echo 65 > $s/wq0.2/size 2>/dev/null && ! echo 16 > $s/wq0.2/priority 2>/dev/null &&
		! echo 9 > $s/wq0.2/group_id 2>/dev/null && ! echo bogus > $s/wq0.2/type 2>/dev/null &&
		! echo shared > $s/wq0.2/mode 2>/dev/null &&
		! echo 4194304 > $s/wq0.2/max_transfer_size 2>/dev/null &&
		! echo 4 > $s/engine0.3/group_id 2>/dev/null &&
		! echo dsa0 > /sys/bus/dsa/drivers/dmaengine/bind 2>/dev/null &&
		is $s/wq0.2/size 0 && is $s/wq0.2/type none && is $s/engine0.3/group_id -1
}
check "sysfs: bad values are refused" bad_writes

# Single attributes through accel-config's config-* commands: engine 2 and WQ 2 to group 1.
config_cmds() {
	ac config-engine dsa0/engine0.2 --group-id=1 &&
		ac config-wq dsa0/wq0.2 --group-id=1 --wq-size=4 --priority=3 --mode=dedicated \
			--type=kernel --name=extra --driver-name=dmaengine &&
		is $s/engine0.2/group_id 1 && is $s/wq0.2/size 4 && is $s/wq0.2/group_id 1 &&
		is $s/wq0.2/priority 3 && is $s/wq0.2/name extra &&
		is $s/group0.1/work_queues "wq0.2 " && is $s/group0.1/engines "engine0.2 "
}
check "config-engine, config-wq: accel-config sets single attributes" config_cmds
check "enable-wq before the device: refused" sh -c '! echo wq0.0 > /sys/bus/dsa/drivers/dmaengine/bind 2>/dev/null'
# A group with work but no engine cannot run it: enabling the device is refused, and says so.
no_engine() {
	echo 4 > $s/wq0.3/size && echo 2 > $s/wq0.3/group_id || return 1
	! echo dsa0 > /sys/bus/dsa/drivers/idxd/bind 2>/dev/null &&
		is $s/dsa0/state disabled && is $s/dsa0/cmd_status 0x80030000 &&
		echo -1 > $s/wq0.3/group_id && echo 0 > $s/wq0.3/size && echo 0 > $s/dsa0/cmd_status
}
check "enable-device with a group of WQs but no engine: refused (cmd_status WQ_NO_GRP)" no_engine

check "enable-device: dsa0 enabled" sh -c "accel-config enable-device dsa0 2>&1 | sed 's/^/# /'; \
	[ \"\$(cat $s/dsa0/state)\" = enabled ]"
check "sysfs: WQ sizes are fixed while the device is enabled" \
	sh -c "! echo 4 > $s/wq0.2/size 2>/dev/null"
check "enable-wq: dsa0/wq0.0 (kernel) enabled" \
	sh -c "accel-config enable-wq dsa0/wq0.0 2>&1 | sed 's/^/# /'; [ \"\$(cat $s/wq0.0/state)\" = enabled ]"
check "enable-wq: dsa0/wq0.1 (user) enabled, /dev/dsa/wq0.1 exists" \
	sh -c "accel-config enable-wq dsa0/wq0.1 2>&1 | sed 's/^/# /'; \
		[ \"\$(cat $s/wq0.1/state)\" = enabled ] && [ -c /dev/dsa/wq0.1 ]"
check "list: accel-config shows dsa0 and both WQs enabled" \
	sh -c 'accel-config list > /tmp/l.json 2>/dev/null &&
		[ "$(grep -c "\"state\": *\"enabled\"" /tmp/l.json)" = 3 ] &&
		grep -q "\"dev\": *\"wq0.1\"" /tmp/l.json && grep -q "\"cdev_minor\"" /tmp/l.json'
sed 's/^/# /' /tmp/l.json | head -80
check "save-config: the saved configuration has both enabled WQs" \
	sh -c 'accel-config save-config -s /tmp/saved.json > /dev/null 2>&1 &&
		grep -q "dmaengine-wq" /tmp/saved.json && grep -q "\"name\": *\"app\"" /tmp/saved.json'

# dmatest on the kernel WQ's channel.
dmatest_ok() {
	dmesg -c > /dev/null
	modprobe dmatest device="$bdf" iterations=200 timeout=10000 || return 1
	echo 1 > /sys/module/dmatest/parameters/run
	cat /sys/module/dmatest/parameters/wait > /dev/null
	rmmod dmatest
	dmesg | grep summary | sed 's/^/# /'
	[ "$(dmesg | grep -c 'summary 200 tests, 0 failures')" = 1 ] &&
		[ "$(dmesg | grep -c summary)" = 1 ]
}
check "dmaengine: dmatest passes on the kernel WQ (200 iterations, 0 failures)" dmatest_ok

# The user WQ's character device: a NOOP goes through; a MEMFILL to an address the
# device's DMA domain does not map runs and faults, which the device reports as a software
# error on WQ 1; a partial descriptor and one asking for a completion interrupt are refused.
user_wq() {
	dmesg -c > /dev/null
	dd if=/dev/zero of=/dev/dsa/wq0.1 bs=64 count=1 2>/dev/null || { echo "# noop refused"; return 1; }
	# opcode 0x04 (MEMFILL) in byte 7; dst 0xdead00000000 at 24; 64 bytes at 32.
	printf '\000\000\000\000\000\000\000\004' > /tmp/fill
	printf '\000\000\000\000\000\000\000\000\252\252\252\252\252\252\252\252' >> /tmp/fill
	printf '\000\000\000\000\255\336\000\000\100\000\000\000' >> /tmp/fill
	dd if=/dev/zero bs=28 count=1 2>/dev/null >> /tmp/fill
	[ "$(wc -c < /tmp/fill)" = 64 ] || return 1
	dd if=/tmp/fill of=/dev/dsa/wq0.1 bs=64 count=1 2>/dev/null || { echo "# memfill refused"; return 1; }
	sleep 1
	dmesg | grep -e idxd -e DMAR | sed 's/^/# /' | head -10
	dmesg | grep -q 'software error 0x3 .*wq 1 '
}
check "user WQ: write() submits descriptors the device runs" user_wq
user_wq_bad() {
	! dd if=/dev/zero of=/dev/dsa/wq0.1 bs=32 count=1 2>/dev/null || return 1
	# flags byte 4 = 0x10: request a completion interrupt.
	printf '\000\000\000\000\020\000\000\000' > /tmp/rci
	dd if=/dev/zero bs=56 count=1 2>/dev/null >> /tmp/rci
	! dd if=/tmp/rci of=/dev/dsa/wq0.1 bs=64 count=1 2>/dev/null || return 1
	# a completion record at 8, not 32-byte aligned.
	printf '\000\000\000\000\000\000\000\000\010' > /tmp/cra
	dd if=/dev/zero bs=55 count=1 2>/dev/null >> /tmp/cra
	! dd if=/tmp/cra of=/dev/dsa/wq0.1 bs=64 count=1 2>/dev/null || return 1
	dmesg | grep 'user descriptor refused' | sed 's/^/# /'
	dmesg | grep -q 'user descriptor refused: misaligned completion record'
}
check "user WQ: partial descriptors, completion interrupts, misaligned records refused" user_wq_bad

check "disable-wq: both WQs disabled, the character device gone" \
	sh -c "accel-config disable-wq dsa0/wq0.0 2>&1 | sed 's/^/# /'; accel-config disable-wq dsa0/wq0.1 2>&1 | sed 's/^/# /'; \
		[ \"\$(cat $s/wq0.0/state)\" = disabled ] && [ \"\$(cat $s/wq0.1/state)\" = disabled ] && [ ! -e /dev/dsa/wq0.1 ]"
check "disable-device: dsa0 disabled" \
	sh -c "accel-config disable-device dsa0 2>&1 | sed 's/^/# /'; [ \"\$(cat $s/dsa0/state)\" = disabled ]"

# load-config -e enables in one go; unbinding the PCI function with the WQ enabled is clean.
again() {
	ac load-config -c /tmp/dsa.json -e || return 1
	[ "$(cat $s/dsa0/state)" = enabled ] && [ "$(cat $s/wq0.0/state)" = enabled ] || return 1
	echo "$bdf" > "$dev/driver/unbind" && [ ! -e $s/dsa0 ]
}
check "load-config -e enables dsa0 and its WQs; unbind while enabled is clean" again

# A module is unloaded; a built-in driver (the builtin kernel variant) stays.
[ ! -e /sys/module/idxd/refcnt ] || rmmod idxd
exit $failed
