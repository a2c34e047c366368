"""Interop between Floe and pyiceberg over one warehouse (SQLite SQL catalog named "floe").

Both directions: pyiceberg reads tables Floe wrote (rows, schema, partition spec, and the
partition value recorded for every data file), and Floe reads a partitioned table that
pyiceberg wrote. Also checks that Floe opens a catalog.db made by older pyiceberg releases,
whose iceberg_tables lacks the iceberg_type column.

Row-level deletes: Floe reads position deletes pyiceberg committed, and pyiceberg reads
position deletes Floe's commit path committed (the warehouse FLOE_DELETES_FIXTURE, left by
the Rust test position_deletes_fixture_for_pyiceberg) with the same rows as Floe.

After OPTIMIZE (bin-packing, SORT BY and ZORDER BY), VACUUM and rollback, both pyiceberg
and DuckDB's iceberg_scan read the table's rows as Floe does. DuckDB's iceberg and avro
extensions come from the pinned duckdb-extension-* wheels and are loaded from their files,
so nothing is downloaded.

Usage: FLOE_BIN=path/to/floe FLOE_DELETES_FIXTURE=dir python pyiceberg_interop.py
"""

import csv
import datetime as dt
import importlib.util
import io
import os
import sqlite3
import subprocess
import sys
import tempfile
from decimal import Decimal

import duckdb
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform, DayTransform, IdentityTransform
from pyiceberg.types import (
    DoubleType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)

FLOE = os.environ["FLOE_BIN"]
DELETES_FIXTURE = os.environ["FLOE_DELETES_FIXTURE"]
checks = 0


