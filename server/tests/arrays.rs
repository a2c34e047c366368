//! Lists of lists through tokio-postgres: PostgreSQL multidimensional arrays, typed as
//! the array of their innermost items, in text (`{{1,2},{3,4}}`) and binary (dimensions
//! in the value).

mod common;

use std::error::Error;

use common::TestServer;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::{FromSql, Type};

/// A binary array value taken apart: dimensions, element type and items (`None` for
/// NULL), as PostgreSQL's `array_send` lays it out.
#[derive(Debug, PartialEq)]
struct RawArray {
    dimensions: Vec<i32>,
    element: u32,
    items: Vec<Option<Vec<u8>>>,
}

impl<'a> FromSql<'a> for RawArray {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let word = |at: usize| i32::from_be_bytes(raw[at..at + 4].try_into().unwrap());
        let ndim = word(0) as usize;
        let element = word(8) as u32;
        let mut dimensions = Vec::new();
        for d in 0..ndim {
            dimensions.push(word(12 + 8 * d));
            assert_eq!(word(16 + 8 * d), 1, "lower bound");
        }
        let mut at = 12 + 8 * ndim;
        let mut items = Vec::new();
        while at < raw.len() {
            let length = word(at);
            at += 4;
            if length < 0 {
                items.push(None);
            } else {
                items.push(Some(raw[at..at + length as usize].to_vec()));
                at += length as usize;
            }
        }
        Ok(RawArray {
            dimensions,
            element,
            items,
        })
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn int8s(values: &[i64]) -> Vec<Option<Vec<u8>>> {
    values
        .iter()
        .map(|v| Some(v.to_be_bytes().to_vec()))
        .collect()
}

#[tokio::test]
async fn nested_lists_are_multidimensional_arrays() {
    let server = TestServer::start().await;
    let client = server.connect().await;

    // Text (simple protocol).
    let messages = client
        .simple_query(
            "SELECT [[1, 2], [3, 4]] AS square, [[1, 2], [3]] AS ragged, \
             [['a b', 'c'], [NULL, '\"q\"']] AS words, [[[1.5]], [[-0.0]]] AS cube, \
             CAST(NULL AS BIGINT[][]) AS nothing",
        )
        .await
        .unwrap();
    let row = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .unwrap();
    assert_eq!(row.get(0), Some("{{1,2},{3,4}}"));
    assert_eq!(row.get(1), Some("{{1,2},{3}}"));
    assert_eq!(row.get(2), Some(r#"{{"a b",c},{NULL,"\"q\""}}"#));
    assert_eq!(row.get(3), Some("{{{1.5}},{{-0}}}"));
    assert_eq!(row.get(4), None);

    // Binary (tokio-postgres asks for it), typed as arrays of the innermost items.
    let statement = client
        .prepare(
            "SELECT [[1, 2, 3], [4, 5, 6]] AS square, [['x'], [NULL]] AS words, \
             [[1.5]] AS floats, CAST([[]] AS BIGINT[][]) AS empty",
        )
        .await
        .unwrap();
    let types: Vec<&Type> = statement.columns().iter().map(|c| c.type_()).collect();
    assert_eq!(
        types,
        [
            &Type::INT8_ARRAY,
            &Type::TEXT_ARRAY,
            &Type::FLOAT8_ARRAY,
            &Type::INT8_ARRAY
        ]
    );
    let row = client.query_one(&statement, &[]).await.unwrap();
    assert_eq!(
        row.get::<_, RawArray>(0),
        RawArray {
            dimensions: vec![2, 3],
            element: Type::INT8.oid(),
            items: int8s(&[1, 2, 3, 4, 5, 6]),
        }
    );
    assert_eq!(
        row.get::<_, RawArray>(1),
        RawArray {
            dimensions: vec![2, 1],
            element: Type::TEXT.oid(),
            items: vec![Some(b"x".to_vec()), None],
        }
    );
    assert_eq!(
        row.get::<_, RawArray>(2),
        RawArray {
            dimensions: vec![1, 1],
            element: Type::FLOAT8.oid(),
            items: vec![Some(1.5f64.to_be_bytes().to_vec())],
        }
    );
    // An empty dimension: PostgreSQL's empty array.
    assert_eq!(
        row.get::<_, RawArray>(3),
        RawArray {
            dimensions: vec![],
            element: Type::INT8.oid(),
            items: vec![],
        }
    );

    // Lists of different lengths have no binary form: PostgreSQL's error, and the
    // session goes on.
    let err = client
        .query("SELECT [[1, 2], [3]] AS ragged", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("2202E"), "{err:?}");
    let message = err.as_db_error().unwrap().message();
    assert!(message.contains("column \"ragged\""), "{message}");
    let one: i64 = client
        .query_one("SELECT 1::BIGINT", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(one, 1);
}
