#!/bin/sh
# Unmodified perftest between the two domUs over xib0.
. ./lib.sh
xpair ib_write_bw -d xib0 -x $GID -s 65536 -n 200 -F || fail "ib_write_bw"
grep -q '^ *65536 *200' /tmp/client.out || fail "ib_write_bw: no result line"
xpair ib_send_lat -d xib0 -x $GID -n 200 -F || fail "ib_send_lat"
grep -q '^ *2 *200' /tmp/client.out || fail "ib_send_lat: no result line"
xpair ib_read_lat -d xib0 -x $GID -n 200 -F || fail "ib_read_lat"
grep -q '^ *2 *200' /tmp/client.out || fail "ib_read_lat: no result line"
