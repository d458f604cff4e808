#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn one VM run into a verdict.

Reads the test output the guest wrote to ttyS1 (framed per suite by scripts/vm/init) and the
kernel console log, and fails the run if any expected suite is missing, exited non-zero,
reported a failing TAP/KTAP result or reported nothing, or if the kernel logged a splat
(WARNING, BUG, KASAN, lockdep, kmemleak, ...) at any point: a test that passes while the
kernel complains has not passed.

Prints one line per suite and ends with the plain summary line 'N passed, N failed,
N skipped' over all test cases.
"""

import re
import sys

RESULT = re.compile(r"^(\s*)(not ok|ok)\b\s*(\d+)?\s*-?\s*([^#]*?)\s*(#\s*(.*))?$")

# Kernel log lines that mean something went wrong, whatever the tests said.
SPLATS = [
    r"WARNING:",
    r"BUG:",
    r"KASAN:",
    r"UBSAN:",
    r"Oops",
    r"Kernel panic",
    r"general protection fault",
    r"possible circular locking dependency",
    r"possible recursive locking",
    r"inconsistent lock state",
    r"suspicious RCU usage",
    r"lock held when returning to user space",
    r"INFO: task .* blocked for more than",
    r"unreferenced object 0x",
    r"kmemleak: \d+ new suspected memory leaks",
    r"refcount_t: ",
    r"list_(add|del) corruption",
    r"------------\[ cut here \]------------",
]
SPLAT = re.compile("|".join(SPLATS))


def parse_suites(lines):
    """Split the ttyS1 log into {suite: (output lines, rc or None)} in order."""
    suites, cur, out = {}, None, []
    for line in lines:
        line = line.rstrip("\r\n")
        m = re.match(r"^IMS-SUITE-BEGIN (\S+)$", line)
        if m:
            cur, out = m.group(1), []
            suites[cur] = (out, None)
            continue
        m = re.match(r"^IMS-SUITE-END (\S+) rc=(\d+)", line)
        if m and cur == m.group(1):
            suites[cur] = (out, int(m.group(2)))
            cur = None
            continue
        if cur is not None:
            out.append(line)
    return suites


def count_cases(out):
    """Count leaf results: a result line is a parent if deeper results came right before it."""
    passed = failed = skipped = 0
    failures = []
    deeper_since = {}
    for line in out:
        m = RESULT.match(line)
        if not m:
            continue
        indent = len(m.group(1).expandtabs())
        is_parent = any(d > indent for d in deeper_since)
        deeper_since = {d: 1 for d in deeper_since if d < indent}
        deeper_since[indent] = 1
        directive = (m.group(6) or "").upper()
        ok = m.group(2) == "ok"
        if not ok and not directive.startswith("TODO"):
            failures.append(line.strip())
        if is_parent:
            continue
        if directive.startswith("SKIP"):
            skipped += 1
        elif ok:
            passed += 1
        else:
            failed += 1
    return passed, failed, skipped, failures


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: tapcheck.py TAP_LOG CONSOLE_LOG SUITE[,SUITE...]")
    tap_log, console_log, wanted = sys.argv[1], sys.argv[2], sys.argv[3].split(",")

    with open(tap_log, errors="replace") as f:
        tap = f.readlines()
    with open(console_log, errors="replace") as f:
        console = f.readlines()

    suites = parse_suites(tap)
    total_p = total_f = total_s = 0
    bad = []

    for name in wanted:
        if name not in suites:
            print(f"FAIL {name}: never started (VM died or timed out earlier)")
            bad.append(name)
            total_f += 1
            continue
        out, rc = suites[name]
        p, f, s, failures = count_cases(out)
        total_p, total_f, total_s = total_p + p, total_f + f, total_s + s
        why = []
        if rc is None:
            why.append("did not finish (timeout or crash)")
        elif rc != 0:
            why.append(f"exit status {rc}")
        if failures:
            why.append(f"{len(failures)} failing result(s): " + "; ".join(failures[:3]))
        if p + f + s == 0:
            why.append("reported no test result")
        if why:
            bad.append(name)
            if f == 0:
                total_f += 1
            print(f"FAIL {name}: {', '.join(why)}")
        else:
            print(f"ok   {name}: {p} passed, {s} skipped")

    splats = [l.rstrip() for l in console if SPLAT.search(l)]
    if splats:
        bad.append("kernel-log")
        total_f += 1
        print(f"FAIL kernel log: {len(splats)} splat line(s), first: {splats[0].strip()}")
    else:
        print("ok   kernel log: no WARNING/BUG/KASAN/lockdep/kmemleak splat")

    if not any(l.startswith("IMS-VM-DONE") for l in tap):
        bad.append("vm")
        print("FAIL vm: the guest did not reach the end of its run")

    print(f"{total_p} passed, {total_f} failed, {total_s} skipped")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
