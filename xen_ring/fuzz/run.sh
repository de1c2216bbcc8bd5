#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Usage: fuzz/run.sh SECONDS [TARGET...]
# Installs the pinned cargo-fuzz (if missing) and runs each fuzz target for
# SECONDS seconds on the stable toolchain (RUSTC_BOOTSTRAP=1). Exits non-zero
# on any crash. Env: XENIB_TOOLS (install root, default /var/cache/xenib/tools).
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.1
SECS=${1:?usage: run.sh SECONDS [TARGET...]}
shift || true
TOOLS=${XENIB_TOOLS:-/var/cache/xenib/tools}
HERE=$(cd "$(dirname "$0")" && pwd)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(decode_request ring_consumer)

if ! "$TOOLS/bin/cargo-fuzz" --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$TOOLS"
fi
export PATH="$TOOLS/bin:$PATH"
export RUSTC_BOOTSTRAP=1

cd "$HERE/.."
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    echo "== fuzz $t for ${SECS}s"
    log=$(mktemp)
    if ! cargo fuzz run "$t" -- -max_total_time="$SECS" -print_final_stats=1 2>&1 | tee "$log" | grep -E "^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|==[0-9]+==ERROR|thread .* panicked|SUMMARY)"; then
        :
    fi
    if grep -qE "ERROR: libFuzzer|panicked|SUMMARY: |deadly signal" "$log" || ! grep -q "stat::number_of_executed_units" "$log"; then
        echo "fuzz $t FAILED; log: $log" >&2
        tail -40 "$log" >&2
        exit 1
    fi
    rm -f "$log"
done
echo "fuzz: all targets clean"
