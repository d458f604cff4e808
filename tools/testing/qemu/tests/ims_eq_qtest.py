#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Host-side test of the ims-eq device (hw/ims/ims_eq.c) through QEMU's qtest protocol:
# no guest kernel. The test programs the function's config space, BAR0 and MSI-X table
# itself, writes EQ contexts, command blocks and work descriptors into guest RAM and
# checks statuses, data, counters and interrupts. MSI-X and EQ messages are pointed at
# plain guest RAM (there is no IOMMU here), so an interrupt is a DWORD of data that
# shows up at its address.
#
# Usage: ims_eq_qtest.py [path/to/qemu-system-x86_64]

import os
import struct
import subprocess
import sys

sys.dont_write_bytecode = True     # no __pycache__ in lib/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)) + "/lib")
from qtest import BIOS, QEMU, QTest, check, summary  # noqa: E402

SLOT = 4
BAR0 = 0xd0000000

# registers
ID = 0x000
CAP = 0x004
STATUS = 0x008
CMD_ADDR = 0x010
CMD_DOORBELL = 0x018
CTX_BASE = 0x020
WORK_ADDR = 0x028
MISMATCH_COUNT = 0x030
MISMATCH_EQN = 0x034
MISMATCH_VMID = 0x038
WORK_DROPPED = 0x03c
FAULT_FAIL = 0x040
CMD_DELAY_US = 0x044
MSGS_SENT = 0x048
CMDS_DONE = 0x04c
CMD_ERRORS = 0x050

CREATE, MODIFY, DESTROY, QUERY = 1, 2, 3, 4
OK, BAD_OPCODE, BAD_EQN, BAD_STATE, DMA_ERROR, FAULT = range(6)
W_OK, W_BAD_EQN, W_MISMATCH, W_DMA_ERROR, W_BAD_LEN = range(5)
DONE = 0x80000000
NO_RAM = 0x7000000000   # nothing there: DMA fails

# RAM layout used by the test (128 MiB guest)
MSIX_RAM = 0x100000     # MSI-X vector 0 writes here
MSG = 0x110000          # EQ n's message goes to MSG + 4 * n
MSG2 = 0x120000         # second message area (MODIFY tests)
CTX = 0x200000          # EQ context table, 32 bytes per EQ
CMD = 0x300000          # command blocks, 64 bytes apart
WORK = 0x400000         # work descriptors, 32 bytes apart
SRC = 0x500000
DST = 0x600000
SPARE = 0x700000        # a second context table


class EqQTest(QTest):
    def __init__(self, devopts=""):
        super().__init__(QEMU, "ims-eq", "/tmp/ims_eq_qtest.log", SLOT, devopts)

    # device registers
    def reg(self, off):
        return self.r32(BAR0 + off)

    def setreg(self, off, v):
        self.w32(BAR0 + off, v)


def find_cap(q, cap_id):
    cap = q.cfg(0x34, 1)
    while cap:
        if q.cfg(cap, 1) == cap_id:
            return cap
        cap = q.cfg(cap + 1, 1)
    return None


def setup(q, pcie=True):
    if pcie:
        q.enable_mmconfig()
    q.cfgw(0x10, BAR0)
    q.cfgw(0x14, 0)
    q.cfgw(0x04, 0x6, 2)    # memory + bus master
    # MSI-X: enable it, vector 0 -> MSIX_RAM, data 0xa0
    msix = find_cap(q, 0x11)
    ctl = q.cfg(msix + 2, 2)
    table = q.cfg(msix + 4)
    q.cfgw(msix + 2, ctl | 0x8000, 2)
    tbase = BAR0 + (table & ~7)
    q.w32(tbase, MSIX_RAM)
    q.w32(tbase + 4, 0)
    q.w32(tbase + 8, 0xa0)
    q.w32(tbase + 12, 0)
    return msix, table, ctl


def clear(q, a, n=64):
    q.wbuf(a, bytes(n))


