//! Iceberg uuid columns through tokio-postgres: described and sent as PostgreSQL's `uuid`
//! (type 2950) in text and binary, and uuid parameters bound in either format.

mod common;
#[path = "common/uuid16.rs"]
mod uuid16;

use common::TestServer;
use tokio_postgres::types::Type;
use uuid16::Uuid16;

const ID: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
];

#[tokio::test]
async fn uuid_columns_and_parameters_are_postgres_uuids() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE tagged (id UUID, label VARCHAR)")
        .await
        .unwrap();
    // A binary uuid parameter, its type inferred from the column.
    let insert = client
        .prepare("INSERT INTO tagged VALUES ($1, $2)")
        .await
        .unwrap();
    assert_eq!(insert.params(), &[Type::UUID, Type::TEXT]);
    client
        .execute(&insert, &[&Uuid16(ID), &"first"])
        .await
        .unwrap();
    client
        .execute(&insert, &[&Uuid16([0; 16]), &"zero"])
        .await
        .unwrap();

    // Binary results, typed uuid.
    let select = client
        .prepare("SELECT id, label FROM tagged WHERE id = $1")
        .await
        .unwrap();
    assert_eq!(select.params(), &[Type::UUID]);
    assert_eq!(select.columns()[0].type_(), &Type::UUID);
    let rows = client.query(&select, &[&Uuid16(ID)]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, Uuid16>(0), Uuid16(ID));
    assert_eq!(rows[0].get::<_, &str>(1), "first");

    // Text results and a text parameter (simple query, then a typed text literal).
    let text: Vec<String> = client
        .simple_query("SELECT id FROM tagged ORDER BY label")
        .await
        .unwrap()
        .into_iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(
        text,
        [
            "12345678-9abc-def0-1234-56789abcdef0",
            "00000000-0000-0000-0000-000000000000"
        ]
    );
    let typed = client
        .prepare_typed("SELECT label FROM tagged WHERE id = $1", &[Type::UUID])
        .await
        .unwrap();
    let row = client.query_one(&typed, &[&Uuid16([0; 16])]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "zero");
    // A malformed binary uuid is a data error, and the session goes on.
    let err = client
        .query(&select, &[&Uuid16Short])
        .await
        .expect_err("a 3-byte uuid");
    assert_eq!(err.code().map(|c| c.code()), Some("22P02"));
    assert_eq!(
        client.query(&select, &[&Uuid16(ID)]).await.unwrap().len(),
        1
    );
}

/// A uuid parameter of the wrong length.
#[derive(Debug)]
struct Uuid16Short;

impl tokio_postgres::types::ToSql for Uuid16Short {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&[1, 2, 3]);
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }

    tokio_postgres::types::to_sql_checked!();
}
