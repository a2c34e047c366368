//! COPY in PostgreSQL's binary format with tokio-postgres's binary COPY reader and writer:
//! every column type a table holds goes in and comes back out unchanged (NULLs too), the
//! load is one commit, and bad data fails the whole COPY naming the tuple, loading nothing.

mod common;
#[macro_use]
#[path = "common/every_type.rs"]
mod every_type;
#[path = "common/uuid16.rs"]
mod uuid16;

use common::TestServer;
use every_type::{Row, TABLE, TYPES, copy_rows_in, rows};
use futures::{SinkExt, TryStreamExt};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutStream};
use tokio_postgres::types::Type;

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