def ctx_bytes(addr, data, masked=False, vmid=0, reserved=b""):
    return struct.pack("<QIII", addr, data, 1 if masked else 0, vmid) + \
        reserved.ljust(12, b"\0")


def set_ctx(q, eqn, addr, data, masked=False, vmid=0, base=CTX):
    q.wbuf(base + 32 * eqn, ctx_bytes(addr, data, masked, vmid))


def block(op, eqn, flags=1):
    return struct.pack("<IIII", op, eqn, 0, flags) + bytes(48)


def wait_status(q, a, n=50):
    for _ in range(n):
        st = q.r32(a)
        if st & DONE:
            return st
        q.settle(1)
    return q.r32(a)


def command(q, op, eqn, flags=1, blk=CMD):
    """Run one command and return its status DWORD."""
    q.wbuf(blk, block(op, eqn, flags))
    q.w64(BAR0 + CMD_ADDR, blk)
    q.w32(BAR0 + CMD_DOORBELL, 0)
    return wait_status(q, blk + 8)


def query(q, eqn, blk=CMD):
    """QUERY_EQ: (status, (addr, data, ctrl, vmid), pending, count)."""
    st = command(q, QUERY, eqn, 0, blk)
    out = q.rbuf(blk + 0x10, 0x28)
    return st, struct.unpack_from("<QIII", out, 0), \
        struct.unpack_from("<I", out, 0x20)[0], \
        struct.unpack_from("<I", out, 0x24)[0]


def wdesc(eqn, vmid, src=0, dst=0, length=0):
    return struct.pack("<QQIIII", src, dst, length, eqn, vmid, 0)


def work(q, eqn, vmid, src=0, dst=0, length=0, at=WORK):
    """Queue one work descriptor and return its status DWORD."""
    q.wbuf(at, wdesc(eqn, vmid, src, dst, length))
    q.w64(BAR0 + WORK_ADDR, at)
    return wait_status(q, at + 0x1c)


def wait_sent(q, total, n=500):
    """Let the work bottom half run until MSGS_SENT reaches total (or stops)."""
    for _ in range(n):
        if q.reg(MSGS_SENT) >= total:
            break
        q.settle(1)
    return q.reg(MSGS_SENT)


def test_identity(q, msix, table, ctl):
    check(q.cfg(0) == 0x1e5e1234, "vendor:device 1234:1e5e")
    check(q.cfg(0x08) == 0x08800001, "class 0x0880, revision 1")
    check((ctl & 0x7ff) + 1 == 1, "1 MSI-X vector")
    check(table == 0x2000 and q.cfg(msix + 8) == 0x3000,
          "MSI-X table 0x2000 / PBA 0x3000 in BAR0")
    exp = find_cap(q, 0x10)
    check(exp is not None and q.cfg(exp + 4) & (1 << 28),
          "PCIe capability with FLR")
    check(q.cfg(0x10) & 0xf == 0x4, "BAR0 64-bit memory")
    check(q.reg(ID) == 0x1e5e0001, "ID 0x1e5e0001")
    check(q.reg(CAP) == 4096, "CAP: 4096 EQs")
    check(q.r64(BAR0 + ID) == 0x000010001e5e0001, "8-byte read of ID and CAP")
    check(q.reg(STATUS) == 0, "STATUS idle")
    q.setreg(ID, 0)
    q.w64(BAR0 + MSGS_SENT, 5)
    check(q.reg(ID) == 0x1e5e0001 and q.reg(MSGS_SENT) == 0,
          "ID and counters are read-only")
    check(q.val("readb %#x" % BAR0) == 0 and q.val("readw %#x" % BAR0) == 0,
          "1- and 2-byte reads return 0")
    check(q.reg(0x100) == 0 and q.reg(0x1ffc) == 0,
          "undefined offsets read 0")


