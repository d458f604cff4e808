#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Run our QEMU device models' host-side tests (tools/testing/qemu/tests/*.py) against the
# QEMU we built. They talk QEMU's qtest protocol, need no guest kernel and take seconds.
# Each prints TAP and exits non-zero on failure.

. "$(dirname "$0")/lib/common.sh"

[ -x "$QEMU_BIN" ] || die "no QEMU at $QEMU_BIN: run scripts/qemu.sh"
rc=0
for t in "$IMS_TOP"/tools/testing/qemu/tests/*.py; do
	log "qtest: $(basename "$t")"
	python3 "$t" "$QEMU_BIN" || rc=1
done
exit $rc
