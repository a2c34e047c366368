//! The shell's non-interactive modes, run through the real `floe` binary: `-c`, `-f`,
//! standard input, every output format, meta-commands in scripts, and exit codes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The binary under test; `FLOE_BIN` overrides it (the target dir may be shared).
fn floe_bin() -> String {
    std::env::var("FLOE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_floe").to_string())
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn floe(warehouse: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(floe_bin())
        .arg("--warehouse")
        .arg(warehouse)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run floe");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn ok(warehouse: &Path, args: &[&str]) -> String {
    let run = floe(warehouse, args, None);
    assert_eq!(run.code, 0, "{args:?} failed: {}", run.stderr);
    assert_eq!(run.stderr, "", "{args:?}");
    run.stdout
}

/// A warehouse with `people`: an int, a string with a comma, quote and NULL, a double.
fn people() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        &[
            "-c",
            "CREATE TABLE people (id INT NOT NULL, name TEXT, score DOUBLE); \
             INSERT INTO people VALUES (1, 'Ada, \"the first\"', 9.5), (2, NULL, NULL), (10, 'Bo', -1.25)",
        ],
    );
    dir
}

const QUERY: &str = "SELECT * FROM people ORDER BY id";

#[test]
fn every_format_writes_exactly() {
    let dir = people();
    let wh = dir.path();
    let expect = [
        (
            "table",
            " id | name             | score\n\
             ----+------------------+-------\n  \
              1 | Ada, \"the first\" |   9.5\n  \
              2 | NULL             |  NULL\n \
             10 | Bo               | -1.25\n\
             (3 rows)\n",
        ),
        (
            "csv",
            "id,name,score\n1,\"Ada, \"\"the first\"\"\",9.5\n2,,\n10,Bo,-1.25\n",
        ),
        (
            "tsv",
            "id\tname\tscore\n1\t\"Ada, \"\"the first\"\"\"\t9.5\n2\t\t\n10\tBo\t-1.25\n",
        ),
        (
            "json",
            "[{\"id\":1,\"name\":\"Ada, \\\"the first\\\"\",\"score\":9.5},\
             {\"id\":2,\"name\":null,\"score\":null},\
             {\"id\":10,\"name\":\"Bo\",\"score\":-1.25}]\n",
        ),
        (
            "ndjson",
            "{\"id\":1,\"name\":\"Ada, \\\"the first\\\"\",\"score\":9.5}\n\
             {\"id\":2,\"name\":null,\"score\":null}\n\
             {\"id\":10,\"name\":\"Bo\",\"score\":-1.25}\n",
        ),
        (
            "markdown",
            "| id | name | score |\n|---|---|---|\n| 1 | Ada, \"the first\" | 9.5 |\n\
             | 2 | NULL | NULL |\n| 10 | Bo | -1.25 |\n",
        ),
    ];
    for (format, expected) in expect {
        assert_eq!(
            ok(wh, &["--format", format, "-c", QUERY]),
            expected,
            "{format}"
        );
    }
    // The same through \pset in a script.
    assert_eq!(
        ok(wh, &["-c", &format!("\\pset format csv\n{QUERY}")]),
        format!("Output format is csv.\n{}", expect[1].1)
    );
}

#[test]
fn command_tags_and_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let out = ok(
        wh,
        &[
            "-c",
            "CREATE TABLE t (x INT); INSERT INTO t VALUES (1), (2); SELECT count(*) AS n FROM t",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["CREATE TABLE", "INSERT 0 2"], "{out}");
    // After a write, what it stored: rows, files and size.
    assert!(
        lines[2].starts_with("wrote 2 rows in 1 file, ") && lines[2].ends_with(" bytes"),
        "{out}"
    );
    assert_eq!(lines[3..], [" n", "---", " 2", "(1 row)"], "{out}");
    assert_eq!(
        ok(
            wh,
            &["-q", "-c", "INSERT INTO t VALUES (3); SELECT 1 AS one"]
        ),
        " one\n-----\n   1\n(1 row)\n"
    );
    // Data formats carry rows only, so their output stays parseable.
    assert_eq!(
        ok(
            wh,
            &[
                "--format",
                "csv",
                "-c",
                "INSERT INTO t VALUES (4); SELECT count(*) AS n FROM t"
            ]
        ),
        "n\n4\n"
    );
}

#[test]
fn scripts_stop_at_the_first_error_unless_told_to_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    let script = "SELECT 1 AS a; SELECT nope; SELECT 2 AS b;";
    let run = floe(wh, &["-c", script], None);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, " a\n---\n 1\n(1 row)\n");
    assert_eq!(
        run.stderr,
        "ERROR: No field named nope. (SQLSTATE 42703)\nLINE 1: SELECT nope;\n               ^\n"
    );

    let run = floe(wh, &["--continue-on-error", "-c", script], None);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, " a\n---\n 1\n(1 row)\n b\n---\n 2\n(1 row)\n");

    // The position of a syntax error is shown under the statement.
    let run = floe(wh, &["-c", "SELECT 1;\nSELECT 1\n  FORM t;"], None);
    assert_eq!(run.code, 1);
    let (message, pointer) = run.stderr.split_once('\n').unwrap();
    assert!(
        message.starts_with("ERROR: ") && message.ends_with("Line: 2, Column: 8 (SQLSTATE 42601)"),
        "{message}"
    );
    assert_eq!(pointer, "LINE 2:   FORM t;\n               ^\n");

    // Unknown meta-commands fail the script too, with a hint.
    let run = floe(wh, &["-c", "\\dx"], None);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "ERROR: invalid command \\dx. Did you mean \\dn or \\dt or \\d? Try \\? for help. \
         (SQLSTATE 42601)\n"
    );
}

