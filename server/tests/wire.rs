//! The server through a real PostgreSQL client (tokio-postgres): simple and extended
//! query protocol, text and binary results with their type OIDs, parameters, portals,
//! session settings, errors with SQLSTATE, cancel and statement_timeout.

mod common;

use chrono::{NaiveDate, NaiveDateTime};
use common::TestServer;
use rust_decimal::Decimal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// The rows of a simple query, as text.
async fn text_rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
        .into_iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.code()
        .map(|code| code.code().to_string())
        .unwrap_or_else(|| panic!("no SQLSTATE in {err:?}"))
}

/// A statement that runs until it is stopped: it reads an endless series.
const ENDLESS: &str = "SELECT max(value % 7) FROM generate_series(1, 9223372036854775806)";

#[tokio::test]
async fn simple_query_runs_every_statement_of_a_text() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let messages = client
        .simple_query(
            "CREATE TABLE t (id INT, name VARCHAR); \
             INSERT INTO t VALUES (1, 'one'), (2, NULL); \
             SELECT id, name FROM t ORDER BY id",
        )
        .await
        .unwrap();
    let completions: Vec<u64> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(completions, vec![0, 2, 2]);
    assert_eq!(
        text_rows(&client, "SELECT id, name FROM t ORDER BY id").await,
        vec![
            vec![Some("1".into()), Some("one".into())],
            vec![Some("2".into()), None]
        ]
    );
    // Empty queries are answered, not failed.
    for empty in ["", " ; ;"] {
        let messages = client.simple_query(empty).await.unwrap();
        assert!(
            !messages
                .iter()
                .any(|m| matches!(m, SimpleQueryMessage::Row(_))),
            "{empty:?}"
        );
    }
}

#[tokio::test]
async fn types_round_trip_in_binary_and_text_with_their_oids() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE typed (b BOOLEAN, s SMALLINT, i INT, l BIGINT, r REAL, d DOUBLE, \
               n NUMERIC(12, 3), v VARCHAR, dt DATE, ts TIMESTAMP, by BYTEA); \
             INSERT INTO typed VALUES (true, 7, -42, 9000000000, 1.5, 2.25, 123.456, 'héllo', \
               DATE '2024-02-29', TIMESTAMP '2024-02-29 13:14:15.5', X'DEADBEEF'), \
               (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        )
        .await
        .unwrap();
    let statement = client
        .prepare("SELECT b, s, i, l, r, d, n, v, dt, ts, by FROM typed ORDER BY l NULLS LAST")
        .await
        .unwrap();
    let oids: Vec<Type> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    // Iceberg stores SMALLINT as int, so it comes back as int4.
    assert_eq!(
        oids,
        vec![
            Type::BOOL,
            Type::INT4,
            Type::INT4,
            Type::INT8,
            Type::FLOAT4,
            Type::FLOAT8,
            Type::NUMERIC,
            Type::TEXT,
            Type::DATE,
            Type::TIMESTAMP,
            Type::BYTEA
        ]
    );
    // tokio-postgres asks for every result column in binary.
    let rows = client.query(&statement, &[]).await.unwrap();
    let row = &rows[0];
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i32>(1), 7);
    assert_eq!(row.get::<_, i32>(2), -42);
    assert_eq!(row.get::<_, i64>(3), 9_000_000_000);
    assert_eq!(row.get::<_, f32>(4), 1.5);
    assert_eq!(row.get::<_, f64>(5), 2.25);
    assert_eq!(
        row.get::<_, Decimal>(6),
        "123.456".parse::<Decimal>().unwrap()
    );
    assert_eq!(row.get::<_, &str>(7), "héllo");
    assert_eq!(
        row.get::<_, NaiveDate>(8),
        NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
    );
    assert_eq!(
        row.get::<_, NaiveDateTime>(9),
        NaiveDate::from_ymd_opt(2024, 2, 29)
            .unwrap()
            .and_hms_milli_opt(13, 14, 15, 500)
            .unwrap()
    );
    assert_eq!(row.get::<_, &[u8]>(10), &[0xde, 0xad, 0xbe, 0xef]);
    let nulls = &rows[1];
    for i in 0..nulls.len() {
        assert!(
            nulls
                .try_get::<_, Option<String>>(i)
                .map(|v| v.is_none())
                .unwrap_or(true)
        );
    }
    assert_eq!(nulls.get::<_, Option<i64>>(3), None);
    assert_eq!(nulls.get::<_, Option<NaiveDate>>(8), None);

    // The same values in PostgreSQL's text forms.
    assert_eq!(
        text_rows(
            &client,
            "SELECT b, s, i, l, r, d, n, v, dt, ts, by FROM typed WHERE b"
        )
        .await,
        vec![
            [
                "t",
                "7",
                "-42",
                "9000000000",
                "1.5",
                "2.25",
                "123.456",
                "héllo",
                "2024-02-29",
                "2024-02-29 13:14:15.5",
                "\\xdeadbeef"
            ]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect::<Vec<_>>()
        ]
    );
}

