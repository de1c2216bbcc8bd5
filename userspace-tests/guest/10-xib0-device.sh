# SPDX-License-Identifier: GPL-2.0
# xib0 presents the backend's device: same node GUID, driver, port state
# and an IPv4 RoCE GID, as the unmodified rdma-core tools see it.
. ./lib.sh
ibv_devices | grep -q xib0 || fail "ibv_devices does not list xib0"
ibv_devinfo -d xib0 >/tmp/xib.txt || fail "ibv_devinfo -d xib0"
ibv_devinfo -d rxe0 >/tmp/rxe.txt || fail "ibv_devinfo -d rxe0"
cat /tmp/xib.txt
grep -q PORT_ACTIVE /tmp/xib.txt || fail "xib0 port not active"
for f in node_guid sys_image_guid vendor_id phys_port_cnt active_mtu link_layer; do
	a=$(grep -w "$f" /tmp/xib.txt) b=$(grep -w "$f" /tmp/rxe.txt)
	[ "$a" = "$b" ] || fail "$f differs: xib0 '$a' rxe0 '$b'"
done
ipv4_gid_index xib0 >/dev/null || fail "xib0 has no IPv4 GID"
[ "$(cat /sys/class/infiniband/xib0/ports/1/gids/1)" = "$(cat /sys/class/infiniband/rxe0/ports/1/gids/1)" ] ||
	fail "GID 1 differs from rxe0's"
