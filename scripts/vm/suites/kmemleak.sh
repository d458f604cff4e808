# Runs last: asks kmemleak for a scan and fails on any unreferenced object, so a leak in
# anything an earlier suite did fails the run.
# timeout: 120
k=/sys/kernel/debug/kmemleak
echo "TAP version 13"
echo "1..1"
if [ ! -e $k ]; then
	echo "ok 1 kmemleak # SKIP CONFIG_DEBUG_KMEMLEAK is off"
	exit 0
fi
# Objects younger than 5 s are not reported; let the last suite's allocations age.
sleep 6
echo scan > $k
echo scan > $k
leaks=$(cat $k)
if [ -n "$leaks" ]; then
	echo "$leaks" | sed 's/^/# /'
	echo "not ok 1 kmemleak # $(echo "$leaks" | grep -c 'unreferenced object') leak(s)"
	exit 1
fi
echo "ok 1 kmemleak"