/// Floats in text as PostgreSQL 15 prints them: the shortest exact digits by default,
/// exponents from 1e+15 and below 1e-4, and `%g` rounding once `extra_float_digits` is 0
/// or less.
#[tokio::test]
async fn floats_in_text_follow_extra_float_digits() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let query = "SELECT CAST(1 AS DOUBLE), CAST(1e15 AS DOUBLE), CAST(0.00001 AS DOUBLE), \
                 CAST(0.1 AS DOUBLE) + CAST(0.2 AS DOUBLE), CAST(1234567 AS REAL), \
                 CAST('NaN' AS DOUBLE), CAST('-inf' AS DOUBLE), CAST(NULL AS DOUBLE)";
    let row = |values: [Option<&str>; 8]| vec![values.map(|v| v.map(str::to_string)).to_vec()];
    assert_eq!(
        text_rows(&client, query).await,
        row([
            Some("1"),
            Some("1e+15"),
            Some("1e-05"),
            Some("0.30000000000000004"),
            Some("1.234567e+06"),
            Some("NaN"),
            Some("-Infinity"),
            None
        ])
    );
    client
        .batch_execute("SET extra_float_digits = 0")
        .await
        .unwrap();
    assert_eq!(
        text_rows(&client, query).await,
        row([
            Some("1"),
            Some("1e+15"),
            Some("1e-05"),
            Some("0.3"),
            Some("1.23457e+06"),
            Some("NaN"),
            Some("-Infinity"),
            None
        ])
    );
}

#[tokio::test]
async fn extended_query_binds_typed_and_untyped_parameters() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE p (id BIGINT, name VARCHAR, score DOUBLE)")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO p VALUES ($1, $2, $3)")
        .await
        .unwrap();
    assert_eq!(insert.params(), &[Type::INT8, Type::TEXT, Type::FLOAT8]);
    for (id, name, score) in [(1i64, "a", 0.5f64), (2, "b", 1.5), (3, "c", 2.5)] {
        assert_eq!(
            client
                .execute(&insert, &[&id, &name, &score])
                .await
                .unwrap(),
            1
        );
    }
    // The type comes from the column compared with.
    let rows = client
        .query("SELECT name FROM p WHERE id > $1 ORDER BY id", &[&1i64])
        .await
        .unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, vec!["b", "c"]);
    // The type given by the client at Parse.
    let typed = client
        .prepare_typed("SELECT $1 + 1", &[Type::INT8])
        .await
        .unwrap();
    let row = client.query_one(&typed, &[&41i64]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 42);
    // A parameter nothing gives a type to is text.
    let untyped = client.prepare("SELECT $1").await.unwrap();
    assert_eq!(untyped.params(), &[Type::TEXT]);
    let row = client.query_one(&untyped, &[&"free"]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "free");
    // A NULL parameter.
    let rows = client
        .query("SELECT count(*) FROM p WHERE name = $1", &[&None::<String>])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 0);
}

#[tokio::test]
async fn portals_return_rows_a_few_at_a_time() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    let transaction = client.transaction().await.unwrap();
    let portal = transaction
        .bind(
            "SELECT value FROM generate_series(1, 10) ORDER BY value",
            &[],
        )
        .await
        .unwrap();
    let mut sizes = Vec::new();
    let mut values = Vec::new();
    loop {
        let rows = transaction.query_portal(&portal, 4).await.unwrap();
        if rows.is_empty() {
            break;
        }
        sizes.push(rows.len());
        values.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
        if rows.len() < 4 {
            break;
        }
    }
    assert_eq!(sizes, vec![4, 4, 2]);
    assert_eq!(values, (1..=10).collect::<Vec<i64>>());
    transaction.commit().await.unwrap();
}

