#!/usr/bin/env bash
# `systemd-analyze verify` and `systemd-analyze security` on the system units
# `allora-worker systemd-unit` prints (DynamicUser, and --user with a
# metrics file): verify must be clean and the overall exposure at most 2.0
# ("OK"). Installs Debian's systemd package when the tool is missing. Called
# by .ci/run; `cargo test` runs the same checks when the tool is there.
#
#   tests/systemd/analyze.sh target/release/allora-worker
set -euo pipefail
BIN="$(realpath "${1:?usage: tests/systemd/analyze.sh BINARY}")"
if ! command -v systemd-analyze >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing systemd (apt-get) for systemd-analyze"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq systemd
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/allora-unit.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
check() {  # NAME ARGS...
    local name=$1
    shift
    "$BIN" systemd-unit "$@" >"$name.service"
    local out
    out="$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify "$name.service" 2>&1 || true)"
    if grep -q "$name.service" <<<"$out"; then
        echo "FAIL verify $name: $out"
        exit 1
    fi
    # --threshold counts tenths: 20 is an exposure of 2.0.
    if ! systemd-analyze security --offline=yes --threshold=20 "$name.service" >security.txt 2>&1; then
        cat security.txt
        echo "FAIL security $name: $(tail -n 1 security.txt)"
        exit 1
    fi
    echo "ok   $name: verify clean, $(tail -n 1 security.txt | sed 's/.*: //')"
}
check allora-worker
check allora-worker-user --user "$(id -un)" --metrics-file "$WORK/prom/worker.prom" --watchdog-sec 60
