#!/bin/sh
# Both domUs have xib0, connected to ib_back, presenting rxe0's identity
# and the same GID at index $GID as rxe0; each runs as the Xen guest type
# the harness asked for (scripts/guest-run --guest-type).
. ./lib.sh
[ "$(back_counter objects.frontends)" -eq 2 ] ||
	fail "backend serves $(back_counter objects.frontends) frontends, not 2" \
		"(uptime $(cut -d' ' -f1 /proc/uptime) s; $(tr '\n' ';' </tmp/xenib-attach.log 2>/dev/null))"
want=$(cat /sys/class/infiniband/rxe0/ports/1/gids/$GID)
for d in domu1 domu2; do
	want_type=$(guest_type_of "$d" | tr a-z A-Z)
	got_type=$(xrun "$d" cat /sys/hypervisor/guest_type) || fail "$d: no /sys/hypervisor/guest_type"
	[ "$got_type" = "$want_type" ] || fail "$d runs as a $got_type guest, not $want_type"
	[ "$(xenib-attach status "$d" | awk '{print $3}' | sort -u)" = 4 ] ||
		fail "$d: vrdma device not connected: $(xenib-attach status "$d")"
	got=$(xrun "$d" cat /sys/class/infiniband/xib0/ports/1/gids/$GID) || fail "$d: no xib0"
	[ "$got" = "$want" ] || fail "$d: xib0 GID $GID is $got, rxe0's is $want"
	xrun "$d" ibv_devinfo -d xib0 >/tmp/devinfo || fail "$d: ibv_devinfo failed"
	grep -q "PORT_ACTIVE" /tmp/devinfo || fail "$d: port not active"
	echo "$d ($got_type): xib0 up, GID $GID $got"
done
