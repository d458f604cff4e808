# SPDX-License-Identifier: GPL-2.0
# Helpers for the guest-side suites (sourced from /tests/suites/*.sh).

# kunit_results SUITE: print the KTAP results KUnit keeps in debugfs for SUITE and
# succeed only if the suite passed.
kunit_results() {
	f=/sys/kernel/debug/kunit/$1/results
	if [ ! -r "$f" ]; then
		echo "KTAP version 1"
		echo "1..1"
		echo "not ok 1 $1 # no KUnit results in debugfs"
		return 1
	fi
	cat "$f"
	grep -q "^ok 1 $1\$" "$f"
}

# find_pci VENDOR DEVICE: print the sysfs directory of the first PCI function with these
# IDs (e.g. 0x8086 0x0b25), nothing if there is none.
find_pci() {
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ]; then
			echo "$d"
			return 0
		fi
	done
}

# pci_driver DIR: print the name of the driver bound to the PCI function, if any.
pci_driver() {
	[ -e "$1/driver" ] && basename "$(readlink "$1/driver")"
}

# pci_unbind DIR: unbind the function from its driver, if any, and print that driver's
# name, for pci_rebind.
pci_unbind() {
	drv=$(pci_driver "$1")
	[ -n "$drv" ] || return 0
	echo "# unbinding ${1##*/} from $drv for the run" >&2
	echo "${1##*/}" > "$1/driver/unbind"
	echo "$drv"
}

# pci_rebind DIR DRIVER: bind the function back to DRIVER (no-op without one). A driver
# with no ID for the function (vfio-pci) had it through driver_override, and takes it back
# only that way: the override is set again if a plain bind fails.
pci_rebind() {
	[ -n "$2" ] || return 0
	echo "${1##*/}" > "/sys/bus/pci/drivers/$2/bind" 2> /dev/null && return 0
	echo "$2" > "$1/driver_override"
	echo "${1##*/}" > "/sys/bus/pci/drivers/$2/bind" ||
		echo "# could not bind ${1##*/} back to $2"
}

# dsa_setup [DSA] [NWQS]: configure DSA (default dsa0) through the idxd sysfs ABI, as
# accel-config would, and enable it: group 0 gets every engine and NWQS (default 2)
# dedicated kernel WQs of 16 entries at priority 10; then the device is bound to the bus
# driver idxd and each WQ to dmaengine, which makes it a DMA channel.
dsa_setup() {
	local d=${1:-dsa0} nwq=${2:-2} s=/sys/bus/dsa/devices i e w q
	i=${d#dsa}
	[ -d "$s/$d" ] || return 1
	for e in "$s/$d"/engine"$i".*; do
		echo 0 > "$e/group_id" || return 1
	done
	w=0
	while [ $w -lt "$nwq" ]; do
		q=$s/wq$i.$w
		echo dedicated > "$q/mode" && echo 16 > "$q/size" && echo 0 > "$q/group_id" &&
			echo 10 > "$q/priority" && echo kernel > "$q/type" &&
			echo "dmaengine-$w" > "$q/name" && echo dmaengine > "$q/driver_name" ||
			return 1
		w=$((w + 1))
	done
	echo "$d" > /sys/bus/dsa/drivers/idxd/bind || return 1
	w=0
	while [ $w -lt "$nwq" ]; do
		echo "wq$i.$w" > /sys/bus/dsa/drivers/dmaengine/bind || return 1
		w=$((w + 1))
	done
}

# idxd_take DIR: give the PCI function at DIR to our DSA driver: unbind whatever holds it
# (printed, for pci_rebind), clear its driver_override, load idxd and bind it.
idxd_take() {
	local drv
	drv=$(pci_unbind "$1")
	echo > "$1/driver_override"
	modprobe idxd
	[ "$(pci_driver "$1")" = idxd ] || echo "${1##*/}" > /sys/bus/pci/drivers/idxd/bind
	echo "$drv"
}

# dmatest_dev BDF KIND ITERATIONS: run dmatest (KIND 0 memcpy, 1 memset) on every channel
# of the DMA device BDF; print its summary lines and succeed if every thread did
# ITERATIONS with 0 failures.
dmatest_dev() {
	local tests
	rmmod dmatest 2>/dev/null
	dmesg -c > /dev/null
	modprobe dmatest device="$1" dmatest="$2" iterations="$3" timeout=10000 || return 1
	echo 1 > /sys/module/dmatest/parameters/run
	cat /sys/module/dmatest/parameters/wait > /dev/null
	rmmod dmatest
	dmesg | grep 'dmatest: .*summary' | sed 's/^/# /'
	tests=$(dmesg | grep -c "summary $3 tests, 0 failures")
	[ "$tests" -ge 1 ] && [ "$tests" = "$(dmesg | grep -c 'summary')" ]
}

# TAP helpers for suites that number their own results: ok NAME, notok NAME [REASON],
# check NAME COMMAND... (ok if COMMAND succeeds). $failed is 1 once anything failed.
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n $1${2:+ # $2}"; }
check() { name=$1; shift; if "$@"; then ok "$name"; else notok "$name"; fi; }

# peer_json FILE [user]: the accel-config JSON of the peer suites (scripts/vm/suites/dsa-peer-*):
# dsa0 with group 0 holding engines 0 and 1 and the kernel WQ wq0.0 (dmaengine), and with
# "user" the user WQ wq0.1 too. No "ats_disable": the C driver shows that attribute only when
# WQCAP offers WQ ATS control, and accel-config fails on an attribute it cannot write.
peer_json() {
	local user=
	[ "${2:-}" = user ] && user=',
          { "dev":"wq0.1", "mode":"dedicated", "size":8, "group_id":0, "priority":5,
            "block_on_fault":0, "max_batch_size":32, "max_transfer_size":65536,
            "type":"user", "name":"app", "driver_name":"user", "threshold":0 }'
	cat > "$1" <<JSON
[
  {
    "dev":"dsa0", "read_buffer_limit":0,
    "groups":[
      {
        "dev":"group0.0", "read_buffers_reserved":0, "use_read_buffer_limit":0,
        "read_buffers_allowed":96,
        "grouped_workqueues":[
          { "dev":"wq0.0", "mode":"dedicated", "size":16, "group_id":0, "priority":10,
            "block_on_fault":0, "max_batch_size":1024, "max_transfer_size":2097152,
            "type":"kernel", "name":"dmaengine-wq", "driver_name":"dmaengine",
            "threshold":0 }$user
        ],
        "grouped_engines":[
          { "dev":"engine0.0", "group_id":0 }, { "dev":"engine0.1", "group_id":0 }
        ]
      }
    ]
  }
]
JSON
}
