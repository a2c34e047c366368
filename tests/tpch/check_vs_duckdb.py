"""The 22 TPC-H queries through Floe, checked against DuckDB on the same data.

tpchgen-cli writes the eight tables as Parquet; Floe loads them into Iceberg tables
(lineitem partitioned by month(l_shipdate), orders by year(o_orderdate), so planning prunes
partitions on the way) and answers each query in tests/tpch/queries; DuckDB answers the same
query text over the Parquet files. Results are compared row by row after sorting both sides
(rows tied under a query's ORDER BY may come back in any order), numbers with a tolerance
for the different decimal and floating-point arithmetic of the two engines.

Environment: FLOE_BIN (the floe binary), TPCH_SF (scale factor, default 0.01).
"""

import csv
import io
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
QUERIES = sorted((HERE / "queries").glob("q*.sql"))
TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]
PARTITIONING = {
    "lineitem": "PARTITIONED BY (month(l_shipdate))",
    "orders": "PARTITIONED BY (year(o_orderdate))",
}


def floe(warehouse: Path, *args: str) -> str:
    run = subprocess.run(
        [os.environ["FLOE_BIN"], "--warehouse", str(warehouse), "--quiet", *args],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"floe {' '.join(args)} failed:\n{run.stderr}")
    return run.stdout


def generate(data: Path, scale: str) -> None:
    tpchgen = Path(sys.executable).parent / "tpchgen-cli"
    subprocess.run(
        [str(tpchgen), "parquet", "-s", scale, f"--output-dir={data}"],
        check=True,
        capture_output=True,
    )


def load_into_floe(warehouse: Path, data: Path) -> None:
    script = []
    for table in TABLES:
        script.append(
            f"CREATE EXTERNAL TABLE {table}_src STORED AS PARQUET "
            f"LOCATION '{data / (table + '.parquet')}';"
        )
        script.append(
            f"CREATE TABLE {table} {PARTITIONING.get(table, '')} AS SELECT * FROM {table}_src;"
        )
    floe(warehouse, "-c", "\n".join(script))


def canonical(value):
    """A value both engines print alike: a float when it is a number, else its text."""
    if value is None or value == "":
        return ("", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ("n", float(value))
    text = str(value)
    try:
        return ("n", float(text))
    except ValueError:
        return ("s", text)


def same(a, b) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "n":
        return math.isclose(a[1], b[1], rel_tol=1e-9, abs_tol=1e-6)
    return a[1] == b[1]


def sort_key(row):
    return [(kind, round(v, 2) if kind == "n" else (v or "")) for kind, v in row]


def compare(name: str, floe_rows, duck_rows) -> list[str]:
    if len(floe_rows) != len(duck_rows):
        return [f"{name}: {len(floe_rows)} rows from Floe, {len(duck_rows)} from DuckDB"]
    problems = []
    left = sorted(([canonical(v) for v in row] for row in floe_rows), key=sort_key)
    right = sorted(([canonical(v) for v in row] for row in duck_rows), key=sort_key)
    for i, (a, b) in enumerate(zip(left, right)):
        if len(a) != len(b) or not all(same(x, y) for x, y in zip(a, b)):
            problems.append(f"{name}: row {i} differs: Floe {a} vs DuckDB {b}")
            break
    return problems


def main() -> int:
    scale = os.environ.get("TPCH_SF", "0.01")
    with tempfile.TemporaryDirectory(prefix="floe-tpch-") as tmp:
        data, warehouse = Path(tmp) / "data", Path(tmp) / "warehouse"
        generate(data, scale)
        load_into_floe(warehouse, data)

        duck = duckdb.connect()
        for table in TABLES:
            duck.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{data / (table + '.parquet')}')"
            )

        failures, checked = [], 0
        for query in QUERIES:
            sql = query.read_text()
            out = floe(warehouse, "--format", "csv", "-f", str(query))
            # A row of one NULL is an empty CSV line, which the reader turns into [].
            floe_rows = [row or [""] for row in csv.reader(io.StringIO(out))][1:]
            duck_rows = duck.execute(sql).fetchall()
            if all(value is None for row in duck_rows for value in row):
                failures.append(f"{query.stem}: the answer is empty or NULL; the check is void")
            failures += compare(query.stem, floe_rows, duck_rows)
            checked += 1
            print(f"  {query.stem}: {len(floe_rows)} rows", flush=True)

    for failure in failures:
        print(f"FAIL {failure}")
    failed = {failure.split(":")[0] for failure in failures}
    print(f"tpch (SF {scale}): {checked - len(failed)} of {checked} queries match DuckDB")
    return 1 if failures or checked != 22 else 0


if __name__ == "__main__":
    sys.exit(main())