#[test]
fn planning_errors_point_at_the_name_at_fault() {
    let dir = people();
    let wh = dir.path();
    let run = floe(wh, &["-c", "SELECT id,\n       nope FROM people;"], None);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "ERROR: No field named nope. Valid fields are people.id, people.name, people.score. \
         (SQLSTATE 42703)\nLINE 2:        nope FROM people;\n               ^\n"
    );

    let run = floe(
        wh,
        &["-c", "SELECT * FROM people JOIN missing ON true"],
        None,
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "ERROR: table 'floe.public.missing' not found (SQLSTATE 42P01)\n\
         LINE 1: SELECT * FROM people JOIN missing ON true\n\
         \x20                                 ^\n"
    );
}

#[test]
fn files_stdin_include_and_output_redirection() {
    let dir = people();
    let wh = dir.path();
    let scripts = tempfile::tempdir().unwrap();
    let inner = scripts.path().join("inner.sql");
    std::fs::write(&inner, "SELECT name FROM people WHERE id = 10;\n").unwrap();
    let out = scripts.path().join("out.csv");
    let main = scripts.path().join("main.sql");
    std::fs::write(
        &main,
        format!(
            "-- a comment; not a statement\n\\o {}\n\\pset format csv\nSELECT id FROM people\n  WHERE score > 0;\n\\o\n\\i {}\nSELECT 'unterminated' AS last",
            out.display(),
            inner.display()
        ),
    )
    .unwrap();
    let printed = ok(wh, &["-f", main.to_str().unwrap()]);
    assert_eq!(
        printed,
        "Output format is csv.\nname\nBo\nlast\nunterminated\n"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "id\n1\n");

    let run = floe(
        wh,
        &["--format", "csv"],
        Some("SELECT 7 AS x;\n\\q\nSELECT nope;"),
    );
    assert_eq!((run.code, run.stdout.as_str()), (0, "x\n7\n"));

    let run = floe(wh, &["-f", "/nonexistent/script.sql"], None);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("cannot read /nonexistent/script.sql"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_table_stops_reading_at_its_row_cap() {
    let dir = tempfile::tempdir().unwrap();
    // A trillion rows: finishing at all shows the rest is never read.
    assert_eq!(
        ok(
            dir.path(),
            &[
                "--max-rows",
                "2",
                "-c",
                "SELECT value FROM range(1, 1000000000000)"
            ]
        ),
        " value\n-------\n     1\n     2\n(first 2 rows shown; the result has more. \\pset maxrows N \
         or --max-rows N changes the limit, 0 shows all)\n"
    );
    assert_eq!(
        ok(
            dir.path(),
            &[
                "-c",
                "\\pset maxrows 0\nSELECT count(*) AS n FROM (SELECT * FROM range(1, 3000))"
            ]
        ),
        "Row limit is off: the table shows every row.\n n\n------\n 2999\n(1 row)\n"
    );
}

#[test]
fn meta_commands_list_and_describe_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path();
    ok(
        wh,
        &[
            "-c",
            "CREATE SCHEMA shop; CREATE TABLE shop.orders (id BIGINT NOT NULL, placed TIMESTAMP) \
             PARTITIONED BY (day(placed)) WITH ('owner' = 'ada'); CREATE TABLE shop.items (x INT); \
             INSERT INTO shop.orders VALUES (1, '2024-05-01 10:00:00'), (2, '2024-05-02 10:00:00')",
        ],
    );
    assert_eq!(
        ok(wh, &["-c", "\\dn"]),
        " schema | tables\n--------+--------\n public | 0\n shop   | 2\n(2 rows)\n"
    );
    assert_eq!(
        ok(wh, &["-c", "\\dt shop.o*"]),
        " schema | table\n--------+--------\n shop   | orders\n(1 row)\n"
    );
    let described = ok(wh, &["-c", "\\d shop.orders"]);
    let root = wh.canonicalize().unwrap();
    let described = described.replace(&root.display().to_string(), "<warehouse>");
    let (before, after) = described.split_once(", current ").expect(&described);
    let after = after.split_once('\n').unwrap().1;
    assert_eq!(
        format!("{before}\n{after}"),
        "Table shop.orders\n column | type      | nullable\n--------+-----------+----------\n \
         id     | BIGINT    | NO\n placed | TIMESTAMP | YES\n(2 rows)\nPartitioned by: day(placed)\n\
         Sort order: none\nProperties: owner=ada\nSnapshots: 1\nData files: 2, records: 2\n\
         Format version: 2\nLocation: file://<warehouse>/shop/orders\n"
    );
    let run = floe(wh, &["-c", "\\d shop.nothing"], None);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "ERROR: table shop.nothing does not exist (SQLSTATE 42P01)\n"
    );
    let conninfo = ok(wh, &["-c", "\\conninfo"]);
    assert!(
        conninfo.starts_with(&format!("Warehouse {}\nCatalog floe:", root.display())),
        "{conninfo}"
    );
    let expanded = ok(
        wh,
        &[
            "-c",
            "\\x on\nSELECT id, placed FROM shop.orders ORDER BY id",
        ],
    );
    assert_eq!(
        expanded,
        "Expanded display is on.\n-[ RECORD 1 ]---------------\nid     | 1\nplaced | 2024-05-01 10:00:00\n\
         -[ RECORD 2 ]---------------\nid     | 2\nplaced | 2024-05-02 10:00:00\n(2 rows)\n"
    );
    let timed = ok(wh, &["-c", "\\timing on\nSELECT 1 AS one;"]);
    let timing_line = timed.lines().last().unwrap();
    assert!(
        timing_line.starts_with("Time: ") && timing_line.ends_with(" ms"),
        "{timed}"
    );
}
