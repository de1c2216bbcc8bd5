# SPDX-License-Identifier: GPL-2.0
# Each guest context is served by a process of its own: an empty address
# space (nothing of the daemon mapped), no capabilities. Killing or
# stopping one context's server, or restarting the daemon, fails that
# context's verbs with an error, leaks nothing, and leaves the other
# contexts and new processes working.
. ./lib.sh
g=$(ipv4_gid_index xib0) || fail "no IPv4 GID on xib0"
daemon=$(cat /run/xenib-backd.pid)

# Context servers: the daemon's children that have the real device's
# queues mapped (the idle ones waiting for a context have nothing).
servers() {
	for d in /proc/[0-9]*; do
		[ "$(awk '$1 == "PPid:" { print $2 }' "$d/status" 2>/dev/null)" = "$daemon" ] || continue
		grep -q /dev/infiniband/uverbs "$d/maps" 2>/dev/null && echo "${d#/proc/}"
	done
}
# The server of the context that appeared since the list $1 was taken.
new_server() {
	for i in $(seq 50); do
		for s in $(servers); do
			case " $1 " in *" $s "*) ;; *) echo "$s"; return 0 ;; esac
		done
		sleep 0.2
	done
	return 1
}
# Waits up to 10 s for our child $1 to exit; sets rc to its status.
exited() {
	for i in $(seq 50); do
		if [ ! -d /proc/$1 ] || grep -q '^State:[[:space:]]*Z' /proc/$1/status 2>/dev/null; then
			wait "$1"
			rc=$?
			return 0
		fi
		sleep 0.2
	done
	return 1
}
# A pingpong server on port $1 that holds its objects until a client comes.
hold() {
	ibv_rc_pingpong -d xib0 -g "$g" -p "$1" -c >"/tmp/hold.$1" 2>&1 &
}

before=$(servers)
[ -z "$before" ] || fail "contexts of earlier tests still open: $before"
hold 18601; a=$!
sa=$(new_server "") || fail "no context server for the first process"
hold 18602; b=$!
sb=$(new_server "$sa") || fail "no context server for the second process"
[ "$sa" != "$sb" ] || fail "two contexts share server $sa"
[ "$(back_counter objects.servers)" = 2 ] || fail "servers counter $(back_counter objects.servers), want 2"
echo "contexts served by processes $sa and $sb (daemon $daemon)"

for s in $sa $sb; do
	grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/$s/status ||
		fail "server $s keeps capabilities: $(grep Cap /proc/$s/status)"
	grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/$s/status || fail "server $s may gain privileges"
	# Only what its context mapped: the device's queues, that context's
	# MR windows (/dev/xenib_back) and the anonymous command scratch area.
	other=$(grep -v -e /dev/infiniband/uverbs -e /dev/xenib_back -e '\[vsyscall\]$' \
		-e '^[0-9a-f-]* [rwxps-]* 00000000 00:00 0 *$' /proc/$s/maps)
	[ -z "$other" ] || { cat /proc/$s/maps; fail "server $s maps more than its context: $other"; }
	# ibv_rc_pingpong registers one MR: exactly one window of guest memory.
	n=$(grep -c ' 00000000 .*/dev/xenib_back' /proc/$s/maps)
	[ "$n" = 1 ] || { cat /proc/$s/maps; fail "server $s maps $n MR windows, want 1"; }
done
echo "each server: no capabilities, only its own context's mappings"

# SIGKILL one context's server: its process fails at its next verb, the
# other context is untouched and completes a checked ping-pong.
kill -9 "$sa"
ibv_rc_pingpong -d xib0 -g "$g" -p 18601 -c 127.0.0.1 >/tmp/client.a 2>&1
exited $a || fail "the process whose server was killed hangs"
[ "$rc" != 0 ] || { cat /tmp/hold.18601; fail "the process whose server was killed saw no error"; }
echo "server killed: its process failed (exit $rc): $(tail -1 /tmp/hold.18601)"
ibv_rc_pingpong -d xib0 -g "$g" -p 18602 -c 127.0.0.1 >/tmp/client.b 2>&1 ||
	{ cat /tmp/client.b; fail "the other context stopped working"; }
exited $b && [ "$rc" = 0 ] || { cat /tmp/hold.18602; fail "the other context's server side failed"; }
all_released

# SIGSTOP: the same, and nothing waits for the stopped process.
hold 18603; c=$!
sc=$(new_server "") || fail "no context server for the third process"
kill -STOP "$sc"
ibv_rc_pingpong -d xib0 -g "$g" -p 18603 -c 127.0.0.1 >/tmp/client.c 2>&1
exited $c || fail "the process whose server was stopped hangs"
[ "$rc" != 0 ] || fail "the process whose server was stopped saw no error"
echo "server stopped: its process failed (exit $rc)"
all_released

# Stop the daemon under a live process: it exits at once when killed
# (its releasing verbs are refused, nothing waits for a daemon).
hold 18605; e=$!
new_server "" >/dev/null || fail "no context server for the fifth process"
stop_backd
all_released
kill -9 $e
exited $e || fail "a process killed while no daemon runs hangs"
grep -q '^State:[[:space:]]*D' /proc/$e/status 2>/dev/null && fail "process in D state"
echo "daemon stopped: a killed process exits at once"
xenib-backd >/tmp/xenib-backd.log 2>&1 &
echo $! >/run/xenib-backd.pid
daemon=$!

# Restart the daemon under a live process: its context is gone; the new
# daemon serves new processes.
hold 18604; d=$!
new_server "" >/dev/null || fail "no context server for the fourth process"
stop_backd
all_released
xenib-backd >/tmp/xenib-backd.log 2>&1 &
echo $! >/run/xenib-backd.pid
daemon=$!
ibv_rc_pingpong -d xib0 -g "$g" -p 18604 -c 127.0.0.1 >/tmp/client.d 2>&1
exited $d || fail "a process from before the restart hangs"
[ "$rc" != 0 ] || fail "a process from before the restart saw no error"
echo "daemon restarted: the old process failed (exit $rc)"
pair ibv_rc_pingpong -d xib0 -g "$g" -c >/tmp/pair.out 2>&1 ||
	{ cat /tmp/pair.out; fail "a new process does not work after the restart"; }
all_released
echo "a new ping-pong works after the restart; nothing leaked"
