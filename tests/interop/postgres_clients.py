"""Python PostgreSQL clients against `floe serve`: psycopg 3 (parameters in text and
binary, a named server-side cursor, COPY in binary format both ways, uuid, nested
arrays), psycopg2, asyncpg (every scalar column type, prepared-statement type
introspection, a cursor, arrays through its type-introspection query, uuid), SQLAlchemy
(inspector table listing, column reflection, `Table(..., autoload_with=engine)`,
parameters), pandas.read_sql, and the type-loading queries Npgsql (Power BI's driver)
sends on connecting.

Run by tests/interop/run.sh; FLOE_BIN names the floe binary.
"""

import asyncio
import datetime
import decimal
import os
import re
import subprocess
import sys
import tempfile
import uuid

import asyncpg
import pandas
import psycopg
import psycopg2
import sqlalchemy

FLOE = os.environ.get("FLOE_BIN", "floe")

ROW = (
    True,
    1,
    2**40,
    3,
    1.5,
    2.25,
    decimal.Decimal("12.34"),
    "varchar é",
    datetime.date(2024, 1, 2),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 678000),
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    datetime.time(1, 2, 3),
    b"\x00\x01\xff",
)
COLUMNS = "b, i, bi, s, r, d, n, v, dt, ts, tstz, tm, by"


def start_server(warehouse):
    server = subprocess.Popen(
        [FLOE, "--warehouse", warehouse, "serve", "--listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    line = server.stderr.readline()
    match = re.search(r"postgresql://127\.0\.0\.1:(\d+)", line)
    if not match:
        server.kill()
        sys.exit(f"floe serve did not start: {line!r}")
    return server, int(match.group(1))


def check_psycopg(port):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=floe dbname=floe", autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE all_types (b BOOLEAN, i INT, bi BIGINT, s SMALLINT, r REAL, "
            "d DOUBLE, n DECIMAL(10, 2), v VARCHAR, dt DATE, ts TIMESTAMP, tstz TIMESTAMPTZ, "
            "tm TIME, by BYTEA)"
        )
        placeholders = ", ".join(["%s"] * len(ROW))
        conn.execute(f"INSERT INTO all_types ({COLUMNS}) VALUES ({placeholders})", ROW)
        conn.execute(
            f"INSERT INTO all_types ({COLUMNS}) VALUES ({placeholders})",
            (None,) * len(ROW),
        )
        for binary in (False, True):
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM all_types WHERE i = %s", (1,), binary=binary
            ).fetchall()
            assert rows == [ROW], (binary, rows)
        nulls = conn.execute(f"SELECT {COLUMNS} FROM all_types WHERE i IS NULL").fetchone()
        assert nulls == (None,) * len(ROW), nulls

        # uuid: bound as uuid.UUID, read back as uuid.UUID, in text and binary.
        conn.execute("CREATE TABLE keyed (id UUID, n INT)")
        key = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
        conn.execute("INSERT INTO keyed VALUES (%s, %s)", (key, 7))
        for binary in (False, True):
            found = conn.execute(
                "SELECT id, n FROM keyed WHERE id = %s", (key,), binary=binary
            ).fetchall()
            assert found == [(key, 7)], (binary, found)
        # uuids written as text: a literal compared with the column, and inserted.
        conn.execute("INSERT INTO keyed VALUES ('5b1f0e4e-8c1d-4b8e-9f3a-1c2d3e4f5a6b', 8)")
        found = conn.execute(
            "SELECT id, n FROM keyed WHERE id = '5b1f0e4e-8c1d-4b8e-9f3a-1c2d3e4f5a6b'"
        ).fetchall()
        assert found == [(uuid.UUID("5b1f0e4e-8c1d-4b8e-9f3a-1c2d3e4f5a6b"), 8)], found

        # Lists of lists: multidimensional arrays in both formats, ragged ones in text.
        for binary in (False, True):
            nested = conn.execute(
                "SELECT [[1, 2], [3, 4]], [['a b'], [NULL]], [[1.5], [2.5]]", binary=binary
            ).fetchone()
            assert nested == ([[1, 2], [3, 4]], [["a b"], [None]], [[1.5], [2.5]]), nested
        ragged = conn.execute("SELECT [[1, 2], [3]]").fetchone()
        assert ragged == ([[1, 2], [3]],), ragged

        conn.execute("CREATE TABLE numbers AS SELECT value AS n FROM generate_series(1, 1000)")
    # A named cursor is DECLARE/FETCH inside a transaction, read a few rows at a time.
    with psycopg.connect(f"host=127.0.0.1 port={port} user=floe dbname=floe") as conn:
        with conn.cursor(name="numbers_cursor") as cursor:
            cursor.itersize = 64
            cursor.execute("SELECT n FROM numbers WHERE n > %s ORDER BY n", (10,))
            assert cursor.fetchone() == (11,)
            assert cursor.fetchmany(3) == [(12,), (13,), (14,)]
            rest = [n for (n,) in cursor]
            assert rest == list(range(15, 1001)), rest[:5]
        conn.commit()
    print("psycopg: ok")


