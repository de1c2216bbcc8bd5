#!/bin/sh
# `xl destroy` of a domU with live RDMA objects: the backend releases
# everything it held for it (frontend, contexts, MRs, mappings, our grants
# to it) and the real device ends up with none of its objects; dom0 unmaps
# every page the domU had granted it (rings, registered memory), without
# which Xen could not finish destroying the domain; the other domU keeps
# working; dom0's rdma_cm holds no id of it any more (domu2 listens with
# rping on its own address when destroyed). domu2 is gone afterwards,
# until 22-image-domains starts it again.
. ./lib.sh
A2=10.0.4.12
xenib-attach detach domu2 && xib0 domu2 gone || fail "detach domu2"
XENIB_ATTACH_WAIT=30 xenib-attach attach domu2 --rdma-ip $A2/24 && xib0 domu2 up ||
	fail "attach domu2 with an RDMA address"
xrun domu2 "ip addr add $A2/24 dev xibgid0 && rping -s -a $A2 -p 7180 >/dev/null 2>&1 &" ||
	fail "cannot start rping in domu2"
cm_ids() { rdma resource show cm_id 2>/dev/null | grep -c "$A2:"; }
wait_for '[ "$(cm_ids)" -ge 1 ]' 20 || fail "dom0 shows no cm_id of domu2's listener"
xrun domu2 "ibv_rc_pingpong -d xib0 -g $GID >/dev/null 2>&1 &" || fail "cannot start a process in domu2"
wait_for '[ "$(back_counter objects.contexts)" -ge 1 ]' || fail "no context appeared"
echo "before: $(grep objects /dev/xenib_back | tr '\n' ' ')"
domid=$(xl domid domu2) || fail "no domu2"
xl destroy domu2 || fail "xl destroy"
wait_for '[ "$(back_counter objects.frontends)" -eq 1 ]' 20 || fail "frontend not released: $(back_counter objects.frontends)"
for c in objects.contexts objects.mrs objects.mmaps objects.grants objects.cm_files; do
	wait_for "[ \"\$(back_counter $c)\" -eq 0 ]" || fail "backend still holds $c: $(back_counter $c)"
done
echo "after: $(grep objects /dev/xenib_back | tr '\n' ' ')"
wait_for '[ "$(cm_ids)" = 0 ]' || fail "cm_ids of the destroyed domu2 left: $(rdma resource show cm_id)"
# A domain whose pages another domain still maps stays behind, dying.
gone() { ! xl list | awk -v d="$domid" '$2 == d { f = 1 } END { exit !f }'; }
wait_for gone 30 || { xl list; fail "domain $domid still dying: dom0 still maps its pages"; }
echo "domain $domid fully destroyed"
res=$(rdma resource show rxe0)
for k in ctx mr srq; do
	echo "$res" | grep -qw "$k 0" || fail "rxe0 still has objects: $res"
done
xenib-attach detach "$domid" || fail "detach of the destroyed domain's device"
xenstore-read "/local/domain/0/backend/vrdma/$domid/0/state" >/dev/null 2>&1 && fail "backend nodes left"
# The survivor: a ping-pong within domu1 (both ends there).
xrun domu1 "timeout 60 ibv_rc_pingpong -d xib0 -g $GID -n 100 -c -p 18590 >/tmp/s.out 2>&1 & sleep 1; timeout 60 ibv_rc_pingpong -d xib0 -g $GID -n 100 -c -p 18590 127.0.0.1" ||
	fail "domu1 no longer works"
