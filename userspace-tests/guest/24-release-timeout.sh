# SPDX-License-Identifier: GPL-2.0
# A backend that stops answering cannot hang the guest. It is made to look
# wedged by never being notified (ib_front's test-only test_mute_notify):
# a killed process's destroy verbs give up after release_timeout_ms and it
# exits; rmmod ib_front returns likewise. Once the backend hears again it
# takes the requests left on the ring, and nothing leaks.
. ./lib.sh
P=/sys/module/ib_front/parameters
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
reload() { [ -d $P ] || insmod /lib/modules/xenib/ib_front.ko; }
trap 'reload; echo 0 >$P/test_mute_notify; echo 30000 >$P/release_timeout_ms' EXIT
echo 1000 >$P/release_timeout_ms

# A process killed while the backend is silent.
hold_objects || fail "no process holding objects"
sleep 1	# past the backend's polling window: it sleeps, waiting for a notification
echo 1 >$P/test_mute_notify
dmesg -c >/dev/null
kill -9 $held
for i in $(seq 100); do
	[ -d /proc/$held ] && [ "$(awk '{print $3}' /proc/$held/stat 2>/dev/null)" != Z ] || break
	sleep 0.2
done
[ -d /proc/$held ] && [ "$(awk '{print $3}' /proc/$held/stat 2>/dev/null)" != Z ] &&
	fail "the killed process is still there after 20 s: $(cat /proc/$held/stat)"
wait $held 2>/dev/null
dmesg | grep -q "did not answer" || fail "no timeout was logged"
[ "$(back_counter objects.contexts)" -ge 1 ] ||
	fail "the backend released the context although it was never notified"
echo 0 >$P/test_mute_notify
# The next request notifies the backend, which takes the releases queued
# before it and closes the dead process's context.
/xenib/xenib-verbs-test --dev xib0 --gid-index $g --filter pd_alloc >/dev/null || fail "xib0 unusable"
all_released

# rmmod ib_front while the backend is silent, with a context open (a
# process that has opened xib0 but maps nothing of it).
rm -f /tmp/held.addr
/xenib/xenib-verbs-test --dev xib0 --hold /tmp/held.addr 60 >/dev/null 2>&1 &
held=$!
for i in $(seq 50); do [ -s /tmp/held.addr ] && break; sleep 0.2; done
[ -s /tmp/held.addr ] || fail "no process holding an MR"
sleep 1
echo 1 >$P/test_mute_notify
timeout 60 rmmod ib_front || fail "rmmod ib_front hung or failed with a silent backend"
kill $held 2>/dev/null; wait $held 2>/dev/null
# The frontend is gone: the backend released all of it.
all_released
[ "$(back_counter objects.frontends)" = 0 ] || fail "the backend still holds the frontend"
reload || fail "reloading ib_front"
pair timeout 60 ibv_rc_pingpong -d xib0 -g "$g" -n 10 >/dev/null || fail "xib0 unusable after reload"
