# SPDX-License-Identifier: GPL-2.0
#
# The IMS project's driver: builds our Linux 7.3 + Rust tree and our QEMU, and runs them.
#
#	make		the demo: build everything, boot the VM, run the demo suites
#	make check	build everything, run every test suite in the VM; non-zero on failure
#	make vm		build everything, interactive shell in the VM (leave with poweroff -f)
#	make bench-ims	IMS benchmarks in the VM (figures in out/tap.log)
#	make bench-vfio	VFIO benchmark: enabling vector k on the DSA mdev vs vfio-pci (out/tap.log)
#	make check-peer	the upstream C idxd on the emulated DSA (peer kernel; not in make check)
#	make abi-peer	the idxd sysfs attributes of the C and the Rust idxd, and their differences
#	make bench-peer	the same DSA workloads on the C and the Rust idxd, in alternating boots
#	make trace-dsa	where a DSA completion's time goes, C and Rust idxd (ftrace kernels)
#
# Building blocks: deps kernel qemu selftests initramfs. Caches live in $(IMS_CACHE)
# (default ~/.cache/ims); see scripts/lib/common.sh.

SHELL := /bin/bash
S := scripts

.PHONY: all demo check builtin peer check-peer abi-peer bench-peer trace trace-dsa qtest bench-ims bench-vfio vm deps kernel \
	qemu selftests initramfs build rustfmtcheck clippy \
	clean distclean help

all: demo

deps:
	@$(S)/lib/timed.sh deps $(S)/deps.sh

kernel: deps
	@$(S)/lib/timed.sh kernel $(S)/kernel.sh

qemu: deps
	@$(S)/lib/timed.sh qemu $(S)/qemu.sh

selftests: kernel
	@$(S)/lib/timed.sh selftests $(S)/selftests.sh

initramfs: selftests
	@$(S)/lib/timed.sh initramfs $(S)/initramfs.sh

# Everything, one stage after the other: the machines have two cores and each build uses
# both, so the kernel and QEMU builds never run at the same time.
build: deps
	@$(S)/lib/timed.sh kernel $(S)/kernel.sh
	@$(S)/lib/timed.sh qemu $(S)/qemu.sh
	@$(S)/lib/timed.sh selftests $(S)/selftests.sh
	@$(S)/lib/timed.sh initramfs $(S)/initramfs.sh

demo: build
	@$(S)/lib/timed.sh vm-demo $(S)/vm/run.sh check $(S)/vm/demo.list

# Host-side device-model tests first (seconds, no guest), then everything in the VM, then
# the DSA driver built in, on the second kernel (logs in out/builtin/).
check: build builtin
	@$(S)/lib/timed.sh qtest $(S)/qtest.sh
	@$(S)/lib/timed.sh vm-check $(S)/vm/run.sh check $(S)/vm/suites.list
	@IMS_KVARIANT=builtin IMS_OUT=$(CURDIR)/out/builtin \
		$(S)/lib/timed.sh vm-builtin $(S)/vm/run.sh check $(S)/vm/builtin.list

# The kernel variant with the DSA driver built in (scripts/config/builtin.config), from the
# same source tree, after the main build: never two builds at once on two cores.
builtin: build
	@IMS_KVARIANT=builtin $(S)/lib/timed.sh kernel-builtin $(S)/kernel.sh
	@IMS_KVARIANT=builtin $(S)/lib/timed.sh initramfs-builtin $(S)/initramfs.sh

# The peer kernel variant: the upstream C idxd instead of our Rust driver
# (scripts/config/peer.config), from the same source tree, after the main build. Not part
# of `make check`: it checks the emulated DSA and our ABI against the C driver.
peer: build
	@IMS_KVARIANT=peer $(S)/lib/timed.sh kernel-peer $(S)/kernel.sh
	@IMS_KVARIANT=peer $(S)/lib/timed.sh initramfs-peer $(S)/initramfs.sh

check-peer: peer
	@IMS_KVARIANT=peer IMS_OUT=$(CURDIR)/out/peer \
		$(S)/lib/timed.sh vm-peer $(S)/vm/run.sh check $(S)/vm/peer.list

# One boot of each kernel; the attribute lists and their differences in out/peer-abi/.
abi-peer: peer
	@$(S)/lib/timed.sh abi-peer $(S)/peer-abi.sh

# Alternating boots of the two kernels; figures and the Rust/C table in out/bench-peer/.
bench-peer: peer
	@$(S)/lib/timed.sh bench-peer $(S)/peer-bench.sh

# The main and the peer kernel again, with ftrace (scripts/config/trace.config), each
# seeded from the one before: the function tracer's hooks rebuild every C file once.
trace: peer
	@IMS_KVARIANT=trace $(S)/lib/timed.sh kernel-trace $(S)/kernel.sh
	@IMS_KVARIANT=trace $(S)/lib/timed.sh initramfs-trace $(S)/initramfs.sh
	@IMS_KVARIANT=peer+trace $(S)/lib/timed.sh kernel-peer-trace $(S)/kernel.sh
	@IMS_KVARIANT=peer+trace $(S)/lib/timed.sh initramfs-peer-trace $(S)/initramfs.sh

# Alternating boots of the two trace kernels; stage medians and Rust/C in out/trace-dsa/.
trace-dsa: trace
	@$(S)/lib/timed.sh trace-dsa $(S)/trace-dsa.sh

qtest: qemu
	@$(S)/qtest.sh

# Benchmarks run in the VM like the suites, but report figures (in out/tap.log) rather
# than pass or fail on them.
bench-ims: build
	@$(S)/vm/run.sh check $(S)/vm/bench.list

# The cost of enabling MSI-X vector k on the DSA mdev (IMS) against
# vfio-pci on the DSA function (dynamic MSI-X), and the kernel memory per open mdev.
bench-vfio: build
	@$(S)/vm/run.sh check $(S)/vm/bench-vfio.list

vm: build
	@$(S)/vm/run.sh shell

rustfmtcheck: kernel
	@$(S)/kernel.sh rustfmtcheck

clippy: kernel
	@$(S)/kernel.sh clippy

clean:
	rm -rf out

distclean: clean
	rm -rf $${IMS_CACHE:-$$HOME/.cache/ims}

help:
	@sed -n '3,17p' Makefile
