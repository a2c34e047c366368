//! COPY over the wire with a real client (tokio-postgres): rows sent with COPY FROM STDIN
//! land in the Iceberg table in one commit, bad rows fail the whole COPY naming the line,
//! and COPY TO STDOUT streams rows back.

mod common;

use common::TestServer;
use futures::{SinkExt, TryStreamExt};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

async fn count(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn copy_in(client: &Client, statement: &str, data: &'static [u8]) -> Result<u64, tokio_postgres::Error> {
    let sink = client.copy_in::<_, &'static [u8]>(statement).await?;
    futures::pin_mut!(sink);
    sink.send(data).await?;
    sink.finish().await
}

async fn copy_out(client: &Client, statement: &str) -> String {
    let stream = client.copy_out(statement).await.unwrap();
    let chunks: Vec<_> = stream.try_collect().await.unwrap();
    chunks
        .iter()
        .map(|chunk| String::from_utf8(chunk.to_vec()).unwrap())
        .collect()
}

#[tokio::test]
async fn copy_from_stdin_loads_one_commit_and_bad_rows_load_nothing() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE items (id INT NOT NULL, name TEXT, price DECIMAL(6,2), added DATE) \
             PARTITIONED BY (month(added))",
        )
        .await
        .unwrap();

    let rows = copy_in(
        &client,
        "COPY items FROM STDIN (FORMAT csv, HEADER)",
        b"id,name,price,added\n1,pen,1.50,2024-01-02\n2,ink,,2024-02-03\n3,,9.99,2024-02-04\n",
    )
    .await
    .unwrap();
    assert_eq!(rows, 3);
    // PostgreSQL's default text format: tab-separated, \N for NULL.
    let rows = copy_in(&client, "COPY items FROM STDIN", b"4\tcap\t\\N\t2024-03-01\n").await.unwrap();
    assert_eq!(rows, 1);
    assert_eq!(count(&client, "SELECT count(*) FROM items").await, 4);
    assert_eq!(count(&client, "SELECT count(*) FROM \"items$snapshots\"").await, 2);
    assert_eq!(
        count(&client, "SELECT count(*) FROM items WHERE price IS NULL").await,
        2
    );

    let err = copy_in(
        &client,
        "COPY items FROM STDIN (FORMAT csv)",
        b"5,ok,1.00,2024-01-01\n6,bad,1.00,2024-13-01\n",
    )
    .await
    .unwrap_err();
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.code(), &SqlState::INVALID_DATETIME_FORMAT);
    assert!(
        db.message().contains("column added") && db.message().contains("(STDIN, line 2)"),
        "{}",
        db.message()
    );
    // Nothing of the failed COPY was committed, and the session goes on.
    assert_eq!(count(&client, "SELECT count(*) FROM items").await, 4);

    let err = copy_in(&client, "COPY nowhere FROM STDIN", b"1\n").await.unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code(), &SqlState::UNDEFINED_TABLE);
    assert_eq!(count(&client, "SELECT count(*) FROM items").await, 4);
}

#[tokio::test]
async fn copy_to_stdout_streams_rows_as_csv_or_text() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (id INT, name TEXT, at TIMESTAMP); \
             INSERT INTO t VALUES (1, 'a,b', TIMESTAMP '2024-01-02 03:04:05'), (2, NULL, NULL)",
        )
        .await
        .unwrap();
    assert_eq!(
        copy_out(&client, "COPY (SELECT * FROM t ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)").await,
        "id,name,at\n1,\"a,b\",2024-01-02 03:04:05\n2,,\n"
    );
    assert_eq!(
        copy_out(&client, "COPY (SELECT id, name FROM t ORDER BY id) TO STDOUT").await,
        "1\ta,b\n2\t\\N\n"
    );
}
