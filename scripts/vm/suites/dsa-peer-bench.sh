# Benchmark, not a test, for scripts/peer-bench.sh (`make bench-peer`), which runs it in
# alternating boots of the peer kernel (upstream C idxd, completions on MSI-X) and the main
# kernel (our Rust idxd, completions on IMS): the same workloads on whichever idxd the
# kernel has. dmatest memcpy throughput at 4 KiB and 64 KiB on one and on two channels (one
# dedicated kernel WQ each, one thread per channel, no verification), and the time per
# descriptor of a 64-byte memcpy on one channel: submission, the device, the completion
# interrupt and its handler, and dmatest's wake-up, one descriptor at a time (dmatest
# waits for each), the round trip that completion-to-handler latency is part of. Prints
# "# peer-bench NAME VALUE" lines (KB/s, ns) and one ok line per figure.
# timeout: 900
. /tests/lib.sh

iters=${IMS_PEER_BENCH_N:-2000}
echo "TAP version 13"
echo "1..5"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ]; then
	for i in 1 2 3 4 5; do echo "ok $i # SKIP no 8086:0b25 device"; done
	exit 0
fi
bdf=${dev##*/}
drv=$(idxd_take "$dev")

# run NAME CHANNELS SIZE FIELD: dmatest memcpy on CHANNELS channels of SIZE bytes; print
# the sum over threads of FIELD (kbs: KB/s) or the time per descriptor (ns), as a figure.
run() {
	local sum v buf chan c
	rmmod dmatest 2> /dev/null
	# Each run on a freshly configured and enabled device: the C driver's terminate_all
	# (dmatest's channel release) leaves the WQ's interrupt handle invalid until the WQ
	# is enabled again, and disabling a WQ there resets its configuration.
	if [ "$(cat /sys/bus/dsa/devices/dsa0/state)" = enabled ]; then
		echo dsa0 > /sys/bus/dsa/drivers/idxd/unbind || return 1
	fi
	dsa_setup dsa0 2 || return 1
	dmesg -c > /dev/null
	# dmatest's buffers are 16 KiB unless told otherwise, and must be larger than
	# transfer_size (else its thread ends after one test).
	buf=16384
	[ "$3" -lt $buf ] || buf=$(($3 * 2))
	# One channel by name: with max_channels=1 alone dmatest would take a second one
	# for memset, which our driver offers and the C driver does not. dmatest adds the
	# channel's test as soon as "channel" is set, with the parameters set so far: last.
	chan=
	if [ "$2" = 1 ]; then
		for c in /sys/class/dma/dma*chan*; do
			case "$(readlink "$c/device")" in
			*/"$bdf") chan=channel=${c##*/}; break ;;
			esac
		done
		[ -n "$chan" ] || return 1
	fi
	modprobe dmatest device="$bdf" max_channels="$2" threads_per_chan=1 \
		test_buf_size=$buf transfer_size="$3" norandom=1 noverify=1 \
		iterations="$iters" timeout=10000 $chan || return 1
	echo 1 > /sys/module/dmatest/parameters/run
	cat /sys/module/dmatest/parameters/wait > /dev/null
	rmmod dmatest
	# Which CPUs took the completion interrupts (the peer suites compare MSI-X and IMS).
	grep -i -e idxd -e dsa -e ims /proc/interrupts | sed 's/^ */# irq /'
	sum=$(dmesg | sed -n 's/^.*dmatest: \(.*summary.*\)$/\1/p')
	echo "$sum" | sed 's/^/# /'
	[ "$(echo "$sum" | grep -c "summary $iters tests, 0 failures")" = "$2" ] || return 1
	v=$(echo "$sum" | awk -v f="$4" '{
		for (i = 2; i <= NF; i++) {
			if ($i == "iops") iops += $(i - 1)
			if ($i == "KB/s") kbs += $(i - 1)
		}
	} END {
		if (f == "kbs") printf "%.0f", kbs
		else if (iops > 0) printf "%.0f", 1e9 / iops
	}')
	[ -n "$v" ] || return 1
	echo "# peer-bench $1 $v"
}

check "memcpy 4 KiB, 1 channel (KB/s)" run memcpy-4k-1ch 1 4096 kbs
check "memcpy 4 KiB, 2 channels (KB/s)" run memcpy-4k-2ch 2 4096 kbs
check "memcpy 64 KiB, 1 channel (KB/s)" run memcpy-64k-1ch 1 65536 kbs
check "memcpy 64 KiB, 2 channels (KB/s)" run memcpy-64k-2ch 2 65536 kbs
check "memcpy 64 B round trip, 1 channel (ns)" run roundtrip-64b-ns 1 64 ns
# Disabled first: the C driver's PCI remove with dsa0 enabled reads freed WQs.
echo dsa0 > /sys/bus/dsa/drivers/idxd/unbind
echo "$bdf" > "$dev/driver/unbind"
rmmod idxd 2> /dev/null
pci_rebind "$dev" "$drv"
exit $failed
