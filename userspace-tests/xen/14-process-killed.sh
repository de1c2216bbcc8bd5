#!/bin/sh
# A guest process killed with live RDMA objects: everything it had in the
# backend is released (contexts, MRs, mappings, grants).
. ./lib.sh
xrun domu1 "ibv_rc_pingpong -d xib0 -g $GID >/dev/null 2>&1 & echo \$! >/tmp/held.pid" || fail "cannot start"
wait_for '[ "$(back_counter objects.contexts)" -ge 1 ]' || fail "no context appeared"
echo "holding: contexts $(back_counter objects.contexts) mrs $(back_counter objects.mrs) grants $(back_counter objects.grants)"
[ "$(back_counter objects.grants)" -ge 1 ] || fail "no queue pages granted"
xrun domu1 'kill -9 $(cat /tmp/held.pid)'
for c in objects.contexts objects.mrs objects.mmaps objects.grants; do
	wait_for "[ \"\$(back_counter $c)\" -eq 0 ]" || fail "backend still holds $c: $(back_counter $c)"
done
echo "released: contexts, mrs, mmaps, grants all 0"
