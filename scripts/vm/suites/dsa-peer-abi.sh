# The idxd sysfs ABI as one driver shows it, for scripts/peer-abi.sh, which runs this suite
# on the Rust DSA driver (main kernel) and on the upstream C idxd (the peer kernel) and
# compares the two: accel-config loads the same configuration (a kernel WQ and a user WQ in
# group 0, two engines), enables dsa0 and the kernel WQ, then every attribute under
# /sys/bus/dsa/devices/* is printed as "# abi DEV/ATTR MODE VALUE" (VALUE "-" when the
# attribute cannot be read, its first line and at most 100 bytes otherwise). Leaves idxd
# unloaded.
# timeout: 300
. /tests/lib.sh

echo "TAP version 13"
echo "1..2"

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ] || ! command -v accel-config > /dev/null; then
	echo "ok 1 # SKIP no 8086:0b25 device or no accel-config"
	echo "ok 2 # SKIP no 8086:0b25 device or no accel-config"
	exit 0
fi
drv=$(idxd_take "$dev")
s=/sys/bus/dsa/devices

peer_json /tmp/abi.json user

setup() {
	accel-config load-config -c /tmp/abi.json 2>&1 | sed 's/^/# /'
	accel-config enable-device dsa0 2>&1 | sed 's/^/# /'
	accel-config enable-wq dsa0/wq0.0 2>&1 | sed 's/^/# /'
	[ "$(cat $s/dsa0/state)" = enabled ] && [ "$(cat $s/wq0.0/state)" = enabled ]
}
check "accel-config loads the configuration and enables dsa0 and wq0.0" setup

# Regular files only: the driver, subsystem and power links and directories are the
# driver core's, the same for both drivers.
dump() {
	local d f m v
	for d in "$s"/*; do
		for f in "$d"/*; do
			[ -f "$f" ] && [ ! -L "$f" ] || continue
			m=$(stat -c %a "$f")
			if cat "$f" > /tmp/v 2> /dev/null; then
				v=$(head -c 100 /tmp/v | head -1)
				[ -n "$v" ] || v='""'
			else
				v=-
			fi
			echo "# abi ${d##*/}/${f##*/} $m $v"
		done
	done
}
dump > /tmp/abi.txt
cat /tmp/abi.txt
check "the attributes are listed" [ -s /tmp/abi.txt ]

accel-config disable-device dsa0 > /dev/null 2>&1
echo "${dev##*/}" > "$dev/driver/unbind"
rmmod idxd 2> /dev/null
pci_rebind "$dev" "$drv"
exit $failed
