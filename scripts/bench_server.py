#!/usr/bin/env python3
"""Server benchmark: `floe serve` vs PostgreSQL 15 on the same machine, in the same run.

Both servers listen on loopback and hold the same table, points(id BIGINT, name TEXT,
value DOUBLE) with ROWS rows (PostgreSQL with a primary key on id, as one would have it).
Measured:
  * a ROWS-row result (SELECT * FROM points) fetched by psql (output to /dev/null) and by
    psycopg 3 (fetchall), wall time, median of RUNS after one warm-up;
  * point lookups with pgbench and a custom script (`SELECT name, value FROM points WHERE
    id = :id`, random id), -c CLIENTS -j 2 -T SECONDS, simple protocol: transactions/s.
Prints a Markdown table.

Usage: scripts/bench_server.py [--floe PATH] [--also NAME=PATH ...] [--rows N] [--runs N]
       [--clients N] [--seconds N]
--also adds another Floe build (say, the commit before a change) as one more server with
its own warehouse and the same data. The fetch timings interleave the servers run by run
(PostgreSQL, Floe, the others, then again), so that a load that changes during the run
weighs on all of them alike.
Without --floe it builds `floe` in release mode into ~/.cache/floe/target-release. It
installs postgresql-15 from Debian's packages when missing, and runs the throwaway cluster
as the `postgres` user (initdb refuses root). psycopg comes from the project venv
(~/.cache/floe/venv, made by tests/interop/run.sh).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
VENV_PYTHON = Path.home() / ".cache" / "floe" / "venv" / "bin" / "python"
PG_PORT = 54399
FLOE_PORT = 64399


def floe_binary(given):
    if given:
        return given
    target = Path.home() / ".cache" / "floe" / "target-release"
    subprocess.run(["nice", "cargo", "build", "--release", "--bin", "floe"], cwd=ROOT,
                   check=True, env={**os.environ, "CARGO_TARGET_DIR": str(target)})
    return str(target / "release" / "floe")


def ensure_postgresql():
    if (PG_BIN / "postgres").exists() and shutil.which("pgbench"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "postgresql-15",
                           "postgresql-client-15"], check=True)


def as_postgres(args, **kwargs):
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, check=True, **kwargs)


def psql(port, user, sql):
    subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", user,
                    "-d", "bench" if port == PG_PORT else "floe", "-v", "ON_ERROR_STOP=1",
                    "-c", sql], check=True, stdout=subprocess.DEVNULL)


def timed_interleaved(runs, actions):
    """The median wall time of each action, run `runs` times in turns after a warm-up."""
    for action in actions:
        action()
    times = [[] for _ in actions]
    for _ in range(runs):
        for action, spent in zip(actions, times):
            start = time.perf_counter()
            action()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def fetch_psql(port, user):
    return lambda: subprocess.run(
        ["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", user,
         "-d", "bench" if port == PG_PORT else "floe", "-c", "SELECT * FROM points"],
        check=True, stdout=subprocess.DEVNULL)


def fetch_psycopg(port, user, rows):
    code = (
        "import psycopg, sys\n"
        f"conn = psycopg.connect('host=127.0.0.1 port={port} user={user} dbname="
        f"{'bench' if port == PG_PORT else 'floe'}')\n"
        "rows = conn.execute('SELECT * FROM points').fetchall()\n"
        f"assert len(rows) == {rows}, len(rows)\n"
    )
    return lambda: subprocess.run([str(VENV_PYTHON), "-c", code], check=True)


def pgbench(port, user, clients, seconds, script):
    output = subprocess.run(
        ["pgbench", "-n", "-h", "127.0.0.1", "-p", str(port), "-U", user,
         "-c", str(clients), "-j", "2", "-T", str(seconds), "-f", script,
         "bench" if port == PG_PORT else "floe"],
        check=True, capture_output=True, text=True).stdout
    match = re.search(r"tps = ([0-9.]+)", output)
    return float(match.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--floe")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    floe = floe_binary(args.floe)
    ensure_postgresql()
    if not VENV_PYTHON.exists():
        sys.exit("no project venv: run tests/interop/run.sh once")

    work = Path(tempfile.mkdtemp(prefix="floe-bench-"))
    os.chmod(work, 0o777)
    pgdata = work / "pgdata"
    servers = []
    try:
        as_postgres([str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", "postgres",
                     "--auth=trust", "-E", "UTF8"], stdout=subprocess.DEVNULL)
        servers.append(subprocess.Popen(
            ["runuser", "-u", "postgres", "--"] * (os.geteuid() == 0)
            + [str(PG_BIN / "postgres"), "-D", str(pgdata), "-p", str(PG_PORT),
               "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + str(work),
               "-c", "max_connections=100", "-c", "shared_buffers=256MB"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        floes = [("Floe", floe)] + [tuple(also.split("=", 1)) for also in args.also]
        floe_ports = []
        for index, (_, binary) in enumerate(floes):
            port = FLOE_PORT + index
            floe_ports.append(port)
            servers.append(subprocess.Popen(
                [binary, "--warehouse", str(work / f"warehouse{index}"), "serve", "--listen",
                 f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in [PG_PORT] + floe_ports:
            for _ in range(100):
                if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)]).returncode == 0:
                    break
                time.sleep(0.1)
        subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U",
                        "postgres", "-c", "CREATE DATABASE bench"], check=True)
        psql(PG_PORT, "postgres",
             "CREATE TABLE points (id BIGINT PRIMARY KEY, name TEXT, value DOUBLE PRECISION); "
             f"INSERT INTO points SELECT g, 'name' || g, g * 0.5 FROM generate_series(1, {args.rows}) g")
        # psql -c runs several statements in one transaction, which VACUUM refuses.
        psql(PG_PORT, "postgres", "VACUUM ANALYZE points")
        for port in floe_ports:
            psql(port, "floe",
                 "CREATE TABLE points (id BIGINT, name VARCHAR, value DOUBLE); "
                 "INSERT INTO points SELECT value, concat('name', CAST(value AS VARCHAR)), "
                 f"value * 0.5 FROM generate_series(1, {args.rows})")
        script = work / "lookup.sql"
        script.write_text(f"\\set id random(1, {args.rows})\n"
                          "SELECT name, value FROM points WHERE id = :id;\n")
        os.chmod(script, 0o644)

        targets = [("PostgreSQL 15", PG_PORT, "postgres")] + [
            (name, port, "floe") for (name, _), port in zip(floes, floe_ports)]
        via_psql = timed_interleaved(
            args.runs, [fetch_psql(port, user) for _, port, user in targets])
        via_psycopg = timed_interleaved(
            args.runs, [fetch_psycopg(port, user, args.rows) for _, port, user in targets])
        results = [
            (name, psql_time, psycopg_time, pgbench(port, user, args.clients, args.seconds,
                                                    str(script)))
            for (name, port, user), psql_time, psycopg_time
            in zip(targets, via_psql, via_psycopg)]
        print(f"| server | {args.rows:,} rows via psql (s) | {args.rows:,} rows via psycopg (s) "
              f"| point lookups, pgbench -c {args.clients} -T {args.seconds} (tps) |")
        print("|---|---:|---:|---:|")
        for name, via_psql, via_psycopg, tps in results:
            print(f"| {name} | {via_psql:.2f} | {via_psycopg:.2f} | {tps:,.0f} |")
        _, pg_psql, pg_psycopg, _ = results[0]
        for name, via_psql, via_psycopg, _ in results[1:]:
            print(f"{name} / PostgreSQL: psql {via_psql / pg_psql:.2f}x, "
                  f"psycopg {via_psycopg / pg_psycopg:.2f}x")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
