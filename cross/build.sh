#!/usr/bin/env bash
# cross/build.sh [TARGET...]: release builds for Raspberry Pi / ARM without
# Docker, then the footprint budgets. Default targets:
#   aarch64-unknown-linux-gnu      64-bit Pi OS, ARM VPS  (glibc >= 2.31)
#   armv7-unknown-linux-gnueabihf  32-bit Pi OS           (glibc >= 2.31)
#   aarch64-unknown-linux-musl     any 64-bit ARM Linux   (fully static)
# The gnu targets are built with `cargo zigbuild --target T.2.31` so they run
# on Pi OS bullseye (glibc 2.31) and bookworm alike; musl links with Debian's
# aarch64 gcc (cross/linkers.toml). Output: the normal
# $CARGO_TARGET_DIR/T/release/allora-worker (default target/).
# Installs missing tools first (cross/toolchain.sh). Prints, per binary, its
# size in bytes and the highest GLIBC_ symbol version it needs ("static" for
# musl); exits non-zero when a budget is exceeded:
#   size <= CROSS_MAX_BYTES (6000000; binaries are stripped by the profile)
#   gnu: needs at most GLIBC_2.31; musl: no dynamic loader, no NEEDED libs
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/toolchain.sh
. cross/toolchain.sh

MAX_BYTES="${CROSS_MAX_BYTES:-6000000}"
MAX_GLIBC="2.31"
BIN=allora-worker

build_one() {
    local t="$1" start=$SECONDS
    ensure_target_tools "$t"
    say "building $t"
    if is_gnu "$t"; then
        cargo zigbuild --release --locked --target "$t.$MAX_GLIBC" --bin "$BIN" >&2
    else
        cargo build --release --locked --target "$t" --config cross/linkers.toml --bin "$BIN" >&2
    fi
    say "built $t in $((SECONDS - start)) s"
}

# The highest GLIBC_x.y version binary $1 needs, or "static".
glibc_floor() {
    if ! readelf -W -l "$1" | grep -q 'Requesting program interpreter' &&
        ! readelf -W -d "$1" | grep -q '(NEEDED)'; then
        echo static
        return
    fi
    readelf -W -V "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1
}

# Prints one report line for target $1; returns 1 when a budget is exceeded.
check_one() {
    local t="$1" bin="$TARGET_DIR/$1/release/$BIN" ok=0 size floor
    [ -f "$bin" ] || die "$bin was not produced"
    size=$(stat -c %s "$bin")
    floor=$(glibc_floor "$bin")
    printf '%-32s %10s bytes  glibc %-7s %s\n' "$t" "$size" "$floor" "$bin"
    if readelf -W -S "$bin" | grep -q ' \.symtab '; then
        say "BUDGET: $t binary is not stripped"
        ok=1
    fi
    if [ "$size" -gt "$MAX_BYTES" ]; then
        say "BUDGET: $t binary is $size bytes, more than $MAX_BYTES"
        ok=1
    fi
    if is_gnu "$t"; then
        if [ "$floor" = static ] || [ "$(printf '%s\n%s\n' "$floor" "$MAX_GLIBC" | sort -V | tail -1)" != "$MAX_GLIBC" ]; then
            say "BUDGET: $t binary needs GLIBC_$floor, more than GLIBC_$MAX_GLIBC"
            ok=1
        fi
    elif [ "$floor" != static ]; then
        say "BUDGET: $t binary is not static"
        ok=1
    fi
    return $ok
}

main() {
    local targets=("$@") t failed=0
    [ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$CROSS_TARGETS_DEFAULT"
    command -v readelf >/dev/null 2>&1 || die "readelf not found (apt-get install binutils)"
    for t in "${targets[@]}"; do build_one "$t"; done
    printf '%-32s %16s  %-13s %s\n' target size "glibc floor" binary
    for t in "${targets[@]}"; do check_one "$t" || failed=1; done
    [ $failed -eq 0 ] || die "a footprint budget was exceeded"
}

main "$@"
