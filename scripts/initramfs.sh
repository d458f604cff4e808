#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the test VM's initramfs: busybox (static), our /init, the kernel's modules, our
# kselftests, the guest-side suites, and Debian's accel-config and mdevctl with the libraries
# they link.
# Output: $IMS_CACHE/initramfs.cpio.gz (initramfs-VARIANT.cpio.gz for IMS_KVARIANT, whose
# kernel may have no selftests built). Rebuilt every time (a few seconds); what goes in is
# listed above and nothing else.

. "$(dirname "$0")/lib/common.sh"

root=$IMS_CACHE/initramfs$KSUFFIX
out=$INITRAMFS

rm -rf "$root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,root,lib/modules,tests/suites,tests/selftests}
cp /bin/busybox "$root/bin/busybox"
file -L "$root/bin/busybox" 2>/dev/null | grep -q 'statically linked' ||
	ldd "$root/bin/busybox" 2>&1 | grep -q 'not a dynamic' ||
	die "/bin/busybox is not static (install busybox-static)"
mknod -m 600 "$root/dev/console" c 5 1
install -m 755 "$IMS_TOP/scripts/vm/init" "$root/init"
cp -a "$KSTAGE"/modroot/lib/modules/* "$root/lib/modules/"
cp "$IMS_TOP"/scripts/vm/lib.sh "$root/tests/"
cp "$IMS_TOP"/scripts/vm/suites/*.sh "$root/tests/suites/"
if [ -d "$KSTAGE/selftests" ]; then
	cp -a "$KSTAGE"/selftests/* "$root/tests/selftests/"
fi
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"

# add_dynamic BINARY [PATH]: BINARY, unmodified, at PATH (default: where it is on the host) in
# the initramfs, and what the dynamic loader needs to run it.
add_dynamic() {
	install -D -m 755 "$1" "$root${2:-$1}"
	ldd "$1" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
		[ -e "$root$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$root$lib"
	done
}
[ -x /usr/bin/accel-config ] || die "accel-config is missing (scripts/deps.sh installs it)"
add_dynamic /usr/bin/accel-config
mkdir -p "$root/etc/accel-config"

# mdevctl 1.2.0 from Debian bookworm (unpacked by scripts/deps.sh), for the dsa-mdev suite.
# Every command first checks that /etc/mdevctl.d (persistent definitions) and its
# scripts.d/callouts and scripts.d/notifiers exist (src/environment.rs: self_check); they
# stay empty. It finds parents in /sys/class/mdev_bus and mdevs in /sys/bus/mdev/devices.
mdevctl=$IMS_CACHE/mdevctl/usr/bin/mdevctl
[ -x "$mdevctl" ] || die "mdevctl is missing (scripts/deps.sh fetches it)"
add_dynamic "$mdevctl" /usr/bin/mdevctl
mkdir -p "$root"/etc/mdevctl.d/scripts.d/callouts "$root"/etc/mdevctl.d/scripts.d/notifiers

(cd "$root" && find . -print0 | sort -z |
	cpio --null -o -H newc --reproducible -R 0:0 --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
log "initramfs: $(du -h "$out" | cut -f1)"
