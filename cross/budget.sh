#!/usr/bin/env bash
# cross/budget.sh [BINARY]: footprint budgets of the native release binary
# (default $CARGO_TARGET_DIR/release/allora-worker; build it first with
# `cargo build --release --locked`). Fails when one is exceeded:
#   stripped size     <= 6000000 bytes        (BUDGET_MAX_BYTES)
#   peak RSS of demo  <= 48 MB = 49152 KB     (BUDGET_DEMO_RSS_KB)
#   idle worker RSS   <= 16 MB = 16384 KB     (BUDGET_IDLE_RSS_KB), against a devnet; when the
#                                              binary has a demo subcommand
# Peak RSS is /usr/bin/time's %M (whole process, devnet threads included).
# The cross binaries' budgets (size, glibc floor) are checked by cross/build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$(realpath "${1:-$TARGET_DIR/release/allora-worker}")"
MAX_BYTES="${BUDGET_MAX_BYTES:-6000000}"
MAX_DEMO_KB="${BUDGET_DEMO_RSS_KB:-49152}"
fail() { printf 'budget: BUDGET: %s\n' "$*" >&2; exit 1; }

[ -x "$BIN" ] || fail "$BIN not found: run cargo build --release --locked first"
size=$(stat -c %s "$BIN")
printf 'budget: %-28s %10s bytes (max %s)\n' "native binary size" "$size" "$MAX_BYTES"
[ "$size" -le "$MAX_BYTES" ] || fail "native binary is $size bytes"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/allora-budget.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
env -i PATH=/usr/bin:/bin HOME="$WORK" /usr/bin/time -f '%M' -o bench.rss \
    "$BIN" bench --json --runs 300 >/dev/null
printf 'budget: %-28s %10s KB\n' "peak RSS of bench" "$(tail -1 bench.rss)"
if "$BIN" --help | grep -qE '^  demo '; then
    env -i PATH=/usr/bin:/bin HOME="$WORK" /usr/bin/time -f '%M' -o demo.rss \
        "$BIN" demo >demo.out 2>demo.err || { cat demo.err >&2; fail "demo failed"; }
    kb=$(tail -1 demo.rss)
    printf 'budget: %-28s %10s KB (max %s)\n' "peak RSS of demo" "$kb" "$MAX_DEMO_KB"
    [ "$kb" -le "$MAX_DEMO_KB" ] || fail "demo peaked at $kb KB"
else
    printf 'budget: %-28s skipped: no demo subcommand yet\n' "peak RSS of demo"
fi

# Idle worker: a devnet with no windows due, the worker registered and
# trained, then its resident memory after it settles (VmRSS, ≤ 16 MB).
MAX_IDLE_KB="${BUDGET_IDLE_RSS_KB:-16384}"
"$BIN" devnet --port 0 --block-ms 200 --epoch-blocks 100000 >devnet.env 2>devnet.err &
DEVNET=$!
trap 'kill "$DEVNET" 2>/dev/null || true; kill "${WORKER:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q '^MNEMONIC=' devnet.env 2>/dev/null && break; sleep 0.1; done
grep -q '^MNEMONIC=' devnet.env || { cat devnet.err >&2; fail "the devnet did not start"; }
env -i PATH=/usr/bin:/bin HOME="$WORK" "$BIN" --env-file devnet.env register --yes >register.out 2>register.err ||
    { cat register.err >&2; fail "register against the devnet failed"; }
env -i PATH=/usr/bin:/bin HOME="$WORK" "$BIN" --env-file devnet.env run >worker.out 2>worker.err &
WORKER=$!
for _ in $(seq 300); do grep -q 'trained on' worker.err 2>/dev/null && break; sleep 0.1; done
grep -q 'trained on' worker.err || { cat worker.err >&2; fail "the idle worker did not train"; }
sleep 5
idle_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$WORKER/status")
kill -TERM "$WORKER"
wait "$WORKER" || fail "the idle worker did not exit cleanly"
printf 'budget: %-28s %10s KB (max %s)\n' "idle worker RSS" "$idle_kb" "$MAX_IDLE_KB"
[ "$idle_kb" -le "$MAX_IDLE_KB" ] || fail "the idle worker holds $idle_kb KB"