def test_registers(q):
    q.setreg(CMD_ADDR, 0x11223344)
    q.setreg(CMD_ADDR + 4, 0x55)
    check(q.r64(BAR0 + CMD_ADDR) == 0x5511223344,
          "CMD_ADDR written in 32-bit halves")
    q.w64(BAR0 + CTX_BASE, 0x123456789000)
    check(q.reg(CTX_BASE) == 0x56789000 and q.reg(CTX_BASE + 4) == 0x1234,
          "CTX_BASE read in 32-bit halves")
    q.w64(BAR0 + CTX_BASE, CTX)
    q.setreg(CMD_DELAY_US, 7)
    q.setreg(FAULT_FAIL, 3)
    check(q.r64(BAR0 + FAULT_FAIL) == (7 << 32) | 3,
          "FAULT_FAIL and CMD_DELAY_US read back")
    q.w64(BAR0 + FAULT_FAIL, 0)
    check(q.reg(CMD_DELAY_US) == 0 and q.reg(FAULT_FAIL) == 0,
          "8-byte write covers FAULT_FAIL and CMD_DELAY_US")
    check(q.reg(WORK_ADDR) == 0 and q.reg(CMD_DOORBELL) == 0,
          "WORK_ADDR and CMD_DOORBELL read 0")


def test_create_and_work(q):
    clear(q, MSIX_RAM, 16)
    set_ctx(q, 0, MSG, 0xe000, vmid=7)
    st = command(q, CREATE, 0)
    check(st == DONE, "CREATE_EQ 0 (status %#x)" % st)
    check(q.r32(MSIX_RAM) == 0xa0, "command completion raises MSI-X vector 0")
    check(q.reg(STATUS) == 0 and q.reg(CMDS_DONE) == 1 and
          q.reg(CMD_ERRORS) == 0, "STATUS idle, CMDS_DONE 1, CMD_ERRORS 0")
    clear(q, MSIX_RAM, 16)
    st = command(q, QUERY, 0, flags=0)
    q.settle()
    check(st == DONE and q.r32(MSIX_RAM) == 0,
          "no MSI-X vector 0 without flags bit 0")

    data = bytes((i * 7 + 3) & 0xff for i in range(10000))
    q.wbuf(SRC, data)
    clear(q, DST, 10000)
    clear(q, MSG, 64)
    st = work(q, 0, 7, SRC, DST, len(data))
    check(st == DONE | W_OK, "work on EQ 0: status DONE|0 (%#x)" % st)
    check(q.rbuf(DST, len(data)) == data, "work copied 10000 bytes")
    check(q.r32(MSG) == 0xe000, "EQ 0's message DWORD arrived")
    check(q.reg(MSGS_SENT) == 1, "MSGS_SENT 1")

    st, ctx, pending, count = query(q, 0)
    check(st == DONE and ctx == (MSG, 0xe000, 0, 7) and pending == 0 and
          count == 1, "QUERY_EQ 0: context, pending 0, count 1")

    # a full 64 KiB copy, and an overlapping one (memmove semantics)
    big = bytes((i * 13) & 0xff for i in range(65536))
    q.wbuf(SRC, big)
    st = work(q, 0, 7, SRC, DST, 65536)
    check(st == DONE and q.rbuf(DST, 65536) == big, "64 KiB copy")
    st = work(q, 0, 7, SRC, SRC + 100, 8000)
    check(st == DONE and q.rbuf(SRC + 100, 8000) == big[:8000],
          "overlapping copy behaves like memmove")
    clear(q, MSG, 4)
    st = work(q, 0, 7)
    check(st == DONE and q.r32(MSG) == 0xe000, "length 0: event only")

    # WORK_ADDR as two 32-bit writes; a lone high half is ignored
    clear(q, MSG, 4)
    q.wbuf(WORK + 64, wdesc(0, 7))
    q.setreg(WORK_ADDR, WORK + 64)
    q.setreg(WORK_ADDR + 4, 0)
    st = wait_status(q, WORK + 64 + 0x1c)
    check(st == DONE and q.r32(MSG) == 0xe000,
          "WORK_ADDR low then high half queues the descriptor")
    clear(q, WORK + 64, 32)
    sent = q.reg(MSGS_SENT)
    q.setreg(WORK_ADDR + 4, 0)
    q.settle()
    check(q.reg(MSGS_SENT) == sent, "WORK_ADDR high half alone is ignored")


