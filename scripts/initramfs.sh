#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the test VM's initramfs: busybox (static), our /init, the kernel's modules, our
# kselftests, the guest-side suites, and Debian's accel-config with the libraries it links.
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

# accel-config, unmodified from Debian, and what the dynamic loader needs to run it.
add_dynamic() {
	install -D -m 755 "$1" "$root$1"
	ldd "$1" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }' | while read -r lib; do
		[ -e "$root$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$root$lib"
	done
}
[ -x /usr/bin/accel-config ] || die "accel-config is missing (scripts/deps.sh installs it)"
add_dynamic /usr/bin/accel-config
mkdir -p "$root/etc/accel-config"

(cd "$root" && find . -print0 | sort -z |
	cpio --null -o -H newc --reproducible -R 0:0 --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
log "initramfs: $(du -h "$out" | cut -f1)"
