#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build QEMU for the test VM from Debian's QEMU 10.0 source package (trixie), with our
# patches (scripts/patches/qemu/*.patch) and our device models (tools/testing/qemu, which
# mirrors QEMU paths) laid over it. Only x86_64-softmmu, only the devices listed in
# tools/testing/qemu/configs/devices/x86_64-softmmu/ims.mak.
#
# The source tree and the build directory persist in $IMS_CACHE/qemu; configure runs again
# only when its inputs change, otherwise ninja rebuilds what changed.

. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/tree.sh"

QSRC=$QEMU_DIR/src
QBUILD=$QEMU_DIR/build
PYENV=$IMS_CACHE/pyenv
QEMU_SUITE=trixie

CONFIGURE_ARGS=(
	--target-list=x86_64-softmmu
	--without-default-features
	--without-default-devices
	--with-devices-x86_64=ims
	--enable-tcg
	--enable-trace-backends=log
	--disable-install-blobs
	--disable-docs
	--disable-download
	--python="$PYENV/bin/python3"
)

extract() {
	local dsc

	log "fetching the QEMU source package ($QEMU_SUITE)"
	rm -rf "$QEMU_DIR/dl" "$QSRC" "$QBUILD"
	mkdir -p "$QEMU_DIR/dl"
	(cd "$QEMU_DIR/dl" && apt-get source -qq --download-only "qemu/$QEMU_SUITE" >/dev/null)
	dsc=$(ls "$QEMU_DIR"/dl/qemu_*.dsc)
	dpkg-source -q -x "$dsc" "$QSRC" >/dev/null
	mkdir -p "$QSRC/.ims"
	basename "$dsc" > "$QSRC/.ims/source"
}

prepare() {
	# Whatever trixie had when the cache was made is kept: a warm build never goes to
	# the network. Remove $QEMU_DIR to pick up a newer QEMU 10.0 point release.
	[ -f "$QSRC/.ims/source" ] || extract
	tree_patch "$QSRC" "$IMS_TOP/scripts/patches/qemu" extract
	tree_overlay "$QSRC" "$IMS_TOP/tools/testing/qemu" hw configs
}

configure() {
	local key

	key=$(printf '%s\n' "${CONFIGURE_ARGS[@]}" "$(cat "$QSRC/.ims/source")" | sha256sum | cut -c1-16)
	if [ -f "$QBUILD/build.ninja" ] && stamp_ok qemu-configure "$key"; then
		return 0
	fi
	log "configuring QEMU"
	rm -rf "$QBUILD"
	mkdir -p "$QBUILD"
	(cd "$QBUILD" && "$QSRC/configure" "${CONFIGURE_ARGS[@]}" > configure.log 2>&1) ||
		{ tail -30 "$QBUILD/configure.log"; die "QEMU configure failed ($QBUILD/configure.log)"; }
	stamp_set qemu-configure "$key"
}

build() {
	log "building QEMU (-j$IMS_JOBS)"
	ninja -C "$QBUILD" -j"$IMS_JOBS" qemu-system-x86_64 > "$QBUILD/ninja.log" 2>&1 ||
		{ grep -B2 -A12 -E 'error|FAILED' "$QBUILD/ninja.log" | head -60
		  die "QEMU build failed ($QBUILD/ninja.log)"; }
}

case "${1:-all}" in
prepare)	prepare ;;
all)		prepare; configure; build ;;
*)		die "usage: $0 [prepare|all]" ;;
esac
