#!/usr/bin/env bash
# Judges `allora-worker sign` with the independent Python judge of the shared
# vectors: builds a venv from SHARED_DIR/vectors/requirements.txt (once, under
# $CARGO_TARGET_DIR or target/judge-venv), then runs judge.py, which signs
# at least 50 generated input sets and pipes each tx to verify_tx.py, then
# txs.py over each devnet tx dump given (`GET /devnet/txs`, as written by
# `demo --txs-dump FILE` or the soak's ALLORA_SOAK_TXS_DUMP): every included
# tx must pass, every refusal must agree with the judge.
#
# Usage: tests/judge/run.sh SHARED_DIR BIN [TXS_DUMP.json]...
# Exit status: 0 when every tx passes, 1 otherwise, 2 on bad usage.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 SHARED_DIR BIN [TXS_DUMP.json]..." >&2
    exit 2
fi
shared=$(cd "$1" && pwd)
bin=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../../target}
mkdir -p "$target"
venv=$(cd "$target" && pwd)/judge-venv

for f in "$shared/vectors/verify_tx.py" "$shared/vectors/requirements.txt" "$shared/vectors/wallet.json"; do
    [ -f "$f" ] || { echo "judge: missing $f" >&2; exit 2; }
done
[ -x "$bin" ] || { echo "judge: $bin is not an executable" >&2; exit 2; }

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$shared/vectors/requirements.txt"

shift 2
status=0
"$venv/bin/python" "$here/judge.py" "$shared" "$bin" || status=1
for dump in "$@"; do
    "$venv/bin/python" "$here/txs.py" "$shared" "$dump" || status=1
done
exit $status
