#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the test kernel: pristine Debian linux-source-7.3 (trixie-backports), plus our patches
# (scripts/patches/linux/*.patch, applied in order), plus our files laid over it (the
# kernel-path directories of this repository), configured from tinyconfig and
# scripts/config/ims.config.
#
# Incremental by construction: the source tree and the O= directory persist in $IMS_CACHE;
# a changed patch set is reversed and reapplied (only the files it touches change), overlay
# files are copied only when their content differs, so make sees exactly what changed.
#
# Usage: kernel.sh [prepare|config|build|all|rustfmtcheck|clippy]   (default: all)

. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/tree.sh"

# Directories of this repository that mirror kernel paths. Files under them are new files
# of ours; changes to upstream files go into scripts/patches/linux/ instead.
OVERLAY_DIRS=(Documentation drivers include kernel lib rust samples tools/testing/selftests)
FRAGMENT=$IMS_TOP/scripts/config/ims.config
STATE=$KSRC/.ims

# A variant's fragment overrides ims.config line by line: FRAGMENT becomes the merge. A
# variant named A+B (peer+trace) takes fragment A, then B over it.
if [ -n "$IMS_KVARIANT" ]; then
	variant=()
	for v in ${IMS_KVARIANT//+/ }; do
		f=$IMS_TOP/scripts/config/$v.config
		[ -f "$f" ] || die "no config fragment $f for IMS_KVARIANT=$IMS_KVARIANT"
		variant+=("$f")
	done
	mkdir -p "$KOBJ"
	syms=$(sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=.*/\1/p; s/^# \(CONFIG_[A-Za-z0-9_]*\) is not set/\1/p' "${variant[@]}")
	{
		grep -v -E "^(# )?($(echo "$syms" | paste -sd'|'))[= ]" "$FRAGMENT" || true
		cat "${variant[@]}"
	} > "$KOBJ/ims$KSUFFIX.config.tmp"
	cmp -s "$KOBJ/ims$KSUFFIX.config.tmp" "$KOBJ/ims$KSUFFIX.config" 2>/dev/null ||
		mv "$KOBJ/ims$KSUFFIX.config.tmp" "$KOBJ/ims$KSUFFIX.config"
	rm -f "$KOBJ/ims$KSUFFIX.config.tmp"
	FRAGMENT=$KOBJ/ims$KSUFFIX.config
fi

src_key() {
	[ -f "$KTARBALL" ] || die "$KTARBALL is missing: run scripts/deps.sh (make deps)"
	printf '%s %s\n' "$KPKG_VERSION" "$(stat -c '%s' "$KTARBALL")"
}

extract() {
	log "extracting $KTARBALL"
	rm -rf "$KSRC" "$KSRC.tmp"
	mkdir -p "$KSRC.tmp"
	tar -C "$KSRC.tmp" -xf "$KTARBALL" --strip-components=1
	mv "$KSRC.tmp" "$KSRC"
	mkdir -p "$STATE"
	src_key > "$STATE/source"
}

prepare() {
	if [ ! -f "$STATE/source" ] || [ "$(cat "$STATE/source")" != "$(src_key)" ]; then
		extract
	fi
	tree_patch "$KSRC" "$IMS_TOP/scripts/patches/linux" extract
	tree_overlay "$KSRC" "$IMS_TOP" "${OVERLAY_DIRS[@]}"
}

kmake() {
	make -C "$KSRC" "${KMAKE_ARGS[@]}" "$@"
}

# A variant's first build starts from a copy of the main kernel's O= directory: the two
# configurations differ in a few symbols, so make rebuilds only what depends on them (and
# the kernel crate, whose cfg flags are the whole configuration) instead of everything.
# A cold `make check` builds both kernels; this saves most of the second build. A variant
# A+B starts from variant B's directory if there is one (B is the costlier change: trace).
seed_variant() {
	local main=$IMS_CACHE/linux/obj

	case $IMS_KVARIANT in
	*+*) [ -f "$main-${IMS_KVARIANT##*+}/vmlinux" ] && main=$main-${IMS_KVARIANT##*+} ;;
	esac
	[ -n "$IMS_KVARIANT" ] && [ ! -f "$KOBJ/.config" ] && [ -f "$main/vmlinux" ] || return 0
	log "seeding $(basename "$KOBJ") from $(basename "$main")"
	cp -a "$main/." "$KOBJ/"
}

config() {
	local key line sym want got bad=0

	mkdir -p "$KOBJ"
	seed_variant
	key=$(hash_inputs "$FRAGMENT" "$STATE"/applied/*.patch 2>/dev/null || hash_inputs "$FRAGMENT")
	if [ -f "$KOBJ/.config" ] && stamp_ok "kconfig$KSUFFIX" "$key"; then
		return 0
	fi
	log "configuring the kernel (tinyconfig + $(basename "$FRAGMENT"))"
	kmake -s tinyconfig >/dev/null
	"$KSRC/scripts/kconfig/merge_config.sh" -m -O "$KOBJ" "$KOBJ/.config" "$FRAGMENT" >/dev/null
	kmake -s olddefconfig >/dev/null

	while read -r line; do
		case "$line" in
		CONFIG_*=*)		sym=${line%%=*}; want=$line ;;
		"# CONFIG_"*" is not set")	sym=${line#\# }; sym=${sym%% *}; want=$line ;;
		*)			continue ;;
		esac
		got=$(grep -E "^($sym=|# $sym is not set)" "$KOBJ/.config" || true)
		if [ "$got" != "$want" ] && ! { [ -z "$got" ] && [ "${want#\#}" != "$want" ]; }; then
			printf 'config: want "%s", got "%s"\n' "$want" "${got:-unset}" >&2
			bad=1
		fi
	done < "$FRAGMENT"
	[ $bad = 0 ] || die "the config fragment was not applied as written (see above)"
	stamp_set "kconfig$KSUFFIX" "$key"
}

build() {
	log "building the kernel (-j$IMS_JOBS)"
	kmake -j"$IMS_JOBS" bzImage modules

	rm -rf "$KSTAGE/modroot.tmp"
	kmake -s INSTALL_MOD_PATH="$KSTAGE/modroot.tmp" INSTALL_MOD_STRIP=1 modules_install
	rm -rf "$KSTAGE/modroot"
	mv "$KSTAGE/modroot.tmp" "$KSTAGE/modroot"
	kmake -s INSTALL_HDR_PATH="$KSTAGE/usr" headers_install
	kmake -s kernelrelease > "$KSTAGE/kernelrelease"
}

mkdir -p "$KSTAGE"
case "${1:-all}" in
prepare)	prepare ;;
config)		prepare; config ;;
build|all)	prepare; config; build ;;
# Rust lint gates (DEVELOPERS.md): formatting and clippy over everything Rust in the tree.
rustfmtcheck)	prepare; config; kmake -s rustfmtcheck ;;
clippy)		prepare; config; kmake -j"$IMS_JOBS" CLIPPY=1 bzImage modules ;;
*)		die "usage: $0 [prepare|config|build|all|rustfmtcheck|clippy]" ;;
esac
