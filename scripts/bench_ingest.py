#!/usr/bin/env python3
"""Ingest benchmark: load TPC-H lineitem into a month(l_shipdate)-partitioned table.

Compares, in the same run and on the same files:
  * Floe: `COPY lineitem FROM '<file>'` (Parquet and CSV) into an Iceberg table;
  * DuckDB 1.5.5: `COPY (SELECT ...) TO dir (FORMAT parquet, PARTITION_BY (year, month))`;
  * pyiceberg 0.12: `table.append(arrow_table)` into a month-partitioned Iceberg table.
Each load runs in its own process; the script reports wall time, rows/s, peak RSS (from
the kernel's rusage of that process) and, for Floe, the file layout per partition.

Usage: scripts/bench_ingest.py [--scale 1] [--floe PATH] [--baseline PATH] [--repeat 3]
                               [--skip-pyiceberg]
Without --floe it builds `floe` in release mode. --baseline loads with a second floe binary
too (an older build, for an A/B in the same run). Each load runs --repeat times, the
contenders taking turns, and the fastest run counts (these machines are noisy). It uses the project's test venv
(~/.cache/floe/venv, created from tests/interop/requirements.txt when missing).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path.home() / ".cache" / "floe" / "venv"
SCHEMA = """(
  l_orderkey BIGINT, l_partkey BIGINT, l_suppkey BIGINT, l_linenumber INT,
  l_quantity DECIMAL(15,2), l_extendedprice DECIMAL(15,2), l_discount DECIMAL(15,2),
  l_tax DECIMAL(15,2), l_returnflag TEXT, l_linestatus TEXT, l_shipdate DATE,
  l_commitdate DATE, l_receiptdate DATE, l_shipinstruct TEXT, l_shipmode TEXT,
  l_comment TEXT
) PARTITIONED BY (month(l_shipdate))"""


def python():
    exe = VENV / "bin" / "python"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(exe), "-m", "pip", "install", "-q", "-r",
             str(ROOT / "tests" / "interop" / "requirements.txt")],
            check=True,
        )
    return exe


def floe_binary(given):
    if given:
        return given
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/floe/target-release"))
    subprocess.run(["cargo", "build", "--release", "--bin", "floe"], cwd=ROOT, check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": str(target)})
    return str(target / "release" / "floe")


def measure_rss(command):
    """Runs `command` under /usr/bin/time -v: (seconds, peak RSS MiB, stdout)."""
    started = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"{command[0]} failed:\n{run.stderr[-3000:]}")
    rss_kib = next(int(line.split(":")[1]) for line in run.stderr.splitlines()
                   if "Maximum resident set size" in line)
    return seconds, rss_kib / 1024, run.stdout


def generate(py, data, scale):
    tpchgen = Path(py).parent / "tpchgen-cli"
    for fmt in ["parquet", "csv"]:
        if not (data / f"lineitem.{fmt}").exists():
            subprocess.run([str(tpchgen), fmt, "-s", str(scale), "--tables=lineitem",
                            f"--output-dir={data}"], check=True, capture_output=True)


def floe_load(floe, warehouse, source, options):
    sql = f"CREATE TABLE lineitem {SCHEMA}; COPY lineitem FROM '{source}' {options};"
    seconds, rss, _ = measure_rss([floe, "--warehouse", str(warehouse), "-q", "-c", sql])
    layout = subprocess.run(
        [floe, "--warehouse", str(warehouse), "--format", "csv", "-c",
         "SELECT count(*) AS partitions, sum(file_count) AS files, "
         "min(file_count) AS min_files, max(file_count) AS max_files, "
         "round(avg(total_bytes) / 1048576.0, 1) AS avg_mib_per_partition "
         "FROM (SELECT partition, count(*) AS file_count, sum(file_size_in_bytes) AS total_bytes "
         "FROM \"lineitem$files\" GROUP BY partition)"],
        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return seconds, rss, layout


DUCKDB_LOAD = """
import duckdb, sys
source, target = sys.argv[1], sys.argv[2]
read = f"read_parquet('{source}')" if source.endswith('.parquet') else f"read_csv('{source}', header=true)"
duckdb.connect().execute(
    f"COPY (SELECT *, year(l_shipdate) AS y, month(l_shipdate) AS m FROM {read}) "
    f"TO '{target}' (FORMAT parquet, PARTITION_BY (y, m))")