def floe(warehouse, sql):
    """Runs SQL through the floe binary; returns the CSV rows of the last result."""
    done = subprocess.run(
        [FLOE, "--warehouse", warehouse, "--format", "csv", "--quiet", "-c", sql],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise AssertionError(f"floe failed on {sql!r}: {done.stderr}")
    return list(csv.reader(io.StringIO(done.stdout)))


def catalog(warehouse):
    return SqlCatalog(
        "floe",
        uri=f"sqlite:///{warehouse}/catalog.db",
        warehouse=f"file://{warehouse}",
    )


def check(condition, message):
    global checks
    checks += 1
    if not condition:
        raise AssertionError(message)


def pyiceberg_reads_floe_tables(warehouse):
    floe(
        warehouse,
        """
        CREATE SCHEMA sales;
        CREATE TABLE sales.plain (id BIGINT NOT NULL, name VARCHAR, price DECIMAL(10, 2));
        INSERT INTO sales.plain VALUES (1, 'apple', 1.25), (2, 'pear', NULL), (3, NULL, 3.00);
        CREATE TABLE sales.events (id BIGINT NOT NULL, kind VARCHAR, at TIMESTAMP, v DOUBLE)
          PARTITIONED BY (day(at), kind, bucket(4, id));
        INSERT INTO sales.events VALUES
          (1, 'click', '2024-03-01 10:00:00', 1.5),
          (2, 'click', '2024-03-01 23:59:59', 2.5),
          (3, 'view',  '2024-03-02 00:00:00', 3.5),
          (4, NULL,    NULL, NULL);
        INSERT INTO sales.events VALUES (5, 'view', '2024-03-02 12:00:00', 4.5);
        """,
    )
    cat = catalog(warehouse)
    check(("sales",) in cat.list_namespaces(), "pyiceberg sees schema sales")
    check(
        sorted(cat.list_tables("sales")) == [("sales", "events"), ("sales", "plain")],
        f"pyiceberg lists Floe's tables: {cat.list_tables('sales')}",
    )

    plain = cat.load_table("sales.plain")
    rows = plain.scan().to_arrow().sort_by("id").to_pylist()
    check(
        rows
        == [
            {"id": 1, "name": "apple", "price": Decimal("1.25")},
            {"id": 2, "name": "pear", "price": None},
            {"id": 3, "name": None, "price": Decimal("3.00")},
        ],
        f"plain table rows: {rows}",
    )
    check(plain.schema().find_field("id").required, "NOT NULL column is required")
    check(plain.spec().is_unpartitioned(), "plain table is unpartitioned")

    events = cat.load_table("sales.events")
    spec = [(f.name, str(f.transform)) for f in events.spec().fields]
    check(
        spec == [("at_day", "day"), ("kind", "identity"), ("id_bucket_4", "bucket[4]")],
        f"partition spec: {spec}",
    )
    check(len(events.snapshots()) == 2, "one snapshot per INSERT")
    summary = events.current_snapshot().summary
    check(summary["total-records"] == "5", f"snapshot totals: {summary}")
    rows = events.scan().to_arrow().sort_by("id").to_pylist()
    check([r["id"] for r in rows] == [1, 2, 3, 4, 5], f"event ids: {rows}")
    check(rows[0]["at"] == dt.datetime(2024, 3, 1, 10, 0), f"timestamp value: {rows[0]}")

    # Every data file's recorded partition matches the transforms of the rows inside it.
    bucket = BucketTransform(4).transform(LongType())
    files = events.inspect.files().to_pylist()
    check(len(files) >= 4, f"rows spread over partitions: {len(files)} files")
    for file in files:
        part = file["partition"]
        data = pa.parquet.read_table(file["file_path"].removeprefix("file://")).to_pylist()
        for row in data:
            day = None if row["at"] is None else row["at"].date()
            check(part["at_day"] == day, f"day partition of {row} in {part}")
            check(part["kind"] == row["kind"], f"identity partition of {row} in {part}")
            check(part["id_bucket_4"] == bucket(row["id"]), f"bucket partition of {row}")
        check(file["record_count"] == len(data), "record count matches the file")


def floe_reads_pyiceberg_table(warehouse):
    cat = catalog(warehouse)
    cat.create_namespace("py")
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "city", StringType(), required=False),
        NestedField(3, "at", TimestampType(), required=False),
        NestedField(4, "temp", DoubleType(), required=False),
    )
    spec = PartitionSpec(
        PartitionField(2, 1000, IdentityTransform(), "city"),
        PartitionField(3, 1001, DayTransform(), "at_day"),
    )
    table = cat.create_table("py.weather", schema=schema, partition_spec=spec)
    arrow_schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("city", pa.string()),
            pa.field("at", pa.timestamp("us")),
            pa.field("temp", pa.float64()),
        ]
    )
    table.append(
        pa.Table.from_pylist(
            [
                {"id": 1, "city": "Oslo", "at": dt.datetime(2024, 1, 1, 6), "temp": -3.5},
                {"id": 2, "city": "Oslo", "at": dt.datetime(2024, 1, 2, 6), "temp": -7.0},
                {"id": 3, "city": "Lima", "at": dt.datetime(2024, 1, 1, 6), "temp": 22.0},
            ],
            schema=arrow_schema,
        )
    )
    table.append(
        pa.Table.from_pylist(
            [{"id": 4, "city": None, "at": None, "temp": None}], schema=arrow_schema
        )
    )
    rows = floe(warehouse, "SELECT id, city, at, temp FROM py.weather ORDER BY id")
    check(
        rows
        == [
            ["id", "city", "at", "temp"],
            ["1", "Oslo", "2024-01-01T06:00:00", "-3.5"],
            ["2", "Oslo", "2024-01-02T06:00:00", "-7.0"],
            ["3", "Lima", "2024-01-01T06:00:00", "22.0"],
            ["4", "", "", ""],
        ],
        f"Floe reads pyiceberg's rows: {rows}",
    )
    rows = floe(warehouse, "SELECT city, count(*) AS n FROM py.weather WHERE city = 'Oslo' GROUP BY city")
    check(rows == [["city", "n"], ["Oslo", "2"]], f"filtered aggregate: {rows}")
    # Floe appends to pyiceberg's table; pyiceberg sees the new snapshot.
    floe(warehouse, "INSERT INTO py.weather VALUES (5, 'Lima', '2024-01-03 06:00:00', 21.0)")
    table = cat.load_table("py.weather")
    check(len(table.snapshots()) == 3, "Floe's INSERT added a snapshot")
    check(table.scan().to_arrow().num_rows == 5, "pyiceberg reads Floe's appended row")
    described = floe(warehouse, "DESCRIBE py.weather")
    check(
        [r[0] for r in described[1:]] == ["id", "city", "at", "temp"]
        and described[2][3] == "city"
        and described[3][3] == "day(at)",
        f"DESCRIBE shows pyiceberg's spec: {described}",
    )


