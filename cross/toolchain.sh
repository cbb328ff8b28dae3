# Sourced by cross/build.sh, cross/test.sh and cross/smoke.sh: installs what a
# cross build or a qemu run needs when it is missing, and is quiet when it is
# all present. Idempotent. Never touches the repository outside target/.
#
#   rustup targets      rustup target add T
#   Debian packages     gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user
#                       (the gcc packages also bring the sysroots qemu -L uses)
#   cargo-zigbuild+zig  pip install into $TARGET_DIR/zig-venv (PyPI wheels)

CROSS_TARGETS_DEFAULT="aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf aarch64-unknown-linux-musl"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
ZIG_VENV="${ZIG_VENV:-$TARGET_DIR/zig-venv}"
# Versions measured here (../shared/CRATES-AND-CROSS.md §5.7); override to upgrade.
ZIGBUILD_PIP_SPEC="${ZIGBUILD_PIP_SPEC:-cargo-zigbuild==0.24.1 ziglang==0.17.1}"

say() { printf 'cross: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The Debian package that provides command $1.
package_of() {
    case "$1" in
        aarch64-linux-gnu-gcc) echo gcc-aarch64-linux-gnu ;;
        arm-linux-gnueabihf-gcc) echo gcc-arm-linux-gnueabihf ;;
        qemu-aarch64 | qemu-arm) echo qemu-user ;;
        *) return 1 ;;
    esac
}

# ensure_commands CMD...: apt-get installs the packages of the missing ones.
ensure_commands() {
    local missing=() cmd
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$(package_of "$cmd")")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}: run apt-get install -y ${missing[*]} as root"
        sudo="sudo"
    fi
    say "installing ${missing[*]} (apt-get)"
    $sudo apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
}

# ensure_rust_target T: rustup target add T when its std is not installed.
ensure_rust_target() {
    rustup target list --installed 2>/dev/null | grep -qx "$1" && return 0
    say "installing the Rust std for $1 (rustup)"
    rustup target add "$1" >&2 || die "rustup target add $1 failed"
}

# ensure_zigbuild: puts cargo-zigbuild (and zig, via the ziglang wheel) on PATH.
ensure_zigbuild() {
    if command -v cargo-zigbuild >/dev/null 2>&1 &&
        { command -v zig >/dev/null 2>&1 || python3 -c 'import ziglang' 2>/dev/null; }; then
        return 0
    fi
    if [ ! -x "$ZIG_VENV/bin/cargo-zigbuild" ]; then
        say "installing $ZIGBUILD_PIP_SPEC into $ZIG_VENV (pip)"
        python3 -m venv "$ZIG_VENV" >&2 || die "python3 -m venv $ZIG_VENV failed (apt-get install python3-venv)"
        # shellcheck disable=SC2086 # the spec is a list of requirements
        "$ZIG_VENV/bin/pip" install -q $ZIGBUILD_PIP_SPEC >&2 || die "pip install $ZIGBUILD_PIP_SPEC failed"
    fi
    # The venv's python3 comes first, so cargo-zigbuild finds `python3 -m ziglang`.
    export PATH="$ZIG_VENV/bin:$PATH"
}

# is_gnu T: true for the glibc targets (built with zigbuild against glibc 2.31).
is_gnu() { case "$1" in *-linux-gnu | *-linux-gnueabihf) return 0 ;; *) return 1 ;; esac; }

# The gcc that links T (musl) and whose package brings T's qemu sysroot.
cross_gcc() {
    case "$1" in
        aarch64-*) echo aarch64-linux-gnu-gcc ;;
        armv7-*) echo arm-linux-gnueabihf-gcc ;;
        *) die "unsupported target $1 (supported: $CROSS_TARGETS_DEFAULT)" ;;
    esac
}

# qemu command line (as words) that runs a T binary on this machine.
qemu_for() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo "qemu-aarch64 -L /usr/aarch64-linux-gnu" ;;
        armv7-unknown-linux-gnueabihf) echo "qemu-arm -L /usr/arm-linux-gnueabihf" ;;
        aarch64-unknown-linux-musl) echo "qemu-aarch64" ;;
        *) die "unsupported target $1 (supported: $CROSS_TARGETS_DEFAULT)" ;;
    esac
}

# ensure_target_tools T: everything needed to build T and run it under qemu.
ensure_target_tools() {
    local q
    q="$(qemu_for "$1")"
    ensure_commands "$(cross_gcc "$1")" "${q%% *}"
    ensure_rust_target "$1"
    if is_gnu "$1"; then ensure_zigbuild; fi
}