"""

PYICEBERG_LOAD = """
import sys, pyarrow as pa, pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.transforms import MonthTransform
source, warehouse = sys.argv[1], sys.argv[2]
catalog = SqlCatalog("bench", uri=f"sqlite:///{warehouse}/catalog.db", warehouse=f"file://{warehouse}")
catalog.create_namespace("bench")
data = pq.read_table(source)
# pyiceberg's writer has no kernels for string_view, which tpchgen writes.
data = data.cast(pa.schema([
    pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) else f.type)
    for f in data.schema
]))
table = catalog.create_table("bench.lineitem", schema=data.schema)
with table.update_spec() as spec:
    spec.add_field("l_shipdate", MonthTransform(), "l_shipdate_month")
table.append(data)
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="1")
    parser.add_argument("--floe")
    parser.add_argument("--baseline")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-pyiceberg", action="store_true")
    args = parser.parse_args()
    py = str(python())
    floe = floe_binary(args.floe)
    cache = Path.home() / ".cache" / "floe" / f"tpch-sf{args.scale}"
    cache.mkdir(parents=True, exist_ok=True)
    generate(py, cache, args.scale)
    rows = int(subprocess.run(
        [py, "-c", f"import duckdb; print(duckdb.sql(\"SELECT count(*) FROM '{cache}/lineitem.parquet'\").fetchone()[0])"],
        capture_output=True, text=True, check=True).stdout)
    results = []
    with tempfile.TemporaryDirectory(dir=cache) as work:
        work = Path(work)
        contenders = []
        for source, options in [(cache / "lineitem.parquet", ""),
                                (cache / "lineitem.csv", "(FORMAT csv, HEADER)")]:
            kind = source.suffix[1:]
            contenders.append((f"Floe COPY from {kind}",
                               lambda n, s=source, o=options: floe_load(floe, work / f"floe-{n}", s, o)))
            if args.baseline:
                contenders.append((f"baseline Floe COPY from {kind}",
                                   lambda n, s=source, o=options: floe_load(args.baseline, work / f"base-{n}", s, o)))
            contenders.append((f"DuckDB COPY ... PARTITION_BY from {kind}",
                               lambda n, s=source: measure_rss([py, "-c", DUCKDB_LOAD, str(s), str(work / f"duck-{n}")])[:2] + ("",)))
        if not args.skip_pyiceberg:
            def pyiceberg(n):
                target = work / f"pyiceberg-{n}"
                target.mkdir()
                return measure_rss([py, "-c", PYICEBERG_LOAD, str(cache / "lineitem.parquet"), str(target)])[:2] + ("",)
            contenders.append(("pyiceberg append from parquet", pyiceberg))
        runs = {name: [] for name, _ in contenders}
        for attempt in range(args.repeat):
            for name, load in contenders:
                runs[name].append(load(attempt))
                for leftover in work.iterdir():
                    shutil.rmtree(leftover)
        for name, _ in contenders:
            seconds, rss, layout = min(runs[name], key=lambda run: run[0])
            results.append((name, seconds, rss, layout))
    print(f"lineitem SF{args.scale}: {rows} rows\n")
    print("| load | seconds | M rows/s | peak RSS MiB | Floe layout (partitions, files, min/max files per partition, avg MiB per partition) |")
    print("|---|---|---|---|---|")
    for name, seconds, rss, layout in results:
        print(f"| {name} | {seconds:.1f} | {rows / seconds / 1e6:.2f} | {rss:.0f} | {layout} |")
    by_name = {name: seconds for name, seconds, _, _ in results}
    for kind in ["parquet", "csv"]:
        ratio = by_name[f"DuckDB COPY ... PARTITION_BY from {kind}"] / by_name[f"Floe COPY from {kind}"]
        print(f"\nFloe vs DuckDB from {kind}: {ratio:.2f}x DuckDB's speed")
        if args.baseline:
            ratio = by_name[f"baseline Floe COPY from {kind}"] / by_name[f"Floe COPY from {kind}"]
            print(f"Floe vs baseline from {kind}: {ratio:.2f}x the baseline's speed")
    if "pyiceberg append from parquet" in by_name:
        ratio = by_name["pyiceberg append from parquet"] / by_name["Floe COPY from parquet"]
        print(f"Floe vs pyiceberg from parquet: {ratio:.2f}x pyiceberg's speed")


if __name__ == "__main__":
    main()