def test_work_errors(q):
    clear(q, MSG, 64)
    sent = q.reg(MSGS_SENT)
    st = work(q, 0, 8)
    check(st == DONE | W_MISMATCH, "VM-id mismatch: status 2 (%#x)" % st)
    q.settle()
    check(q.r32(MSG) == 0 and q.reg(MSGS_SENT) == sent,
          "VM-id mismatch: no message")
    check(q.reg(MISMATCH_COUNT) == 1 and q.reg(MISMATCH_EQN) == 0 and
          q.reg(MISMATCH_VMID) == 8, "MISMATCH_COUNT/EQN/VMID = 1/0/8")

    st = work(q, 5, 7)
    check(st == DONE | W_BAD_EQN, "work on an absent EQ: BAD_EQN")
    st = work(q, 4096, 7)
    check(st == DONE | W_BAD_EQN, "work on EQ 4096: BAD_EQN")
    q.wbuf(DST, b"\x55" * 16)
    st = work(q, 0, 7, SRC, DST, 65537)
    check(st == DONE | W_BAD_LEN and q.rbuf(DST, 16) == b"\x55" * 16 and
          q.r32(MSG) == 0, "length 65537: BAD_LEN, no copy, no event")
    st = work(q, 0, 7, NO_RAM, DST, 64)
    check(st == DONE | W_DMA_ERROR and q.r32(MSG) == 0,
          "unreadable source: DMA_ERROR, no event")
    st = work(q, 0, 7, SRC, NO_RAM, 64)
    check(st == DONE | W_DMA_ERROR and q.r32(MSG) == 0,
          "unwritable destination: DMA_ERROR, no event")
    check(q.reg(MISMATCH_COUNT) == 1 and q.reg(MSGS_SENT) == sent,
          "errors send nothing and are not mismatches")
    q.w64(BAR0 + WORK_ADDR, NO_RAM)
    q.settle()
    check(q.reg(MSGS_SENT) == sent, "unreadable descriptor is dropped")


def test_masked(q):
    set_ctx(q, 1, MSG + 4, 0xe001, masked=True, vmid=3)
    check(command(q, CREATE, 1) == DONE, "CREATE_EQ 1 masked")
    clear(q, MSG, 64)
    clear(q, MSG2, 64)
    st = work(q, 1, 3)
    q.settle()
    check(st == DONE and q.r32(MSG + 4) == 0,
          "masked EQ: status DONE|0, no message")
    st, ctx, pending, count = query(q, 1)
    check(st == DONE and pending == 1 and count == 0 and ctx[2] == 1,
          "masked EQ: QUERY shows pending 1, count 0")
    # unmasked, with a new message address
    set_ctx(q, 1, MSG2 + 4, 0xf001, vmid=3)
    st = command(q, MODIFY, 1)
    check(st == DONE and q.r32(MSG2 + 4) == 0xf001 and q.r32(MSG + 4) == 0,
          "MODIFY to unmasked delivers the pending event (new message)")
    st, ctx, pending, count = query(q, 1)
    check(st == DONE and pending == 0 and count == 1 and
          ctx == (MSG2 + 4, 0xf001, 0, 3), "after MODIFY: pending 0, count 1")
    # MODIFY to unmasked without a pending event sends nothing
    sent = q.reg(MSGS_SENT)
    command(q, MODIFY, 1)
    check(q.reg(MSGS_SENT) == sent, "MODIFY without a pending event: no message")


