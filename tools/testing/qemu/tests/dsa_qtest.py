#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Host-side smoke test of the emulated DSA (hw/ims/dsa.c) through QEMU's qtest
# protocol: no guest kernel. The test programs the device's config space, BARs,
# registers, IMS slots and MSI-X table itself, writes descriptors into guest RAM and
# checks completion records, data and interrupts. MSI-X and IMS messages are pointed
# at plain guest RAM (there is no IOMMU here), so an interrupt is a DWORD of data
# that shows up at its address.
#
# Usage: dsa_qtest.py [path/to/qemu-system-x86_64]

import os
import struct
import sys

sys.dont_write_bytecode = True     # no __pycache__ in lib/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)) + "/lib")
from qtest import QEMU, QTest, check, summary  # noqa: E402

SLOT = 4
BAR0 = 0xd0000000
BAR2 = 0xd0100000

# RAM layout used by the test
MSIX_RAM = 0x100000     # MSI-X vector v writes here + 16 * v
IMS_RAM = 0x110000      # IMS slot i writes here + 16 * i
CR = 0x200000           # completion records, 64 bytes apart
SRC = 0x300000
DST = 0x400000
DST2 = 0x500000
LIST = 0x600000


def crc32c(data, seed=0):
    crc = ~seed & 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return ~crc & 0xffffffff


def start(devopts=""):
    return QTest(QEMU, "intel-dsa", "/tmp/dsa_qtest.log", SLOT, devopts)


def setup(q):
    q.enable_mmconfig()
    q.cfgw(0x10, BAR0)
    q.cfgw(0x14, 0)
    q.cfgw(0x18, BAR2)
    q.cfgw(0x1c, 0)
    q.cfgw(0x04, 0x6, 2)    # memory + bus master
    # MSI-X: find the capability, enable it, program the table
    cap = q.cfg(0x34, 1)
    msix = None
    while cap:
        if q.cfg(cap, 1) == 0x11:
            msix = cap
        cap = q.cfg(cap + 1, 1)
    ctl = q.cfg(msix + 2, 2)
    table = q.cfg(msix + 4)
    q.cfgw(msix + 2, ctl | 0x8000, 2)
    tbase = BAR0 + (table & ~7)
    for v in range((ctl & 0x7ff) + 1):
        q.w32(tbase + 16 * v, MSIX_RAM + 16 * v)
        q.w32(tbase + 16 * v + 4, 0)
        q.w32(tbase + 16 * v + 8, 0xa0 + v)
        q.w32(tbase + 16 * v + 12, 0)
    return msix, table, ctl


def run_cmd(q, code, operand=0, intr=True):
    q.w32(BAR0 + 0xa0, operand | (code << 20) | ((1 << 31) if intr else 0))
    for _ in range(100):
        sts = q.r32(BAR0 + 0xa8)
        if not sts & 0x80000000:
            return sts
        q.settle(1)
    return sts


def desc(op, flags=0x0c, cr=0, src=0, dst=0, size=0, handle=0, opspec=b""):
    d = struct.pack("<IIQQQIHH", 0, (flags & 0xffffff) | (op << 24), cr, src,
                    dst, size, handle, 0)
    return d + opspec.ljust(24, b"\0")


def submit(q, wq, d, width=8):
    base = BAR2 + wq * 0x4000
    for i in range(0, 64, width):
        v = int.from_bytes(d[i:i + width], "little")
        if width == 8:
            q.w64(base + i, v)
        else:
            q.w32(base + i, v)


def wait_cr(q, cr, n=50):
    for _ in range(n):
        st = q.rbuf(cr, 1)[0]
        if st:
            return q.rbuf(cr, 32)
        q.settle(1)
    return q.rbuf(cr, 32)


def clear(q, a, n=64):
    q.wbuf(a, bytes(n))


def configure(q):
    # group 0: WQ 0,1,2, engine 0
    q.w64(BAR0 + 0x400, 0x7)
    q.w64(BAR0 + 0x420, 0x1)
    # WQ 0: size 16, dedicated, priority 1
    q.w32(BAR0 + 0x500, 16)
    q.w32(BAR0 + 0x508, 1 | (1 << 4))
    # WQ 1: size 8, dedicated, PASID 5
    q.w32(BAR0 + 0x520, 8)
    q.w32(BAR0 + 0x528, 1 | (1 << 4) | (5 << 8) | (1 << 28))
    # WQ 2: size 4, dedicated, block-on-fault
    q.w32(BAR0 + 0x540, 4)
    q.w32(BAR0 + 0x548, 1 | (1 << 1) | (1 << 4))
    q.w32(BAR0 + 0x88, 3)   # softerr + halt interrupts


