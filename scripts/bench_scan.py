#!/usr/bin/env python3
"""Scan benchmark (issue 3): TPC-H over Iceberg tables, selective scans, planning time.

In one run, on TPC-H data (tpchgen-cli, Parquet) loaded into a Floe warehouse by Floe
itself (`CREATE TABLE ...; COPY t FROM 'file.parquet'`):

1. The 22 TPC-H queries (tests/tpch/queries) over lineitem month(l_shipdate)-partitioned
   and over lineitem unpartitioned, in
     * Floe: one `floe -f` process per table variant, each statement timed by the shell's
       `\\timing` (the statement's own time: parse, plan, execute, print; no start-up);
     * DuckDB 1.5.5 with its iceberg extension (loaded by file path from the pip
       duckdb-extension-* wheels, autoinstall off), one view per table over
       `iceberg_scan('<current metadata.json>')`;
     * DataFusion 53 (its Python binding): a Parquet listing table per Iceberg table over
       every file in that table's data directory.
   Each query runs --runs times in a row in one process per engine, and the engines take
   turns --rounds times; the table reports the fastest run of each query (the machine is
   shared, so the minimum is the steadiest).
2. Selective queries: a 10-day l_shipdate range on the partitioned table and
   `l_orderkey = k` on a copy sorted by l_orderkey (small files and row groups), timed in
   the three engines, with Floe's EXPLAIN ANALYZE counters (files, row groups, bytes).
3. Planning time: EXPLAIN of selective queries, warm cache, on a table of --files data
   files in --manifests manifests (one INSERT per manifest, each writing files/manifests
   partitions of an identity-partitioned table).

The warehouse is kept in ~/.cache/floe/bench-scan-sf<scale> and reused when present
(delete the folder to reload).

Usage: scripts/bench_scan.py [--scale 1] [--floe PATH] [--runs 3] [--rounds 1]
Without --floe it uses the release binary at ~/.cache/floe/target-release/release/floe.
It uses the project's test venv (~/.cache/floe/venv, from tests/interop/requirements.txt).
"""

import argparse
import csv
import io
import json
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path.home() / ".cache" / "floe" / "venv"
DEFAULT_FLOE = Path.home() / ".cache/floe/target-release/release/floe"
QUERIES = sorted((ROOT / "tests" / "tpch" / "queries").glob("q*.sql"))

LINEITEM_COLUMNS = """(
  l_orderkey BIGINT NOT NULL, l_partkey BIGINT NOT NULL, l_suppkey BIGINT NOT NULL,
  l_linenumber INT NOT NULL, l_quantity DECIMAL(15,2) NOT NULL,
  l_extendedprice DECIMAL(15,2) NOT NULL, l_discount DECIMAL(15,2) NOT NULL,
  l_tax DECIMAL(15,2) NOT NULL, l_returnflag TEXT NOT NULL, l_linestatus TEXT NOT NULL,
  l_shipdate DATE NOT NULL, l_commitdate DATE NOT NULL, l_receiptdate DATE NOT NULL,
  l_shipinstruct TEXT NOT NULL, l_shipmode TEXT NOT NULL, l_comment TEXT NOT NULL)"""