def floe_opens_legacy_catalog(warehouse):
    """A catalog made by pyiceberg before iceberg_type existed (apache/iceberg-rust#2068)."""
    cat = catalog(warehouse)
    cat.create_namespace("legacy")
    table = cat.create_table(
        "legacy.t", schema=Schema(NestedField(1, "x", LongType(), required=False))
    )
    table.append(pa.Table.from_pylist([{"x": 7}], schema=pa.schema([pa.field("x", pa.int64())])))
    del cat
    db = sqlite3.connect(f"{warehouse}/catalog.db")
    db.executescript(
        """
        CREATE TABLE v0 AS SELECT catalog_name, table_namespace, table_name,
          metadata_location, previous_metadata_location FROM iceberg_tables;
        DROP TABLE iceberg_tables;
        CREATE TABLE iceberg_tables (
          catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL,
          table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000),
          previous_metadata_location VARCHAR(1000),
          PRIMARY KEY (catalog_name, table_namespace, table_name));
        INSERT INTO iceberg_tables SELECT * FROM v0;
        DROP TABLE v0;
        """
    )
    db.close()
    rows = floe(warehouse, "SELECT x FROM legacy.t")
    check(rows == [["x"], ["7"]], f"Floe reads a legacy catalog: {rows}")
    floe(warehouse, "INSERT INTO legacy.t VALUES (8)")
    check(catalog(warehouse).load_table("legacy.t").scan().to_arrow().num_rows == 2, "legacy append")


def floe_reads_columns_by_field_id(warehouse):
    """After pyiceberg renames a column and drops and re-adds another, old files still hold
    the old names; Floe must read them by field id."""
    floe(
        warehouse,
        "CREATE TABLE r (id BIGINT, old_name VARCHAR, gone INT);"
        "INSERT INTO r VALUES (1, 'a', 100), (2, 'b', 200);",
    )
    table = catalog(warehouse).load_table("public.r")
    with table.update_schema() as update:
        update.rename_column("old_name", "new_name")
    with table.update_schema() as update:
        update.delete_column("gone")
    with table.update_schema() as update:
        update.add_column("gone", IntegerType())
    rows = floe(warehouse, "SELECT id, new_name, gone FROM r ORDER BY id")
    check(rows == [["id", "new_name", "gone"], ["1", "a", ""], ["2", "b", ""]], f"by field id: {rows}")
    rows = floe(warehouse, "SELECT id FROM r WHERE new_name = 'b'")
    check(rows == [["id"], ["2"]], f"filter on a renamed column: {rows}")
    floe(warehouse, "INSERT INTO r VALUES (3, 'c', 300)")
    rows = floe(warehouse, "SELECT id, new_name, gone FROM r ORDER BY id")
    check(rows[1:] == [["1", "a", ""], ["2", "b", ""], ["3", "c", "300"]], f"after an append: {rows}")
    rows = catalog(warehouse).load_table("public.r").scan().to_arrow().sort_by("id").to_pylist()
    check(rows[2] == {"id": 3, "new_name": "c", "gone": 300}, f"pyiceberg reads Floe's append: {rows}")


def duckdb_with_iceberg():
    """A DuckDB connection with the iceberg extension loaded from its wheel, offline."""
    con = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    # The iceberg extension reads manifests with the avro extension: load that first.
    for name in ("avro", "iceberg"):
        package = importlib.util.find_spec(f"duckdb_extension_{name}")
        path = os.path.join(
            os.path.dirname(package.origin),
            "extensions",
            f"v{duckdb.__version__}",
            f"{name}.duckdb_extension",
        )
        con.execute(f"LOAD '{path}'")
    return con


