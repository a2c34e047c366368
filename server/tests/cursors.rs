//! DECLARE / FETCH / CLOSE through tokio-postgres, in the simple and the extended protocol.

mod common;

use common::TestServer;
use tokio_postgres::{Client, SimpleQueryMessage};

/// The first column of each row a simple query returns, and its command's row count.
async fn fetch(client: &Client, sql: &str) -> (Vec<String>, u64) {
    let mut values = Vec::new();
    let mut count = None;
    for message in client
        .simple_query(sql)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
    {
        match message {
            SimpleQueryMessage::Row(row) => values.push(row.get(0).unwrap().to_string()),
            SimpleQueryMessage::CommandComplete(n) => count = Some(n),
            _ => {}
        }
    }
    (values, count.expect("a command completion"))
}

fn numbers(range: std::ops::RangeInclusive<i64>) -> Vec<String> {
    range.map(|n| n.to_string()).collect()
}

async fn sqlstate_of(client: &Client, sql: &str) -> String {
    let err = client
        .simple_query(sql)
        .await
        .err()
        .unwrap_or_else(|| panic!("{sql} succeeded"));
    err.code().unwrap().code().to_string()
}

async fn server_with_table() -> (TestServer, Client) {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (id BIGINT); \
             INSERT INTO t SELECT value FROM generate_series(1, 10)",
        )
        .await
        .unwrap();
    (server, client)
}

#[tokio::test]
async fn fetch_moves_forward_through_the_rows() {
    let (_server, client) = server_with_table().await;
    let (_, declared) = fetch(
        &client,
        "DECLARE c NO SCROLL CURSOR FOR SELECT id FROM t ORDER BY id",
    )
    .await;
    assert_eq!(declared, 0);
    assert_eq!(fetch(&client, "FETCH 3 FROM c").await, (numbers(1..=3), 3));
    assert_eq!(
        fetch(&client, "FETCH NEXT FROM c").await,
        (numbers(4..=4), 1)
    );
    assert_eq!(
        fetch(&client, "FETCH FORWARD 2 IN c").await,
        (numbers(5..=6), 2)
    );
    assert_eq!(
        fetch(&client, "FETCH FORWARD 1 FROM c").await,
        (numbers(7..=7), 1)
    );
    assert_eq!(
        fetch(&client, "FETCH ALL FROM c").await,
        (numbers(8..=10), 3)
    );
    assert_eq!(fetch(&client, "FETCH 5 FROM c").await, (vec![], 0));
    fetch(&client, "CLOSE c").await;
    assert_eq!(sqlstate_of(&client, "FETCH 1 FROM c").await, "34000");
    // Several statements in one message, as PostgreSQL allows.
    assert_eq!(
        fetch(
            &client,
            "DECLARE d CURSOR FOR SELECT id FROM t ORDER BY id DESC; FETCH 2 FROM d"
        )
        .await,
        (numbers(9..=10).into_iter().rev().collect(), 2)
    );
}

#[tokio::test]
async fn cursor_errors_name_the_cursor_and_keep_the_session() {
    let (_server, client) = server_with_table().await;
    fetch(&client, "DECLARE c CURSOR FOR SELECT id FROM t").await;
    assert_eq!(
        sqlstate_of(&client, "DECLARE c CURSOR FOR SELECT 1").await,
        "42P03"
    );
    for backwards in [
        "FETCH BACKWARD 1 FROM c",
        "FETCH PRIOR FROM c",
        "FETCH FIRST FROM c",
    ] {
        assert_eq!(
            sqlstate_of(&client, backwards).await,
            "55000",
            "{backwards}"
        );
    }
    assert_eq!(
        sqlstate_of(&client, "DECLARE s SCROLL CURSOR FOR SELECT 1").await,
        "0A000"
    );
    assert_eq!(sqlstate_of(&client, "CLOSE nope").await, "34000");
    assert_eq!(
        sqlstate_of(&client, "DECLARE bad CURSOR FOR SELECT * FROM missing").await,
        "42P01"
    );
    // The failed statements left the cursor where it was.
    assert_eq!(fetch(&client, "FETCH ALL FROM c").await.1, 10);
    fetch(&client, "CLOSE ALL").await;
    assert_eq!(sqlstate_of(&client, "FETCH 1 FROM c").await, "34000");
}

#[tokio::test]
async fn cursors_without_hold_end_with_their_transaction_block() {
    let (_server, client) = server_with_table().await;
    client.batch_execute("BEGIN").await.unwrap();
    fetch(
        &client,
        "DECLARE plain CURSOR FOR SELECT id FROM t ORDER BY id",
    )
    .await;
    fetch(
        &client,
        "DECLARE held CURSOR WITH HOLD FOR SELECT id FROM t ORDER BY id",
    )
    .await;
    assert_eq!(fetch(&client, "FETCH 1 FROM plain").await.0, numbers(1..=1));
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(sqlstate_of(&client, "FETCH 1 FROM plain").await, "34000");
    assert_eq!(fetch(&client, "FETCH 2 FROM held").await.0, numbers(1..=2));
    fetch(&client, "DISCARD ALL").await;
    assert_eq!(sqlstate_of(&client, "FETCH 1 FROM held").await, "34000");
}

#[tokio::test]
async fn extended_protocol_binds_parameters_and_describes_fetch() {
    let (_server, client) = server_with_table().await;
    client
        .execute(
            "DECLARE p CURSOR FOR SELECT id, id * 2 AS twice FROM t WHERE id > $1 ORDER BY id",
            &[&6i64],
        )
        .await
        .unwrap();
    // tokio-postgres prepares FETCH (Describe gives the cursor's columns) and reads the
    // rows in binary.
    let rows = client.query("FETCH 2 FROM p", &[]).await.unwrap();
    let got: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(7, 14), (8, 16)]);
    assert_eq!(rows[0].columns()[1].name(), "twice");
    let rest = client.query("FETCH ALL FROM p", &[]).await.unwrap();
    assert_eq!(rest.len(), 2);
    let err = client.query("FETCH 1 FROM nowhere", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "34000");
}

#[tokio::test]
async fn binary_cursors_send_binary_rows() {
    let (_server, client) = server_with_table().await;
    fetch(
        &client,
        "DECLARE b BINARY CURSOR FOR SELECT CAST(258 AS INT)",
    )
    .await;
    // The simple protocol carries the row as the cursor's binary format: int4 258.
    assert_eq!(
        fetch(&client, "FETCH 1 FROM b").await.0,
        vec!["\0\0\u{1}\u{2}"]
    );
}

#[tokio::test]
async fn fetch_reads_only_what_it_returns() {
    let (_server, client) = server_with_table().await;
    // Materialising this endless query would run into the timeout and fail with 57014.
    client
        .batch_execute("SET statement_timeout = '30s'")
        .await
        .unwrap();
    fetch(
        &client,
        "DECLARE endless CURSOR FOR SELECT value FROM generate_series(1, 9223372036854775806)",
    )
    .await;
    assert_eq!(
        fetch(&client, "FETCH 3 FROM endless").await.0,
        numbers(1..=3)
    );
    assert_eq!(
        fetch(&client, "FETCH 2 FROM endless").await.0,
        numbers(4..=5)
    );
}
