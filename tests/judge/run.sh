#!/usr/bin/env bash
# Judges `allora-worker sign` with the independent Python judge of the shared
# vectors: builds a venv from SHARED_DIR/vectors/requirements.txt (once, under
# $CARGO_TARGET_DIR or target/judge-venv), then runs judge.py, which signs
# at least 50 generated input sets and pipes each tx to verify_tx.py.
#
# Usage: tests/judge/run.sh SHARED_DIR BIN
# Exit status: 0 when every tx passes, 1 otherwise, 2 on bad usage.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 SHARED_DIR BIN" >&2
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

exec "$venv/bin/python" "$here/judge.py" "$shared" "$bin"
