#!/usr/bin/env bash
# cross/test.sh [TARGET...] [-- TEST-ARGS...]: runs the test suite
# (`cargo test --release --locked`) for ARM targets under qemu-user. Default
# targets: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf. armv7 is
# 32-bit: usize length and varint bugs show there.
#
# Everything after `--` goes to the test harness, e.g. the golden-vector tests
# only:  cross/test.sh armv7-unknown-linux-gnueabihf -- tx decimal wallet
#
# The test binaries run under the qemu runner of cross/runners.toml; the
# integration tests start the ARM allora-worker through ALLORA_TEST_RUNNER
# (tests/it/support.rs). gnu targets build with cargo-zigbuild against glibc
# 2.31 exactly like cross/build.sh, so the release dependencies are shared.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/toolchain.sh
. cross/toolchain.sh

targets=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do targets+=("$1"); shift; done
[ $# -gt 0 ] && shift # the "--"
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)

summary=()
for t in "${targets[@]}"; do
    ensure_target_tools "$t"
    start=$SECONDS
    export ALLORA_TEST_RUNNER
    ALLORA_TEST_RUNNER="$(qemu_for "$t")"
    say "testing $t under ${ALLORA_TEST_RUNNER}"
    if is_gnu "$t"; then
        cargo-zigbuild test --release --locked --target "$t.2.31" \
            --config cross/runners.toml -- "$@"
    else
        cargo test --release --locked --target "$t" \
            --config cross/linkers.toml --config cross/runners.toml -- "$@"
    fi
    summary+=("$(printf '%-32s passed in %4d s' "$t" $((SECONDS - start)))")
done
printf '%s\n' "${summary[@]}"
