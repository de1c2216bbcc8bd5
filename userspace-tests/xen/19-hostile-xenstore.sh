#!/bin/sh
# Out-of-range xenstore values from a frontend. Each case is a vrdma
# device whose frontend directory says something no well-behaved frontend
# writes; the test plays that frontend from dom0's own xenstore (domain 0:
# no ib_front there to race with), which the backend treats like any
# guest's. Each connection is refused with the exact reason logged, the
# backend's end goes Closing, nothing is held for it, and the domUs'
# traffic is untouched.
. ./lib.sh
n=$(back_counter objects.frontends)
id=40
# A frontend that publishes KEY=VALUE pairs and says Initialised; the
# backend must log REASON and then CONNECT-LINE (its errno).
fake() { # REASON CONNECT-LINE KEY VALUE...
	reason=$1 want=$2; shift 2
	id=$((id + 1))
	# The backend's log lines share one rate limit (10 in 5 s): start each
	# case with a fresh window, so that the lines checked are not dropped.
	sleep 5
	be=/local/domain/0/backend/vrdma/0/$id fe=/local/domain/0/device/vrdma/$id
	dmesg -c >/dev/null
	xenstore-write "$be/frontend" "$fe" "$be/frontend-id" 0 "$be/online" 1 "$be/state" 1 \
		"$fe/backend" "$be" "$fe/backend-id" 0 "$fe/state" 1 || fail "cannot write the nodes"
	wait_for "[ \"\$(xenstore-read $be/state)\" = 2 ]" || fail "device $id: the backend did not wait for us"
	args=""
	while [ $# -gt 0 ]; do args="$args $fe/$1 $2"; shift 2; done
	xenstore-write $args "$fe/state" 3 || fail "cannot write the frontend's values"
	wait_for "[ \"\$(xenstore-read $be/state)\" = 5 ]" ||
		fail "device $id: backend state $(xenstore-read $be/state), not Closing"
	for line in "$reason" "$want"; do
		dmesg | grep -qF "$line" || fail "device $id: no line '$line': $(dmesg | tail -3)"
	done
	echo "device $id: $reason; $want"
	[ "$(back_counter objects.frontends)" -eq "$n" ] || fail "device $id: the backend holds a frontend for it"
	xenstore-rm "$fe"; xenstore-rm "$be"
}
trap 'xenstore-rm /local/domain/0/device/vrdma; xenstore-rm /local/domain/0/backend/vrdma/0' EXIT
refs="cmd-ring-ref0 9999 cmd-ring-ref1 9999 cmd-ring-ref2 9999 cmd-ring-ref3 9999 evt-ring-ref0 9999 evt-ring-ref1 9999 evt-ring-ref2 9999 evt-ring-ref3 9999"
connect="domain 0: cannot connect the frontend"
fake "domain 0: ring-page-order 9 too large" "$connect: EINVAL" ring-page-order 9
fake "domain 0: its ring-page-order is not a number" "$connect: EINVAL" ring-page-order two $refs doorbell-ref 9999
fake "domain 0: its evt-ring-ref1 is missing" "$connect: ENOENT" ring-page-order 1 cmd-ring-ref0 9999 cmd-ring-ref1 9999 evt-ring-ref0 9999
fake "domain 0: its doorbell-ref is missing" "$connect: ENOENT" ring-page-order 2 $refs event-channel 5
# Grant references that name nothing (xenbus_map_ring_valloc's -ENOENT).
fake "mapping in shared page 9999 from domain 0" "$connect: ENOENT" ring-page-order 2 $refs doorbell-ref 9999 event-channel 5 doorbell-event-channel 6
for c in objects.contexts objects.grants xen.pages_in_use; do
	[ "$(back_counter $c)" -eq 0 ] || fail "dom0 holds $c: $(back_counter $c)"
done
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "traffic between the domUs"
