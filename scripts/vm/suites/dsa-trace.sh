# Profile, not a test, for scripts/trace-dsa.sh (`make trace-dsa`), which boots the trace
# kernels (ftrace; our Rust idxd and the upstream C idxd). Where the time of one DSA
# completion goes: dmatest copies 64 bytes at a time on one channel (one dedicated kernel
# WQ), waiting for each, while ftrace records the scheduler and interrupt events of the
# dmatest thread, the WQ's interrupt and its thread. Each round trip splits into
#
#	submit	dmatest goes to sleep (sched_switch away from it) ...
#	irq	... the WQ's hard interrupt handler runs (irq_handler_entry) ...
#	thread	... its interrupt thread runs (sched_switch to it) ...
#	wake	... the thread wakes dmatest (sched_waking: the DMA callback ran) ...
#	run	... dmatest runs again (sched_switch to it).
#
# Prints each stage's median and mean in microseconds ("# trace-dsa STAGE MEDIAN MEAN"),
# how many round trips had a timer tick within a stage, and a few round trips raw.
# timeout: 600
. /tests/lib.sh

iters=${IMS_TRACE_N:-400}
t=/sys/kernel/tracing
echo "TAP version 13"
echo "1..2"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ] || [ ! -d /sys/kernel/debug ]; then
	echo "ok 1 # SKIP no 8086:0b25 device"
	echo "ok 2 # SKIP no 8086:0b25 device"
	exit 0
fi
[ -f $t/trace ] || mount -t tracefs nodev $t
bdf=${dev##*/}
# IMS_TRACE_NOIMS=1 (kernel command line): the device hides its IMS (debug INJECT 5), so
# that our driver completes on MSI-X as the C driver does, telling the interrupt path's
# share from the driver's.
drv=$(idxd_take "$dev")
if [ "${IMS_TRACE_NOIMS:-0}" = 1 ]; then
	# Once bound (memory decoding on), unbound, hidden, bound again.
	echo "$bdf" > "$dev/driver/unbind"
	devmem $(($(head -1 "$dev/resource" | cut -d' ' -f1) + 0x1008)) 32 $((5 | 1 << 8))
	echo "$bdf" > /sys/bus/pci/drivers/idxd/bind
	echo "# IMS hidden"
fi

# trace: one dmatest run of $iters 64-byte copies on the first channel, traced.
trace() {
	local chan= c

	dsa_setup dsa0 1 || return 1
	for c in /sys/class/dma/dma*chan*; do
		case "$(readlink "$c/device")" in
		*/"$bdf") chan=${c##*/}; break ;;
		esac
	done
	[ -n "$chan" ] || return 1
	echo 0 > $t/tracing_on
	echo nop > $t/current_tracer
	echo 16384 > $t/buffer_size_kb
	: > $t/set_event
	: > $t/trace
	echo irq:irq_handler_entry irq:irq_handler_exit sched:sched_waking \
		sched:sched_switch irq_vectors:local_timer_entry > $t/set_event || return 1
	dmesg -c > /dev/null
	modprobe dmatest device="$bdf" max_channels=1 threads_per_chan=1 \
		test_buf_size=16384 transfer_size=64 norandom=1 noverify=1 \
		iterations="$iters" timeout=10000 channel="$chan" || return 1
	echo 1 > $t/tracing_on
	echo 1 > /sys/module/dmatest/parameters/run
	cat /sys/module/dmatest/parameters/wait > /dev/null
	echo 0 > $t/tracing_on
	rmmod dmatest
	dmesg | sed -n 's/^.*dmatest: \(.*summary.*\)$/# \1/p'
	grep -i -e idxd -e dsa /proc/interrupts | sed 's/^ */# irq /'
	cp $t/trace /tmp/dsa.trace
	: > $t/set_event
	dmesg | grep -q "summary $iters tests, 0 failures"
}

# analyse: the stages of each round trip, from /tmp/dsa.trace. The dmatest thread is
# "dma<N>chan<M>-copy0"; the WQ's interrupt is "idxd-wq" (ours) or "idxd-portal" (C), and
# its thread "irq/<N>-idxd-wq" or "irq/<N>-idxd-portal", cut to 15 characters.
analyse() {
	awk '
	function us(s) { sub(":", "", s); return s * 1e6 }
	function stage(name, d) { sum[name] += d; all[name] = all[name] " " d; cnt[name]++ }
	function median(s,    a, n, i, j, x) {
		n = split(s, a, " ")
		for (i = 1; i <= n; i++)
			for (j = i + 1; j <= n; j++)
				if (a[j] + 0 < a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }
		return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : 0
	}
	/^#/ { next }
	{
		ts = 0
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { ts = us($i); ev = $(i + 1); break }
		if (!ts) next
	}
	ev == "sched_switch:" && /prev_comm=dma[0-9]+chan[0-9]+-copy/ && !/prev_state=R/ {
		if (st == 5 || !st) { t0 = ts; st = 1; tick = 0; raw = $0 "\n" }
		next
	}
	st >= 1 && st < 5 { raw = raw $0 "\n" }
	ev == "local_timer_entry:" && st >= 1 && st < 5 { tick = 1; next }
	ev == "irq_handler_entry:" && /name=idxd-(wq|portal)/ && st == 1 { t1 = ts; st = 2; next }
	ev == "sched_switch:" && /next_comm=irq\/[0-9]+-idxd-(wq|por)/ && st == 2 { t2 = ts; st = 3; next }
	ev == "sched_waking:" && /comm=dma[0-9]+chan[0-9]+-copy/ && st == 3 { t3 = ts; st = 4; next }
	ev == "sched_switch:" && /next_comm=dma[0-9]+chan[0-9]+-copy/ && st == 4 {
		st = 5; n++
		stage("submit-irq", t1 - t0); stage("irq-thread", t2 - t1)
		stage("thread-wake", t3 - t2); stage("wake-run", ts - t3); stage("total", ts - t0)
		ticks += tick
		if (n == 50 || n == 51 || n == 52) printf "%s", raw
		next
	}
	END {
		split("submit-irq irq-thread thread-wake wake-run total", o, " ")
		for (k = 1; k <= 5; k++)
			printf "trace-dsa %s %.0f %.0f\n", o[k], median(all[o[k]]), cnt[o[k]] ? sum[o[k]] / cnt[o[k]] : 0
		printf "trace-dsa round-trips %d\ntrace-dsa with-tick %d\n", n, ticks
	}' /tmp/dsa.trace | sed 's/^/# /'
	[ "$(grep -c . /tmp/dsa.trace)" -gt 100 ]
}

check "dmatest 64 B round trips, traced" trace
check "round trips split into stages" analyse
echo dsa0 > /sys/bus/dsa/drivers/idxd/unbind
echo "$bdf" > "$dev/driver/unbind"
rmmod idxd 2> /dev/null
pci_rebind "$dev" "$drv"
exit $failed
