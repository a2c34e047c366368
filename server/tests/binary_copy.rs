//! COPY in PostgreSQL's binary format with tokio-postgres's binary COPY reader and writer:
//! every column type a table holds goes in and comes back out unchanged (NULLs too), the
//! load is one commit, and bad data fails the whole COPY naming the tuple, loading nothing.

mod common;
#[path = "common/uuid16.rs"]
mod uuid16;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use common::TestServer;
use futures::{SinkExt, TryStreamExt};
use rust_decimal::Decimal;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutStream};
use tokio_postgres::types::{ToSql, Type};
use uuid16::Uuid16;

const TABLE: &str = "CREATE TABLE every_type (
    b BOOLEAN, i INT, l BIGINT, r REAL, d DOUBLE PRECISION, n NUMERIC(15,2), s TEXT,
    v VARCHAR(10), bin BYTEA, u UUID, dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ)";

const TYPES: [Type; 14] = [
    Type::BOOL,
    Type::INT4,
    Type::INT8,
    Type::FLOAT4,
    Type::FLOAT8,
    Type::NUMERIC,
    Type::TEXT,
    Type::VARCHAR,
    Type::BYTEA,
    Type::UUID,
    Type::DATE,
    Type::TIME,
    Type::TIMESTAMP,
    Type::TIMESTAMPTZ,
];

/// One row of `every_type`, each column optional.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    b: Option<bool>,
    i: Option<i32>,
    l: Option<i64>,
    r: Option<f32>,
    d: Option<f64>,
    n: Option<Decimal>,
    s: Option<String>,
    v: Option<String>,
    bin: Option<Vec<u8>>,
    u: Option<Uuid16>,
    dt: Option<NaiveDate>,
    tm: Option<NaiveTime>,
    ts: Option<NaiveDateTime>,
    tz: Option<DateTime<Utc>>,
}

impl Row {
    fn values(&self) -> [&(dyn ToSql + Sync); 14] {
        [
            &self.b, &self.i, &self.l, &self.r, &self.d, &self.n, &self.s, &self.v, &self.bin,
            &self.u, &self.dt, &self.tm, &self.ts, &self.tz,
        ]
    }
}

macro_rules! row_from {
    ($source:expr) => {
        Row {
            b: $source.get(0),
            i: $source.get(1),
            l: $source.get(2),
            r: $source.get(3),
            d: $source.get(4),
            n: $source.get(5),
            s: $source.get(6),
            v: $source.get(7),
            bin: $source.get(8),
            u: $source.get(9),
            dt: $source.get(10),
            tm: $source.get(11),
            ts: $source.get(12),
            tz: $source.get(13),
        }
    };
}

fn rows() -> Vec<Row> {
    let date = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let time = NaiveTime::from_hms_micro_opt(13, 45, 7, 123_456).unwrap();
    let full = Row {
        b: Some(true),
        i: Some(-2_147_483_648),
        l: Some(9_007_199_254_740_993),
        r: Some(1.5),
        d: Some(-2.25e-300),
        n: Some("1234567890123.45".parse().unwrap()),
        s: Some("naïve\ttab \\ and \"quotes\"\nnewline".to_string()),
        v: Some("short".to_string()),
        bin: Some(vec![0, 1, 255, b'\n', b'\\']),
        u: Some(Uuid16(
            *b"\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x23\x45\x67\x89\xab\xcd\xef",
        )),
        dt: Some(date),
        tm: Some(time),
        ts: Some(date.and_time(time)),
        tz: Some(date.and_time(time).and_utc()),
    };
    let before_1970 = NaiveDate::from_ymd_opt(1969, 7, 20).unwrap();
    let other = Row {
        b: Some(false),
        i: Some(0),
        l: Some(-1),
        r: Some(-0.0),
        d: Some(f64::MAX),
        n: Some("-0.01".parse().unwrap()),
        s: Some(String::new()),
        v: None,
        bin: Some(vec![]),
        u: Some(Uuid16([0; 16])),
        dt: Some(before_1970),
        tm: Some(NaiveTime::MIN),
        ts: Some(before_1970.and_hms_opt(20, 17, 40).unwrap()),
        tz: None,
    };
    let nulls = Row {
        b: None,
        i: None,
        l: None,
        r: None,
        d: None,
        n: None,
        s: None,
        v: None,
        bin: None,
        u: None,
        dt: None,
        tm: None,
        ts: None,
        tz: None,
    };
    vec![full, other, nulls]
}

async fn copy_rows_in(client: &Client, rows: &[Row]) -> Result<u64, tokio_postgres::Error> {
    let sink = client
        .copy_in("COPY every_type FROM STDIN (FORMAT binary)")
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &TYPES);
    futures::pin_mut!(writer);
    for row in rows {
        writer.as_mut().write(&row.values()).await?;
    }
    writer.finish().await
}

