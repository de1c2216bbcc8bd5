# SPDX-License-Identifier: GPL-2.0
# Helpers that put host programs into a guest root file system and pack it
# (scripts/mkinitramfs, scripts/mkguest). Source it after lib.sh and set
# $root to the root being built.

# busybox provides the shell and the basic tools.
rootfs_busybox() {
	local applet
	install -D -m755 /bin/busybox "$root/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
	done
}

# The libraries that the given programs and libraries load (ldd).
rootfs_libs() {
	local lib
	for lib in $(ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u); do
		[[ -e $root$lib ]] || install -D -m755 "$lib" "$root$lib"
	done
}

# Host programs (or libraries) at the same paths, with what they load; a
# busybox applet of the same name no longer shadows a real program.
rootfs_programs() {
	local f
	for f in "$@"; do
		[[ -L $root/bin/$(basename "$f") ]] && rm -f "$root/bin/$(basename "$f")"
		install -D -m755 "$f" "$root$f"
	done
	rootfs_libs "$@"
}

# A kernel module of the built tree (path below KDIR, without .ko),
# appended to /lib/modules/xenib/order, which init loads with insmod.
# A module built into this kernel has no .ko and is skipped.
rootfs_kmod() { # KDIR PATH
	local ko="$1/$2.ko"
	[[ -f $ko ]] || return 0
	install -D -m644 "$ko" "$root/lib/modules/xenib/$(basename "$ko")"
	basename "$2" >>"$root/lib/modules/xenib/order"
}

# Packs DIR into a newc cpio archive OUT, compressed by COMPRESSOR (default
# gzip -1). Files are in name order with owner root and time 0, so the same
# contents give the same bytes (and the same image digest).
rootfs_pack() { # DIR OUT [COMPRESSOR]
	find "$1" -exec touch -h -d @0 {} +
	(cd "$1" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --owner=0:0 --reproducible |
		${3:-gzip -1 -n}) >"$2"
}
