#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# timed.sh NAME CMD...: run a build stage and append its wall time to $IMS_CACHE/times.log.

. "$(dirname "$0")/common.sh"

name=$1
shift
start=$(date +%s)
rc=0
"$@" || rc=$?
mkdir -p "$IMS_CACHE"
printf '%s %-10s %4ds rc=%d\n' "$(date -u +%FT%TZ)" "$name" $(($(date +%s) - start)) $rc \
	>> "$IMS_CACHE/times.log"
exit $rc
