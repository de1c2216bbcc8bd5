# SPDX-License-Identifier: GPL-2.0
# The registration cache (ib_front/regcache.rs, ib_back/mr.rs): a buffer
# registered again after its deregistration is served from the cache
# (front hits, backend RegMrCached), data lands in it; after its pages
# are replaced at the same address (munmap + mmap MAP_FIXED) the stale
# entry is dropped and the next registration pins the new pages (the
# case checks the data arrives in the new memory, and that a
# deregistered MR's rkey is refused). The stale entry's DropCached is
# sent ahead of the next request, unwaited. Process exit leaves no cache
# entry and no dropped range's pages on either side, and the backend's
# objects and grants at their baseline.
# With reg_cache=0 nothing is cached.
. ./lib.sh
[ -x /xenib/xenib-verbs-test ] || fail "xenib-verbs-test not in the image (scripts/build-userspace-tests)"
front=/sys/module/ib_front/parameters/counters
param=/sys/module/ib_front/parameters/reg_cache
[ -r $front ] && [ -w $param ] || fail "no $front or $param"
g=$(ipv4_gid_index xib0) || fail "xib0 has no IPv4 GID"
front_counter() { awk -v k="$1" '$1 == k { print $2 }' $front; }
snap() {
	echo "$(front_counter cache.hits) $(front_counter cache.misses) $(front_counter cache.stale)" \
		"$(back_counter requests.RegMrCached) $(back_counter requests.DeregMrKeep)" \
		"$(back_counter requests.DropCached)"
}
# The differences of two snaps, in snap's order.
delta() { echo "$1 $2" | awk '{ for (i = 1; i <= NF / 2; i++) printf "%d ", $(i + NF / 2) - $i }'; }
objs="objects.contexts objects.mrs objects.grants objects.cached"
for c in $objs; do eval "base_${c#objects.}=$(back_counter $c)"; done
run_case() {
	/xenib/xenib-verbs-test --dev xib0 --gid-index "$g" --filter mr_cache_reuse || fail "mr_cache_reuse on xib0"
}
no_leaks() {
	[ "$(front_counter cache.entries)" = 0 ] || fail "front still caches $(front_counter cache.entries) ranges after exit"
	[ "$(front_counter cache.dropping)" = 0 ] ||
		fail "front still holds $(front_counter cache.dropping) dropped ranges' pages after exit"
	for c in $objs; do
		eval "want=\$base_${c#objects.}"
		[ "$(back_counter $c)" = "$want" ] || fail "backend $c: $(back_counter $c), was $want before"
	done
}

echo 64 > $param
b=$(snap); run_case; a=$(snap)
set -- $(delta "$b" "$a")
echo "cache on: hits $1 misses $2 stale $3, backend RegMrCached $4 DeregMrKeep $5 DropCached $6"
[ "$1" -ge 1 ] && [ "$4" -ge 1 ] || fail "the second registration of one buffer was not a cache hit"
[ "$3" -ge 1 ] && [ "$6" -ge 1 ] || fail "the replaced pages' entry was not dropped as stale"
[ "$5" -ge 3 ] || fail "only $5 deregistrations kept their pages"
no_leaks

echo 0 > $param
b=$(snap); run_case; a=$(snap)
echo 64 > $param
set -- $(delta "$b" "$a")
echo "cache off: hits $1 misses $2, backend RegMrCached $4 DeregMrKeep $5"
[ "$1" = 0 ] && [ "$4" = 0 ] && [ "$5" = 0 ] || fail "reg_cache=0 still cached"
no_leaks
rxe_clean || fail "the real device kept objects"