# The PostgreSQL types of all_types' columns, plus a uuid, for binary COPY (whose data
# carries no types: the client names them).
COPY_TYPES = [
    "bool", "int4", "int8", "int4", "float4", "float8", "numeric", "text", "date",
    "timestamp", "timestamptz", "time", "bytea", "uuid",
]


def check_psycopg_binary_copy(port):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=floe dbname=floe", autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE copied (b BOOLEAN, i INT, bi BIGINT, s SMALLINT, r REAL, "
            "d DOUBLE, n DECIMAL(10, 2), v VARCHAR, dt DATE, ts TIMESTAMP, tstz TIMESTAMPTZ, "
            "tm TIME, by BYTEA, u UUID)"
        )
        rows = [
            ROW + (uuid.UUID("12345678-9abc-def0-1234-56789abcdef0"),),
            (False, -5, -(2**62), 0, -0.5, 1e300, decimal.Decimal("-0.01"), "",
             datetime.date(1969, 12, 31), datetime.datetime(1900, 1, 1),
             datetime.datetime(2262, 4, 11, 23, 47, 16, tzinfo=datetime.timezone.utc),
             datetime.time(23, 59, 59, 999999), b"", uuid.UUID(int=0)),
            (None,) * len(COPY_TYPES),
        ]
        with conn.cursor() as cursor:
            with cursor.copy("COPY copied FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
            assert cursor.rowcount == len(rows), cursor.rowcount
            with cursor.copy(
                "COPY (SELECT * FROM copied ORDER BY i DESC NULLS LAST) TO STDOUT (FORMAT BINARY)"
            ) as copy:
                copy.set_types(COPY_TYPES)
                copied = list(copy.rows())
            assert copied == rows, copied
    print("psycopg binary COPY: ok")


def check_psycopg2(port):
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="floe", dbname="floe")
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {COLUMNS} FROM all_types WHERE v = %s", ("varchar é",))
        (row,) = cursor.fetchall()
        # psycopg2 reads bytea as memoryview.
        assert row[:12] == ROW[:12] and bytes(row[12]) == ROW[12], row
    with conn.cursor("named") as cursor:
        cursor.execute("SELECT n FROM numbers ORDER BY n")
        assert cursor.fetchmany(2) == [(1,), (2,)]
    conn.rollback()
    conn.close()
    print("psycopg2: ok")


