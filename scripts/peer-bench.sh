#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `make bench-peer`: the same DSA workloads (scripts/vm/suites/dsa-peer-bench.sh) on the
# upstream C idxd (the peer kernel, IMS_KVARIANT=peer) and on our Rust idxd (the main
# kernel), in alternating VM boots, C first, so that machine noise hits both alike. Prints
# each figure's median per driver and the ratio Rust/C (for throughput, above 1 is better
# for Rust; for the round trip, below 1 is).
#
# Environment: IMS_PEER_BENCH_ROUNDS (boots per driver, default 3, at least 3).
# Logs: out/bench-peer/{c,rust}-N/ (each boot's tap.log and console.log), summary.txt.

. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/alternate.sh"

rounds=${IMS_PEER_BENCH_ROUNDS:-3}
[ "$rounds" -ge 3 ] || die "IMS_PEER_BENCH_ROUNDS must be at least 3"
alternate bench-peer dsa-peer-bench peer-bench "$rounds" peer "" figure
log "bench-peer: $rounds boots per driver; figures in $IMS_TOP/out/bench-peer/figures"
