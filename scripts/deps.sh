#!/usr/bin/env bash
# Installs what `make run` and `make test` need and is missing (both call it first): the host
# toolchain's clippy and rustfmt, and for the kernel, Debian's packages.
#
# Idempotent and fast when everything is present (it only asks rustup and dpkg). When something is missing it
# runs `apt-get update` once, installs the bookworm packages, and takes QEMU 10 (which can cap a
# hart's satp modes, so the kernel's depth probe is testable) from bookworm-backports, adding a
# backports line for the Debian mirror apt already uses.
set -euo pipefail

# rust-web-clippy: clippy for Debian's rustc, which `make test` runs on the riscv64 kernel.
# gcc-riscv64-linux-gnu: the boot test that runs a C program from Linux's own toolchain.
BASE_PKGS=(rustc-web cargo-web rust-web-src rust-web-clippy binutils-riscv64-unknown-elf device-tree-compiler
    gcc-riscv64-linux-gnu)
BACKPORTS_PKGS=(qemu-system-riscv)
# QEMU 7.2 (bookworm) accepts every satp mode on every CPU; the boot tests need the backport.
MIN_QEMU_MAJOR=10
BACKPORTS_LIST=/etc/apt/sources.list.d/kvas-bookworm-backports.list

log() { echo "deps: $*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
    log "cargo not found; install Rust with rustup first"
    exit 1
fi
for c in clippy rustfmt; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
done
log "host toolchain ready ($(cargo --version))"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

qemu_major() {
    command -v qemu-system-riscv64 >/dev/null || { echo 0; return; }
    qemu-system-riscv64 --version | sed -n 's/^QEMU emulator version \([0-9]*\).*/\1/p'
}

missing=()
for p in "${BASE_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
need_qemu=0
[ "$(qemu_major)" -ge "$MIN_QEMU_MAJOR" ] || need_qemu=1

if [ ${#missing[@]} -eq 0 ] && [ $need_qemu -eq 0 ]; then
    log "all present"
    exit 0
fi

SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
export DEBIAN_FRONTEND=noninteractive

# The mirror apt already uses for bookworm (deb822 .sources or one-line .list), never a guessed host.
mirror_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '
            /^[[:space:]]*$/ { if (uri != "" && suites ~ /(^| )bookworm( |$)/) { print uri; exit } uri=""; suites="" }
            /^URIs:/ { uri=$2 }
            /^Suites:/ { $1=""; suites=$0 " " }
            END { if (uri != "" && suites ~ /(^| )bookworm( |$)/) print uri }
        ' "$f"
    done | head -n1
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' "$f"
    done | head -n1
}

if [ $need_qemu -eq 1 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uri=$(mirror_uri | head -n1)
    if [ -z "$uri" ]; then
        log "cannot find the Debian bookworm mirror in apt's sources; add a bookworm-backports line by hand"
        exit 1
    fi
    log "adding bookworm-backports from $uri"
    echo "deb $uri bookworm-backports main" | "${SUDO[@]}" tee "$BACKPORTS_LIST" >/dev/null
fi

log "installing: ${missing[*]} $([ $need_qemu -eq 1 ] && echo "${BACKPORTS_PKGS[*]} (bookworm-backports)")"
"${SUDO[@]}" apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ $need_qemu -eq 1 ]; then
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends -t bookworm-backports "${BACKPORTS_PKGS[@]}"
fi

if [ "$(qemu_major)" -lt "$MIN_QEMU_MAJOR" ]; then
    log "qemu-system-riscv64 is older than $MIN_QEMU_MAJOR after install: $(qemu-system-riscv64 --version | head -n1)"
    exit 1
fi
log "done"