def ims_slot(q, i, ctrl):
    a = BAR0 + 0x8000 + 16 * i
    q.w32(a, IMS_RAM + 16 * i)
    q.w32(a + 4, 0)
    q.w32(a + 8, 0x1000 + i)
    q.w32(a + 12, ctrl)


def main():
    q = start()
    msix, table, ctl = setup(q)

    check(q.cfg(0) == 0x0b258086, "vendor:device 8086:0b25")
    check(q.cfg(0x08) >> 16 == 0x0880, "class 0x0880")
    check((ctl & 0x7ff) + 1 == 9, "9 MSI-X vectors")
    check(table == 0x2000 and q.cfg(msix + 8) == 0x3000,
          "MSI-X table 0x2000 / PBA 0x3000 in BAR0")
    check(q.cfg(0x100) & 0xffff == 0x1b, "PASID extended capability at 0x100")

    check(q.r32(BAR0) == 0x100, "VERSION")
    gencap = q.r64(BAR0 + 0x10)
    check((gencap >> 25) & 0x3f == 8 and gencap & 0x10 and gencap & 1,
          "GENCAP ims mult 8, cmd_cap, block_on_fault")
    check(q.r64(BAR0 + 0x60) == 0x0080000800050004, "TABLE_OFFSET")
    check(q.r32(BAR0 + 0xb0) == 0x7ffe, "CMDCAP")
    check(q.r32(BAR0 + 0x8000 + 12) == 1, "IMS slot masked at reset")
    check(q.val("readb %#x" % (BAR0 + 0x10)) == 0, "byte read returns 0")
    q.w64(BAR0 + 0x10, 0)
    check(q.r64(BAR0 + 0x10) == gencap, "GENCAP is read-only")
    check(q.r32(BAR0 + 0x1000) == 0x51415344, "debug ID")

    configure(q)
    # group 1 with a WQ but no engine; then WQ 0 in groups 0 and 1
    q.w64(BAR0 + 0x440, 0x8)
    check(run_cmd(q, 1) == 0x15, "enable device, group with WQs, no engine -> 0x15")
    q.w64(BAR0 + 0x440, 0x1)
    q.w64(BAR0 + 0x460, 0x2)
    check(run_cmd(q, 1) == 0x16, "enable device, WQ in two groups -> 0x16")
    q.w64(BAR0 + 0x440, 0)
    q.w64(BAR0 + 0x460, 0)
    clear(q, MSIX_RAM, 256)
    sts = run_cmd(q, 1)
    check(sts == 0, "enable device (CMDSTS %#x)" % sts)
    check(q.r32(BAR0 + 0x90) & 3 == 1, "GENSTS enabled")
    check(q.r32(BAR0 + 0x98) & 2, "INTCAUSE command")
    check(q.r32(MSIX_RAM) == 0xa0, "misc interrupt on vector 0")
    q.w32(BAR0 + 0x98, 2)
    check(q.r32(BAR0 + 0x98) & 2 == 0, "INTCAUSE is RW1C")
    check(run_cmd(q, 1) == 0x10, "enable device twice -> 0x10")
    for wq in range(3):
        check(run_cmd(q, 6, wq) == 0, "enable WQ %d" % wq)
    check(q.r32(BAR0 + 0x518) >> 30 == 1, "WQ 0 state enabled")
    check(q.r32(BAR0 + 0x548) & 2 and q.r32(BAR0 + 0x558) >> 30 == 1,
          "WQ 2 enabled with block-on-fault")
    check(run_cmd(q, 6, 3) == 0x22, "enable WQ 3 (size 0) -> 0x22")
    check(run_cmd(q, 6, 9) == 0x02, "enable WQ 9 -> 0x02")
    check(run_cmd(q, 31) == 0x01, "invalid command -> 0x01")

    # MEMMOVE with completion interrupt on vector 1
    data = bytes((i * 7 + 3) & 0xff for i in range(10000))
    q.wbuf(SRC, data)
    clear(q, DST, 10000)
    clear(q, CR)
    clear(q, MSIX_RAM, 256)
    submit(q, 0, desc(3, 0x1c, CR, SRC, DST, len(data), 1))
    cr = wait_cr(q, CR)
    check(cr[0] == 1, "MEMMOVE status success (%#x)" % cr[0])
    check(q.rbuf(DST, len(data)) == data, "MEMMOVE data")
    check(q.r32(MSIX_RAM + 16) == 0xa1, "completion interrupt on vector 1")

    # overlapping memmove (dst above src)
    q.wbuf(SRC, data[:8192])
    clear(q, CR)
    submit(q, 0, desc(3, 0x0c, CR, SRC, SRC + 100, 8000))
    cr = wait_cr(q, CR)
    check(cr[0] == 1 and q.rbuf(SRC + 100, 8000) == data[:8000],
          "overlapping MEMMOVE")

    # FILL
    clear(q, CR)
    submit(q, 0, desc(4, 0x0c, CR, 0x0807060504030201, DST, 4099))
    cr = wait_cr(q, CR)
    pat = bytes(range(1, 9)) * 513
    check(cr[0] == 1 and q.rbuf(DST, 4099) == pat[:4099], "MEMFILL")

    # COMPARE equal / different
    q.wbuf(SRC, data)
    q.wbuf(DST, data)
    clear(q, CR)
    submit(q, 0, desc(5, 0x0c, CR, SRC, DST, 5000))
    cr = wait_cr(q, CR)
    check(cr[0] == 1 and cr[1] == 0, "COMPARE equal")
    q.wbuf(DST + 4500, b"\xff")
    clear(q, CR)
    submit(q, 0, desc(5, 0x0c, CR, SRC, DST, 5000))
    cr = wait_cr(q, CR)
    check(cr[0] == 1 and cr[1] == 1 and
          struct.unpack_from("<I", cr, 4)[0] == 4500,
          "COMPARE mismatch at 4500")
    clear(q, CR)
    submit(q, 0, desc(5, 0x8c, CR, SRC, DST, 5000))
    cr = wait_cr(q, CR)
    check(cr[0] == 2, "COMPARE check-result false predicate -> 2")

    # COMPVAL
    q.wbuf(SRC, b"\xab\xcd" * 2048)
    clear(q, CR)
    submit(q, 0, desc(6, 0x0c, CR, SRC, 0xcdabcdabcdabcdab, 4096))
    cr = wait_cr(q, CR)
    check(cr[0] == 1 and cr[1] == 0, "COMPVAL equal")

    # DUALCAST
    clear(q, CR)
    q.wbuf(SRC, data[:3000])
    submit(q, 0, desc(9, 0x0c, CR, SRC, DST + 0x40, 3000,
                      opspec=struct.pack("<Q", DST2 + 0x40)))
    cr = wait_cr(q, CR)
    check(cr[0] == 1 and q.rbuf(DST + 0x40, 3000) == data[:3000] and
          q.rbuf(DST2 + 0x40, 3000) == data[:3000], "DUALCAST")
    clear(q, CR)
    submit(q, 0, desc(9, 0x0c, CR, SRC, DST + 0x40, 3000,
                      opspec=struct.pack("<Q", DST2 + 0x80)))
    check(wait_cr(q, CR)[0] == 0x17, "DUALCAST misaligned -> 0x17")

    # CRCGEN
    q.wbuf(SRC, b"123456789")
    clear(q, CR)
    submit(q, 0, desc(0x10, 0x0c, CR, SRC, 0, 9))
    cr = wait_cr(q, CR)
    check(cr[0] == 1 and struct.unpack_from("<I", cr, 16)[0] == 0xe3069283,
          "CRCGEN CRC-32C (%#x)" % struct.unpack_from("<I", cr, 16)[0])

    q.wbuf(SRC, data)
    clear(q, CR)
    submit(q, 0, desc(0x10, 0x0c, CR, SRC, 0, len(data),
                      opspec=struct.pack("<I", 0x12345678)))
    cr = wait_cr(q, CR)
    check(cr[0] == 1 and struct.unpack_from("<I", cr, 16)[0] ==
          crc32c(data, 0x12345678), "CRCGEN over 3 chunks with a seed")

    # NOP, DRAIN
    for op, name in ((0, "NOOP"), (2, "DRAIN")):
        clear(q, CR)
        submit(q, 0, desc(op, 0x0c, CR))
        check(wait_cr(q, CR)[0] == 1, name)

    # errors
    clear(q, CR)
    submit(q, 0, desc(0x3f, 0x0c, CR))
    check(wait_cr(q, CR)[0] == 0x10, "bad opcode -> 0x10")
    clear(q, CR)
    submit(q, 0, desc(0, 0x1000c, CR))
    cr = wait_cr(q, CR)
    check(cr[0] == 0x11 and struct.unpack_from("<I", cr, 16)[0] == 0x10000,
          "invalid flags -> 0x11")
    clear(q, CR)
    submit(q, 0, desc(3, 0x0c, CR, 0x7000000000, DST, 64))
    cr = wait_cr(q, CR)
    check(cr[0] == 3 and struct.unpack_from("<Q", cr, 8)[0] == 0x7000000000,
          "page fault -> 0x03 with fault address")
    clear(q, CR)
    submit(q, 0, desc(3, 0x0c, CR, SRC, DST, 1 << 22))
    check(wait_cr(q, CR)[0] == 0x13, "transfer too large -> 0x13")
    clear(q, CR)
    submit(q, 0, desc(3, 0x04, CR, SRC, 0x7000000000, 64))
    check(wait_cr(q, CR)[0] == 3, "error record written with CRAV only")

    # BATCH
    q.wbuf(SRC, data[:512])
    clear(q, DST, 1024)
    members = desc(3, 0x0c, CR + 64, SRC, DST, 512) + \
        desc(4, 0x0c, CR + 128, 0x5a5a5a5a5a5a5a5a, DST + 512, 256) + \
        desc(0, 0x0c, CR + 192)
    q.wbuf(LIST, members)
    clear(q, CR, 256)
    submit(q, 0, desc(1, 0x0c, CR, LIST, 0, 3))
    cr = wait_cr(q, CR)
    check(cr[0] == 1 and struct.unpack_from("<I", cr, 4)[0] == 3,
          "BATCH of 3")
    check(q.rbuf(CR + 64, 1)[0] == 1 and q.rbuf(CR + 128, 1)[0] == 1 and
          q.rbuf(CR + 192, 1)[0] == 1 and q.rbuf(DST, 512) == data[:512] and
          q.rbuf(DST + 512, 256) == b"\x5a" * 256, "BATCH members")
    q.wbuf(LIST, desc(0x3f, 0x0c, CR + 64) + desc(0, 0x0d, CR + 128))
    clear(q, CR, 256)
    submit(q, 0, desc(1, 0x0c, CR, LIST, 0, 2))
    cr = wait_cr(q, CR)
    check(cr[0] == 5 and q.rbuf(CR + 64, 1)[0] == 0x10 and
          q.rbuf(CR + 128, 1)[0] == 0, "BATCH failure and fence -> 0x05")
    clear(q, CR)
    submit(q, 0, desc(1, 0x0c, CR, LIST, 0, 1))
    check(wait_cr(q, CR)[0] == 0x14, "BATCH count 1 -> 0x14")
    clear(q, CR)
    submit(q, 0, desc(1, 0x0c, CR, LIST + 8, 0, 2))
    check(wait_cr(q, CR)[0] == 0x18, "BATCH misaligned list -> 0x18")

    # 4-byte stores
    clear(q, CR)
    submit(q, 0, desc(0, 0x0c, CR), width=4)
    check(wait_cr(q, CR)[0] == 1, "descriptor from sixteen 4-byte stores")

    # IMS
    clear(q, IMS_RAM, 256)
    ims_slot(q, 5, 0)
    clear(q, CR)
    submit(q, 0, desc(0, 0x1c, CR, handle=0x8005))
    check(wait_cr(q, CR)[0] == 1 and q.r32(IMS_RAM + 0x50) == 0x1005,
          "IMS slot 5 fires")
    ims_slot(q, 6, 1)
    clear(q, CR)
    submit(q, 0, desc(0, 0x1c, CR, handle=0x8006))
    wait_cr(q, CR)
    q.settle()
    check(q.r32(IMS_RAM + 0x60) == 0, "masked IMS slot does not fire")
    q.w32(BAR0 + 0x8000 + 16 * 6 + 12, 0)
    check(q.r32(IMS_RAM + 0x60) == 0x1006, "pending IMS slot fires on unmask")
    ims_slot(q, 7, (5 << 12) | 8)
    clear(q, CR)
    clear(q, MSIX_RAM, 16)
    q.w64(BAR0 + 0xc0, 3)
    q.w32(BAR0 + 0x98, 0xff)
    submit(q, 0, desc(0, 0x1c, CR, handle=0x8007))
    cr = wait_cr(q, CR)
    q.settle()
    sw = q.r64(BAR0 + 0xc0)
    check(cr[0] == 0x19 and q.r32(IMS_RAM + 0x70) == 0,
          "PASID slot refused for WQ without PASID (0x19)")
    check(sw & 1 and (sw >> 8) & 0xff == 0x19 and (sw >> 16) & 0xff == 0 and
          sw & 8, "SWERR records 0x19 for WQ 0 (%#x)" % sw)
    check(q.r32(BAR0 + 0x98) & 1 and q.r32(MSIX_RAM) == 0xa0,
          "misc interrupt for SWERR")
    q.w64(BAR0 + 0xc0, 3)
    check(q.r64(BAR0 + 0xc0) & 3 == 0, "SWERR acknowledged")
    clear(q, CR)
    submit(q, 1, desc(0, 0x1c, CR, handle=0x8007))
    check(wait_cr(q, CR)[0] == 1 and q.r32(IMS_RAM + 0x70) == 0x1007,
          "PASID slot fires for WQ with PASID 5")
    ims_slot(q, 8, (6 << 12) | 8)
    clear(q, CR)
    submit(q, 1, desc(0, 0x1c, CR, handle=0x8008))
    cr = wait_cr(q, CR)
    check(cr[0] == 0x19 and q.r32(IMS_RAM + 0x80) == 0 and
          (q.r64(BAR0 + 0xc0) >> 40) & 0xfffff == 5,
          "PASID 6 slot refused for PASID 5 work")
    q.w64(BAR0 + 0xc0, 3)
    clear(q, CR)
    submit(q, 0, desc(0, 0x1c, CR, handle=0x8000 | 2048))
    check(wait_cr(q, CR)[0] == 0x19, "IMS slot 2048 out of range")
    clear(q, CR)
    submit(q, 0, desc(0, 0x1c, CR, handle=9))
    check(wait_cr(q, CR)[0] == 0x19, "MSI-X vector 9 out of range")
    q.w64(BAR0 + 0xc0, 3)

    # fault injection
    q.w32(BAR0 + 0x1008, 1 | (0x21 << 8))
    clear(q, CR)
    submit(q, 0, desc(0, 0x0c, CR))
    check(wait_cr(q, CR)[0] == 0x21, "injected failure status 0x21")
    clear(q, CR)
    submit(q, 0, desc(0, 0x0c, CR))
    check(wait_cr(q, CR)[0] == 1, "only the next descriptor fails")
    q.w32(BAR0 + 0x98, 0xff)
    q.w32(BAR0 + 0x1008, 2 | (2 << 16))
    sw = q.r64(BAR0 + 0xc0)
    check(q.r32(BAR0 + 0x558) >> 30 == 2 and sw & 1 and
          (sw >> 16) & 0xff == 2 and q.r32(BAR0 + 0x98) & 1,
          "halt WQ 2: state 2, SWERR, INTCAUSE")
    check(run_cmd(q, 7, 1 << 2) == 0 and q.r32(BAR0 + 0x558) >> 30 == 0,
          "disable halted WQ 2")
    # command failure: RESET_WQ (10) fails once with error 0x2a, then works; a failure
    # for any command hits the next one, whatever it is
    q.w32(BAR0 + 0x1008, 4 | (10 << 8) | (0x2a << 16))
    check(run_cmd(q, 9, 1 << 2) == 0, "injected RESET_WQ failure spares ABORT_WQ")
    check(run_cmd(q, 10, 1 << 2) & 0xff == 0x2a, "injected RESET_WQ failure 0x2a")
    check(run_cmd(q, 10, 1 << 2) == 0, "only the next RESET_WQ fails")
    q.w32(BAR0 + 0x1008, 4)
    check(run_cmd(q, 7, 1 << 2) & 0xff == 0x01, "injected failure of any command")
    q.w64(BAR0 + 0xc0, 3)
    q.w32(BAR0 + 0x1008, 3 | (0x33 << 8) | (1 << 16) | (1 << 24))
    sw = q.r64(BAR0 + 0xc0)
    check(sw & 1 and (sw >> 8) & 0xff == 0x33 and (sw >> 16) & 0xff == 1,
          "injected software error")
    q.w64(BAR0 + 0xc0, 3)
    q.w32(BAR0 + 0x1010, 5000)
    clear(q, CR)
    submit(q, 0, desc(0, 0x0c, CR))
    q.cmd("clock_step 1000000")     # 1 ms: not yet
    early = q.rbuf(CR, 1)[0]
    q.cmd("clock_step 10000000")
    q.settle()
    check(early == 0 and q.rbuf(CR, 1)[0] == 1, "latency 5 ms")
    # drain waits for latency-delayed work
    clear(q, CR, 128)
    submit(q, 0, desc(0, 0x0c, CR))
    submit(q, 0, desc(0, 0x0c, CR + 64))
    q.w32(BAR0 + 0xa0, (8 << 20) | 1)
    active = q.r32(BAR0 + 0xa8) & 0x80000000
    check(q.r32(BAR0 + 0x518) & 0xffff == 2, "WQ 0 occupancy 2")
    for _ in range(6):
        q.cmd("clock_step 6000000")
        q.settle(1)
    check(active and q.r32(BAR0 + 0xa8) == 0 and q.rbuf(CR, 1)[0] == 1 and
          q.rbuf(CR + 64, 1)[0] == 1, "drain WQ waits for queued work")
    clear(q, CR, 128)
    submit(q, 0, desc(0, 0x0c, CR))
    check(run_cmd(q, 9, 1) == 0, "abort WQ 0")
    q.w32(BAR0 + 0x1010, 0)
    q.settle()
    check(q.rbuf(CR, 1)[0] == 0, "aborted descriptor never completes")

    # portal to a disabled WQ is dropped
    check(run_cmd(q, 7, 1) == 0, "disable WQ 0")
    clear(q, CR)
    submit(q, 0, desc(0, 0x0c, CR))
    q.settle()
    check(q.rbuf(CR, 1)[0] == 0, "descriptor to disabled WQ dropped")
    q.w32(BAR0 + 0x500, 4)
    check(q.r32(BAR0 + 0x500) == 4, "WQCFG writable while WQ disabled")
    q.w32(BAR0 + 0x520, 4)
    check(q.r32(BAR0 + 0x520) == 8, "WQCFG read-only while WQ enabled")
    check(run_cmd(q, 2) == 0 and q.r32(BAR0 + 0x90) & 3 == 0,
          "disable device")
    check(run_cmd(q, 5) == 0 and q.r32(BAR0 + 0x400) == 0 and
          q.r32(BAR0 + 0x8000 + 16 * 5 + 12) == 1, "reset device")
    # request handles without int-handle-req: still works
    check(run_cmd(q, 13, 5 | 0x10000) == 0x8005 << 8,
          "REQUEST_INT_HANDLE IMS 5 -> 0x8005")
    check(run_cmd(q, 13, 9) == 0x41, "REQUEST_INT_HANDLE MSI-X 9 -> 0x41")
    q.close()

    # int-handle-req=on
    q = start(",int-handle-req=on")
    setup(q)
    configure(q)
    run_cmd(q, 1)
    run_cmd(q, 6, 0)
    ims_slot(q, 5, 0)
    clear(q, IMS_RAM, 256)
    clear(q, CR)
    submit(q, 0, desc(0, 0x1c, CR, handle=0x8005))
    check(wait_cr(q, CR)[0] == 0x19 and q.r32(IMS_RAM + 0x50) == 0,
          "int-handle-req: ungranted IMS handle refused")
    h = run_cmd(q, 13, 5 | 0x10000) >> 8
    clear(q, CR)
    submit(q, 0, desc(0, 0x1c, CR, handle=h))
    check(h == 0x8005 and wait_cr(q, CR)[0] == 1 and
          q.r32(IMS_RAM + 0x50) == 0x1005, "granted IMS handle accepted")
    check(run_cmd(q, 14, h | 0x10000) == 0, "release handle")
    clear(q, CR)
    submit(q, 0, desc(0, 0x1c, CR, handle=h))
    check(wait_cr(q, CR)[0] == 0x19, "released handle refused")
    h = run_cmd(q, 13, 1) >> 8
    clear(q, CR)
    clear(q, MSIX_RAM, 256)
    submit(q, 0, desc(0, 0x1c, CR, handle=h))
    check(h == 1 and wait_cr(q, CR)[0] == 1 and
          q.r32(MSIX_RAM + 16) == 0xa1, "granted MSI-X handle 1")
    q.close()

    # fail-next property
    q = start(",fail-next=1,fail-status=0x20")
    setup(q)
    configure(q)
    run_cmd(q, 1)
    run_cmd(q, 6, 0)
    clear(q, CR)
    submit(q, 0, desc(0, 0x0c, CR))
    check(wait_cr(q, CR)[0] == 0x20, "fail-next property")
    q.close()

    return summary()


if __name__ == "__main__":
    sys.exit(main())