def pyiceberg_reads_after_optimize_vacuum_and_rollback(warehouse):
    floe(
        warehouse,
        """
        CREATE TABLE life (day INT NOT NULL, id BIGINT) PARTITIONED BY (day);
        INSERT INTO life VALUES (1, 1), (2, 2);
        INSERT INTO life VALUES (1, 3), (2, 4);
        INSERT INTO life VALUES (1, 5);
        """,
    )

    def py_ids():
        table = catalog(warehouse).load_table("public.life")
        return sorted(table.scan().to_arrow().column("id").to_pylist())

    duck = duckdb_with_iceberg()

    def duck_ids():
        """The ids DuckDB reads from the table's current metadata file."""
        location = catalog(warehouse).load_table("public.life").metadata_location
        location = location.removeprefix("file://")
        rows = duck.execute(f"SELECT id FROM iceberg_scan('{location}') ORDER BY id").fetchall()
        return [row[0] for row in rows]

    def same_rows(expected, moment):
        check(py_ids() == expected, f"pyiceberg rows after {moment}: {py_ids()}")
        check(duck_ids() == expected, f"DuckDB rows after {moment}: {duck_ids()}")

    rows = floe(warehouse, "OPTIMIZE life")
    check(rows[1][:2] == ["5", "2"], f"OPTIMIZE rewrote 5 files into 2: {rows}")
    table = catalog(warehouse).load_table("public.life")
    summary = table.current_snapshot().summary
    check(summary.operation.value == "replace", f"replace snapshot: {summary}")
    check(summary["total-records"] == "5" and summary["total-data-files"] == "2", f"totals: {summary}")
    same_rows([1, 2, 3, 4, 5], "OPTIMIZE")
    files = table.inspect.files()
    check(files.num_rows == 2, f"pyiceberg sees the compacted files: {files.num_rows}")

    # Re-clustering rewrites each partition's file in a new order.
    floe(warehouse, "OPTIMIZE life SORT BY (id DESC)")
    same_rows([1, 2, 3, 4, 5], "OPTIMIZE SORT BY")
    table = catalog(warehouse).load_table("public.life")
    in_file_order = table.scan(row_filter="day = 1").to_arrow().column("id").to_pylist()
    check(in_file_order == [5, 3, 1], f"the day 1 file is sorted by id descending: {in_file_order}")
    floe(warehouse, "OPTIMIZE life ZORDER BY (day, id)")
    same_rows([1, 2, 3, 4, 5], "OPTIMIZE ZORDER BY")

    floe(warehouse, "SET floe.vacuum.min_retention = '0s'; VACUUM life RETAIN 0 HOURS")
    table = catalog(warehouse).load_table("public.life")
    check(len(table.snapshots()) == 1, f"VACUUM expired old snapshots: {len(table.snapshots())}")
    same_rows([1, 2, 3, 4, 5], "VACUUM")
    parquet = [
        name
        for root, _, names in os.walk(os.path.join(warehouse, "public", "life", "data"))
        for name in names
        if name.endswith(".parquet")
    ]
    check(len(parquet) == 2, f"VACUUM deleted the rewritten files: {parquet}")

    floe(warehouse, "INSERT INTO life VALUES (3, 6)")
    before = table.current_snapshot().snapshot_id
    same_rows([1, 2, 3, 4, 5, 6], "an INSERT")
    floe(warehouse, f"ALTER TABLE life EXECUTE rollback_to_snapshot({before})")
    table = catalog(warehouse).load_table("public.life")
    check(table.current_snapshot().snapshot_id == before, "rollback made the old snapshot current")
    same_rows([1, 2, 3, 4, 5], "rollback")
    # And forward again with the ROLLBACK TABLE form, after a new commit on the old state.
    floe(warehouse, "INSERT INTO life VALUES (4, 7)")
    same_rows([1, 2, 3, 4, 5, 7], "an INSERT after rollback")
    floe(warehouse, f"ROLLBACK TABLE life TO SNAPSHOT {before}")
    same_rows([1, 2, 3, 4, 5], "ROLLBACK TABLE")


