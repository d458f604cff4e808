# SPDX-License-Identifier: GPL-2.0
# Shared settings for the build scripts. Sourced, not executed.
#
# Everything we build or fetch lives under $IMS_CACHE (default ~/.cache/ims), never in the
# repository. Each cache entry is keyed by a hash of its inputs, so a changed input gives a
# new key and an unchanged one is reused.

set -euo pipefail

IMS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMS_CACHE=${IMS_CACHE:-$HOME/.cache/ims}
IMS_JOBS=${IMS_JOBS:-$(nproc)}

# Debian's linux-source-7.3 from trixie-backports, fetched with a private apt configuration
# (scripts/deps.sh) into a cache entry keyed by the package's version: the host stays bookworm.
KVER=7.3
KPKG=linux-source-$KVER
KPKG_VERSION=7.3.4-1~bpo13+1
KPKG_SUITE=trixie-backports
KPKG_DIR=$IMS_CACHE/linux-source/$KPKG_VERSION
KTARBALL=$KPKG_DIR/usr/src/linux-source-$KVER.tar.xz
KSRC=$IMS_CACHE/linux/src		# pristine + our patches + our overlay
# IMS_KVARIANT=NAME: a second kernel from the same source tree, configured with
# scripts/config/NAME.config over ims.config, in its own O= and stage directories, with its
# own initramfs (e.g. "builtin": the DSA driver built in). NAME may join fragments with
# "+", each over the one before: "peer+trace" is the C idxd with ftrace.
IMS_KVARIANT=${IMS_KVARIANT:-}
KSUFFIX=${IMS_KVARIANT:+-$IMS_KVARIANT}
KOBJ=$IMS_CACHE/linux/obj$KSUFFIX		# O= build directory
KSTAGE=$IMS_CACHE/linux/stage$KSUFFIX		# modules_install, headers, selftests
INITRAMFS=$IMS_CACHE/initramfs$KSUFFIX.cpio.gz

QEMU_DIR=$IMS_CACHE/qemu
QEMU_BIN=$QEMU_DIR/build/qemu-system-x86_64

# The LLVM toolchain and the Rust compiler that matches rust-web-src.
export PATH=/usr/lib/llvm-19/bin:$HOME/.cargo/bin:$PATH
# Debian's rustc-web, rust-web-clippy and rustfmt-web: the rustup toolchain on PATH has no
# rust-src, and its clippy/rustfmt would not match the compiler that built `core`.
KMAKE_ARGS=(LLVM=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc HOSTRUSTC=/usr/bin/rustc
	    RUSTFMT=/usr/bin/rustfmt CLIPPY_DRIVER=/usr/bin/clippy-driver
	    BINDGEN=bindgen O="$KOBJ")

log()  { printf '==> %s\n' "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# hash_inputs FILE... : one stable hash over the names and contents of the given files
hash_inputs() {
	local f
	for f in "$@"; do
		printf '%s\n' "${f#"$IMS_TOP"/}"
		cat "$f"
	done | sha256sum | cut -c1-16
}

# stamp_ok NAME KEY / stamp_set NAME KEY: remember that a step ran with the given inputs
stamp_ok()  { [ -f "$IMS_CACHE/stamps/$1" ] && [ "$(cat "$IMS_CACHE/stamps/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$IMS_CACHE/stamps"; printf '%s\n' "$2" > "$IMS_CACHE/stamps/$1"; }
