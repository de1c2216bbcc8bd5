#!/bin/sh
# Unmodified perftest between the two domUs over xib0, and with completion
# events (ib_send_bw -e) also within one domU.
. ./lib.sh
xpair ib_write_bw -d xib0 -x $GID -s 65536 -n 200 -F || fail "ib_write_bw"
grep -q '^ *65536 *200' /tmp/client.out || fail "ib_write_bw: no result line"
xpair ib_send_lat -d xib0 -x $GID -n 200 -F || fail "ib_send_lat"
grep -q '^ *2 *200' /tmp/client.out || fail "ib_send_lat: no result line"
xpair ib_read_lat -d xib0 -x $GID -n 200 -F || fail "ib_read_lat"
grep -q '^ *2 *200' /tmp/client.out || fail "ib_read_lat: no result line"
# Completion events (-e: each side sleeps on its completion channel), 8 KiB
# sends, between the domUs and within one; there, two pairs at once.
for n in 200 5000; do
	xpair ib_send_bw -d xib0 -x $GID -s 8192 -n $n -e -F || fail "ib_send_bw -e -n $n between the domUs"
	grep -q "^ *8192 *$n" /tmp/client.out || fail "ib_send_bw -e -n $n: no result line"
done
run='pids=; for p in 18701 18702; do ib_send_bw -d xib0 -x GID -s 8192 -n 5000 -e -F -p $p >/tmp/s$p.out 2>&1 & pids="$pids $!"; done; sleep 2; for p in 18701 18702; do timeout 120 ib_send_bw -d xib0 -x GID -s 8192 -n 5000 -e -F -p $p 127.0.0.1 >/tmp/c$p.out 2>&1 & pids="$pids $!"; done; rc=0; for pid in $pids; do while kill -0 $pid 2>/dev/null; do echo running; sleep 3; done; wait $pid || rc=1; done; cat /tmp/c18701.out /tmp/c18702.out; exit $rc'
# One command line (xrun), which says it is running every 3 s (xrun's
# connection gives up after 10 s of silence).
xrun domu1 "$(echo "$run" | sed "s/GID/$GID/g")" >/tmp/local.out 2>&1
rc=$?
cat /tmp/local.out
[ $rc -eq 0 ] || fail "two ib_send_bw -e pairs within domu1"
[ "$(grep -c '^ *8192 *5000' /tmp/local.out)" = 2 ] || fail "two ib_send_bw -e pairs within domu1: result lines missing"