def add_position_deletes(table, deletes_by_file):
    """Writes one position delete file (the spec's file_path/pos layout) per partition and
    commits them as a delete snapshot, as merge-on-read writers do. pyiceberg's own
    Table.delete() rewrites data files instead (copy-on-write), so its manifest and
    snapshot machinery is driven directly here. `deletes_by_file` maps a data file to the
    row positions to delete."""
    import pyarrow.parquet as pq
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat, ManifestContent, ManifestWriterV2
    from pyiceberg.table.snapshots import Operation
    from pyiceberg.table.update.snapshot import _FastAppendFiles

    class DeleteManifestWriter(ManifestWriterV2):
        def content(self):
            return ManifestContent.DELETES

        @property
        def _meta(self):
            return {**super()._meta, "content": "deletes"}

    class AddDeleteFiles(_FastAppendFiles):
        def new_manifest_writer(self, spec):
            return DeleteManifestWriter(spec, self.schema(), self.new_manifest_output(), self._snapshot_id, self._compression)

    delete_schema = pa.schema(
        [
            pa.field("file_path", pa.string(), nullable=False, metadata={b"PARQUET:field_id": b"2147483546"}),
            pa.field("pos", pa.int64(), nullable=False, metadata={b"PARQUET:field_id": b"2147483545"}),
        ]
    )
    delete_files = []
    for data_file, positions in deletes_by_file:
        path = f"{table.location()}/data/pos-deletes-{len(delete_files)}.parquet"
        local = path.removeprefix("file://")
        batch = pa.table({"file_path": [data_file.file_path] * len(positions), "pos": positions}, schema=delete_schema)
        pq.write_table(batch, local)
        delete_files.append(
            DataFile.from_args(
                content=DataFileContent.POSITION_DELETES,
                file_path=path,
                file_format=FileFormat.PARQUET,
                partition=data_file.partition,
                record_count=len(positions),
                file_size_in_bytes=os.path.getsize(local),
                spec_id=data_file.spec_id,
            )
        )
    with table.transaction() as tx:
        producer = AddDeleteFiles(operation=Operation.DELETE, transaction=tx, io=table.io)
        for delete_file in delete_files:
            producer.append_data_file(delete_file)
        producer.commit()


def floe_reads_position_deletes_written_by_pyiceberg(warehouse):
    cat = catalog(warehouse)
    cat.create_namespace("py")
    schema = Schema(
        NestedField(1, "id", IntegerType(), required=False),
        NestedField(2, "city", StringType(), required=False),
    )
    spec = PartitionSpec(PartitionField(source_id=2, field_id=1000, transform=IdentityTransform(), name="city"))
    table = cat.create_table("py.people", schema=schema, partition_spec=spec)
    table.append(
        pa.table(
            {"id": pa.array([1, 2, 3, 4, 5, 6], pa.int32()), "city": ["Oslo", "Oslo", "Oslo", "Lima", "Lima", "Lima"]},
        )
    )
    files = {task.file.partition[0]: task.file for task in table.scan().plan_files()}
    # Rows are written in order within each partition: delete Oslo's 2nd and Lima's 1st and 3rd.
    add_position_deletes(table, [(files["Oslo"], [1]), (files["Lima"], [0, 2])])
    table = cat.load_table("py.people")
    expected = sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])
    check([r["id"] for r in expected] == [1, 3, 5], f"pyiceberg applies its position deletes: {expected}")
    rows = floe(warehouse, "SELECT id, city FROM py.people ORDER BY id")
    check(rows[1:] == [[str(r["id"]), r["city"]] for r in expected], f"Floe applies them alike: {rows}")
    rows = floe(warehouse, "SELECT count(*) AS n FROM py.people")
    check(rows == [["n"], ["3"]], f"count(*) with deletes is counted, not read from manifests: {rows}")
    rows = floe(warehouse, "SELECT id FROM py.people WHERE city = 'Lima'")
    check(rows == [["id"], ["5"]], f"a partition filter with deletes: {rows}")
    # Rows Floe appends afterwards are not hidden by the older position deletes.
    floe(warehouse, "INSERT INTO py.people VALUES (7, 'Lima')")
    rows = floe(warehouse, "SELECT id FROM py.people ORDER BY id")
    check(rows == [["id"], ["1"], ["3"], ["5"], ["7"]], f"after Floe's append: {rows}")
    ids = sorted(r["id"] for r in cat.load_table("py.people").scan().to_arrow().to_pylist())
    check(ids == [1, 3, 5, 7], f"pyiceberg reads the table the same after Floe's append: {ids}")


