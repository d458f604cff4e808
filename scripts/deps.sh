#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what the build needs: Debian packages, bindgen-cli (pinned), and a Python venv with
# the meson that QEMU 10.0 wants. Idempotent; a stamp keyed by the package list and the pins
# makes a second run a no-op.

. "$(dirname "$0")/lib/common.sh"

BINDGEN_VERSION=0.73.2
MESON_VERSION=1.5.0
PYCOTAP_VERSION=1.3.1
PYENV=$IMS_CACHE/pyenv

key=$(printf '%s %s %s %s' "$(hash_inputs "$IMS_TOP/scripts/config/packages.txt" "$0")" \
	"$BINDGEN_VERSION" "$MESON_VERSION" "$PYCOTAP_VERSION" | sha256sum | cut -c1-16)

pkgs=$(grep -v '^#' "$IMS_TOP/scripts/config/packages.txt")

have_all() {
	# shellcheck disable=SC2086
	dpkg-query -W -f='${Status}\n' $pkgs 2>/dev/null | grep -vc 'install ok installed' | grep -qx 0 &&
		[ -x "$HOME/.cargo/bin/bindgen" ] &&
		"$HOME/.cargo/bin/bindgen" --version | grep -q " $BINDGEN_VERSION" &&
		[ -x "$PYENV/bin/meson" ]
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

stamp_set deps "$key"
