//! `COPY ... TO STDOUT` in text and CSV format writes every type as PostgreSQL 15 does
//! (`\x` bytea, dashed uuids, `t`/`f`, `+00` offsets, fractions without trailing zeros,
//! backslash escapes or CSV quoting), and what it writes loads back unchanged with
//! `COPY ... FROM STDIN`.

mod common;
#[macro_use]
#[path = "common/every_type.rs"]
mod every_type;
#[path = "common/uuid16.rs"]
mod uuid16;

use bytes::Bytes;
use common::TestServer;
use every_type::{Row, TABLE, copy_rows_in, rows};
use futures::{SinkExt, TryStreamExt};
use tokio_postgres::Client;

/// What PostgreSQL 15 prints for `rows()` (ordered by `i NULLS FIRST`) in text format.
const TEXT: &str = concat!(
    "\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n",
    "t\t-2147483648\t9007199254740993\t1.5\t-2.25e-300\t1234567890123.45\t",
    "naïve\\ttab \\\\ and \"quotes\"\\nnewline\tshort\t\\\\x0001ff0a5c\t",
    "12345678-9abc-def0-0123-456789abcdef\t2024-02-29\t13:45:07.123456\t",
    "2024-02-29 13:45:07.123456\t2024-02-29 13:45:07.123456+00\n",
    "f\t0\t-1\t-0\t1.7976931348623157e+308\t-0.01\t\t\\N\t\\\\x\t",
    "00000000-0000-0000-0000-000000000000\t1969-07-20\t00:00:00\t1969-07-20 20:17:40\t\\N\n",
);

/// The same in CSV with a header: NULL is an empty field, the empty string is `""`.
const CSV: &str = concat!(
    "b,i,l,r,d,n,s,v,bin,u,dt,tm,ts,tz\n",
    ",,,,,,,,,,,,,\n",
    "t,-2147483648,9007199254740993,1.5,-2.25e-300,1234567890123.45,",
    "\"naïve\ttab \\ and \"\"quotes\"\"\nnewline\",short,\\x0001ff0a5c,",
    "12345678-9abc-def0-0123-456789abcdef,2024-02-29,13:45:07.123456,",
    "2024-02-29 13:45:07.123456,2024-02-29 13:45:07.123456+00\n",
    "f,0,-1,-0,1.7976931348623157e+308,-0.01,\"\",,\\x,",
    "00000000-0000-0000-0000-000000000000,1969-07-20,00:00:00,1969-07-20 20:17:40,\n",
);

async fn copy_out(client: &Client, sql: &str) -> String {
    let stream = client.copy_out(sql).await.unwrap();
    let bytes: Vec<u8> = stream
        .map_ok(|chunk| chunk.to_vec())
        .try_concat()
        .await
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

async fn copy_in(client: &Client, sql: &str, data: &str) -> u64 {
    let sink = client.copy_in::<_, Bytes>(sql).await.unwrap();
    futures::pin_mut!(sink);
    sink.send(Bytes::from(data.to_string())).await.unwrap();
    sink.finish().await.unwrap()
}

async fn table_rows(client: &Client, table: &str) -> Vec<Row> {
    client
        .query(
            &format!("SELECT * FROM {table} ORDER BY i NULLS FIRST"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row_from!(row))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_copies_out_as_postgres_text_and_back() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    copy_rows_in(&client, &rows()).await.unwrap();
    let stored = table_rows(&client, "every_type").await;

    let text = copy_out(
        &client,
        "COPY (SELECT * FROM every_type ORDER BY i NULLS FIRST) TO STDOUT",
    )
    .await;
    assert_eq!(text, TEXT);
    let csv = copy_out(
        &client,
        "COPY (SELECT * FROM every_type ORDER BY i NULLS FIRST) TO STDOUT (FORMAT csv, HEADER)",
    )
    .await;
    assert_eq!(csv, CSV);

    // Floe reads back what it wrote. (DataFusion's CSV reader, which COPY FROM uses, reads
    // an empty field as NULL in both formats, so the empty string is left out of the
    // comparisons.)
    let without_empty_text = |rows: Vec<Row>| {
        rows.into_iter()
            .map(|row| Row {
                s: row.s.filter(|s| !s.is_empty()),
                ..row
            })
            .collect::<Vec<_>>()
    };
    client
        .batch_execute(&TABLE.replace("every_type", "from_text"))
        .await
        .unwrap();
    assert_eq!(
        copy_in(&client, "COPY from_text FROM STDIN", &text).await,
        3
    );
    assert_eq!(
        without_empty_text(table_rows(&client, "from_text").await),
        without_empty_text(stored.clone())
    );
    client
        .batch_execute(&TABLE.replace("every_type", "from_csv"))
        .await
        .unwrap();
    assert_eq!(
        copy_in(
            &client,
            "COPY from_csv FROM STDIN (FORMAT csv, HEADER)",
            &csv
        )
        .await,
        3
    );
    assert_eq!(
        without_empty_text(table_rows(&client, "from_csv").await),
        without_empty_text(stored)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_binary_copies_out_as_bytea_and_back() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE tags (id INT, tag BINARY(4)); \
             INSERT INTO tags VALUES (1, '\\xdeadbeef'), (2, NULL); \
             CREATE TABLE tags_back (id INT, tag BINARY(4))",
        )
        .await
        .unwrap();
    let text = copy_out(&client, "COPY (SELECT * FROM tags ORDER BY id) TO STDOUT").await;
    assert_eq!(text, "1\t\\\\xdeadbeef\n2\t\\N\n");
    assert_eq!(
        copy_in(&client, "COPY tags_back FROM STDIN", &text).await,
        2
    );
    let back: Vec<(i32, Option<Vec<u8>>)> = client
        .query("SELECT id, tag FROM tags_back ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(back, [(1, Some(vec![0xde, 0xad, 0xbe, 0xef])), (2, None)]);

    // A value of the wrong length fails the COPY, naming the line; nothing loads.
    let sink = client
        .copy_in::<_, Bytes>("COPY tags_back FROM STDIN")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(Bytes::from_static(b"3\t\\\\xdeadbeef\n4\t\\\\xdead\n"))
        .await
        .unwrap();
    let error = sink.finish().await.unwrap_err();
    let error = error.as_db_error().unwrap();
    assert_eq!(error.code().code(), "22P02");
    assert!(
        error
            .message()
            .contains("invalid value \"\\xdead\" for column tag of type BINARY(4) (STDIN, line 2)"),
        "{}",
        error.message()
    );
    let count: i64 = client
        .query_one("SELECT count(*) FROM tags_back", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}
