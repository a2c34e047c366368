//! COPY over the wire with psql: rows sent with COPY FROM STDIN (and psql's `\copy`) land
//! in the Iceberg table in one commit, bad rows fail the whole COPY naming the line and
//! commit nothing, and COPY TO STDOUT streams rows back.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::TestServer;

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs psql with `args` (no ~/.psqlrc, stop at the first error), feeding `input`.
fn psql(server: &TestServer, args: &[&str], input: &str) -> Run {
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
        ])
        .args(["-U", "floe", "-d", "floe", "-p", &server.port.to_string()])
        .args(args)
        .env("PGCLIENTENCODING", "UTF8")
        .env_remove("PGPASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql must be installed (apt-get install postgresql-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

fn ok(server: &TestServer, sql: &str) -> String {
    let run = psql(server, &["-c", sql], "");
    assert!(run.ok, "{sql}: {}", run.stderr);
    run.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_loads_one_commit_and_bad_rows_load_nothing() {
    let server = TestServer::start().await;
    ok(
        &server,
        "CREATE TABLE items (id INT NOT NULL, name TEXT, price DECIMAL(6,2), added DATE) \
         PARTITIONED BY (month(added))",
    );

    let run = psql(
        &server,
        &["-c", "COPY items FROM STDIN (FORMAT csv, HEADER)"],
        "id,name,price,added\n1,pen,1.50,2024-01-02\n2,ink,,2024-02-03\n3,,9.99,2024-02-04\n",
    );
    assert!(run.ok, "{}", run.stderr);
    // What the load stored arrives as a NOTICE.
    assert!(
        run.stderr.contains("NOTICE:  wrote 3 rows in 2 files"),
        "{}",
        run.stderr
    );
    // PostgreSQL's default text format: tab-separated, \N for NULL; psql's \copy reads a
    // file on the client's side and sends it as COPY FROM STDIN.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "4\tcap\t\\N\t2024-03-01\n").unwrap();
    let copy = format!("\\copy items from '{}'", file.path().display());
    let run = psql(&server, &["-c", &copy], "");
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(ok(&server, "SELECT count(*) FROM items"), "4\n");
    assert_eq!(
        ok(&server, "SELECT count(*) FROM \"items$snapshots\""),
        "2\n"
    );
    assert_eq!(
        ok(&server, "SELECT count(*) FROM items WHERE price IS NULL"),
        "2\n"
    );

    let run = psql(
        &server,
        &["-c", "COPY items FROM STDIN (FORMAT csv)"],
        "5,ok,1.00,2024-01-01\n6,bad,1.00,2024-13-01\n",
    );
    assert!(!run.ok);
    assert!(
        run.stderr
            .contains("invalid value \"2024-13-01\" for column added of type DATE (STDIN, line 2)"),
        "{}",
        run.stderr
    );
    // Nothing of the failed COPY was committed.
    assert_eq!(ok(&server, "SELECT count(*) FROM items"), "4\n");

    let run = psql(&server, &["-c", "COPY nowhere FROM STDIN"], "1\n");
    assert!(!run.ok);
    assert!(run.stderr.contains("nowhere"), "{}", run.stderr);
    assert_eq!(ok(&server, "SELECT count(*) FROM items"), "4\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_stdout_streams_rows_as_csv_or_text() {
    let server = TestServer::start().await;
    ok(
        &server,
        "CREATE TABLE t (id INT, name TEXT, at TIMESTAMP); \
         INSERT INTO t VALUES (1, 'a,b', TIMESTAMP '2024-01-02 03:04:05'), (2, NULL, NULL)",
    );
    assert_eq!(
        ok(
            &server,
            "COPY (SELECT * FROM t ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)"
        ),
        "id,name,at\n1,\"a,b\",2024-01-02 03:04:05\n2,,\n"
    );
    assert_eq!(
        ok(
            &server,
            "COPY (SELECT id, name FROM t ORDER BY id) TO STDOUT"
        ),
        "1\ta,b\n2\t\\N\n"
    );

    // Text format escapes tabs, line breaks and backslashes, and loads them back as they were.
    ok(
        &server,
        "INSERT INTO t VALUES (3, 'a' || chr(9) || 'b\\c' || chr(10) || 'd', NULL)",
    );
    let text = ok(
        &server,
        "COPY (SELECT id, name FROM t WHERE id = 3) TO STDOUT",
    );
    assert_eq!(text, "3\ta\\tb\\\\c\\nd\n");
    ok(&server, "CREATE TABLE back (id INT, name TEXT)");
    let run = psql(&server, &["-c", "COPY back FROM STDIN"], &text);
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(
        ok(
            &server,
            "SELECT count(*) FROM back JOIN t ON back.id = t.id AND back.name = t.name"
        ),
        "1\n"
    );
}

/// tokio-postgres runs COPY through the extended protocol (Bind, Execute, then CopyData,
/// CopyDone and Sync): two in a row and a query after them must all complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_through_the_extended_protocol() {
    use futures::SinkExt;
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE pairs (k INT, v TEXT)")
        .await
        .unwrap();
    for data in [&b"1,a\n2,b\n"[..], &b"3,c\n"[..]] {
        let sink = client
            .copy_in::<_, &'static [u8]>("COPY pairs FROM STDIN (FORMAT csv)")
            .await
            .unwrap();
        futures::pin_mut!(sink);
        sink.send(data).await.unwrap();
        sink.finish().await.unwrap();
    }
    let row = client
        .query_one("SELECT count(*) FROM pairs", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 3);
}

/// CSV tells NULL from the empty string by quoting, as in PostgreSQL: an unquoted empty
/// field is NULL, `""` the empty string; with `NULL 'x'` an unquoted x is NULL and a
/// quoted one the text x.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_nulls_and_empty_strings() {
    use futures::SinkExt;
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE plain (id INT, a TEXT, b TEXT); CREATE TABLE marked (id INT, a TEXT, b TEXT)")
        .await
        .unwrap();
    let data = b"1,,\"\"\n2,\"\",x\n3,\"x\",\n4,\"a,\"\"b\"\"\nc\",\r\n";
    for copy in [
        "COPY plain FROM STDIN (FORMAT csv)",
        "COPY marked FROM STDIN (FORMAT csv, NULL 'x')",
    ] {
        let sink = client.copy_in::<_, &'static [u8]>(copy).await.unwrap();
        futures::pin_mut!(sink);
        sink.send(&data[..]).await.unwrap();
        sink.finish().await.unwrap();
    }
    let rows = |table: &'static str| {
        let client = &client;
        async move {
            client
                .query(&format!("SELECT a, b FROM {table} ORDER BY id"), &[])
                .await
                .unwrap()
                .iter()
                .map(|row| {
                    (
                        row.get::<_, Option<String>>(0),
                        row.get::<_, Option<String>>(1),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let text = |value: &str| Some(value.to_string());
    assert_eq!(
        rows("plain").await,
        vec![
            (None, text("")),
            (text(""), text("x")),
            (text("x"), None),
            (text("a,\"b\"\nc"), None),
        ]
    );
    assert_eq!(
        rows("marked").await,
        vec![
            (text(""), text("")),
            (text(""), None),
            (text("x"), text("")),
            (text("a,\"b\"\nc"), text("")),
        ]
    );
}
