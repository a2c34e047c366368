#!/usr/bin/env python3
"""Shell start-up benchmark: Floe vs the DuckDB CLI and datafusion-cli.

Measures, in the same run:
  * start-to-prompt: spawn the shell on a pseudo-terminal, time until its prompt shows;
  * `-c 'select 1'`: wall time of a whole one-statement run.

Floe runs on a warehouse holding TABLES tables (the catalog is read lazily, so its size
should not matter); DuckDB on a database file holding as many. Each measurement is taken
RUNS times after one warm-up; the median and the minimum are printed as a Markdown table.

Usage: scripts/bench_shell.py [--floe PATH] [--duckdb PATH] [--datafusion-cli PATH]
       [--skip-datafusion-cli] [--tables N] [--runs N]
Without --floe it builds `floe` in release mode. Without --duckdb it installs the
`duckdb-cli==1.5.5` wheel from PyPI into a venv under ~/.cache/floe/bench-venv. Without
--datafusion-cli it uses `datafusion-cli` 53.1.0 (the DataFusion Floe is built on) from
~/.cache/floe/datafusion-cli, compiling it there with `cargo install` when missing: it
has no prebuilt binary (not on PyPI, not in Debian), and the build takes tens of minutes.
"""

import argparse
import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path.home() / ".cache" / "floe" / "bench-venv"
# What an xterm answers to the queries DuckDB's line editor sends before its prompt.
TERMINAL_ANSWERS = {
    b"\x1b[c": b"\x1b[?62;22c",  # device attributes
    b"\x1b]11;?": b"\x1b]11;rgb:0000/0000/0000\x1b\\",  # background colour
}
CURSOR_QUERY = b"\x1b[6n"
# The editor learns the width by asking where the cursor is, moving it to the far corner
# and asking again: answer home, then the corner of an 80x24 terminal, and so on.
CURSOR_ANSWERS = (b"\x1b[1;1R", b"\x1b[24;80R")


def floe_binary(given):
    if given:
        return given
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/floe/target"))
    subprocess.run(["cargo", "build", "--release", "--bin", "floe"], cwd=ROOT, check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": str(target)})
    return str(target / "release" / "floe")


def duckdb_binary(given):
    if given:
        return given
    # The wheel's `duckdb` command is a Python wrapper; time the native binary it runs.
    found = list(VENV.glob("lib/python*/site-packages/duckdb_cli/duckdb"))
    if not found:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "duckdb-cli==1.5.5"],
                       check=True)
        found = list(VENV.glob("lib/python*/site-packages/duckdb_cli/duckdb"))
    return str(found[0])


class Terminal:
    """Answers the queries a real terminal would (DuckDB's line editor waits for them)."""

    def __init__(self, fd):
        self.fd = fd
        self.cursor_queries = 0

    def read(self):
        chunk = os.read(self.fd, 4096)
        for query, answer in TERMINAL_ANSWERS.items():
            if query in chunk:
                os.write(self.fd, answer)
        for _ in range(chunk.count(CURSOR_QUERY)):
            os.write(self.fd, CURSOR_ANSWERS[self.cursor_queries % 2])
            self.cursor_queries += 1
        return chunk


def time_to_prompt(argv, prompt, env):
    """Seconds from spawning `argv` on a pty until `prompt` appears in its output."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    started = time.perf_counter()
    terminal = Terminal(fd)
    seen = b""
    try:
        while prompt not in seen:
            ready, _, _ = select.select([fd], [], [], 10)
            if not ready:
                raise RuntimeError(f"{argv[0]}: no prompt after 10 s; saw {seen[-200:]!r}")
            seen += terminal.read()
        elapsed = time.perf_counter() - started
        os.write(fd, b"\x04")  # Ctrl-D
        # Drain (still answering: DuckDB asks again on its way out) until the child closes
        # the pty, so it exits cleanly.
        while True:
            ready, _, _ = select.select([fd], [], [], 5)
            if not ready:
                os.kill(pid, 9)
                break
            try:
                if not terminal.read():
                    break
            except OSError:
                break
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    return elapsed


def time_command(argv):
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(runs, fn):
    fn()  # warm-up: page cache, first-run effects
    samples = [fn() for _ in range(runs)]
    return statistics.median(samples) * 1000, min(samples) * 1000


def datafusion_cli_binary(given):
    if given:
        return given
    root = Path.home() / ".cache" / "floe" / "datafusion-cli"
    binary = root / "bin" / "datafusion-cli"
    if not binary.exists():
        subprocess.run(["cargo", "install", "datafusion-cli", "--version", "53.1.0", "--locked",
                        "--root", str(root), "--target-dir",
                        str(Path.home() / ".cache" / "floe" / "target-dfcli")], check=True)
    return str(binary)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--floe")
    parser.add_argument("--duckdb")
    parser.add_argument("--datafusion-cli")
    parser.add_argument("--skip-datafusion-cli", action="store_true")
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    floe = floe_binary(args.floe)
    duckdb = duckdb_binary(args.duckdb)
    datafusion_cli = None if args.skip_datafusion_cli else datafusion_cli_binary(args.datafusion_cli)
    work = Path(tempfile.mkdtemp(prefix="floe-bench-"))
    home = work / "home"
    home.mkdir()
    # A private HOME keeps history files out of the user's.
    env = {**os.environ, "HOME": str(home), "TERM": "xterm"}

    warehouse = work / "warehouse"
    creates = "".join(f"CREATE TABLE t{i} (id BIGINT, name TEXT);" for i in range(args.tables))
    subprocess.run([floe, "--warehouse", str(warehouse), "-q", "-c", creates], check=True)
    duck_db = work / "tables.duckdb"
    subprocess.run([duckdb, str(duck_db), "-c", creates], check=True, stdout=subprocess.DEVNULL)

    shells = [
        ("Floe", [floe, "--warehouse", str(warehouse)], b"floe> ",
         [floe, "--warehouse", str(warehouse), "-c", "select 1"]),
        # DuckDB's prompt is the database name, then ` D ` after a colour reset.
        ("DuckDB CLI 1.5.5", [duckdb, str(duck_db)], b"\x1b[00m D ",
         [duckdb, str(duck_db), "-c", "select 1"]),
    ]
    if datafusion_cli:
        shells.append(("datafusion-cli 53.1.0", [datafusion_cli], b"> ",
                       [datafusion_cli, "-c", "select 1"]))

    print(f"{args.tables} tables, {args.runs} runs each after a warm-up; median (min) in ms\n")
    print("| shell | start to prompt | `-c 'select 1'` |")
    print("|---|---|---|")
    for name, interactive, prompt, command in shells:
        prompt_text = "not measured"
        if interactive:
            prompt_ms = measure(args.runs, lambda: time_to_prompt(interactive, prompt, env))
            prompt_text = f"{prompt_ms[0]:.1f} ({prompt_ms[1]:.1f})"
        command_ms = measure(args.runs, lambda: time_command(command))
        print(f"| {name} | {prompt_text} | {command_ms[0]:.1f} ({command_ms[1]:.1f}) |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