async def check_asyncpg(port):
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="floe", database="floe")
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM all_types WHERE bi = $1", 2**40)
    assert tuple(row.values()) == ROW, row
    statement = await conn.prepare(f"SELECT {COLUMNS} FROM all_types WHERE s = $1")
    types = [(a.name, a.type.name) for a in statement.get_attributes()]
    # Iceberg has no 16-bit integer: a SMALLINT column is an int.
    assert types == [
        ("b", "bool"), ("i", "int4"), ("bi", "int8"), ("s", "int4"), ("r", "float4"),
        ("d", "float8"), ("n", "numeric"), ("v", "text"), ("dt", "date"),
        ("ts", "timestamp"), ("tstz", "timestamptz"), ("tm", "time"), ("by", "bytea"),
    ], types
    assert [t.name for t in statement.get_parameters()] == ["int4"]
    assert tuple((await statement.fetchrow(3)).values()) == ROW
    async with conn.transaction():
        cursor = await conn.cursor("SELECT n FROM numbers ORDER BY n")
        assert [r["n"] for r in await cursor.fetch(3)] == [1, 2, 3]

    # Arrays other than text[] are not built into asyncpg: it looks their types up with
    # its introspection query (a recursive CTE, `$1::oid[]`, correlated subqueries).
    arrays = await conn.fetchrow(
        "SELECT make_array(i, i + 1) AS ints, make_array(bi) AS bigs, make_array(d, r) AS floats, "
        "make_array(dt) AS dates, make_array(n) AS numerics, make_array(b, NOT b) AS bools "
        "FROM all_types WHERE i = $1",
        1,
    )
    assert dict(arrays) == {
        "ints": [1, 2], "bigs": [2**40], "floats": [2.25, 1.5],
        "dates": [datetime.date(2024, 1, 2)], "numerics": [decimal.Decimal("12.34")],
        "bools": [True, False],
    }, arrays
    # The introspection itself, as asyncpg runs it for an unknown type (int8[] and its
    # element, and a domain from information_schema with its base type).
    from asyncpg import introspection
    rows = await conn.fetch(introspection.INTRO_LOOKUP_TYPES, [1016, 13297])
    found = {(r["oid"], r["name"], r["elemtype"], r["basetype"], r["ns"]) for r in rows}
    assert (1016, "_int8", 20, None, "pg_catalog") in found, rows
    assert (20, "int8", 0, None, "pg_catalog") in found, rows
    assert (13297, "cardinal_number", 0, 23, "information_schema") in found, rows

    # uuid parameters and results (Iceberg's uuid type).
    ids = [uuid.UUID("12345678-9abc-def0-1234-56789abcdef0"), uuid.uuid4()]
    await conn.execute("CREATE TABLE tagged (id UUID, label VARCHAR)")
    await conn.executemany("INSERT INTO tagged VALUES ($1, $2)", [(ids[0], "a"), (ids[1], "b")])
    assert await conn.fetchval("SELECT label FROM tagged WHERE id = $1", ids[1]) == "b"
    assert [r["id"] for r in await conn.fetch("SELECT id FROM tagged ORDER BY label")] == ids
    await conn.close()
    print("asyncpg: ok")


def check_sqlalchemy(port):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=floe dbname=floe", autocommit=True) as conn:
        conn.execute("CREATE TABLE priced (id BIGINT NOT NULL, price NUMERIC(15, 2), label VARCHAR)")
    for driver in ("psycopg", "psycopg2"):
        engine = sqlalchemy.create_engine(f"postgresql+{driver}://floe@127.0.0.1:{port}/floe")
        inspector = sqlalchemy.inspect(engine)
        assert "public" in inspector.get_schema_names()
        assert sorted(inspector.get_table_names()) == [
            "all_types", "copied", "keyed", "numbers", "priced", "tagged",
        ]
        columns = [
            (c["name"], str(c["type"]), c["nullable"], c["default"])
            for c in inspector.get_columns("priced")
        ]
        assert columns == [
            ("id", "BIGINT", False, None),
            ("price", "NUMERIC(15, 2)", True, None),
            ("label", "TEXT", True, None),
        ], columns
        assert [c["name"] for c in inspector.get_columns("all_types")] == COLUMNS.split(", ")
        # Full reflection: columns, and no primary key, indexes or foreign keys (Iceberg
        # tables have none).
        reflected = sqlalchemy.Table("priced", sqlalchemy.MetaData(), autoload_with=engine)
        assert [
            (c.name, str(c.type), c.nullable) for c in reflected.columns
        ] == [
            ("id", "BIGINT", False),
            ("price", "NUMERIC(15, 2)", True),
            ("label", "TEXT", True),
        ], reflected.columns
        assert list(reflected.primary_key) == [] and not reflected.indexes
        assert not reflected.foreign_keys
        with engine.connect() as conn:
            found = conn.execute(
                sqlalchemy.text("SELECT n FROM numbers WHERE n BETWEEN :lo AND :hi ORDER BY n"),
                {"lo": 5, "hi": 7},
            ).scalars().all()
            assert found == [5, 6, 7], found
            frame = pandas.read_sql("SELECT n, n * 2 AS twice FROM numbers ORDER BY n", conn)
            assert len(frame) == 1000 and frame["twice"].sum() == 1001000, frame
        engine.dispose()
    print("sqlalchemy + pandas: ok")