def pyiceberg_reads_position_deletes_committed_by_floe(warehouse):
    table = catalog(warehouse).load_table("public.pd")
    snapshots = sorted(table.snapshots(), key=lambda s: s.sequence_number)
    operations = [s.summary.operation.value for s in snapshots]
    check(operations == ["append", "delete", "append"], f"Floe's delete snapshot: {operations}")
    summary = snapshots[1].summary
    check(summary["added-position-delete-files"] == "2", f"delete snapshot summary: {summary}")
    ids = sorted(r["id"] for r in table.scan().to_arrow().to_pylist())
    rows = floe(warehouse, "SELECT id FROM pd ORDER BY id")
    check(rows[1:] == [[str(i)] for i in ids], f"pyiceberg {ids} and Floe {rows} read the same rows")
    check(ids == [1, 3, 4, 6], f"pyiceberg applies Floe's position deletes: {ids}")


def readers_agree_after_manifests_merge(warehouse):
    """Appends that merge manifests (min-count-to-merge 3) leave a table pyiceberg and DuckDB
    read whole, with the merged manifest's entries as existing files."""
    inserts = "\n".join(f"INSERT INTO merged VALUES ({n % 3}, {n});" for n in range(1, 8))
    floe(
        warehouse,
        "CREATE TABLE merged (day INT, id BIGINT) PARTITIONED BY (day) "
        "WITH ('commit.manifest.min-count-to-merge' = '3');\n" + inserts,
    )
    table = catalog(warehouse).load_table("public.merged")
    manifests = table.current_snapshot().manifests(table.io)
    check(len(manifests) < 7, f"seven appends left fewer than seven manifests: {len(manifests)}")
    existing = sum(m.existing_files_count or 0 for m in manifests)
    check(existing > 0, f"a merged manifest lists existing files: {existing}")
    ids = sorted(table.scan().to_arrow().column("id").to_pylist())
    check(ids == list(range(1, 8)), f"pyiceberg reads every row after merging: {ids}")
    day_1 = sorted(table.scan(row_filter="day = 1").to_arrow().column("id").to_pylist())
    check(day_1 == [1, 4, 7], f"pyiceberg prunes through merged manifests: {day_1}")
    location = table.metadata_location.removeprefix("file://")
    rows = duckdb_with_iceberg().execute(
        f"SELECT id FROM iceberg_scan('{location}') ORDER BY id"
    ).fetchall()
    check([r[0] for r in rows] == list(range(1, 8)), f"DuckDB reads every row: {rows}")


def main():
    pyiceberg_reads_position_deletes_committed_by_floe(DELETES_FIXTURE)
    print("ok   pyiceberg_reads_position_deletes_committed_by_floe")
    tests = (
        floe_reads_position_deletes_written_by_pyiceberg,
        pyiceberg_reads_after_optimize_vacuum_and_rollback,
        readers_agree_after_manifests_merge,
        pyiceberg_reads_floe_tables,
        floe_reads_pyiceberg_table,
        floe_opens_legacy_catalog,
        floe_reads_columns_by_field_id,
    )
    for test in tests:
        with tempfile.TemporaryDirectory() as warehouse:
            test(os.path.realpath(warehouse))
            print(f"ok   {test.__name__}")
    print(f"interop: {checks} passed, 0 failed")


if __name__ == "__main__":
    sys.exit(main())
