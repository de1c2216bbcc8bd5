#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A guest process sends provider pointers (rxe's modify_srq mmap_info_addr,
# through raw uverbs commands) to memory it never mapped and to the
# address at which the other domU has registered memory: each gets
# EFAULT, the other domU's memory is unchanged (checked byte for byte)
# and its traffic flows (a ping-pong with checked data).
. ./lib.sh
xrun domu2 "/xenib/xenib-verbs-test --dev xib0 --hold /tmp/held.addr 30 >/tmp/hold.out 2>&1 & echo \$! >/tmp/hold.pid" ||
	fail "cannot start the holder in domu2"
wait_for "xrun domu2 'test -s /tmp/held.addr' >/dev/null" 20 || fail "domu2 registered no memory"
addr=$(xrun domu2 'cat /tmp/held.addr')
echo "domu2 holds a 1 MiB MR at $addr"
xrun domu1 "XENIB_BAD_ADDRS='$addr' /xenib/xenib-verbs-test --dev xib0 --gid-index $GID --filter err_modify_srq_bad_pointer" \
	>/tmp/attack.out 2>&1
rc=$?
cat /tmp/attack.out
[ $rc -eq 0 ] || fail "domu1's bad pointers were not all refused with EFAULT"
grep -q "EFAULT for 4 addresses" /tmp/attack.out ||
	echo "note: domu2's address is mapped in domu1's process too (its own memory); 3 addresses tried"
xpair ibv_rc_pingpong -d xib0 -g $GID -n 100 -c || fail "traffic between the domUs after the attack"
xrun domu2 'for i in $(seq 150); do kill -0 $(cat /tmp/hold.pid) 2>/dev/null || break; sleep 0.2; done; cat /tmp/hold.out' \
	>/tmp/hold.out 2>&1
cat /tmp/hold.out
grep -q "intact" /tmp/hold.out || fail "domu2's registered memory changed"
wait_for '[ "$(back_counter objects.contexts)" -eq 0 ]' || fail "contexts left: $(back_counter objects.contexts)"
wait_for '[ "$(back_counter objects.fetched)" -eq 0 ]' || fail "fetched pages left: $(back_counter objects.fetched)"
