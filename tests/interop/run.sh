#!/usr/bin/env bash
# Interop with pyiceberg: makes (or reuses) a Python venv outside the clone, installs the
# pinned packages, builds floe and runs pyiceberg_interop.py against it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FLOE_VENV:-$HOME/.cache/floe/venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/floe/target}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

cargo build --quiet --manifest-path "$root/Cargo.toml" --bin floe
FLOE_BIN="$CARGO_TARGET_DIR/debug/floe" "$venv/bin/python" "$here/pyiceberg_interop.py"