#[tokio::test]
async fn errors_carry_sqlstate_and_the_session_goes_on() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE e (id BIGINT NOT NULL, name VARCHAR)")
        .await
        .unwrap();
    let cases = [
        ("SELEC 1", "42601"),
        ("SELECT * FROM missing", "42P01"),
        ("SELECT nope FROM e", "42703"),
        ("CREATE TABLE e (x INT)", "42P07"),
        ("INSERT INTO e VALUES (NULL, 'x')", "23502"),
        ("SELECT 1 / 0", "22012"),
        ("SELECT CAST('abc' AS INT)", "22P02"),
        ("SET no_such_setting = 1", "42704"),
    ];
    for (sql, code) in cases {
        // Through both protocols.
        let simple = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&simple), code, "{sql} (simple): {simple:?}");
        let extended = client.query(sql, &[]).await.unwrap_err();
        assert_eq!(sqlstate(&extended), code, "{sql} (extended): {extended:?}");
        let row = client.query_one("SELECT 1::BIGINT", &[]).await.unwrap();
        assert_eq!(row.get::<_, i64>(0), 1);
    }
    // A failing statement stops the rest of a simple query text.
    let err = client
        .simple_query(
            "INSERT INTO e VALUES (1, 'a'); SELECT * FROM missing; INSERT INTO e VALUES (2, 'b')",
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
    assert_eq!(
        text_rows(&client, "SELECT id FROM e").await,
        vec![vec![Some("1".to_string())]]
    );
    // Several statements cannot be one prepared statement.
    let err = client.prepare("SELECT 1; SELECT 2").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42601");
}

/// Where the engine knows the place of an error in the query text, the ErrorResponse
/// carries it (the `P` field: a 1-based character index), as psql's caret needs.
#[tokio::test]
async fn errors_carry_their_position_in_the_query() {
    use tokio_postgres::error::ErrorPosition;
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE p (id INT)")
        .await
        .unwrap();
    let position = |err: tokio_postgres::Error| match err.as_db_error().and_then(|e| e.position()) {
        Some(ErrorPosition::Original(at)) => Some(*at),
        _ => None,
    };
    // An unknown column: the position of its name, also on a later line, after a
    // character that takes two bytes, and in the second statement of a text.
    let sql = "SELECT 'é', nope FROM p";
    assert_eq!(
        position(client.simple_query(sql).await.unwrap_err()),
        Some(13)
    );
    assert_eq!(
        position(client.query(sql, &[]).await.unwrap_err()),
        Some(13)
    );
    let sql = "SELECT 1;\nSELECT id,\n  nope FROM p";
    assert_eq!(
        position(client.simple_query(sql).await.unwrap_err()),
        Some(24)
    );
    // A syntax error: where the parser stopped.
    let sql = "SELECT * FROM p WHERE id = = 1";
    assert_eq!(
        position(client.simple_query(sql).await.unwrap_err()),
        Some(28)
    );
    assert_eq!(
        position(client.query(sql, &[]).await.unwrap_err()),
        Some(28)
    );
    // No position where there is none to give.
    assert_eq!(
        position(client.simple_query("SELECT 1 / 0").await.unwrap_err()),
        None
    );
}

