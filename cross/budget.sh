#!/usr/bin/env bash
# cross/budget.sh [BINARY]: footprint budgets of the native release binary
# (default $CARGO_TARGET_DIR/release/allora-worker; build it first with
# `cargo build --release --locked`). Fails when one is exceeded:
#   stripped size     <= 6000000 bytes        (BUDGET_MAX_BYTES)
#   peak RSS of demo  <= 48 MB = 49152 KB     (BUDGET_DEMO_RSS_KB)
#   idle worker RSS   <= 16 MB = 16384 KB     (BUDGET_IDLE_RSS_KB), against a devnet; when the
#                                              binary has a demo subcommand
#   idle RSS, 5 topics <= 24 MB = 24576 KB    (BUDGET_IDLE_5_TOPICS_RSS_KB), one process, one wallet
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
    "$BIN" bench --json --runs 300 >bench.json 2>bench.err || { cat bench.err >&2; fail "bench failed"; }
printf 'budget: %-28s %s\n' "bench" "$(cat bench.json)"
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

# Idle worker serving 5 topics from one process and one wallet (≤ 24 MB):
# a devnet with the 5 topics, no window due, registered in each, 5 models.
MAX_IDLE5_KB="${BUDGET_IDLE_5_TOPICS_RSS_KB:-24576}"
"$BIN" devnet --port 0 --block-ms 200 --epoch-blocks 100000 --topics 67,68,69,70,71 >devnet5.env 2>devnet5.err &
DEVNET5=$!
trap 'kill "$DEVNET" "$DEVNET5" 2>/dev/null || true; kill "${WORKER:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do grep -q '^MNEMONIC=' devnet5.env 2>/dev/null && break; sleep 0.1; done
grep -q '^MNEMONIC=' devnet5.env || { cat devnet5.err >&2; fail "the 5-topic devnet did not start"; }
{
    echo "TOPIC_ID=67,68,69,70,71"
    for t in 68 69 70 71; do echo "TOPIC_${t}_TICKER=btcusd"; echo "TOPIC_${t}_TARGET_HOURS=168"; done
    echo "ALLORA_DATA_DIR=$WORK/data5"
    echo "ALLORA_LOG_DIR=$WORK/logs5"
} >>devnet5.env
env -i PATH=/usr/bin:/bin HOME="$WORK" "$BIN" --env-file devnet5.env register --yes >register5.out 2>register5.err ||
    { cat register5.err >&2; fail "register in 5 topics against the devnet failed"; }
env -i PATH=/usr/bin:/bin HOME="$WORK" "$BIN" --env-file devnet5.env run >worker5.out 2>worker5.err &
WORKER=$!
for _ in $(seq 600); do [ "$(grep -c 'trained on' worker5.err 2>/dev/null)" -ge 5 ] && break; sleep 0.1; done
[ "$(grep -c 'trained on' worker5.err)" -ge 5 ] || { cat worker5.err >&2; fail "the 5-topic worker did not train 5 models"; }
sleep 5
idle5_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$WORKER/status")
kill -TERM "$WORKER"
wait "$WORKER" || fail "the 5-topic worker did not exit cleanly"
printf 'budget: %-28s %10s KB (max %s)\n' "idle RSS, 5 topics" "$idle5_kb" "$MAX_IDLE5_KB"
[ "$idle5_kb" -le "$MAX_IDLE5_KB" ] || fail "the idle 5-topic worker holds $idle5_kb KB"
