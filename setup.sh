#!/usr/bin/env bash
# Switchbox: one script for a fresh Debian / Raspberry Pi OS machine (run as root).
#
#   sudo ./setup.sh run [ARGS...]   install what the PBX needs, then run it (simulated board by
#                                   default); ARGS pass through to `switchbox run`.
#   sudo ./setup.sh test            install what the tests need (system packages included), then
#                                   run ruff, mypy --strict, lint-imports and the whole pytest suite.
#
# Idempotent: apt is skipped when every package is already installed, pip is quiet when the venv
# is up to date. CI runs `./setup.sh test` (see .ci/run) with CI=true and no stdin.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")"

readonly VENV=.venv
readonly RUN_PACKAGES=(python3 python3-venv python3-dev gcc pkg-config libsystemd-dev nftables
                       sox espeak-ng libasound2-dev)
readonly TEST_PACKAGES=(sip-tester baresip-core minimodem iproute2 libspandsp2 device-tree-compiler)
# Voice prompts (EN, RU) and the default music on hold are made at install time, here; the SD
# image makes them at build time. Uploaded recordings in the data directory take precedence.
readonly MEDIA_DIR="$VENV/share/switchbox"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: sudo ./setup.sh run [ARGS...]   install and run the PBX (simulated board by default)
       sudo ./setup.sh test            install test dependencies and run the whole suite
EOF
    exit 2
}

missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [[ "$status" == installed ]] || printf '%s\n' "$pkg"
    done
}

apt_retry() {
    local attempt
    for attempt in 1 2 3 4 5; do
        if "$@"; then
            return 0
        fi
        log "apt attempt $attempt failed: $*; retrying in $((attempt * 5)) s"
        sleep $((attempt * 5))
    done
    die "apt failed after 5 attempts: $*"
}

install_system_packages() {
    local -a missing
    mapfile -t missing < <(missing_packages "$@")
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get"
    [[ $(id -u) -eq 0 ]] || die "missing packages ${missing[*]}: run as root (sudo ./setup.sh ...)"
    log "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    local -a apt_opts=(-o Acquire::Retries=5 -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
    apt_retry apt-get "${apt_opts[@]}" -qq update
    apt_retry apt-get "${apt_opts[@]}" -y -qq --no-install-recommends install "${missing[@]}" \
        </dev/null
}

ensure_venv() {
    local extra=$1
    if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
        log "creating $VENV"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.switchbox-$extra.stamp"
    # Reinstall only when pyproject.toml changed since the last install of this extra.
    if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
        log "installing python packages (.[$extra])"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[$extra]"
        touch "$stamp"
    fi
}

build_media() {
    log "voice prompts and music on hold in $MEDIA_DIR"
    "$VENV/bin/python" -m firmware.media.prompts build --out "$MEDIA_DIR/prompts" --lang en,ru \
        >/dev/null
    [[ -d "$MEDIA_DIR/moh/default" ]] ||
        "$VENV/bin/python" -m firmware.media.moh default --out "$MEDIA_DIR/moh" >/dev/null
}

cmd_run() {
    install_system_packages "${RUN_PACKAGES[@]}"
    ensure_venv systemd
    build_media
    exec "$VENV/bin/switchbox" run "$@"
}

cmd_test() {
    install_system_packages "${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
    ensure_venv test
    local bin="$VENV/bin"
    log "ruff"
    "$bin/ruff" check .
    log "mypy --strict"
    "$bin/mypy"
    log "lint-imports"
    "$bin/lint-imports"
    log "pytest"
    # hwtests/ skips itself without a board; it is listed so the skip reason is printed.
    local -a paths=(tests)
    [[ -d hwtests ]] && paths+=(hwtests)
    "$bin/python" -m pytest -q -rs "${paths[@]}"
}

(($# >= 1)) || usage
command=$1
shift
case "$command" in
    run) cmd_run "$@" ;;
    test) (($# == 0)) || usage; cmd_test ;;
    *) usage ;;
esac