# The Floe tables: (name, source file, CREATE TABLE tail). The lineitem variants get the
# queries by renaming `lineitem` in their text.
TABLES = [
    ("region", "region", "(r_regionkey BIGINT NOT NULL, r_name TEXT NOT NULL, r_comment TEXT NOT NULL)"),
    ("nation", "nation", "(n_nationkey BIGINT NOT NULL, n_name TEXT NOT NULL, "
     "n_regionkey BIGINT NOT NULL, n_comment TEXT NOT NULL)"),
    ("supplier", "supplier", "(s_suppkey BIGINT NOT NULL, s_name TEXT NOT NULL, "
     "s_address TEXT NOT NULL, s_nationkey BIGINT NOT NULL, s_phone TEXT NOT NULL, "
     "s_acctbal DECIMAL(15,2) NOT NULL, s_comment TEXT NOT NULL)"),
    ("customer", "customer", "(c_custkey BIGINT NOT NULL, c_name TEXT NOT NULL, "
     "c_address TEXT NOT NULL, c_nationkey BIGINT NOT NULL, c_phone TEXT NOT NULL, "
     "c_acctbal DECIMAL(15,2) NOT NULL, c_mktsegment TEXT NOT NULL, c_comment TEXT NOT NULL)"),
    ("part", "part", "(p_partkey BIGINT NOT NULL, p_name TEXT NOT NULL, p_mfgr TEXT NOT NULL, "
     "p_brand TEXT NOT NULL, p_type TEXT NOT NULL, p_size INT NOT NULL, "
     "p_container TEXT NOT NULL, p_retailprice DECIMAL(15,2) NOT NULL, p_comment TEXT NOT NULL)"),
    ("partsupp", "partsupp", "(ps_partkey BIGINT NOT NULL, ps_suppkey BIGINT NOT NULL, "
     "ps_availqty INT NOT NULL, ps_supplycost DECIMAL(15,2) NOT NULL, ps_comment TEXT NOT NULL)"),
    ("orders", "orders", "(o_orderkey BIGINT NOT NULL, o_custkey BIGINT NOT NULL, "
     "o_orderstatus TEXT NOT NULL, o_totalprice DECIMAL(15,2) NOT NULL, "
     "o_orderdate DATE NOT NULL, o_orderpriority TEXT NOT NULL, o_clerk TEXT NOT NULL, "
     "o_shippriority INT NOT NULL, o_comment TEXT NOT NULL)"),
    ("lineitem_month", "lineitem", LINEITEM_COLUMNS + " PARTITIONED BY (month(l_shipdate))"),
    ("lineitem_flat", "lineitem", LINEITEM_COLUMNS),
    # Sorted, in files of about 16 MiB with row groups of 100,000 rows (about 60 row
    # groups at SF1), so that a key lookup has files and row groups to skip.
    ("lineitem_sorted", "lineitem", LINEITEM_COLUMNS + " ORDER BY (l_orderkey) WITH ("
     "'write.target-file-size-bytes' = '16777216', 'write.parquet.row-group-limit' = '100000')"),
]
VARIANTS = {"partitioned": "lineitem_month", "unpartitioned": "lineitem_flat"}

# A 10-day range inside one month, and one order's lines.
RANGE_QUERY = ("SELECT count(*), sum(l_extendedprice * (1 - l_discount)) FROM lineitem_month "
               "WHERE l_shipdate >= DATE '1995-03-10' AND l_shipdate < DATE '1995-03-20'")
KEY_QUERY = "SELECT * FROM lineitem_sorted WHERE l_orderkey = {key}"

MANY = "many_files"


def python():
    exe = VENV / "bin" / "python"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    check = subprocess.run([str(exe), "-c", "import duckdb, datafusion, tpchgen_cli"],
                           capture_output=True)
    if check.returncode != 0:
        subprocess.run(
            [str(exe), "-m", "pip", "install", "-q", "-r",
             str(ROOT / "tests" / "interop" / "requirements.txt")],
            check=True,
        )
    return str(exe)


def floe(binary, warehouse, statements, fmt="table"):
    """Runs `statements` in one floe process; returns (each statement's ms, stdout)."""
    script = "\\timing on\n" + "\n".join(s.strip().rstrip(";") + ";" for s in statements) + "\n"
    done = subprocess.run(
        [binary, "--warehouse", str(warehouse), "--format", fmt, "-f", "/dev/stdin"],
        input=script, capture_output=True, text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"floe failed:\n{done.stderr[-3000:]}\n{done.stdout[-3000:]}")
    times = [float(m) for m in re.findall(r"^Time: ([0-9.]+) ms", done.stdout, re.M)]
    if len(times) != len(statements):
        raise RuntimeError(f"expected {len(statements)} timings, got {len(times)}")
    return times, done.stdout


def generate(py, data, scale):
    tpchgen = Path(py).parent / "tpchgen-cli"
    missing = sorted({source for _, source, _ in TABLES
                      if not (data / f"{source}.parquet").exists()})
    if missing:
        subprocess.run([str(tpchgen), "parquet", "-s", str(scale), f"--tables={','.join(missing)}",
                        f"--output-dir={data}"], check=True, capture_output=True)


