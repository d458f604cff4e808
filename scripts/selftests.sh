#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build our kselftests (tools/testing/selftests/<dir>, laid over the kernel tree by
# scripts/kernel.sh) against the kernel's exported headers, statically linked so that the
# initramfs needs no libc. Output: $KSTAGE/selftests/<dir>/.

. "$(dirname "$0")/lib/common.sh"

[ -d "$KSTAGE/usr/include" ] || die "no kernel headers in $KSTAGE: run scripts/kernel.sh first"

# The tests build inside the kernel tree (they include ../kselftest_harness.h): bring our
# files there up to date first. Cheap: only changed files are copied.
"$IMS_TOP/scripts/kernel.sh" prepare

for dir in "$IMS_TOP"/tools/testing/selftests/*/; do
	name=$(basename "$dir")
	log "building selftests/$name"
	mkdir -p "$KSTAGE/selftests/$name"
	make -s -C "$KSRC/tools/testing/selftests/$name" \
		OUTPUT="$KSTAGE/selftests/$name" \
		KHDR_INCLUDES="-isystem $KSTAGE/usr/include" \
		CC=gcc LDFLAGS=-static
done
