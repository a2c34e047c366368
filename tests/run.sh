#!/usr/bin/env bash
# The whole test suite: unit tests, the sql/*.slt scripts, the multi-process commit test,
# and interop with pyiceberg. Builds go to a target directory outside the clone so that
# repeated runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/floe/target}"

cargo test --workspace --all-targets
bash tests/interop/run.sh
