# SPDX-License-Identifier: GPL-2.0
# Harness sanity: the native rxe0 device works for unmodified programs.
. ./lib.sh
ibv_devinfo -d rxe0 | grep -q PORT_ACTIVE || fail "rxe0 port not active"
g=$(ipv4_gid_index rxe0) || fail "rxe0 has no IPv4 GID"
pair ibv_rc_pingpong -d rxe0 -g "$g" -n 100 || fail "ibv_rc_pingpong over rxe0"
grep -q "100 iters" /tmp/client.out || fail "pingpong did not complete 100 iterations"
