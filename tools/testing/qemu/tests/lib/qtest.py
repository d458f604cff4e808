# SPDX-License-Identifier: GPL-2.0
#
# Shared code of the host-side device tests in tools/testing/qemu/tests/*.py: a TAP
# check() counter and a client of QEMU's qtest protocol that starts QEMU (q35,
# -accel qtest, no guest kernel) with one device, accesses guest memory and reaches
# the device's config space through MMCONFIG. It lives in lib/ because
# scripts/qtest.sh runs every tests/*.py as a test.

import os
import subprocess
import sys
import threading

# The QEMU under test: the script's first argument, else the build in the default cache.
QEMU = sys.argv[1] if len(sys.argv) > 1 else \
    os.path.expanduser("~/.cache/ims/qemu/build/qemu-system-x86_64")
BIOS = "/usr/share/qemu/qboot.rom"   # never runs under -accel qtest
MCFG = 0xb0000000                    # q35 PCIEXBAR, see enable_mmconfig()

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print("ok %d - %s" % (passed + failed, what))
    else:
        failed += 1
        print("not ok %d - %s" % (passed + failed, what))
    sys.stdout.flush()


def summary(plan=False):
    """Print the totals (after the TAP plan if asked) and return the exit status."""
    if plan:
        print("1..%d" % (passed + failed))
    print("# %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


class QTest:
    """QEMU with `-device <device>,addr=<slot><devopts>`, driven over qtest."""

    def __init__(self, qemu, device, log, slot, devopts=""):
        self.devfn = slot << 3
        args = [qemu, "-machine", "q35", "-accel", "qtest", "-qtest", "stdio",
                "-qtest-log", "/dev/null", "-bios", BIOS, "-L", "/usr/share/qemu",
                "-nodefaults", "-display", "none", "-m", "128M",
                "-device", "%s,addr=%#x%s" % (device, slot, devopts),
                "-d", "guest_errors", "-D", log]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def _reply(self, line):
        while True:
            r = self.p.stdout.readline()
            if not r:
                raise RuntimeError("QEMU died on: " + line)
            if r.startswith("OK") or r.startswith("FAIL") or \
               r.startswith("ERR"):
                return r.strip()

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self._reply(line)

    def batch(self, lines):
        # Send every line before reading any reply: QEMU handles what it has read
        # (up to 1 KiB at a time) without running the main loop in between, so a
        # batch is both fast and a way to queue things before a bottom half runs.
        data = "".join(line + "\n" for line in lines)

        def writer():
            self.p.stdin.write(data)
            self.p.stdin.flush()
        t = threading.Thread(target=writer)
        t.start()
        replies = [self._reply(line) for line in lines]
        t.join()
        return replies

    def val(self, line):
        return int(self.cmd(line).split()[1], 16)

    def close(self):
        # QEMU keeps running when the qtest stream closes
        self.p.terminate()
        self.p.wait()

    # memory
    def r32(self, a):
        return self.val("readl %#x" % a)

    def r64(self, a):
        return self.val("readq %#x" % a)

    def w32(self, a, v):
        self.cmd("writel %#x %#x" % (a, v))

    def w64(self, a, v):
        self.cmd("writeq %#x %#x" % (a, v))

    def wbuf(self, a, b):
        self.cmd("write %#x %d 0x%s" % (a, len(b), b.hex()))

    def rbuf(self, a, n):
        return bytes.fromhex(self.cmd("read %#x %d" % (a, n)).split()[1][2:])

    # config space through MMCONFIG (see enable_mmconfig)
    def enable_mmconfig(self):
        # q35 PCIEXBAR at MCFG, 256 MiB, enabled
        self.cmd("outl 0xcf8 0x80000060")
        self.cmd("outl 0xcfc %#x" % (MCFG | 1))
        self.cmd("outl 0xcf8 0x80000064")
        self.cmd("outl 0xcfc 0")

    def cfg_addr(self, off):
        return MCFG + (self.devfn << 12) + off

    def cfg(self, off, size=4):
        a = self.cfg_addr(off)
        return {1: self.val("readb %#x" % a), 2: self.val("readw %#x" % a),
                4: self.val("readl %#x" % a)}[size]

    def cfgw(self, off, v, size=4):
        a = self.cfg_addr(off)
        self.cmd("%s %#x %#x" % ({1: "writeb", 2: "writew", 4: "writel"}[size],
                                 a, v))

    def settle(self, n=4):
        # a few main-loop round trips so that bottom halves run
        for _ in range(n):
            self.cmd("clock_step 1000")
