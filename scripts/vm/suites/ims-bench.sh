# Benchmark, not a test: one-at-a-time IMS allocation against free-and-reallocate
# (lib/tests/ims/ims_bench.c, module ims_bench). Prints the module's result lines as TAP
# comments and one ok line; fails only if the module cannot run. Needs the emulated DSA
# (8086:0b25) free of any driver: a bound driver is unbound for the run and bound again
# afterwards. Extra module parameters: IMS_BENCH_ARGS on the kernel command line, e.g.
# IMS_BENCH_ARGS=n=64,512 (the VM's /init sees kernel parameters as variables).
# timeout: 1200
. /tests/lib.sh
echo "TAP version 13"
echo "1..1"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ]; then
	echo "ok 1 ims-bench # SKIP no 8086:0b25 PCI function (QEMU -device intel-dsa)"
	exit 0
fi
drv=$(pci_unbind "$dev")

start=$(date +%s)
# shellcheck disable=SC2086
if modprobe ims_bench ${IMS_BENCH_ARGS:-}; then
	rc=0
else
	rc=1
fi
secs=$(($(date +%s) - start))
dmesg | sed -n 's/^.*\(ims_bench: .*\)$/# \1/p'
if [ $rc = 0 ] && ! dmesg | grep -q 'ims_bench: n=.* ratio='; then
	rc=1
fi
[ $rc = 0 ] && { rmmod ims_bench || rc=1; }

pci_rebind "$dev" "$drv"
if [ $rc = 0 ]; then
	echo "# ims_bench ran for ${secs}s"
	echo "ok 1 ims-bench"
else
	echo "not ok 1 ims-bench # modprobe ims_bench failed or printed no result (${secs}s)"
fi
exit $rc
