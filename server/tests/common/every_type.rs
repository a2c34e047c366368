//! A table with a column of every type Floe tables hold, and rows for it that cover NULLs
//! and edge values, shared by the COPY tests.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use crate::uuid16::Uuid16;

pub const TABLE: &str = "CREATE TABLE every_type (
    b BOOLEAN, i INT, l BIGINT, r REAL, d DOUBLE PRECISION, n NUMERIC(15,2), s TEXT,
    v VARCHAR(10), bin BYTEA, u UUID, dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ)";

pub const TYPES: [Type; 14] = [
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
pub struct Row {
    pub b: Option<bool>,
    pub i: Option<i32>,
    pub l: Option<i64>,
    pub r: Option<f32>,
    pub d: Option<f64>,
    pub n: Option<Decimal>,
    pub s: Option<String>,
    pub v: Option<String>,
    pub bin: Option<Vec<u8>>,
    pub u: Option<Uuid16>,
    pub dt: Option<NaiveDate>,
    pub tm: Option<NaiveTime>,
    pub ts: Option<NaiveDateTime>,
    pub tz: Option<DateTime<Utc>>,
}

impl Row {
    pub fn values(&self) -> [&(dyn ToSql + Sync); 14] {
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

pub fn rows() -> Vec<Row> {
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

pub async fn copy_rows_in(client: &Client, rows: &[Row]) -> Result<u64, tokio_postgres::Error> {
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
