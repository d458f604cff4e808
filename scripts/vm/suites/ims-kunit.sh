# KUnit suites of the IMS core's C API (lib/tests/ims/ims_kunit.c, module ims_kunit): "ims" over a
# memory-backed IMS chip on the emulated DSA (8086:0b25), "ims_dsa" end to end on the
# device's real IMS slots. Both need the function free of any driver: a driver bound to it
# (vfio-pci after the dsa-vfio suite) is unbound for the run and bound again afterwards.
# Extra module parameters: IMS_KUNIT_ARGS on the kernel command line, e.g.
# IMS_KUNIT_ARGS=msix_first=1 (the VM's /init sees kernel parameters as variables).
# timeout: 600
. /tests/lib.sh

dev=$(find_pci 0x8086 0x0b25)
drv=
[ -n "$dev" ] && drv=$(pci_unbind "$dev")

rc=0
# shellcheck disable=SC2086
if modprobe ims_kunit ${IMS_KUNIT_ARGS:-}; then
	# A suite whose every case skipped (no device) reports "ok 1 NAME # SKIP ...".
	for suite in ims ims_dsa; do
		kunit_results $suite && continue
		grep -q "^ok 1 $suite # SKIP" /sys/kernel/debug/kunit/$suite/results 2>/dev/null || rc=1
	done
	rmmod ims_kunit || rc=1
else
	echo "not ok 1 ims_kunit # modprobe failed"
	rc=1
fi

pci_rebind "$dev" "$drv"

# The Rust API's suite (rust/kernel/irq/ims/kunit.rs) is built into the kernel crate and ran
# at boot, while no driver had the DSA; it passes without running if the DSA was not free.
kunit_results rust_ims || rc=1
if dmesg | grep -q "rust_ims: no free DSA"; then
	echo "not ok 1 rust_ims # the DSA was not free at boot: nothing was tested"
	rc=1
fi
exit $rc
