//! Runs every `sql/*.slt` script through the PostgreSQL wire: a Floe server on an
//! ephemeral port over a fresh warehouse, and tokio-postgres as the client. Values are
//! decoded from the binary protocol by their PostgreSQL type and rendered exactly as the
//! in-process runner (`tests/sqllogictests.rs`) renders the Arrow values, errors as
//! `message (SQLSTATE xxxxx)`, so one set of expectations holds for both paths.
//!
//! `cargo test --test sqllogictests_wire -- <substring>` runs only the matching files.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use floe_engine::Engine;
use rust_decimal::Decimal;
use sqllogictest::{DBOutput, DefaultColumnType};
use tokio::net::TcpListener;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, NoTls, Row, SimpleQueryMessage};

mod slt_harness;
use slt_harness::Tally;

struct WireDb {
    client: Client,
}

#[derive(Debug)]
struct SltError(String);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SltError {}

impl From<tokio_postgres::Error> for SltError {
    fn from(err: tokio_postgres::Error) -> Self {
        match err.as_db_error() {
            Some(db) => SltError(format!("{} (SQLSTATE {})", db.message(), db.code().code())),
            None => SltError(err.to_string()),
        }
    }
}

fn column_type(ty: &Type) -> DefaultColumnType {
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 => DefaultColumnType::Integer,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

/// Floats as Arrow displays them: always with a fractional part or an exponent.
fn float_text(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e16 {
        format!("{value:.1}")
    } else {
        value.to_string()
    }
}

fn get<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<Option<T>, SltError> {
    row.try_get::<_, Option<T>>(i)
        .map_err(|err| SltError(format!("column {i}: {err}")))
}

/// A uuid's bytes, as the binary protocol sends them.
struct UuidBytes(Vec<u8>);

impl<'a> FromSql<'a> for UuidBytes {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(UuidBytes(raw.to_vec()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
}

/// One value as the in-process runner writes it (Arrow's display, `NULL` for null).
fn cell(row: &Row, i: usize) -> Result<String, SltError> {
    let ty = row.columns()[i].type_();
    let text = match *ty {
        Type::BOOL => get::<bool>(row, i)?.map(|v| v.to_string()),
        Type::INT2 => get::<i16>(row, i)?.map(|v| v.to_string()),
        Type::INT4 => get::<i32>(row, i)?.map(|v| v.to_string()),
        Type::INT8 => get::<i64>(row, i)?.map(|v| v.to_string()),
        Type::FLOAT4 => get::<f32>(row, i)?.map(|v| float_text(v as f64)),
        Type::FLOAT8 => get::<f64>(row, i)?.map(float_text),
        Type::NUMERIC => get::<Decimal>(row, i)?.map(|v| v.to_string()),
        Type::DATE => get::<NaiveDate>(row, i)?.map(|v| v.format("%Y-%m-%d").to_string()),
        Type::TIMESTAMP => {
            get::<NaiveDateTime>(row, i)?.map(|v| v.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
        }
        Type::TIMESTAMPTZ => {
            get::<DateTime<Utc>>(row, i)?.map(|v| v.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
        }
        Type::BYTEA => {
            get::<Vec<u8>>(row, i)?.map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect())
        }
        // Arrow shows a uuid as the 16-byte fixed-size binary it is stored as.
        Type::UUID => get::<UuidBytes>(row, i)?
            .map(|uuid| uuid.0.iter().map(|b| format!("{b:02x}")).collect()),
        _ => get::<String>(row, i)?,
    };
    Ok(match text {
        None => "NULL".to_string(),
        Some(text) if text.is_empty() => "(empty)".to_string(),
        Some(text) => text,
    })
}

/// Rows as sqllogictest files write them; a last cell that spans lines (SHOW CREATE
/// TABLE, EXPLAIN) continues on further rows, as in the in-process runner.
fn rows_of(rows: &[Row]) -> Result<Vec<Vec<String>>, SltError> {
    let mut out = Vec::new();
    for row in rows {
        let mut cells = (0..row.len())
            .map(|i| cell(row, i))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(last) = cells.pop() else {
            out.push(cells);
            continue;
        };
        let mut lines = last.lines().map(str::to_string);
        cells.push(lines.next().unwrap_or_default());
        out.push(cells);
        out.extend(lines.map(|l| vec![l]));
    }
    Ok(out)
}

#[async_trait]
impl sqllogictest::AsyncDB for WireDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let statements = floe_engine::parser::parse_sql(sql)
            .map(|s| s.len())
            .unwrap_or(1);
        if statements > 1 {
            // A prepared statement holds one statement; a text of several goes as a
            // simple query, and the last statement's count is the result.
            let messages = self.client.simple_query(sql).await?;
            let count = messages
                .iter()
                .rev()
                .find_map(|m| match m {
                    SimpleQueryMessage::CommandComplete(n) => Some(*n),
                    _ => None,
                })
                .unwrap_or(0);
            return Ok(DBOutput::StatementComplete(count));
        }
        let statement = self.client.prepare(sql).await?;
        if statement.columns().is_empty() {
            let count = self.client.execute(&statement, &[]).await?;
            return Ok(DBOutput::StatementComplete(count));
        }
        let types = statement
            .columns()
            .iter()
            .map(|c| column_type(c.type_()))
            .collect();
        let rows = self.client.query(&statement, &[]).await?;
        Ok(DBOutput::Rows {
            types,
            rows: rows_of(&rows)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "floe-wire"
    }
}

/// Starts a server over a fresh warehouse in `dir`; returns its port.
async fn start_server(dir: &Path) -> u16 {
    let engine = Engine::open(dir).await.expect("open warehouse");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(floe_server::serve_listener(
        engine,
        listener,
        std::future::pending(),
    ));
    port
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut tally = Tally::default();
    for file in slt_harness::selected_files() {
        let warehouse = tempfile::tempdir().expect("temporary warehouse");
        let port = start_server(warehouse.path()).await;
        let url = format!("host=127.0.0.1 port={port} user=floe dbname=floe");
        let mut runner = sqllogictest::Runner::new(move || {
            let url = url.clone();
            async move {
                let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
                tokio::spawn(connection);
                Ok(WireDb { client })
            }
        });
        tally.record(&file, runner.run_file_async(&file).await);
    }
    tally.finish();
}