# The queries Npgsql (the .NET driver, which Power BI uses) sends in one simple Query
# message when it connects, to load the server's types (written from its
# PostgresDatabaseInfo, for a PostgreSQL >= 14 server: ranges and multiranges, and no
# table composites): arrays are told apart by their receive function `array_recv`, a
# `regproc` joined with pg_proc's oid; element, range subtype and domain base types come
# as elemtypoid, and each type must come after the types it is made of.
NPGSQL_VERSION = "SELECT version();"
NPGSQL_LOAD_TYPES = """
SELECT ns.nspname, t.oid, t.typname, t.typtype, t.typnotnull, t.elemtypoid
FROM (
    -- An array is a base type whose receive function is array_recv: typtype 'a' here.
    SELECT
        typ.oid, typ.typnamespace, typ.typname, typ.typtype, typ.typrelid, typ.typnotnull, typ.relkind,
        elemtyp.oid AS elemtypoid, elemtyp.typname AS elemtypname, elemcls.relkind AS elemrelkind,
        CASE WHEN elemproc.proname='array_recv' THEN 'a' ELSE elemtyp.typtype END AS elemtyptype
    FROM (
        SELECT typ.oid, typnamespace, typname, typrelid, typnotnull, relkind, typelem AS elemoid,
            CASE WHEN proc.proname='array_recv' THEN 'a' ELSE typ.typtype END AS typtype,
            CASE
                WHEN proc.proname='array_recv' THEN typ.typelem
                WHEN typ.typtype='r' THEN rngsubtype
                WHEN typ.typtype='m' THEN (SELECT rngtypid FROM pg_range WHERE rngmultitypid = typ.oid)
                WHEN typ.typtype='d' THEN typ.typbasetype
            END AS elemtypoid
        FROM pg_type AS typ
        LEFT JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
        LEFT JOIN pg_proc AS proc ON proc.oid = typ.typreceive
        LEFT JOIN pg_range ON (pg_range.rngtypid = typ.oid)
    ) AS typ
    LEFT JOIN pg_type AS elemtyp ON elemtyp.oid = elemtypoid
    LEFT JOIN pg_class AS elemcls ON (elemcls.oid = elemtyp.typrelid)
    LEFT JOIN pg_proc AS elemproc ON elemproc.oid = elemtyp.typreceive
) AS t
JOIN pg_namespace AS ns ON (ns.oid = typnamespace)
WHERE
    typtype IN ('b', 'r', 'm', 'e', 'd') OR
    (typtype = 'c' AND relkind='c') OR
    (typtype = 'p' AND typname IN ('record', 'void')) OR
    (typtype = 'a' AND (
        elemtyptype IN ('b', 'r', 'm', 'e', 'd') OR
        (elemtyptype = 'p' AND elemtypname IN ('record', 'void')) OR
        (elemtyptype = 'c' AND elemrelkind='c')
    ))
ORDER BY CASE
       WHEN typtype IN ('b', 'e', 'p') THEN 0
       WHEN typtype = 'r' THEN 1
       WHEN typtype = 'm' THEN 2
       WHEN typtype = 'c' THEN 3
       WHEN typtype = 'd' AND elemtyptype <> 'a' THEN 4
       WHEN typtype = 'a' THEN 5
       WHEN typtype = 'd' AND elemtyptype = 'a' THEN 6
END;"""
NPGSQL_COMPOSITE_FIELDS = """
-- Fields of free-standing composite types
SELECT typ.oid, att.attname, att.atttypid
FROM pg_type AS typ
JOIN pg_namespace AS ns ON (ns.oid = typ.typnamespace)
JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
JOIN pg_attribute AS att ON (att.attrelid = typ.typrelid)
WHERE
  (typ.typtype = 'c' AND cls.relkind='c') AND
  attnum > 0 AND
  NOT attisdropped
ORDER BY typ.oid, att.attnum;"""
NPGSQL_ENUM_LABELS = """
-- Enum labels
SELECT pg_type.oid, enumlabel
FROM pg_enum
JOIN pg_type ON pg_type.oid=enumtypid
ORDER BY oid, enumsortorder;"""