def test_modify_needs_command(q):
    set_ctx(q, 2, MSG + 8, 0xe002, vmid=4)
    check(command(q, CREATE, 2) == DONE, "CREATE_EQ 2")
    # change the context in memory only: new address, masked, other VM-id
    set_ctx(q, 2, MSG2 + 8, 0xf002, masked=True, vmid=5)
    clear(q, MSG, 64)
    clear(q, MSG2, 64)
    st = work(q, 2, 4)
    check(st == DONE and q.r32(MSG + 8) == 0xe002 and q.r32(MSG2 + 8) == 0,
          "context changed in memory only: old message, old mask, old VM-id")
    st, ctx, pending, count = query(q, 2)
    check(ctx == (MSG + 8, 0xe002, 0, 4), "QUERY still shows the cached context")
    set_ctx(q, 2, MSG2 + 8, 0xf002, vmid=4)
    check(command(q, MODIFY, 2) == DONE, "MODIFY_EQ 2 with a new address")
    clear(q, MSG, 64)
    st = work(q, 2, 4)
    check(st == DONE and q.r32(MSG2 + 8) == 0xf002 and q.r32(MSG + 8) == 0,
          "after MODIFY the message goes to the new address")


def test_destroy_and_statuses(q):
    check(command(q, DESTROY, 2) == DONE, "DESTROY_EQ 2")
    st = work(q, 2, 4)
    check(st == DONE | W_BAD_EQN, "work on a destroyed EQ: BAD_EQN")
    check(command(q, QUERY, 2) == DONE | BAD_STATE, "QUERY absent EQ: BAD_STATE")
    check(command(q, DESTROY, 2) == DONE | BAD_STATE,
          "DESTROY absent EQ: BAD_STATE")
    check(command(q, MODIFY, 2) == DONE | BAD_STATE,
          "MODIFY absent EQ: BAD_STATE")
    check(command(q, CREATE, 0) == DONE | BAD_STATE,
          "CREATE existing EQ: BAD_STATE")
    for op in (0, 5, 0xffffffff):
        check(command(q, op, 0) == DONE | BAD_OPCODE,
              "opcode %#x: BAD_OPCODE" % op)
    check(command(q, QUERY, 4096) == DONE | BAD_EQN, "eqn 4096: BAD_EQN")
    check(command(q, CREATE, 0xffffffff) == DONE | BAD_EQN,
          "eqn 0xffffffff: BAD_EQN")
    check(command(q, 9, 4096) == DONE | BAD_OPCODE,
          "bad opcode is reported before a bad eqn")
    # destroy with a masked pending event forgets it
    set_ctx(q, 3, MSG + 12, 0xe003, masked=True, vmid=1)
    command(q, CREATE, 3)
    work(q, 3, 1)
    command(q, DESTROY, 3)
    set_ctx(q, 3, MSG + 12, 0xe003, vmid=1)
    clear(q, MSG, 64)
    command(q, CREATE, 3)
    st, ctx, pending, count = query(q, 3)
    check(q.r32(MSG + 12) == 0 and pending == 0 and count == 0,
          "DESTROY forgets the pending event; CREATE starts at count 0")
    command(q, DESTROY, 3)


