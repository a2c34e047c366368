#!/usr/bin/env bash
# The whole test suite: unit tests, the sql/*.slt scripts (in-process and over the wire),
# the server tests (tokio-postgres, psql), the multi-process commit test,
# and interop with pyiceberg. Builds go to a target directory outside the clone so that
# repeated runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/floe/target}"

# The server tests drive the real psql client.
if ! command -v psql >/dev/null 2>&1; then
    sudo_if_needed=""
    [ "$(id -u)" -ne 0 ] && sudo_if_needed="sudo"
    $sudo_if_needed apt-get update -qq
    $sudo_if_needed apt-get install -y -qq postgresql-client
fi

cargo test --workspace --all-targets
bash tests/interop/run.sh
