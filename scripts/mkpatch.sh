#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# mkpatch.sh PATCH A_DIR B_DIR FILE...
#	Rewrite the diff part of PATCH (keeping its header: everything before the first
#	"--- a/" line) as `diff -u` of FILE... between A_DIR (pristine) and B_DIR (edited),
#	with a/ and b/ prefixes and no timestamps.
set -euo pipefail
patch=$1 a=$2 b=$3
shift 3
hdr=$(mktemp)
if [ -f "$patch" ]; then
	n=$(grep -n '^--- a/' "$patch" | head -1 | cut -d: -f1 || true)
	if [ -n "$n" ]; then
		head -n $((n - 1)) "$patch" > "$hdr"
	else
		cp "$patch" "$hdr"	# a new patch: only its header so far
	fi
fi
{
	cat "$hdr"
	for f in "$@"; do
		diff -u --label "a/$f" --label "b/$f" "$a/$f" "$b/$f" || [ $? = 1 ]
	done
} > "$patch.tmp"
mv "$patch.tmp" "$patch"
rm -f "$hdr"
