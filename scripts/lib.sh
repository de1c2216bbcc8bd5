# SPDX-License-Identifier: GPL-2.0
# Shared settings for xenib's scripts. Source it; do not run it.

XENIB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything built outside the clone lives here, keyed so that stale
# results are never reused (see Documentation/build.rst).
XENIB_CACHE="${XENIB_CACHE:-/var/cache/xenib}"
BINDGEN_VERSION=0.73.2
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
BINDGEN="$XENIB_CACHE/tools/bin/bindgen"
LLVM_BIN=/usr/lib/llvm-19/bin
KERNEL_RUSTC=/usr/bin/rustc
# FLAVOUR=debug selects the KASAN/lockdep/kmemleak kernel; debug-xen the
# same without KASAN, for Xen mode (a PV kernel cannot run KASAN).
FLAVOUR="${FLAVOUR:-release}"

log() { printf '\033[1m[xenib]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[xenib] error:\033[0m %s\n' "$*" >&2; exit 1; }

# Builds xenib-image (images/, release, with MPI) and prints its path.
image_tool() {
	(cd "$XENIB_ROOT/images" && CARGO_TARGET_DIR="$XENIB_ROOT/build/images-target" \
		LIBCLANG_PATH=/usr/lib/llvm-19/lib cargo build --locked --release --quiet) >&2 ||
		die "cannot build xenib-image"
	echo "$XENIB_ROOT/build/images-target/release/xenib-image"
}
