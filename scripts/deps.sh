#!/usr/bin/env bash
# Installs what `make test` needs and is missing. Idempotent; fast when all is there.
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
  echo "deps: cargo not found; install Rust with rustup first" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
echo "deps: host toolchain ready ($(cargo --version))"