async fn count(client: &Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_through_binary_copy() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    let sent = rows();
    assert_eq!(copy_rows_in(&client, &sent).await.unwrap(), 3);

    // What was loaded, read back with an ordinary query.
    let mut queried: Vec<Row> = client
        .query("SELECT * FROM every_type", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row_from!(row))
        .collect();
    queried.sort_by_key(|row| row.i);
    let mut expected = sent.clone();
    expected.sort_by_key(|row| row.i);
    assert_eq!(queried, expected);

    // And out again in binary, both spellings.
    for copy_out in [
        "COPY (SELECT * FROM every_type ORDER BY i NULLS FIRST) TO STDOUT (FORMAT binary)",
        "COPY every_type TO STDOUT WITH BINARY",
    ] {
        let stream = client.copy_out(copy_out).await.unwrap();
        let rows: Vec<Row> = BinaryCopyOutStream::new(stream, &TYPES)
            .map_ok(|row| row_from!(row))
            .try_collect()
            .await
            .unwrap();
        let mut rows = rows;
        rows.sort_by_key(|row| row.i);
        assert_eq!(rows, expected, "{copy_out}");
    }
    assert_eq!(
        count(&client, "\"every_type$snapshots\"").await,
        1,
        "one COPY, one commit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_without_rows_is_a_whole_binary_copy() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();
    let stream = client
        .copy_out("COPY (SELECT * FROM every_type) TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    let raw: Vec<u8> = stream
        .map_ok(|chunk| chunk.to_vec())
        .try_concat()
        .await
        .unwrap();
    // Signature, flags, header extension length, trailer.
    assert_eq!(raw, b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0\xff\xff");
    let stream = client
        .copy_out("COPY every_type TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    let rows: Vec<_> = BinaryCopyOutStream::new(stream, &TYPES)
        .try_collect()
        .await
        .unwrap();
    assert!(rows.is_empty());
}

/// Sends `data` as a whole binary COPY into `every_type` and returns the error.
async fn failing_copy(client: &Client, data: Vec<u8>) -> tokio_postgres::error::DbError {
    let sink = client
        .copy_in::<_, bytes::Bytes>("COPY every_type FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from(data)).await.unwrap();
    let err = sink.finish().await.expect_err("the COPY must fail");
    err.as_db_error().expect("a server error").clone()
}

/// A binary COPY of the given tuples (each a list of fields, `None` for NULL).
fn binary_copy(tuples: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
    let mut data = b"PGCOPY\n\xff\r\n\0".to_vec();
    data.extend_from_slice(&0i32.to_be_bytes());
    data.extend_from_slice(&0i32.to_be_bytes());
    for tuple in tuples {
        data.extend_from_slice(&(tuple.len() as i16).to_be_bytes());
        for field in tuple {
            match field {
                Some(value) => {
                    data.extend_from_slice(&(value.len() as i32).to_be_bytes());
                    data.extend_from_slice(value);
                }
                None => data.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
    }
    data.extend_from_slice(&(-1i16).to_be_bytes());
    data
}

/// A tuple of `every_type` with only `i` set.
fn tuple_with_i(i: Vec<u8>) -> Vec<Option<Vec<u8>>> {
    let mut tuple = vec![None; 14];
    tuple[1] = Some(i);
    tuple
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_binary_data_fails_the_copy_naming_the_tuple_and_loads_nothing() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.batch_execute(TABLE).await.unwrap();

    // An integer of three bytes in the second tuple.
    let err = failing_copy(
        &client,
        binary_copy(&[
            tuple_with_i(7i32.to_be_bytes().to_vec()),
            tuple_with_i(vec![0, 0, 7]),
        ]),
    )
    .await;
    assert_eq!(err.code().code(), "22P03", "{err:?}");
    assert!(err.message().contains("tuple 2"), "{}", err.message());
    assert!(err.message().contains("column i"), "{}", err.message());

    // A bigint too large for the INT column.
    let err = failing_copy(
        &client,
        binary_copy(&[tuple_with_i(5_000_000_000i64.to_be_bytes().to_vec())]),
    )
    .await;
    assert_eq!(err.code().code(), "22003", "{err:?}");

    // A tuple with the wrong number of fields, in the 9000th tuple (a later batch).
    let mut tuples = vec![tuple_with_i(1i32.to_be_bytes().to_vec()); 8999];
    tuples.push(vec![None; 3]);
    let err = failing_copy(&client, binary_copy(&tuples)).await;
    assert_eq!(err.code().code(), "22P04", "{err:?}");
    assert!(err.message().contains("tuple 9000"), "{}", err.message());

    // Not the binary format at all, and data cut off before its trailer.
    let err = failing_copy(&client, b"1,2,3\n".to_vec()).await;
    assert_eq!(err.code().code(), "22P04", "{err:?}");
    let mut cut = binary_copy(&[tuple_with_i(1i32.to_be_bytes().to_vec())]);
    cut.truncate(cut.len() - 2);
    let err = failing_copy(&client, cut).await;
    assert_eq!(err.code().code(), "22P04", "{err:?}");

    // Text that is not UTF-8.
    let mut tuple = vec![None; 14];
    tuple[6] = Some(vec![0xff, 0xfe]);
    let err = failing_copy(&client, binary_copy(&[tuple])).await;
    assert_eq!(err.code().code(), "22021", "{err:?}");

    assert_eq!(count(&client, "every_type").await, 0, "nothing was loaded");

    // A NULL in a NOT NULL column, named with its tuple.
    client
        .batch_execute("CREATE TABLE required (id INT NOT NULL, note TEXT)")
        .await
        .unwrap();
    let sink = client
        .copy_in("COPY required FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT]);
    futures::pin_mut!(writer);
    writer.as_mut().write(&[&1i32, &"one"]).await.unwrap();
    writer
        .as_mut()
        .write(&[&None::<i32>, &"none"])
        .await
        .unwrap();
    let err = writer
        .finish()
        .await
        .expect_err("NULL in a NOT NULL column");
    let err = err.as_db_error().unwrap();
    assert_eq!(err.code().code(), "23502", "{err:?}");
    assert!(
        err.message().contains("column id") && err.message().contains("tuple 2"),
        "{}",
        err.message()
    );
    assert_eq!(count(&client, "required").await, 0);

    // The session goes on, and a good COPY after the bad ones loads.
    assert_eq!(copy_rows_in(&client, &rows()).await.unwrap(), 3);
    assert_eq!(count(&client, "every_type").await, 3);
}