#[tokio::test]
async fn settings_are_per_connection() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let other = server.connect().await;
    let version: String = client
        .query_one("SELECT version()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(version.starts_with("PostgreSQL 15.0 (Floe "), "{version}");
    assert_eq!(
        text_rows(&client, "SHOW server_version").await,
        vec![vec![Some("15.0".to_string())]]
    );
    client
        .batch_execute(
            "CREATE SCHEMA sales; CREATE TABLE sales.orders (id INT); \
             INSERT INTO sales.orders VALUES (7); \
             SET search_path TO sales, public; SET application_name = 'reports'; \
             SET extra_float_digits = 3; SET DateStyle = 'ISO, DMY'; \
             SET client_min_messages TO warning; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        )
        .await
        .unwrap();
    assert_eq!(
        text_rows(&client, "SELECT id FROM orders").await,
        vec![vec![Some("7".to_string())]]
    );
    for (name, value) in [
        ("search_path", "sales, public"),
        ("application_name", "reports"),
        ("extra_float_digits", "3"),
        ("DateStyle", "ISO, DMY"),
        ("client_min_messages", "warning"),
        ("transaction_isolation", "serializable"),
    ] {
        assert_eq!(
            text_rows(&client, &format!("SHOW {name}")).await,
            vec![vec![Some(value.to_string())]],
            "{name}"
        );
    }
    // The other connection still has the defaults.
    assert_eq!(
        text_rows(&other, "SHOW search_path").await,
        vec![vec![Some("public".to_string())]]
    );
    let err = other
        .simple_query("SELECT id FROM orders")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
    // RESET and DISCARD ALL go back to the defaults.
    client
        .batch_execute("RESET application_name")
        .await
        .unwrap();
    assert_eq!(
        text_rows(&client, "SHOW application_name").await,
        vec![vec![Some(String::new())]]
    );
    client.batch_execute("DISCARD ALL").await.unwrap();
    assert_eq!(
        text_rows(&client, "SHOW search_path").await,
        vec![vec![Some("public".to_string())]]
    );
    let err = client
        .simple_query("SET client_encoding = 'LATIN1'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "0A000");
}

#[tokio::test]
async fn transactions_are_accepted_and_every_statement_commits() {
    let server = TestServer::start().await;
    let mut client = server.connect().await;
    client
        .batch_execute("CREATE TABLE x (id INT)")
        .await
        .unwrap();
    let transaction = client.transaction().await.unwrap();
    transaction
        .execute("INSERT INTO x VALUES (1)", &[])
        .await
        .unwrap();
    transaction.commit().await.unwrap();
    // Autocommit: ROLLBACK cannot take back a statement that already committed.
    client
        .batch_execute("BEGIN; INSERT INTO x VALUES (2); ROLLBACK")
        .await
        .unwrap();
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM x").await,
        vec![vec![Some("2".to_string())]]
    );
}

#[tokio::test]
async fn deallocate_forgets_prepared_statements() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let statement = client.prepare("SELECT 1::BIGINT").await.unwrap();
    assert_eq!(
        client
            .query_one(&statement, &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        1
    );
    client.batch_execute("DEALLOCATE ALL").await.unwrap();
    assert!(client.query_one(&statement, &[]).await.is_err());
    // The connection itself is fine.
    assert_eq!(
        text_rows(&client, "SELECT 3").await,
        vec![vec![Some("3".to_string())]]
    );
}

#[tokio::test]
async fn deallocate_all_and_discard_all_drop_sql_prepared_statements() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("PREPARE one AS SELECT 1; PREPARE two AS SELECT 2")
        .await
        .unwrap();
    assert_eq!(
        text_rows(&client, "EXECUTE two").await,
        vec![vec![Some("2".to_string())]]
    );
    client.batch_execute("DEALLOCATE ALL").await.unwrap();
    for name in ["one", "two"] {
        let err = client
            .simple_query(&format!("EXECUTE {name}"))
            .await
            .unwrap_err();
        assert!(err.code().is_some(), "{err:?}");
    }
    // The names are free again, and DISCARD ALL drops them too.
    client
        .batch_execute("PREPARE one AS SELECT 1")
        .await
        .unwrap();
    client.batch_execute("DISCARD ALL").await.unwrap();
    assert!(client.simple_query("EXECUTE one").await.is_err());
    // DEALLOCATE of one name still drops only that one.
    client
        .batch_execute("PREPARE one AS SELECT 1; PREPARE two AS SELECT 2; DEALLOCATE one")
        .await
        .unwrap();
    assert!(client.simple_query("EXECUTE one").await.is_err());
    assert_eq!(
        text_rows(&client, "EXECUTE two").await,
        vec![vec![Some("2".to_string())]]
    );
}

#[tokio::test]
async fn cancel_request_stops_the_running_statement() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let token = client.cancel_token();
    let running = tokio::spawn(async move {
        let result = client.simple_query(ENDLESS).await;
        (client, result)
    });
    // A cancel that arrives before the statement starts is dropped (as in PostgreSQL),
    // so keep asking until the statement ends.
    while !running.is_finished() {
        token.cancel_query(NoTls).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (client, result) = running.await.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err:?}");
    assert_eq!(
        text_rows(&client, "SELECT 1").await,
        vec![vec![Some("1".to_string())]]
    );
}

#[tokio::test]
async fn statement_timeout_stops_long_statements() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let err = client.query(ENDLESS, &[]).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err:?}");
    let message = err.as_db_error().map(|e| e.message().to_string());
    assert!(
        message
            .as_deref()
            .unwrap_or("")
            .contains("statement timeout"),
        "{message:?}"
    );
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .unwrap();
    assert_eq!(
        text_rows(&client, "SELECT 1").await,
        vec![vec![Some("1".to_string())]]
    );
}

