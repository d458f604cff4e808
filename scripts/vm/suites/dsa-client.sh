# KUnit suite "idxd_dmaengine" (drivers/dma/idxd-rs/idxd_client_kunit.c, module
# idxd_client_kunit): a DMA engine client of the Rust DSA driver's channel that terminates
# from its completion callback and from a hard interrupt, and releases the channel with a
# full work queue in flight, and halts the WQ with a failing reset (the emulated DSA's fault
# injection). The emulated DSA runs each descriptor 20 ms late (its debug latency register,
# BAR0 + 0x1010) so that there is work in flight to terminate.
# timeout: 300
. /tests/lib.sh

dev=$(find_pci 0x8086 0x0b25)
if [ -z "$dev" ]; then
	echo "KTAP version 1"
	echo "1..1"
	echo "ok 1 idxd_dmaengine # SKIP no 8086:0b25 device"
	exit 0
fi
bdf=${dev##*/}
drv=$(idxd_take "$dev")

bar0=$(head -1 "$dev/resource" | cut -d' ' -f1)
rc=0
if dsa_setup dsa0 1; then
	devmem $((bar0 + 0x1010)) 32 20000
	modprobe idxd_client_kunit device="$bdf" wq_size=16 wq=0 \
		debug_block=$((bar0 + 0x1000)) || rc=1
	devmem $((bar0 + 0x1010)) 32 0
	kunit_results idxd_dmaengine || rc=1
	rmmod idxd_client_kunit || rc=1
else
	echo "KTAP version 1"
	echo "1..1"
	echo "not ok 1 idxd_dmaengine # could not configure dsa0"
	rc=1
fi
rmmod idxd || rc=1
pci_rebind "$dev" "$drv"
exit $rc
