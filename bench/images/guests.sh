#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make bench-images, in one Xen boot (dom0, guest-run --xen --disk
# FULL_DISK): the small guest (images/guest/domu.list) against the full
# Debian guest (scripts/mkfullguest, dom0's /dev/vda), each started with
# xenib-image start from dom0's node cache, alternately, REPS times: the
# seconds until its ready line, the seconds xenib-image stop takes, and
# the memory it uses at its ready line (MemTotal - MemAvailable). Same
# domain settings for both (PV, 512 MB, 1 vCPU, a vif). Prints one
# "RESULT GUEST REP START_S STOP_S MEM_KIB" line per run. Argument:
# REPS=N (default 3).
# The harness runs this in its domUs too, where it has nothing to do.
[ "$XENIB_DOMAIN" = dom0 ] || exit 0
REPS=3
for a; do case $a in REPS=*) REPS=${a#REPS=} ;; esac; done
fail() { echo "guests.sh: $*"; exit 1; }
# The harness's domUs would take the memory: stop them first.
for d in domu1 domu2; do xenib-image stop "$d" --timeout 60 >/dev/null || fail "stop $d"; done

# The full guest's image: Debian's kernel and initrd from its disk's /boot.
[ -b /dev/vda ] || fail "no /dev/vda (guest-run --disk)"
mkdir -p /mnt/full /tmp/full
mount -o ro /dev/vda /mnt/full || fail "cannot mount /dev/vda"
cp /mnt/full/boot/vmlinuz-* /tmp/full/vmlinuz && cp /mnt/full/boot/initrd.img-* /tmp/full/initramfs.cpio ||
	fail "no kernel or initrd in the full guest's /boot"
umount /mnt/full
full=$(xenib-image build /tmp/full/vmlinuz /tmp/full/initramfs.cpio -o /tmp/full-store | sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p')
xenib-image fetch "$full" --from /tmp/full-store >/dev/null || fail "fetch of the full guest's image"
small=$(cat /xenib/images/domu.digest)
insmod /lib/modules/xenib/xen-blkback.ko || fail "insmod xen-blkback"

common='type = "pv"
memory = 512
vcpus = 1
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"'
printf '%s\nextra = "console=hvc0 quiet xenib.domain=small xenib.ip=10.0.3.21"\nvif = [ "bridge=xenbr0,mac=00:16:3e:00:03:21" ]\n' "$common" >/tmp/small.cfg
printf '%s\nextra = "root=/dev/xvda ro console=hvc0 quiet"\nvif = [ "bridge=xenbr0,mac=00:16:3e:00:03:21" ]\ndisk = [ "format=raw,vdev=xvda,access=rw,script=/xenib/xen/block-phy,target=/dev/vda" ]\n' "$common" >/tmp/full.cfg
# The small guest runs no job: its init says ready and waits.
mkdir -p /tmp/nojob/job && touch /tmp/nojob/job/no-modules && echo 'set -- true' >/tmp/nojob/job/argv
(cd /tmp/nojob && find job | cpio -o -H newc 2>/dev/null) >/tmp/nojob.cpio

one() { # NAME DIGEST REP [START OPTIONS]
	name=$1 digest=$2 rep=$3
	shift 3
	log=/var/log/xen/guest-$name.log
	out=$(xenib-image start "$digest" --name "$name" --config "/tmp/$name.cfg" --console-log "$log" \
		--timeout 900 "$@") || fail "start $name: $out"
	ready=$(echo "$out" | sed -n 's/.*ready_seconds=\([0-9.]*\).*/\1/p')
	mem=$(tr -d '\r' <"$log" | sed -n 's/^XENIB-READY .* mem_used_kib=\([0-9]*\).*/\1/p' | tail -1)
	sleep 5
	stop=$(xenib-image stop "$name" --timeout 300) || fail "stop $name: $stop"
	echo "$stop" | grep -q ' forced=0 ' || fail "$name did not shut down in order: $stop"
	echo "RESULT $name $rep $ready $(echo "$stop" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p') $mem"
}
for rep in $(seq "$REPS"); do
	one small "$small" "$rep" --append-initrd /tmp/nojob.cpio
	one full "$full" "$rep"
done
