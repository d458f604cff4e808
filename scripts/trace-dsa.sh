#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make trace-dsa`: where one DSA completion's time goes, on our Rust idxd (IMS) and on the
# upstream C idxd (MSI-X), each on its trace kernel (scripts/config/trace.config: the main
# and the peer kernel with ftrace). Boots each kernel IMS_TRACE_ROUNDS times (default 2),
# alternating, with the suite dsa-trace, which splits dmatest's 64-byte round trips into
# stages. Prints each stage's median per driver and the ratio Rust/C.
#
# Logs: out/trace-dsa/{c,rust}-N/ (tap.log holds the figures and a few raw round trips).

. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/alternate.sh"

# The table holds, per stage, the median over boots of each boot's median.
alternate trace-dsa dsa-trace trace-dsa "${IMS_TRACE_ROUNDS:-2}" peer+trace trace "stage (us)"