def test_fault(q):
    errors = q.reg(CMD_ERRORS)
    done = q.reg(CMDS_DONE)
    q.setreg(FAULT_FAIL, 2)
    set_ctx(q, 3, MSG + 12, 0xe003, vmid=1)
    st = command(q, CREATE, 3)
    check(st == DONE | FAULT and q.reg(FAULT_FAIL) == 1,
          "FAULT_FAIL: CREATE fails with FAULT, counts down")
    set_ctx(q, 0, MSG2, 0xdead, vmid=9)
    st = command(q, MODIFY, 0)
    check(st == DONE | FAULT and q.reg(FAULT_FAIL) == 0,
          "FAULT_FAIL: MODIFY fails with FAULT")
    check(command(q, QUERY, 3) == DONE | BAD_STATE,
          "failed CREATE created nothing")
    st, ctx, pending, count = query(q, 0)
    check(st == DONE and ctx == (MSG, 0xe000, 0, 7),
          "failed MODIFY changed nothing")
    set_ctx(q, 0, MSG, 0xe000, vmid=7)
    q.setreg(FAULT_FAIL, 1)
    check(command(q, DESTROY, 0) == DONE | FAULT and
          query(q, 0)[0] == DONE, "failed DESTROY changed nothing")
    q.setreg(FAULT_FAIL, 1)
    check(command(q, 77, 0) == DONE | FAULT,
          "FAULT_FAIL applies before the opcode is decoded")
    check(q.reg(CMD_ERRORS) == errors + 5 and q.reg(CMDS_DONE) == done + 7,
          "CMD_ERRORS and CMDS_DONE count the failures")

    # a command block that cannot be read: busy clears, no status, no interrupt
    clear(q, MSIX_RAM, 16)
    errors = q.reg(CMD_ERRORS)
    q.w64(BAR0 + CMD_ADDR, NO_RAM)
    q.setreg(CMD_DOORBELL, 1)
    q.settle()
    check(q.reg(STATUS) == 0 and q.reg(CMD_ERRORS) == errors + 1 and
          q.r32(MSIX_RAM) == 0, "unreadable command block: counted, no interrupt")


def test_delay(q):
    q.setreg(CMD_DELAY_US, 5000)
    errors = q.reg(CMD_ERRORS)
    clear(q, MSIX_RAM, 16)
    q.wbuf(CMD, block(QUERY, 0))
    q.w64(BAR0 + CMD_ADDR, CMD)
    q.setreg(CMD_DOORBELL, 0)
    q.settle()
    early = q.r32(CMD + 8)
    busy = q.reg(STATUS)
    q.wbuf(CMD + 64, block(QUERY, 1))
    q.w64(BAR0 + CMD_ADDR, CMD + 64)
    q.setreg(CMD_DOORBELL, 0)
    check(early == 0 and busy == 1, "CMD_DELAY_US: not DONE right after the doorbell")
    check(q.reg(CMD_ERRORS) == errors + 1,
          "doorbell while busy is ignored and counted in CMD_ERRORS")
    q.cmd("clock_step 1000000")     # 1 ms: not yet
    q.settle()
    mid = q.r32(CMD + 8)
    q.cmd("clock_step 10000000")
    q.settle()
    check(mid == 0 and q.r32(CMD + 8) == DONE and q.reg(STATUS) == 0 and
          q.r32(MSIX_RAM) == 0xa0, "DONE (and vector 0) after 5 ms of virtual time")
    check(q.r32(CMD + 64 + 8) == 0, "the ignored doorbell ran nothing")
    q.setreg(CMD_DELAY_US, 0)


def test_msix_mask(q, msix):
    # function mask: the completion interrupt becomes pending in the PBA
    clear(q, MSIX_RAM, 16)
    ctl = q.cfg(msix + 2, 2)
    q.cfgw(msix + 2, ctl | 0x4000, 2)
    command(q, QUERY, 0)
    q.settle()
    pba = q.r32(BAR0 + 0x3000)
    check(q.r32(MSIX_RAM) == 0 and pba & 1,
          "masked vector 0: no message, PBA bit set")
    q.cfgw(msix + 2, ctl & ~0x4000, 2)
    check(q.r32(MSIX_RAM) == 0xa0 and q.r32(BAR0 + 0x3000) & 1 == 0,
          "unmasking vector 0 delivers it")


def test_ctx_base(q):
    q.w64(BAR0 + CTX_BASE, SPARE)
    q.setreg(CTX_BASE + 4, 1)
    check(q.r64(BAR0 + CTX_BASE) == CTX,
          "CTX_BASE write refused while EQs exist")