def check_npgsql_types(rows):
    """Npgsql's reading of its type-loading rows: the basic types with the right kinds
    and elements, and every type after the one it is made of."""
    by_oid = {}
    for nspname, oid, typname, typtype, typnotnull, elemtypoid in rows:
        assert oid not in by_oid, (oid, typname)
        assert typnotnull in (False, "f"), (typname, typnotnull)
        if typtype in ("a", "r", "m", "d"):
            assert elemtypoid in by_oid, (typname, elemtypoid)
        by_oid[oid] = (nspname, typname, typtype, elemtypoid)
    expected = {
        16: ("pg_catalog", "bool", "b", None),
        20: ("pg_catalog", "int8", "b", None),
        23: ("pg_catalog", "int4", "b", None),
        25: ("pg_catalog", "text", "b", None),
        701: ("pg_catalog", "float8", "b", None),
        1082: ("pg_catalog", "date", "b", None),
        1114: ("pg_catalog", "timestamp", "b", None),
        1184: ("pg_catalog", "timestamptz", "b", None),
        1700: ("pg_catalog", "numeric", "b", None),
        2950: ("pg_catalog", "uuid", "b", None),
        2249: ("pg_catalog", "record", "p", None),
        1007: ("pg_catalog", "_int4", "a", 23),
        1009: ("pg_catalog", "_text", "a", 25),
        1016: ("pg_catalog", "_int8", "a", 20),
        1185: ("pg_catalog", "_timestamptz", "a", 1184),
        3904: ("pg_catalog", "int4range", "r", 23),
        4451: ("pg_catalog", "int4multirange", "m", 3904),
        13297: ("information_schema", "cardinal_number", "d", 23),
    }
    found = {oid: by_oid.get(oid) for oid in expected}
    assert found == expected, found


def check_npgsql_type_loading(port):
    with psycopg.connect(f"host=127.0.0.1 port={port} user=floe dbname=floe", autocommit=True) as conn:
        # The extended protocol (Parse/Bind/Describe/Execute), results in text and binary.
        for binary in (False, True):
            cursor = conn.execute(NPGSQL_LOAD_TYPES, prepare=True, binary=binary)
            assert [c.name for c in cursor.description] == [
                "nspname", "oid", "typname", "typtype", "typnotnull", "elemtypoid",
            ], cursor.description
            check_npgsql_types(cursor.fetchall())
        # The simple protocol, all four queries in one message, as Npgsql sends them.
        cursor = conn.cursor()
        cursor.execute(
            "\n".join([NPGSQL_VERSION, NPGSQL_LOAD_TYPES, NPGSQL_COMPOSITE_FIELDS, NPGSQL_ENUM_LABELS])
        )
        assert cursor.fetchone()[0].startswith("PostgreSQL 15.0 (Floe ")
        assert cursor.nextset()
        check_npgsql_types(cursor.fetchall())
        assert cursor.nextset()
        assert [c.name for c in cursor.description] == ["oid", "attname", "atttypid"]
        assert cursor.fetchall() == []
        assert cursor.nextset()
        assert [c.name for c in cursor.description] == ["oid", "enumlabel"]
        assert cursor.fetchall() == []
        assert not cursor.nextset()
    print("Npgsql type loading: ok")


def main():
    with tempfile.TemporaryDirectory() as warehouse:
        server, port = start_server(warehouse)
        try:
            check_psycopg(port)
            check_psycopg_binary_copy(port)
            check_psycopg2(port)
            asyncio.run(check_asyncpg(port))
            check_sqlalchemy(port)
            check_npgsql_type_loading(port)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
