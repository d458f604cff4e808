# Benchmark, not a test: unmask to first interrupt on the ims_eq device's sleeping chip
# (enable_irq() is a MODIFY_EQ command the driver waits for, then the device sends the
# pending event), against the same on the DSA's IMS slot (enable_irq() is one MMIO write),
# which the dsa-bench suite measured earlier in this VM boot (/tmp/ims_dsa_unmask). Prints
# both medians and the ratio; there is no goal. Fails only if it cannot run.
# timeout: 600
. /tests/lib.sh
echo "TAP version 13"
echo "1..1"
n=${IMS_EQ_BENCH_N:-1000}

fail() {
	echo "not ok 1 ims-eq-unmask # $*"
	exit 1
}

modprobe ims_eq || fail "modprobe ims_eq failed"
d=$(ls -d /sys/kernel/debug/ims_eq/*/ 2>/dev/null | head -1)
if [ -z "$d" ]; then
	echo "ok 1 ims-eq-unmask # SKIP no ims_eq device (QEMU -device ims-eq)"
	exit 0
fi
echo "1 1 1" > "$d/vport_add" || fail "vport_add"
exec 3<> "$d/alloc"
echo 1 >&3 && read -r idx virq <&3 || fail "alloc"
exec 3>&-
echo "$idx" > "$d/request" || fail "request"
# As in ims_dsa_bench: the interrupt and the measuring task on CPU 0.
echo 1 > "/proc/irq/$virq/smp_affinity"
exec 3<> "$d/bench"
taskset 1 sh -c "echo '$idx $n' >&3" && read -r med <&3 || fail "bench"
exec 3>&-
echo "1" > "$d/vport_del"

echo "# ims_eq: unmask n=$n median_ns=$med (sleeping chip: a MODIFY_EQ command)"
dsa=$(sed -n 's/.* ims_median_ns=\([0-9]*\).*/\1/p' /tmp/ims_dsa_unmask 2>/dev/null)
if [ -n "$dsa" ]; then
	echo "# ims_dsa_bench: unmask median_ns=$dsa (MMIO chip: one slot write)"
	awk -v a="$med" -v b="$dsa" 'BEGIN { printf "# unmask to first interrupt, sleeping/MMIO: %.2f\n", a / b }'
else
	echo "# no DSA figure from this boot (run with dsa-bench before this suite)"
fi
echo "ok 1 ims-eq-unmask"