/// The backend messages `raw` receives until the server closes it, as (type, body).
async fn messages_until_closed(raw: &mut tokio::net::TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut bytes = Vec::new();
    raw.read_to_end(&mut bytes).await.unwrap();
    let mut messages = Vec::new();
    let mut rest = bytes.as_slice();
    while rest.len() >= 5 {
        let length = i32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        messages.push((rest[0], rest[5..1 + length].to_vec()));
        rest = &rest[1 + length..];
    }
    assert!(rest.is_empty(), "a partial message at the end: {rest:?}");
    messages
}

/// The (severity, SQLSTATE) of an ErrorResponse body.
fn severity_and_code(body: &[u8]) -> (String, String) {
    let mut severity = String::new();
    let mut code = String::new();
    for field in body.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let value = String::from_utf8_lossy(&field[1..]).to_string();
        match field[0] {
            b'S' => severity = value,
            b'C' => code = value,
            _ => {}
        }
    }
    (severity, code)
}

/// A connection that has logged in as `floe` and is ready for queries.
async fn logged_in(port: u16) -> tokio::net::TcpStream {
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut body = vec![0, 3, 0, 0];
    for text in ["user", "floe", "database", "floe", ""] {
        body.extend_from_slice(text.as_bytes());
        body.push(0);
    }
    let mut startup = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    startup.extend_from_slice(&body);
    raw.write_all(&startup).await.unwrap();
    // Read until ReadyForQuery ('Z', length 5, status 'I').
    let mut seen = Vec::new();
    while !seen.ends_with(&[b'Z', 0, 0, 0, 5, b'I']) {
        let mut byte = [0u8; 1];
        raw.read_exact(&mut byte).await.unwrap();
        seen.push(byte[0]);
    }
    raw
}

#[tokio::test]
async fn a_malformed_message_ends_only_its_connection_with_08p01() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    // Each is sent on a connection of its own: a startup packet cut short by the end of
    // the stream, then after login an unknown message type, a CopyData message whose
    // length is under its header's, a Query longer than the limit, and a Query cut short.
    let after_login: [&[u8]; 4] = [
        &[0x01, 0, 0, 0, 4],
        &[b'd', 0, 0, 0, 2, 0, 0, 0, 0],
        &[b'Q', 0x7f, 0, 0, 0],
        &[b'Q', 0, 0, 0, 100, b'S', b'E', b'L'],
    ];
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    raw.write_all(&[0, 0, 0, 200, 0, 3, 0, 0, b'u', b's'])
        .await
        .unwrap();
    raw.shutdown().await.unwrap();
    let mut answers = vec![messages_until_closed(&mut raw).await];
    for message in after_login {
        let mut raw = logged_in(server.port).await;
        raw.write_all(message).await.unwrap();
        raw.shutdown().await.unwrap();
        answers.push(messages_until_closed(&mut raw).await);
    }
    for (case, answer) in answers.iter().enumerate() {
        assert_eq!(answer.len(), 1, "case {case}: {answer:?}");
        let (kind, body) = &answer[0];
        assert_eq!(*kind, b'E', "case {case}: {answer:?}");
        assert_eq!(
            severity_and_code(body),
            ("FATAL".to_string(), "08P01".to_string()),
            "case {case}"
        );
    }
    // The other connections and the server go on.
    assert_eq!(
        text_rows(&client, "SELECT 1").await,
        vec![vec![Some("1".to_string())]]
    );
    let fresh = server.connect().await;
    assert_eq!(
        text_rows(&fresh, "SELECT 2").await,
        vec![vec![Some("2".to_string())]]
    );
}

#[tokio::test]
async fn client_min_messages_above_notice_silences_write_notices() {
    use futures::StreamExt;
    use tokio_postgres::AsyncMessage;

    let server = TestServer::start().await;
    let (client, mut connection) = tokio_postgres::connect(&server.url(), NoTls).await.unwrap();
    let (sender, mut notices) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notice(notice) = message {
                let _ = sender.send(notice.message().to_string());
            }
        }
    });
    client
        .batch_execute("CREATE TABLE t (a INT); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    // The notice comes before the command's answer, so it is here by now.
    let notice = notices.try_recv().expect("a write notice");
    assert!(notice.starts_with("wrote 1 rows"), "{notice}");
    client
        .batch_execute("SET client_min_messages = warning; INSERT INTO t VALUES (2)")
        .await
        .unwrap();
    assert!(notices.try_recv().is_err());
    client
        .batch_execute("RESET client_min_messages; INSERT INTO t VALUES (3)")
        .await
        .unwrap();
    assert!(notices.try_recv().is_ok());
}

