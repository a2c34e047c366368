#!/usr/bin/env bash
# The checks that need Python: makes (or reuses) a venv outside the clone, installs the
# pinned packages, builds floe, then runs interop with pyiceberg and DuckDB's iceberg_scan
# (extensions from pinned wheels, loaded offline), the PostgreSQL client libraries
# (psycopg, psycopg2, asyncpg, SQLAlchemy, pandas; node-postgres; pgJDBC) against
# `floe serve`, and the 22 TPC-H queries against DuckDB. Node.js, a JDK and pgJDBC come
# from Debian's packages when missing; the `pg` package goes into a cache outside the clone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FLOE_VENV:-$HOME/.cache/floe/venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/floe/target}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"

# Debian packages the client tests need, installed once (apt-get update only if needed).
apt_updated=""
apt_install() {
  local sudo_if_needed=""
  [ "$(id -u)" -ne 0 ] && sudo_if_needed="sudo"
  if [ -z "$apt_updated" ]; then
    $sudo_if_needed apt-get update -qq
    apt_updated=1
  fi
  $sudo_if_needed apt-get install -y -qq "$@"
}
command -v node >/dev/null 2>&1 || apt_install nodejs
command -v npm >/dev/null 2>&1 || apt_install npm
# pgJDBC from Debian, run as a single-file Java program (the JDK's source launcher).
command -v javac >/dev/null 2>&1 || apt_install default-jdk-headless
[ -f /usr/share/java/postgresql.jar ] || apt_install libpostgresql-jdbc-java
node_dir="${FLOE_NODE_DIR:-$HOME/.cache/floe/node}"
pg_version="8.23.1"
if ! grep -qs "\"version\": \"$pg_version\"" "$node_dir/node_modules/pg/package.json"; then
  npm install --silent --no-audit --no-fund --prefix "$node_dir" "pg@$pg_version"
fi

cargo build --quiet --manifest-path "$root/Cargo.toml" --bin floe
# A FLOE_BIN already set (a copy, when several checkouts share the target dir) wins.
export FLOE_BIN="${FLOE_BIN:-$CARGO_TARGET_DIR/debug/floe}"
# A table with row-level deletes committed by Floe's commit path, for pyiceberg to read.
FLOE_DELETES_FIXTURE="$(mktemp -d)"
export FLOE_DELETES_FIXTURE
trap 'rm -rf "$FLOE_DELETES_FIXTURE"' EXIT
cargo test --quiet --manifest-path "$root/Cargo.toml" -p floe-engine --lib -- \
  --ignored --exact scan_with_deletes::tests::position_deletes_fixture_for_pyiceberg
"$venv/bin/python" "$here/pyiceberg_interop.py"
"$venv/bin/python" "$here/postgres_clients.py"
NODE_PATH="$node_dir/node_modules" node "$here/node_postgres.js"
java -cp /usr/share/java/postgresql.jar "$here/FloeJdbc.java"
TPCH_SF="${TPCH_SF:-0.1}" "$venv/bin/python" "$root/tests/tpch/check_vs_duckdb.py"
