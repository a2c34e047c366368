#!/usr/bin/env python3
"""Table lifecycle benchmark (issue 5): small files, OPTIMIZE and VACUUM.

1. 1,000 single-row INSERTs (each its own commit, so its own data file) into a table
   partitioned by day (10 partitions), from one `floe -f` script.
2. A point lookup (one partition, one id), a selective query (one partition, all its rows)
   and a full query (aggregate over every row), each run --repeat times in one process,
   before and after OPTIMIZE: the speed-up ratio of the median times. The selective query
   also runs on DataFusion's own listing table over the one file it reads after
   compaction: the per-statement floor under it.
3. OPTIMIZE's throughput against the reference, DataFusion (inside the same binary)
   rewriting the same Parquet files with `COPY (SELECT * FROM <external table>) TO ...`,
   in rows/s and MB/s of input; also with the time of `CREATE EXTERNAL TABLE`, which reads
   every file's footer (OPTIMIZE reads them itself).
4. VACUUM's time to find and delete --orphans unreachable files (copies of a data file,
   dated 8 days ago, in the table's data folder) with the default 7-day retention.

Times are the statements' own (the shell's `\\timing`), not process start-up.

Usage: scripts/bench_lifecycle.py [--floe PATH] [--inserts 1000] [--orphans 10000]
Without --floe it uses the release binary at ~/.cache/floe/target-release/release/floe
(build it with `CARGO_TARGET_DIR=~/.cache/floe/target-release cargo build --release`).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

DEFAULT_FLOE = Path.home() / ".cache/floe/target-release/release/floe"
PARTITIONS = 10
# (name, query): a point lookup that min/max pruning already narrows to one file before
# compaction, a query over one partition, and an aggregate over every row.
QUERIES = [
    ("point lookup (1 partition, 1 id)", "SELECT * FROM events WHERE day = 3 AND id = 503"),
    ("selective (1 partition, all its rows)",
     "SELECT count(*), sum(v), max(label) FROM events WHERE day = 3"),
    ("full (aggregate, all rows)",
     "SELECT day, count(*), sum(v), max(label) FROM events GROUP BY day ORDER BY day"),
]


def floe(binary, warehouse, statements):
    """Runs `statements` in one floe process; returns (each statement's ms, stdout)."""
    script = "\\timing on\n" + "\n".join(s.rstrip(";") + ";" for s in statements) + "\n"
    done = subprocess.run(
        [binary, "--warehouse", str(warehouse), "-f", "/dev/stdin"],
        input=script,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"floe failed:\n{done.stderr[-3000:]}")
    times = [float(m) for m in re.findall(r"^Time: ([0-9.]+) ms", done.stdout, re.M)]
    if len(times) != len(statements):
        raise RuntimeError(f"expected {len(statements)} timings, got {len(times)}")
    return times, done.stdout


def query_times(binary, warehouse, repeat):
    """Median ms of each of QUERIES, each run `repeat` times in one process."""
    statements = [sql for _, sql in QUERIES for _ in range(repeat)]
    times, _ = floe(binary, warehouse, statements)
    return [statistics.median(times[i * repeat:(i + 1) * repeat]) for i in range(len(QUERIES))]


def data_files(folder):
    return [p for p in Path(folder).rglob("*.parquet")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--floe", default=str(DEFAULT_FLOE))
    parser.add_argument("--inserts", type=int, default=1000)
    parser.add_argument("--orphans", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    binary = args.floe
    if not Path(binary).exists():
        raise SystemExit(f"no floe binary at {binary}; build it or pass --floe")

    work = Path(tempfile.mkdtemp(prefix="floe-bench-lifecycle-"))
    try:
        warehouse = work / "warehouse"
        table_data = warehouse / "public" / "events" / "data"

        # 1. Small files.
        inserts = [
            f"INSERT INTO events VALUES ({i % PARTITIONS}, {i}, {i * 0.5}, 'label-{i}')"
            for i in range(args.inserts)
        ]
        times, _ = floe(
            binary,
            warehouse,
            ["CREATE TABLE events (day INT, id BIGINT, v DOUBLE, label TEXT) PARTITIONED BY (day)"]
            + inserts,
        )
        insert_ms = sum(times[1:])
        files_before = data_files(table_data)

        # The reference's input: the same Parquet files, in a folder of their own.
        raw = work / "raw"
        raw.mkdir()
        for n, path in enumerate(files_before):
            shutil.copy(path, raw / f"{n:06}.parquet")
        input_bytes = sum(p.stat().st_size for p in files_before)

        # 2. Queries before OPTIMIZE.
        before = query_times(binary, warehouse, args.repeat)

        # 3. OPTIMIZE, and DataFusion rewriting the same files.
        (optimize_ms,), out = floe(binary, warehouse, ["OPTIMIZE events"])
        files_after = len(data_files(table_data)) - len(files_before)
        copy_times, _ = floe(
            binary,
            warehouse,
            [
                f"CREATE EXTERNAL TABLE raw STORED AS PARQUET LOCATION '{raw}/'",
                f"COPY (SELECT * FROM raw) TO '{work / 'rewritten.parquet'}' (FORMAT parquet)",
            ],
        )
        listing_ms, copy_ms = copy_times

        # 2'. Queries after OPTIMIZE.
        after = query_times(binary, warehouse, args.repeat)

        # The floor under the selective query: DataFusion's listing table over the one
        # compacted file it reads, the same query, in the same binary.
        (_,), out = floe(binary, warehouse, [
            "SELECT file_path FROM \"events$files\" WHERE file_path LIKE '%/day=3/%'"])
        compacted = re.findall(r"(\S+\.parquet)", out)
        if len(compacted) != 1:
            raise RuntimeError(f"expected one compacted file for day 3, got {compacted}")
        one = work / "one"
        one.mkdir()
        shutil.copy(compacted[0].removeprefix("file://"), one / "day3.parquet")
        selective_sql = dict(QUERIES)["selective (1 partition, all its rows)"]
        listing_times, _ = floe(
            binary, warehouse,
            [f"CREATE EXTERNAL TABLE one STORED AS PARQUET LOCATION '{one}/'"]
            + [selective_sql.replace("FROM events", "FROM one")] * args.repeat)
        listing_selective = statistics.median(listing_times[1:])

        # 4. VACUUM over unreachable files.
        vacuum_data = warehouse / "public" / "v" / "data"
        floe(binary, warehouse, ["CREATE TABLE v (n INT)", "INSERT INTO v VALUES (1)"])
        sample = data_files(vacuum_data)[0]
        orphans = vacuum_data / "orphans"
        orphans.mkdir()
        old = time.time() - 8 * 86_400
        for n in range(args.orphans):
            path = orphans / f"orphan-{n:06}.parquet"
            shutil.copy(sample, path)
            os.utime(path, (old, old))
        (vacuum_ms,), out = floe(binary, warehouse, ["VACUUM v"])
        left = len(data_files(orphans))
        if left != 0:
            raise RuntimeError(f"VACUUM left {left} orphan files")

        rows = args.inserts
        mb = input_bytes / 1e6
        print(f"## Table lifecycle (floe {binary})\n")
        print(f"{args.inserts} single-row INSERTs into {PARTITIONS} partitions: "
              f"{insert_ms / 1000:.2f} s ({insert_ms / args.inserts:.1f} ms per INSERT), "
              f"{len(files_before)} data files, {mb:.2f} MB.\n")
        print("| query (median of %d) | before OPTIMIZE | after | speed-up |" % args.repeat)
        print("|---|---|---|---|")
        for (name, _), b, a in zip(QUERIES, before, after):
            print(f"| {name} | {b:.1f} ms | {a:.1f} ms | {b / a:.1f}x |")
        print(f"\nThe selective query on DataFusion's listing table over the one compacted file "
              f"it reads: {listing_selective:.1f} ms (Floe after OPTIMIZE / this: "
              f"{after[1] / listing_selective:.2f}x); the speed-up it would give: "
              f"{before[1] / listing_selective:.1f}x.\n")
        print("| rewrite of the same files | time | rows/s | MB/s (input) |")
        print("|---|---|---|---|")
        print(f"| Floe OPTIMIZE ({len(files_before)} files into {files_after}) | "
              f"{optimize_ms:.0f} ms | {rows / optimize_ms * 1000:,.0f} | "
              f"{mb / optimize_ms * 1000:.2f} |")
        print(f"| DataFusion COPY (SELECT * FROM parquet files) TO one file | {copy_ms:.0f} ms | "
              f"{rows / copy_ms * 1000:,.0f} | {mb / copy_ms * 1000:.2f} |")
        both_ms = listing_ms + copy_ms
        print(f"| DataFusion CREATE EXTERNAL TABLE (reads every footer) + COPY | {both_ms:.0f} ms | "
              f"{rows / both_ms * 1000:,.0f} | {mb / both_ms * 1000:.2f} |")
        print(f"\nOPTIMIZE throughput / COPY throughput: {copy_ms / optimize_ms:.2f}x "
              f"({both_ms / optimize_ms:.2f}x counting the footers the external table read)\n")
        print(f"VACUUM deleting {args.orphans} unreachable (orphan) files: "
              f"{vacuum_ms / 1000:.2f} s ({args.orphans / vacuum_ms * 1000:,.0f} files/s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
