# Benchmark, not a test: IMS against MSI-X completion latency on the emulated DSA
# (lib/tests/ims/ims_dsa_bench.c, module ims_dsa_bench), then dmaengine memcpy throughput at
# 4 KiB through the Rust driver (dmatest on idxd's channels), and the share of the time
# per copy that is not the device's (driver, dmaengine and dmatest), and the cost of a
# vector's life (allocate, request, free) on IMS against dynamic MSI-X, and the time from
# unmasking an IMS vector with a completion pending to its handler. Prints the figures
# as TAP comments and one ok line per part; fails only if a part cannot run.
# timeout: 900
. /tests/lib.sh
echo "TAP version 13"
echo "1..3"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ]; then
	echo "ok 1 ims-dsa-bench # SKIP no 8086:0b25 PCI function"
	echo "ok 2 dmatest-4k # SKIP no 8086:0b25 PCI function"
	echo "ok 3 ims-lifecycle # SKIP no 8086:0b25 PCI function"
	exit 0
fi
bdf=${dev##*/}
drv=$(pci_unbind "$dev")
rc=0

dmesg -c > /dev/null
if modprobe ims_dsa_bench n="${IMS_DSA_BENCH_N:-1000}" && rmmod ims_dsa_bench; then
	line=$(dmesg | sed -n 's/^.*\(ims_dsa_bench: n=.*\)$/\1/p')
	echo "# $line"
	echo "ok 1 ims-dsa-bench"
else
	dmesg | sed -n 's/^.*\(ims_dsa_bench: .*\)$/# \1/p'
	echo "not ok 1 ims-dsa-bench # modprobe ims_dsa_bench failed"
	rc=1
fi
raw=$(echo "$line" | sed -n 's/.* ims_median_ns=\([0-9]*\).*/\1/p')
# A vector's life (allocate, request, free the interrupt, free the vector) on IMS against
# dynamic MSI-X, from the same module load. Goal: IMS within 1.1x of MSI-X.
life=$(dmesg | sed -n 's/^.*\(ims_dsa_bench: lifecycle .*\)$/\1/p')
life_ratio=$(echo "$life" | sed -n 's/.* ratio_median=\([0-9.]*\).*/\1/p')
# Unmask to first interrupt on the DSA's IMS slot (an MMIO chip): kept for the ims-eq-bench
# suite, which measures the same on the ims_eq device's sleeping chip in this VM boot.
unmask=$(dmesg | sed -n 's/^.*\(ims_dsa_bench: unmask .*\)$/\1/p')
[ -n "$unmask" ] && echo "# $unmask" && echo "$unmask" > /tmp/ims_dsa_unmask

dmesg -c > /dev/null
if modprobe idxd && dsa_setup dsa0 1 && modprobe dmatest device="$bdf" max_channels=1 transfer_size=4096 \
	norandom=1 noverify=1 iterations="${IMS_DSA_BENCH_N:-1000}" timeout=10000; then
	echo 1 > /sys/module/dmatest/parameters/run
	cat /sys/module/dmatest/parameters/wait > /dev/null
	rmmod dmatest
	sum=$(dmesg | sed -n 's/^.*dmatest: \(.*summary.*\)$/\1/p' | head -1)
	echo "# dmatest: $sum"
	iops=$(echo "$sum" | sed -n 's/.* \([0-9.]*\) iops.*/\1/p')
	awk -v iops="$iops" -v raw="${raw:-0}" 'BEGIN {
		if (iops <= 0) exit 1
		op = 1e9 / iops
		printf "# dmaengine 4 KiB copy: %.0f ns per copy (%.0f KiB/s)\n", op, iops * 4
		if (raw > 0)
			printf "# device alone (ims_dsa_bench median): %d ns; other share: %.1f%%\n", raw, 100 * (op - raw) / op
	}' && echo "ok 2 dmatest-4k" || { echo "not ok 2 dmatest-4k # no dmatest summary"; rc=1; }
else
	echo "not ok 2 dmatest-4k # could not load idxd or dmatest"
	rc=1
fi
if [ -n "$life_ratio" ]; then
	echo "# $life"
	awk -v r="$life_ratio" 'BEGIN { printf "# lifecycle IMS/MSI-X: %s (goal <= 1.10: %s)\n", r, r <= 1.10 ? "met" : "missed" }'
	echo "ok 3 ims-lifecycle"
else
	echo "not ok 3 ims-lifecycle # no lifecycle figures${life:+: $life}"
	rc=1
fi
rmmod idxd 2>/dev/null
pci_rebind "$dev" "$drv"
exit $rc
