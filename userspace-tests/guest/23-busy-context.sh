# SPDX-License-Identifier: GPL-2.0
# Contexts are served side by side: while one process keeps its context
# busy with 64 MiB registrations (each takes its server a good part of a
# second here), another process's ping-pong -- two contexts, some 30
# control verbs -- completes with its data checked, long before the
# registrations end. With one service thread for every context, each of
# its verbs would wait behind a registration.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
regs() { echo "$(back_counter requests.RegMr)"; }
before=$(regs)
/xenib/xenib-verbs-test --dev xib0 --reg-loop 24 >/tmp/regloop.out 2>&1 &
busy=$!
for i in $(seq 50); do
	[ "$(regs)" -gt "$before" ] && break
	sleep 0.2
done
[ "$(regs)" -gt "$before" ] || { cat /tmp/regloop.out; fail "the busy process registered nothing"; }
pair ibv_rc_pingpong -d xib0 -g "$g" -n 20 -c >/tmp/pair.out 2>&1 ||
	{ cat /tmp/pair.out; fail "ping-pong next to a busy context failed"; }
kill -0 $busy 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' /proc/$busy/status ||
	{ cat /tmp/regloop.out; fail "the registrations ended before the ping-pong: no evidence of concurrency"; }
echo "ping-pong done while the other context was still registering ($(( $(regs) - before )) of 24 registrations so far)"
wait $busy || { cat /tmp/regloop.out; fail "the registration loop failed"; }
cat /tmp/regloop.out
all_released