def test_overflow(q):
    # EQ 5, unmasked: every descriptor that runs sends one message. 2000 WORK_ADDR
    # writes in one batch: QEMU reads 1 KiB (40 of these lines) between main-loop
    # iterations and the work bottom half runs at most 16 descriptors each time,
    # so the queue grows past 256.
    set_ctx(q, 5, MSG + 20, 0xe005, vmid=2)
    command(q, CREATE, 5)
    q.wbuf(0x7000, wdesc(5, 2))
    sent = q.reg(MSGS_SENT)
    n = 2000
    q.batch(["writeq %#x 0x7000" % (BAR0 + WORK_ADDR)] * n)
    dropped = q.reg(WORK_DROPPED)
    ran = wait_sent(q, sent + n - dropped) - sent
    check(dropped > 0, "queue overflow counted in WORK_DROPPED (%d of %d)"
          % (dropped, n))
    check(ran + dropped == n, "every write either ran (%d) or was dropped" % ran)
    # below the limit nothing is dropped
    sent = q.reg(MSGS_SENT)
    q.batch(["writeq %#x 0x7000" % (BAR0 + WORK_ADDR)] * 200)
    check(q.reg(WORK_DROPPED) == dropped and wait_sent(q, sent + 200) ==
          sent + 200, "200 queued at once: none dropped")


def test_reset(q, msix):
    exp = find_cap(q, 0x10)
    # leave work queued and a delayed command in flight when the FLR hits
    q.wbuf(WORK + 96, wdesc(0, 7))
    q.setreg(CMD_DELAY_US, 1000)
    q.setreg(FAULT_FAIL, 4)
    q.wbuf(CMD, block(QUERY, 0))
    q.w64(BAR0 + CMD_ADDR, CMD)
    q.setreg(CMD_DOORBELL, 0)
    devctl = q.cfg(exp + 8, 2)
    q.batch(["writeq %#x %#x" % (BAR0 + WORK_ADDR, WORK + 96),
             "writew %#x %#x" % (q.cfg_addr(exp + 8), devctl | 0x8000)])
    q.cmd("clock_step 10000000")
    q.settle()
    check(q.cfg(0x04, 2) & 0x6 == 0 and q.cfg(0x10) & ~0xf == 0,
          "FLR resets the config space")
    setup(q)
    check(q.r32(WORK + 96 + 0x1c) == 0 and q.r32(CMD + 8) == 0,
          "FLR drops queued work and the command in flight")
    regs = [STATUS, CMD_ADDR, CMD_ADDR + 4, CTX_BASE, CTX_BASE + 4,
            MISMATCH_COUNT, MISMATCH_EQN, MISMATCH_VMID, WORK_DROPPED,
            FAULT_FAIL, CMD_DELAY_US, MSGS_SENT, CMDS_DONE, CMD_ERRORS]
    vals = [q.reg(r) for r in regs]
    check(vals == [0] * len(regs), "FLR clears every register (%s)" % vals)
    check(q.reg(ID) == 0x1e5e0001 and q.reg(CAP) == 4096, "ID and CAP kept")
    q.w64(BAR0 + CTX_BASE, CTX)
    check(q.r64(BAR0 + CTX_BASE) == CTX, "CTX_BASE writable again")
    for eqn in (0, 1, 5):
        check(command(q, QUERY, eqn) == DONE | BAD_STATE,
              "EQ %d gone after FLR" % eqn)
    # with no EQs, a context table that cannot be read
    q.w64(BAR0 + CTX_BASE, NO_RAM)
    check(command(q, CREATE, 0) == DONE | DMA_ERROR,
          "CREATE with an unreadable context: DMA_ERROR")
    q.w64(BAR0 + CTX_BASE, CTX)
    check(command(q, QUERY, 0) == DONE | BAD_STATE,
          "... and no EQ was created")
    check(command(q, CREATE, 0) == DONE, "CREATE works again after FLR")