def load(binary, warehouse, data):
    """Loads every table through Floe unless the warehouse already holds them."""
    done = warehouse / "loaded"
    if done.exists():
        print(f"reusing {warehouse}", flush=True)
        return
    statements = []
    for name, source, columns in TABLES:
        statements += [f"DROP TABLE IF EXISTS {name}", f"CREATE TABLE {name} {columns}",
                       f"COPY {name} FROM '{data / (source + '.parquet')}'"]
    started = time.perf_counter()
    floe(binary, warehouse, statements)
    print(f"loaded {len(TABLES)} tables in {time.perf_counter() - started:.0f} s", flush=True)
    done.touch()


def layout(binary, warehouse, table):
    """A table's number of data files and their MiB."""
    _, out = floe(binary, warehouse, [
        f"SELECT count(*) AS files, round(sum(file_size_in_bytes) / 1048576.0, 1) AS mib "
        f"FROM \"{table}$files\""], fmt="csv")
    files, mib = out.strip().splitlines()[-2].split(",")
    return int(files), float(mib)


def metadata_locations(warehouse):
    with sqlite3.connect(warehouse / "catalog.db") as db:
        return {name: location for name, location in db.execute(
            "SELECT table_name, metadata_location FROM iceberg_tables "
            "WHERE table_namespace = 'public'")}


def query_text(path, lineitem):
    return re.sub(r"\blineitem\b", lineitem, path.read_text())


def floe_queries(binary, warehouse, queries, runs):
    """{name: [ms per run]} for (name, sql) pairs, all in one Floe process."""
    statements = [sql for _, sql in queries for _ in range(runs)]
    times, _ = floe(binary, warehouse, statements)
    return {name: times[i * runs:(i + 1) * runs] for i, (name, _) in enumerate(queries)}


# The reference engines run in the venv's Python, each in a process of its own: a script
# reading the (name, sql) pairs and the tables' locations from argv, printing CSV timings.
REFERENCE = r"""
import csv, importlib.util, json, os, sys, time
engine, runs, tables, queries = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
if engine == "duckdb":
    import duckdb
    con = duckdb.connect(config={"autoinstall_known_extensions": "false",
                                 "autoload_known_extensions": "false"})
    # No progress bar: past 2 s DuckDB would draw one on stdout, in the timed run.
    con.execute("SET enable_progress_bar = false")
    for ext in ("avro", "iceberg"):
        spec = importlib.util.find_spec(f"duckdb_extension_{ext}")
        con.execute("LOAD '%s'" % os.path.join(os.path.dirname(spec.origin), "extensions",
                                               f"v{duckdb.__version__}", f"{ext}.duckdb_extension"))
    for name, metadata in tables.items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM iceberg_scan('{metadata}')")
    run = lambda sql: con.execute(sql).fetchall()
else:
    from datafusion import SessionContext
    ctx = SessionContext()
    for name, folder in tables.items():
        ctx.register_parquet(name, folder + "/")
    run = lambda sql: ctx.sql(sql).collect()
out = csv.writer(sys.stdout)
for name, sql in queries:
    for _ in range(runs):
        started = time.perf_counter()
        result = run(sql)
        out.writerow(["time", name, (time.perf_counter() - started) * 1000])
"""


