#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what the build needs: Debian packages, bindgen-cli (pinned), a Python venv with the
# meson that QEMU 10.0 wants, and Debian's linux-source-7.3. Idempotent; a stamp keyed by the
# package list and the pins makes a second run a no-op.

. "$(dirname "$0")/lib/common.sh"

BINDGEN_VERSION=0.73.2
MESON_VERSION=1.5.0
PYCOTAP_VERSION=1.3.1
PYENV=$IMS_CACHE/pyenv
# Debian bookworm's mdevctl, for the VM (scripts/initramfs.sh takes it from here)
MDEVCTL_VERSION=1.2.0-3+b1
MDEVCTL_DIR=$IMS_CACHE/mdevctl

key=$(printf '%s %s %s %s %s' "$(hash_inputs "$IMS_TOP/scripts/config/packages.txt" "$0")" \
	"$BINDGEN_VERSION" "$MESON_VERSION" "$PYCOTAP_VERSION" "$MDEVCTL_VERSION" |
	sha256sum | cut -c1-16)

pkgs=$(grep -v '^#' "$IMS_TOP/scripts/config/packages.txt")

# linux-source-7.3 is in trixie-backports only. It is architecture "all" and needs nothing
# but binutils and xz-utils, so fetch the .deb with an apt configuration of its own (its own
# sources, lists and cache, under $IMS_CACHE) and unpack it into $KPKG_DIR: the host's
# sources and package database are not touched.
fetch_linux_source() {
	local dir=$IMS_CACHE/apt-$KPKG_SUITE o deb have

	[ -f "$KTARBALL" ] && return 0
	log "fetching $KPKG $KPKG_VERSION from Debian $KPKG_SUITE"
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/deb"
	printf 'deb http://deb.debian.org/debian %s main\n' "$KPKG_SUITE" > "$dir/sources.list"
	o=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
	   -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
	   -o APT::Sandbox::User=root)
	apt-get "${o[@]}" -qq update ||
		die "cannot read the $KPKG_SUITE index from deb.debian.org (network?)"
	have=$(apt-cache "${o[@]}" madison "$KPKG" | awk '{ print $3 }' | paste -sd' ')
	case " $have " in
	*" $KPKG_VERSION "*) ;;
	*) die "$KPKG $KPKG_VERSION is not in Debian $KPKG_SUITE (it has: ${have:-nothing});" \
	       "set KPKG_VERSION in scripts/lib/common.sh to one it has and rebase our patches" ;;
	esac
	rm -f "$dir"/deb/*.deb
	(cd "$dir/deb" && apt-get "${o[@]}" -qq download "$KPKG=$KPKG_VERSION") ||
		die "downloading $KPKG $KPKG_VERSION failed"
	deb=$(echo "$dir"/deb/*.deb)
	rm -rf "$KPKG_DIR.tmp"
	mkdir -p "$(dirname "$KPKG_DIR")"
	dpkg-deb -x "$deb" "$KPKG_DIR.tmp"
	[ -f "$KPKG_DIR.tmp/usr/src/$KPKG.tar.xz" ] || die "$deb holds no $KPKG.tar.xz"
	rm -rf "$KPKG_DIR" "$deb"
	mv "$KPKG_DIR.tmp" "$KPKG_DIR"
}

# mdevctl runs only in the VM, which has no udev. Its package depends on udev, and installing
# that on a bookworm host upgrades systemd, so the .deb is unpacked into $MDEVCTL_DIR rather
# than installed: the binary is Debian's, unmodified, and needs only libc and libgcc_s.
fetch_mdevctl() {
	local deb

	[ "$(cat "$MDEVCTL_DIR/VERSION" 2>/dev/null)" = "$MDEVCTL_VERSION" ] && return 0
	log "fetching mdevctl $MDEVCTL_VERSION from Debian"
	rm -rf "$MDEVCTL_DIR" "$MDEVCTL_DIR.tmp" "$MDEVCTL_DIR.deb"
	mkdir -p "$MDEVCTL_DIR.deb"
	(cd "$MDEVCTL_DIR.deb" &&
		apt-get -o APT::Sandbox::User=root -qq download "mdevctl=$MDEVCTL_VERSION") ||
		die "downloading mdevctl $MDEVCTL_VERSION failed (apt-cache policy mdevctl)"
	deb=$(echo "$MDEVCTL_DIR.deb"/mdevctl_*.deb)
	dpkg-deb -x "$deb" "$MDEVCTL_DIR.tmp"
	[ -x "$MDEVCTL_DIR.tmp/usr/bin/mdevctl" ] || die "$deb holds no usr/bin/mdevctl"
	echo "$MDEVCTL_VERSION" > "$MDEVCTL_DIR.tmp/VERSION"
	rm -rf "$MDEVCTL_DIR.deb"
	mv "$MDEVCTL_DIR.tmp" "$MDEVCTL_DIR"
}

have_all() {
	# shellcheck disable=SC2086
	! dpkg-query -W -f='${Status}\n' $pkgs 2>/dev/null | grep -qv 'install ok installed' &&
		[ -x "$HOME/.cargo/bin/bindgen" ] &&
		"$HOME/.cargo/bin/bindgen" --version | grep -q " $BINDGEN_VERSION" &&
		[ -x "$PYENV/bin/meson" ] &&
		[ -f "$KTARBALL" ] &&
		[ "$(cat "$MDEVCTL_DIR/VERSION" 2>/dev/null)" = "$MDEVCTL_VERSION" ]
}

if stamp_ok deps "$key" && have_all; then
	exit 0
fi

[ "$(id -u)" = 0 ] || die "run as root: the build installs Debian packages"

# QEMU 10.0 comes from trixie's source package; only deb-src is added, no binaries.
src=/etc/apt/sources.list.d/ims-trixie-src.sources
if [ ! -f "$src" ]; then
	log "adding trixie deb-src for the QEMU source package"
	cat > "$src" <<EOS
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
fi

log "installing Debian packages"
apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null

if ! "$HOME/.cargo/bin/bindgen" --version 2>/dev/null | grep -q " $BINDGEN_VERSION"; then
	log "installing bindgen-cli $BINDGEN_VERSION"
	cargo install --quiet --locked bindgen-cli --version "$BINDGEN_VERSION"
fi

if [ ! -x "$PYENV/bin/meson" ]; then
	log "creating the Python venv for QEMU's build (meson $MESON_VERSION)"
	python3 -m venv "$PYENV"
	"$PYENV/bin/pip" install -q "meson==$MESON_VERSION" "pycotap==$PYCOTAP_VERSION"
fi

fetch_linux_source
fetch_mdevctl

stamp_set deps "$key"