#[tokio::test]
async fn timestamptz_literals_and_now_are_timestamptz_in_the_session_zone() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let statement = client
        .prepare("SELECT TIMESTAMPTZ '2024-01-01 10:00:00+02', '2024-01-01 10:00:00'::timestamptz, now()")
        .await
        .unwrap();
    let types: Vec<Type> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(types, vec![Type::TIMESTAMPTZ; 3]);
    assert_eq!(
        text_rows(
            &client,
            "SELECT TIMESTAMPTZ '2024-01-01 10:00:00+02', '2024-01-01 10:00:00'::timestamptz"
        )
        .await,
        vec![vec![
            Some("2024-01-01 08:00:00+00".to_string()),
            Some("2024-01-01 10:00:00+00".to_string())
        ]]
    );
    // A text timestamp without an offset is read in the session's TimeZone.
    client
        .batch_execute("SET TimeZone = 'Europe/Paris'")
        .await
        .unwrap();
    assert_eq!(
        text_rows(
            &client,
            "SELECT '2024-01-01 10:00:00'::timestamptz = TIMESTAMPTZ '2024-01-01 09:00:00+00'"
        )
        .await,
        vec![vec![Some("t".to_string())]]
    );
    let err = client
        .batch_execute("SET TimeZone = 'Nowhere/Special'")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::INVALID_PARAMETER_VALUE),
        "{err:?}"
    );
    assert_eq!(
        text_rows(&client, "SHOW TimeZone").await,
        vec![vec![Some("Europe/Paris".to_string())]]
    );
}

#[tokio::test]
async fn timestamptz_text_is_shown_in_the_session_time_zone() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE events (at TIMESTAMPTZ); \
             INSERT INTO events VALUES (TIMESTAMPTZ '2024-01-15 12:00:00+00'); \
             SET TimeZone = 'America/New_York'",
        )
        .await
        .unwrap();
    // Summer and winter offsets of the named zone, for a literal and a stored column.
    assert_eq!(
        text_rows(
            &client,
            "SELECT TIMESTAMPTZ '2024-06-01 12:00:00+00', at FROM events"
        )
        .await,
        vec![vec![
            Some("2024-06-01 08:00:00-04".to_string()),
            Some("2024-01-15 07:00:00-05".to_string())
        ]]
    );
    // Binary results are the same instants (UTC microseconds) whatever the zone.
    let row = client
        .query_one(
            "SELECT TIMESTAMPTZ '2024-06-01 12:00:00+00', at FROM events",
            &[],
        )
        .await
        .unwrap();
    let summer: chrono::DateTime<chrono::Utc> = row.get(0);
    let winter: chrono::DateTime<chrono::Utc> = row.get(1);
    assert_eq!(summer.to_rfc3339(), "2024-06-01T12:00:00+00:00");
    assert_eq!(winter.to_rfc3339(), "2024-01-15T12:00:00+00:00");
    client
        .batch_execute("SET TimeZone = '+05:30'")
        .await
        .unwrap();
    assert_eq!(
        text_rows(&client, "SELECT at FROM events").await,
        vec![vec![Some("2024-01-15 17:30:00+05:30".to_string())]]
    );
    client.batch_execute("RESET TimeZone").await.unwrap();
    assert_eq!(
        text_rows(&client, "SELECT at FROM events").await,
        vec![vec![Some("2024-01-15 12:00:00+00".to_string())]]
    );
}

#[tokio::test]
async fn current_user_is_the_login_user() {
    let server = TestServer::start().await;
    let url = server.url().replace("user=floe", "user=alice");
    let (alice, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let bob = server.connect().await;
    assert_eq!(
        text_rows(&alice, "SELECT current_user, session_user, user").await,
        vec![vec![Some("alice".to_string()); 3]]
    );
    // Each session its own user, in the extended protocol too; RESET ALL keeps it.
    bob.batch_execute("RESET ALL").await.unwrap();
    let row = bob.query_one("SELECT current_user()", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "floe");
    assert_eq!(row.columns()[0].name(), "current_user");
    // pg_roles lists both users.
    assert_eq!(
        text_rows(&bob, "SELECT rolname FROM pg_catalog.pg_roles ORDER BY 1").await,
        vec![
            vec![Some("alice".to_string())],
            vec![Some("floe".to_string())]
        ]
    );
}