def reference_queries(py, engine, tables, queries, runs):
    done = subprocess.run([py, "-c", REFERENCE, engine, str(runs), json.dumps(tables),
                           json.dumps(queries)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} failed:\n{done.stderr[-3000:]}")
    times = {}
    for row in csv.reader(io.StringIO(done.stdout)):
        if len(row) == 3 and row[0] == "time":
            times.setdefault(row[1], []).append(float(row[2]))
    if sorted(times) != sorted(name for name, _ in queries):
        raise RuntimeError(f"{engine} timed {sorted(times)}:\n{done.stdout[-3000:]}")
    return times


def explain_counters(binary, warehouse, sql):
    """Floe's EXPLAIN ANALYZE counters: the Iceberg scan's and the Parquet scan's."""
    _, out = floe(binary, warehouse, [f"EXPLAIN ANALYZE {sql}"], fmt="csv")
    plan = next(row for row in csv.reader(io.StringIO(out)) if row and row[0] == "Plan with Metrics")[1]
    iceberg = re.search(r"IcebergScanExec: .*?manifests=(\d+ of \d+), data_files=(\d+ of \d+)", plan)
    keys = ["row_groups_pruned_statistics", "page_index_rows_pruned", "bytes_scanned"]
    parquet = {key: re.findall(rf"{key}=([^,\]]+)", plan) for key in keys}
    return {
        "manifests read": iceberg.group(1),
        "data files read": iceberg.group(2),
        "row groups (pruned by statistics)": "; ".join(parquet[keys[0]]),
        "page index rows": "; ".join(parquet[keys[1]]),
        "bytes read": "; ".join(parquet[keys[2]]),
    }


def build_many_files(binary, warehouse, files, manifests):
    """A table of `files` one-file partitions committed by `manifests` INSERTs (one
    manifest each); skipped when already there."""
    per_insert = files // manifests
    have = warehouse / f"{MANY}-{files}-{manifests}"
    if have.exists():
        return
    rows_per_file = 10
    statements = [f"DROP TABLE IF EXISTS {MANY}",
                  f"CREATE TABLE {MANY} (part INT NOT NULL, id BIGINT NOT NULL, v DOUBLE) "
                  f"PARTITIONED BY (part)"]
    for i in range(manifests):
        first = i * per_insert * rows_per_file
        statements.append(
            f"INSERT INTO {MANY} SELECT CAST(value / {rows_per_file} AS INT), value, value * 0.5 "
            f"FROM generate_series({first}, {first + per_insert * rows_per_file - 1})")
    started = time.perf_counter()
    floe(binary, warehouse, statements)
    print(f"built {MANY}: {manifests} INSERTs in {time.perf_counter() - started:.0f} s", flush=True)
    have.touch()


def planning(binary, warehouse, files, runs):
    """Warm EXPLAIN times (ms) of selective queries on the many-files table."""
    middle_part = files // 2 + 7
    queries = {
        "partition = k (prunes manifests by partition summaries)":
            f"SELECT * FROM {MANY} WHERE part = {middle_part}",
        "id = k (no partition filter: every manifest read, files pruned by bounds)":
            f"SELECT * FROM {MANY} WHERE id = {middle_part * 10 + 3}",
    }
    results = {}
    for label, sql in queries.items():
        # The first EXPLAIN fills the caches; the rest are warm.
        times, _ = floe(binary, warehouse, [f"EXPLAIN {sql}"] * (runs + 1))
        counters = explain_counters(binary, warehouse, sql)
        results[label] = (times[0], sorted(times[1:]), counters)
    return results


def load_average():
    """The 1-, 5- and 15-minute load averages: how much else ran on the machine."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def merge(times, more):
    """Adds the runs of `more` to `times` ({query: [ms]})."""
    for name, runs in more.items():
        times.setdefault(name, []).extend(runs)


def fastest(times):
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="1")
    parser.add_argument("--floe", default=str(DEFAULT_FLOE))
    parser.add_argument("--runs", type=int, default=3, help="runs of each query, fastest kept")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--manifests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds in which the engines take turns; fastest of all rounds kept")
    parser.add_argument("--skip-tpch", action="store_true")
    args = parser.parse_args()
    binary = args.floe
    if not Path(binary).exists():
        raise SystemExit(f"no floe binary at {binary}; build it or pass --floe")
    py = python()
    cache = Path.home() / ".cache" / "floe"
    data = cache / f"tpch-sf{args.scale}"
    data.mkdir(parents=True, exist_ok=True)
    generate(py, data, args.scale)
    warehouse = cache / f"bench-scan-sf{args.scale}"
    warehouse.mkdir(exist_ok=True)
    load(binary, warehouse, data)

    locations = metadata_locations(warehouse)
    folders = {name: str(warehouse / "public" / name / "data") for name, _, _ in TABLES}
    duck_tables = {name: locations[name] for name, _, _ in TABLES}

    print(f"# Scan benchmark, TPC-H SF{args.scale}, floe {binary}\n")
    print(f"Load average at the start: {load_average()}\n")
    print("| table | data files | MiB |\n|---|---|---|")
    for name in ["lineitem_month", "lineitem_flat", "lineitem_sorted", "orders"]:
        files, mib = layout(binary, warehouse, name)
        print(f"| {name} | {files} | {mib} |")
    print()

    if not args.skip_tpch:
        for variant, lineitem in VARIANTS.items():
            queries = [(q.stem, query_text(q, lineitem)) for q in QUERIES]
            floe_t, duck_t, df_t = {}, {}, {}
            # The engines take turns, so that a slow spell of this shared machine falls
            # on all of them rather than on one.
            for _ in range(args.rounds):
                merge(floe_t, floe_queries(binary, warehouse, queries, args.runs))
                merge(duck_t, reference_queries(py, "duckdb", duck_tables, queries, args.runs))
                merge(df_t, reference_queries(py, "datafusion", folders, queries, args.runs))
            print(f"## 22 TPC-H queries, lineitem {variant} ({lineitem}); "
                  f"ms, fastest of {args.runs} runs x {args.rounds} rounds\n")
            print("| query | Floe | DuckDB iceberg_scan | DataFusion Parquet | Floe/DuckDB | Floe/DataFusion |")
            print("|---|---|---|---|---|---|")
            totals = [0.0, 0.0, 0.0]
            for name, _ in queries:
                f, d, x = (fastest(t[name]) for t in (floe_t, duck_t, df_t))
                totals = [totals[0] + f, totals[1] + d, totals[2] + x]
                print(f"| {name} | {f:.0f} | {d:.0f} | {x:.0f} | {f / d:.2f} | {f / x:.2f} |")
            f, d, x = totals
            print(f"| **total** | **{f:.0f}** | **{d:.0f}** | **{x:.0f}** | "
                  f"**{f / d:.2f}** | **{f / x:.2f}** |\n")
            print(f"Targets: Floe/DuckDB <= 0.90 ({'met' if f / d <= 0.9 else 'NOT met'}), "
                  f"Floe/DataFusion <= 1.05 ({'met' if f / x <= 1.05 else 'NOT met'}).\n", flush=True)

    # Selective queries.
    # An order key in the middle (TPC-H uses the first 8 of every 32 keys).
    key = int(3_000_000 * float(args.scale)) // 32 * 32 + 1
    selective = [("10-day l_shipdate range, lineitem_month", RANGE_QUERY),
                 (f"l_orderkey = {key}, lineitem_sorted", KEY_QUERY.format(key=key))]
    runs = max(args.runs, 5)
    floe_t = floe_queries(binary, warehouse, selective, runs)
    duck_t = reference_queries(py, "duckdb", duck_tables, selective, runs)
    df_t = reference_queries(py, "datafusion", folders, selective, runs)
    print(f"## Selective queries; ms, fastest of {runs} (median in brackets)\n")
    print("| query | Floe | DuckDB iceberg_scan | DataFusion Parquet | Floe/DuckDB |")
    print("|---|---|---|---|---|")
    for name, _ in selective:
        f, d, x = (fastest(t[name]) for t in (floe_t, duck_t, df_t))
        med = [statistics.median(t[name]) for t in (floe_t, duck_t, df_t)]
        print(f"| {name} | {f:.1f} ({med[0]:.1f}) | {d:.1f} ({med[1]:.1f}) | "
              f"{x:.1f} ({med[2]:.1f}) | {f / d:.2f} |")
    print()
    for name, sql in selective:
        print(f"Floe EXPLAIN ANALYZE, {name}:")
        for counter, value in explain_counters(binary, warehouse, sql).items():
            print(f"  - {counter}: {value}")
    print(flush=True)

    # Planning time.
    build_many_files(binary, warehouse, args.files, args.manifests)
    files, mib = layout(binary, warehouse, MANY)
    print(f"## Planning: EXPLAIN on {MANY} ({files} data files, {args.manifests} manifests, "
          f"{mib} MiB); ms\n")
    print("| selective query | first (cold) | warm: fastest | warm: median | manifests read | data files read |")
    print("|---|---|---|---|---|---|")
    for label, (cold, warm, counters) in planning(binary, warehouse, args.files, runs).items():
        print(f"| {label} | {cold:.1f} | {warm[0]:.1f} | {statistics.median(warm):.1f} | "
              f"{counters['manifests read']} | {counters['data files read']} |")
    print(f"\nLoad average at the end: {load_average()}")


if __name__ == "__main__":
    main()
