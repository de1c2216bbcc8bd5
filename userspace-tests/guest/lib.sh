# SPDX-License-Identifier: GPL-2.0
# Helpers for guest tests (sourced).
KSFT_SKIP=4
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit $KSFT_SKIP; }
# The IPv4 GID of a RoCE device (its index), which the ibv_* tools take as -g.
ipv4_gid_index() {
	dev=$1
	for f in /sys/class/infiniband/$dev/ports/1/gids/*; do
		case $(cat "$f") in
		0000:0000:0000:0000:0000:ffff:*) basename "$f"; return 0 ;;
		esac
	done
	return 1
}
# Run a server/client pair of an ibv_*/ib_* tool on loopback: NAME ARGS...
pair() {
	"$@" >/tmp/server.out 2>&1 &
	spid=$!
	sleep 1
	"$@" 127.0.0.1 >/tmp/client.out 2>&1
	crc=$?
	wait $spid
	src=$?
	echo "--- server"; cat /tmp/server.out
	echo "--- client"; cat /tmp/client.out
	[ $crc -eq 0 ] && [ $src -eq 0 ]
}
