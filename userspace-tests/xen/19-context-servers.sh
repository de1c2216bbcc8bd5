#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Each domU's context is served in dom0 by a process of its own: an empty
# address space holding only that context's mappings, no capabilities.
# Killing domu1's server fails domu1's process with an error; domu2's
# context keeps working (a ping-pong with checked data), nothing leaks.
. ./lib.sh
daemon=$(cat /run/xenib-backd.pid)
servers() {
	for d in /proc/[0-9]*; do
		[ "$(awk '$1 == "PPid:" { print $2 }' "$d/status" 2>/dev/null)" = "$daemon" ] || continue
		grep -q /dev/infiniband/uverbs "$d/maps" 2>/dev/null && echo "${d#/proc/}"
	done
}
new_server() { # KNOWN-PIDS
	for i in $(seq 100); do
		for s in $(servers); do
			case " $1 " in *" $s "*) ;; *) echo "$s"; return 0 ;; esac
		done
		sleep 0.2
	done
	return 1
}
before=$(servers)
xrun domu1 "ibv_rc_pingpong -d xib0 -g $GID -p 18701 -c >/tmp/held1.out 2>&1 & echo \$! >/tmp/held1.pid" ||
	fail "cannot start in domu1"
s1=$(new_server "$before") || fail "no context server for domu1"
xrun domu2 "ibv_rc_pingpong -d xib0 -g $GID -p 18702 -c >/tmp/held2.out 2>&1 & echo \$! >/tmp/held2.pid" ||
	fail "cannot start in domu2"
s2=$(new_server "$before $s1") || fail "no context server for domu2"
echo "domu1's context served by $s1, domu2's by $s2"
for s in $s1 $s2; do
	grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/$s/status || fail "server $s keeps capabilities"
	other=$(grep -v -e /dev/infiniband/uverbs -e /dev/xenib_back -e '\[vsyscall\]$' \
		-e '^[0-9a-f-]* [rwxps-]* 00000000 00:00 0 *$' /proc/$s/maps)
	[ -z "$other" ] || { cat /proc/$s/maps; fail "server $s maps more than its context: $other"; }
	n=$(grep -c ' 00000000 .*/dev/xenib_back' /proc/$s/maps)
	[ "$n" = 1 ] || { cat /proc/$s/maps; fail "server $s maps $n MR windows, want 1"; }
done
kill -9 "$s1"
wait_for "! [ -d /proc/$s1 ] || grep -q '^State:.*Z' /proc/$s1/status" || fail "the killed server is still there"
xrun domu2 "timeout 60 ibv_rc_pingpong -d xib0 -g $GID -p 18701 -c $(ip_of domu1) >/dev/null 2>&1"
xrun domu1 'for i in $(seq 100); do kill -0 $(cat /tmp/held1.pid) 2>/dev/null || break; sleep 0.2; done
	kill -0 $(cat /tmp/held1.pid) 2>/dev/null && exit 1; grep -qi "fail\|couldn" /tmp/held1.out' ||
	fail "domu1's process did not fail after its server was killed"
echo "domu1's process failed: $(xrun domu1 'tail -1 /tmp/held1.out')"
xrun domu1 "timeout 60 ibv_rc_pingpong -d xib0 -g $GID -p 18702 -c $(ip_of domu2)" >/tmp/client.out 2>&1 ||
	{ cat /tmp/client.out; fail "domu2's context stopped working"; }
xrun domu2 'for i in $(seq 100); do kill -0 $(cat /tmp/held2.pid) 2>/dev/null || exit 0; sleep 0.2; done; exit 1' ||
	fail "domu2's server side did not finish"
[ -z "$before" ] || echo "note: contexts of earlier tests were still open: $before"
for c in objects.contexts objects.servers objects.mrs objects.mmaps objects.grants; do
	wait_for "[ \"\$(back_counter $c)\" -eq 0 ]" || fail "backend still holds $c: $(back_counter $c)"
done
echo "domu2 unaffected; everything released"
