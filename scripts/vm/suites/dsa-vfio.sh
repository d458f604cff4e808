# kselftest: drive the emulated DSA (8086:0b25, QEMU -device intel-dsa) from user space
# through vfio-pci: WQ setup, MEMMOVE/FILL, error records, MSI-X and IMS completion
# interrupts, IMS mask and PASID checks (tools/testing/selftests/ims/dsa_vfio_test.c).
# Binds the first 8086:0b25 function to vfio-pci, then runs the test on it. Without such a
# device the test reports every case as SKIP. Needs vfio_pci.disable_denylist=1 on the
# kernel command line (vfio-pci refuses DSA otherwise).
# timeout: 240
test=/tests/selftests/ims/dsa_vfio_test

. /tests/lib.sh
dev=$(find_pci 0x8086 0x0b25)
[ -n "$dev" ] || exec "$test"
bdf=${dev##*/}

# One TAP failure line, for a setup step that failed before the test could run.
fail() {
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 dsa-vfio setup # $*"
	exit 1
}

drv() { pci_driver "$dev"; }

# vfio-pci (6.12 and 7.3) denylists 8086:0b25 (DSA errata on real hardware); only the built-in
# module's read-only parameter lifts that, so it must be on the kernel command line.
p=/sys/module/vfio_pci/parameters/disable_denylist
[ "$(cat $p 2>/dev/null)" = Y ] ||
	fail "vfio-pci denylists 8086:0b25: boot with vfio_pci.disable_denylist=1 (IMS_VM_APPEND)"

if [ "$(drv)" != vfio-pci ]; then
	[ -e "$dev/driver" ] && echo "$bdf" > "$dev/driver/unbind"
	echo vfio-pci > "$dev/driver_override" || fail "cannot set driver_override of $bdf"
	echo "$bdf" > /sys/bus/pci/drivers_probe
fi
[ "$(drv)" = vfio-pci ] || fail "$bdf did not bind to vfio-pci (driver: '$(drv)')"
[ -e "$dev/iommu_group" ] || fail "$bdf has no IOMMU group"
echo "# $bdf bound to vfio-pci, IOMMU group $(basename "$(readlink "$dev/iommu_group")")"
exec "$test" "$bdf"