def test_many(q):
    # 4096 EQs, one per (VM-id = eqn & 0xff), message EQ n -> MSG + 4n
    n = 4096
    q.wbuf(CTX, b"".join(ctx_bytes(MSG + 4 * i, 0x10000 + i, vmid=i & 0xff)
                         for i in range(n)))
    q.wbuf(CMD, b"".join(block(CREATE, i, 0) for i in range(n)))
    q.wbuf(WORK, b"".join(wdesc(i, i & 0xff) for i in range(n)))
    clear(q, MSG, 4 * n)
    q.w64(BAR0 + CTX_BASE, CTX)
    stuck = 0
    for i in range(n):
        q.batch(["writeq %#x %#x" % (BAR0 + CMD_ADDR, CMD + 64 * i),
                 "writel %#x 0" % (BAR0 + CMD_DOORBELL)])
        for _ in range(100):
            if q.reg(STATUS) == 0:
                break
        else:
            stuck += 1
    blocks = q.rbuf(CMD, 64 * n)
    st = [struct.unpack_from("<I", blocks, 64 * i + 8)[0] for i in range(n)]
    check(stuck == 0 and st == [DONE] * n and q.reg(CMDS_DONE) == n and
          q.reg(CMD_ERRORS) == 0, "4096 EQs created")
    check(q.reg(CAP) == 4096 and command(q, CREATE, 4095, 0, CMD + 64 * n) ==
          DONE | BAD_STATE, "EQ 4095 exists")
    for i in range(0, n, 128):
        q.batch(["writeq %#x %#x" % (BAR0 + WORK_ADDR, WORK + 32 * j)
                 for j in range(i, i + 128)])
        wait_sent(q, i + 128)
    descs = q.rbuf(WORK, 32 * n)
    st = [struct.unpack_from("<I", descs, 32 * i + 0x1c)[0] for i in range(n)]
    msgs = struct.unpack("<%dI" % n, q.rbuf(MSG, 4 * n))
    check(st == [DONE] * n, "4096 work items DONE")
    check(list(msgs) == [0x10000 + i for i in range(n)],
          "each of the 4096 EQs fired its own message once")
    check(q.reg(MSGS_SENT) == n and q.reg(WORK_DROPPED) == 0 and
          q.reg(MISMATCH_COUNT) == 0, "MSGS_SENT 4096, nothing dropped")
    st, ctx, pending, count = query(q, 4095, CMD + 64 * n)
    check(count == 1 and ctx == (MSG + 4 * 4095, 0x10000 + 4095, 0, 0xff),
          "QUERY EQ 4095: count 1")


def main():
    q = EqQTest()
    msix, table, ctl = setup(q)
    test_identity(q, msix, table, ctl)
    test_registers(q)
    test_create_and_work(q)
    test_work_errors(q)
    test_masked(q)
    test_modify_needs_command(q)
    test_destroy_and_statuses(q)
    test_fault(q)
    test_delay(q)
    test_msix_mask(q, msix)
    test_ctx_base(q)
    test_overflow(q)
    test_reset(q, msix)
    q.close()

    q = EqQTest()
    setup(q)
    test_many(q)
    q.close()

    q = EqQTest(",num-eqs=16")
    setup(q)
    q.w64(BAR0 + CTX_BASE, CTX)
    set_ctx(q, 15, MSG, 1)
    check(q.reg(CAP) == 16 and command(q, CREATE, 15) == DONE and
          command(q, CREATE, 16) == DONE | BAD_EQN, "num-eqs=16")
    q.close()

    r = subprocess.run([QEMU, "-machine", "q35", "-accel", "qtest", "-display",
                        "none", "-nodefaults", "-bios", BIOS, "-L",
                        "/usr/share/qemu", "-device", "ims-eq,num-eqs=0"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    check(r.returncode != 0 and "num-eqs" in r.stderr,
          "num-eqs=0 refused at realize")

    return summary(plan=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:      # QEMU died or a protocol error: fail loudly
        print("Bail out! %s" % e)
        sys.exit(1)
