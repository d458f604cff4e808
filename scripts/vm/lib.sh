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

# pci_rebind DIR DRIVER: bind the function back to DRIVER (no-op without one).
pci_rebind() {
	[ -n "$2" ] || return 0
	echo "${1##*/}" > "/sys/bus/pci/drivers/$2/bind" ||
		echo "# could not bind ${1##*/} back to $2"
}
