# SPDX-License-Identifier: GPL-2.0
# A hostile frontend (ib_front's self-test connections) gets the right
# error for every bad request and is cut off for breaking the ring
# protocol, while the well-behaved xib0 keeps working and the backend
# ends up holding nothing of the attacker's.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
bad0=$(back_counter bad_requests)
echo 1 >/sys/module/ib_front/parameters/hostile_test || fail "running the hostile self-test"
dmesg | grep "hostile:" | tail -20
result=$(cat /sys/module/ib_front/parameters/hostile_test)
echo "$result"
case $result in
"passed "*" failed 0") ;;
*) fail "hostile self-test: $result" ;;
esac
[ "$(back_counter bad_requests)" -gt "$bad0" ] || fail "backend counted no bad request"
[ "$(back_counter objects.frontends)" = 1 ] || fail "attacking frontends still connected"
for c in objects.contexts objects.mrs objects.mws objects.mmaps objects.grants; do
	[ "$(back_counter $c)" = 0 ] || fail "backend still holds $c: $(back_counter $c)"
done
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 20 >/dev/null || fail "xib0 broken after the attack"
rxe_clean || fail "the real device kept objects"
