#!/usr/bin/env bash
# A real supervisord (4.x from PyPI, in a venv) runs the section that
# `allora-worker systemd-unit --supervisord` prints, against a local devnet
# started with `allora-worker devnet`: start, status, a graceful stop within
# stopwaitsecs (exit 0, SHUTDOWN logged), start, restart; then the devnet must
# have accepted submissions and seen no duplicate. Called by .ci/run (it needs
# PyPI, so it is not part of `cargo test`).
#
#   tests/supervisord/run.sh target/release/allora-worker
set -euo pipefail
BIN="$(realpath "${1:?usage: tests/supervisord/run.sh BINARY}")"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${SUPERVISORD_VENV:-$ROOT/target/supervisord-venv}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/allora-supervisord.XXXXXX")"
DEVNET_PID=""

cleanup() {
    [ -S "$WORK/supervisor.sock" ] && "$VENV/bin/supervisorctl" -c "$WORK/supervisord.conf" shutdown >/dev/null 2>&1 || true
    [ -n "$DEVNET_PID" ] && kill "$DEVNET_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL $*"; echo "--- supervisord.log"; cat "$WORK/supervisord.log" 2>/dev/null || true
         echo "--- worker.log (tail)"; tail -n 30 "$WORK/logs/worker.log" 2>/dev/null || true; exit 1; }
ok() { echo "ok   $*"; }

if [ ! -x "$VENV/bin/supervisord" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q 'supervisor>=4.2,<5'
fi
echo "supervisord $("$VENV/bin/supervisord" --version)"

cd "$WORK"
"$BIN" devnet --block-ms 200 --epoch-blocks 10 --window-blocks 8 >devnet.env 2>devnet.log &
DEVNET_PID=$!
for _ in $(seq 100); do grep -q '^MNEMONIC=' devnet.env 2>/dev/null && break; sleep 0.1; done
grep -q '^MNEMONIC=' devnet.env || fail "the devnet printed no settings"
# The mnemonic goes into a chmod 600 file, as the section expects.
install -m 600 /dev/null mnemonic
sed -n 's/^MNEMONIC="\(.*\)"$/\1/p' devnet.env >mnemonic
grep -v '^MNEMONIC=' devnet.env >worker.env
export MNEMONIC_FILE="$WORK/mnemonic"
LCD="$(sed -n 's/^ALLORA_LCD_URLS=//p' worker.env)"
ADDR="$(sed -n 's/^ALLORA_WALLET_ADDR=//p' worker.env)"

stats() {  # prints: accepted-submissions-of-ADDR duplicates
    python3 - "$LCD/devnet/stats" "$ADDR" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1], timeout=5))
n = sum(1 for w in s.get("accepted_by_nonce", {}).values() if w.get(sys.argv[2]))
print(n, s.get("duplicates", 0))
PY
}

"$BIN" --env-file worker.env register --yes >/dev/null || fail "register --yes"
"$BIN" --env-file worker.env systemd-unit --supervisord >worker.conf
cat >supervisord.conf <<EOF
[unix_http_server]
file=$WORK/supervisor.sock
[supervisord]
logfile=$WORK/supervisord.log
pidfile=$WORK/supervisord.pid
directory=$WORK
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://$WORK/supervisor.sock
[include]
files = $WORK/worker.conf
EOF
ctl() { "$VENV/bin/supervisorctl" -c "$WORK/supervisord.conf" "$@"; }
state() { ctl status allora-worker 2>/dev/null | awk '{print $2}'; }
wait_state() {  # STATE SECONDS
    for _ in $(seq $(($2 * 10))); do [ "$(state)" = "$1" ] && return 0; sleep 0.1; done
    fail "allora-worker is $(state), not $1, after $2 s"
}
wait_accepted() {  # N SECONDS
    for _ in $(seq $(($2 * 10))); do
        read -r n _ < <(stats); [ "$n" -ge "$1" ] && return 0; sleep 0.1
    done
    fail "fewer than $1 accepted submissions after $2 s"
}

"$VENV/bin/supervisord" -c supervisord.conf
wait_state RUNNING 30
ok "start: RUNNING ($(ctl status allora-worker))"
wait_accepted 2 60
ok "serving: $(stats | cut -d' ' -f1) submissions accepted"

start=$SECONDS
ctl stop allora-worker >/dev/null
took=$((SECONDS - start))
[ "$(state)" = STOPPED ] || fail "stop left it $(state)"
[ "$took" -le 30 ] || fail "stop took $took s (stopwaitsecs=30)"
grep -q 'stopped: allora-worker (exit status 0)' supervisord.log || fail "stop was not a clean exit 0"
grep -q 'SHUTDOWN' logs/worker.log || fail "no SHUTDOWN line"
if grep -q 'WARN' <(sed -n '/SHUTDOWN/,$p' logs/worker.log); then fail "the stop logged a warning"; fi
ok "stop: graceful in $took s, exit status 0"

before=$(stats | cut -d' ' -f1)
ctl start allora-worker >/dev/null
wait_state RUNNING 30
ok "start again: RUNNING"
ctl restart allora-worker >/dev/null
wait_state RUNNING 30
ok "restart: RUNNING"
wait_accepted $((before + 2)) 60
ctl stop allora-worker >/dev/null
read -r accepted duplicates < <(stats)
[ "$duplicates" = 0 ] || fail "$duplicates duplicate submissions"
ok "no duplicate submissions ($accepted accepted)"
[ ! -e logs/supervisord-stdout.log ] || fail "supervisord kept a copy of stdout"
size=$(stat -c %s logs/supervisord-stderr.log 2>/dev/null || echo 0)
[ "$size" -le 1100000 ] || fail "supervisord's stderr log grew to $size bytes"
ok "no second full copy of worker.log (stderr tail $size bytes)"
