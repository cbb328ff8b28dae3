#!/usr/bin/env bash
# cross/smoke.sh TARGET [BINARY]: offline smoke checks of a cross-built
# release binary under qemu-user (default binary:
# $CARGO_TARGET_DIR/TARGET/release/allora-worker, built by cross/build.sh).
#   --version, wallet (golden address), sign (golden tx hash from
#   tests/data/tx.json), bench --json, systemd-unit, and `demo` when the
#   binary has that subcommand.
# Prints the peak RSS of each run (under qemu it includes the emulator,
# about 17 MB). Exits non-zero on the first failed check.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross/toolchain.sh
. cross/toolchain.sh

[ $# -ge 1 ] || die "usage: cross/smoke.sh TARGET [BINARY]"
T="$1"
BIN="$(realpath "${2:-$TARGET_DIR/$T/release/allora-worker}")"
[ -x "$BIN" ] || die "$BIN not found: run cross/build.sh $T first"
read -r -a QEMU <<<"$(qemu_for "$T")"
ensure_commands "${QEMU[0]}"
command -v python3 >/dev/null || die "python3 is needed to read tests/data"
VECTORS="$PWD/tests/data"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/allora-smoke.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# vector EXPR: a value from tests/data, e.g. vector "tx['vectors'][0]['id']".
vector() {
    python3 -c "import json,sys; d=sys.argv[1]; \
tx=json.load(open(d+'/tx.json')); wallet=json.load(open(d+'/wallet.json')); print($1)" "$VECTORS"
}

# step NAME TIMEOUT ARGS...: runs the binary under qemu in a clean env (plus
# MNEMONIC_FILE=$WORK/mnemonic), stdout to $WORK/NAME.out; prints seconds and peak RSS.
step() {
    local name="$1" limit="$2" start rc=0
    shift 2
    start=$(date +%s.%N)
    env -i PATH=/usr/bin:/bin HOME="$WORK" MNEMONIC_FILE="$WORK/mnemonic" \
        /usr/bin/time -f '%M' -o "$WORK/$name.rss" \
        timeout "$limit" "${QEMU[@]}" "$BIN" "$@" \
        >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    if [ $rc -ne 0 ]; then
        cat "$WORK/$name.err" >&2
        die "$T: $name exited with $rc"
    fi
    awk -v t="$T" -v n="$name" -v s="$start" -v e="$(date +%s.%N)" -v k="$(tail -1 "$WORK/$name.rss")" \
        'BEGIN { printf "%-30s %-12s ok  %6.1f s  peak RSS %6.1f MB\n", t, n, e - s, k / 1024 }'
}

expect() { # expect NAME TEXT: the step's stdout contains TEXT
    grep -qF -- "$2" "$WORK/$1.out" || die "$T: $1 printed no '$2': $(head -c 400 "$WORK/$1.out")"
}

cd "$WORK"
step version 60 --version
expect version "allora-worker "

# The golden wallet's mnemonic, in a chmod 600 file (MNEMONIC_FILE in step).
(umask 077 && vector "wallet['wallets'][0]['mnemonic']" >"$WORK/mnemonic")
step wallet 120 wallet --json
expect wallet "\"$(vector "wallet['wallets'][0]['address']")\""

read -r -a SIGN <<<"$(vector "' '.join(['--topic', str(tx['vectors'][0]['inputs']['topic_id']), \
'--nonce', str(tx['vectors'][0]['inputs']['nonce_block_height']), \
'--value', tx['vectors'][0]['inputs']['inference_value'], \
'--account-number', str(tx['vectors'][0]['inputs']['account_number']), \
'--sequence', str(tx['vectors'][0]['inputs']['sequence']), \
'--gas', str(tx['vectors'][0]['inputs']['gas_limit']), \
'--fee', tx['vectors'][0]['inputs']['fee']['amount'], \
'--chain-id', tx['vectors'][0]['inputs']['chain_id']])")"
step sign 120 sign "${SIGN[@]}"
expect sign "\"$(vector "tx['vectors'][0]['outputs']['tx_hash']")\""

step bench 300 bench --json --runs 50
expect bench '"sign_tx_us"'
printf '%-30s %-12s %s\n' "$T" bench "$(cat "$WORK/bench.out")"

step systemd-unit 60 systemd-unit
expect systemd-unit "Type=notify"

if env -i PATH=/usr/bin:/bin "${QEMU[@]}" "$BIN" --help | grep -qE '^  demo '; then
    step demo "${SMOKE_DEMO_TIMEOUT:-900}" demo
else
    printf '%-30s %-12s skipped: this binary has no demo subcommand yet\n' "$T" demo
fi
