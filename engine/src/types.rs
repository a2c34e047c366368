//! Column types: SQL spellings (PostgreSQL's included) and Arrow types, mapped to Iceberg's.

use datafusion::arrow::datatypes::DataType as ArrowType;
use datafusion::sql::sqlparser::ast::{DataType as SqlType, ExactNumberInfo, TimezoneInfo};
use iceberg::spec::{PrimitiveType, Type};

use crate::error::{FloeError, Result, sqlstate};

/// Iceberg's decimal precision limit.
const MAX_DECIMAL_PRECISION: u64 = 38;
/// `NUMERIC` without a precision: the same default DataFusion uses for its own DECIMAL.
const DEFAULT_DECIMAL: (u32, u32) = (38, 10);

/// The Iceberg type for a column declared with `sql` in CREATE TABLE.
pub fn iceberg_type_from_sql(sql: &SqlType) -> Result<Type> {
    use SqlType as S;
    let primitive = match sql {
        S::Boolean | S::Bool => PrimitiveType::Boolean,
        S::TinyInt(_) | S::SmallInt(_) | S::Int2(_) | S::Int(_) | S::Int4(_) | S::Integer(_) => {
            PrimitiveType::Int
        }
        S::Int16 | S::Int32 => PrimitiveType::Int,
        S::BigInt(_) | S::Int8(_) | S::Int64 => PrimitiveType::Long,
        S::Real | S::Float4 | S::Float32 => PrimitiveType::Float,
        S::Double(_) | S::DoublePrecision | S::Float8 | S::Float64 => PrimitiveType::Double,
        // PostgreSQL: FLOAT(p) is REAL for p <= 24 and DOUBLE PRECISION above.
        S::Float(ExactNumberInfo::Precision(p)) if *p <= 24 => PrimitiveType::Float,
        S::Float(_) => PrimitiveType::Double,
        S::Decimal(info) | S::Numeric(info) | S::Dec(info) => decimal(info)?,
        S::Varchar(_) | S::CharacterVarying(_) | S::Text | S::String(_) => PrimitiveType::String,
        S::Char(_) | S::Character(_) => PrimitiveType::String,
        S::Uuid => PrimitiveType::Uuid,
        S::Bytea | S::Varbinary(_) | S::Blob(_) => PrimitiveType::Binary,
        S::Binary(Some(n)) => PrimitiveType::Fixed(*n),
        S::Binary(None) => PrimitiveType::Binary,
        S::Date => PrimitiveType::Date,
        S::Time(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => PrimitiveType::Time,
        S::Timestamp(_, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone)
        | S::TimestampNtz(_)
        | S::Datetime(_) => PrimitiveType::Timestamp,
        S::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
            PrimitiveType::Timestamptz
        }
        S::Custom(name, _) => return custom_type(&name.to_string().to_ascii_lowercase(), sql),
        other => return Err(unsupported_type(other)),
    };
    Ok(Type::Primitive(primitive))
}

fn custom_type(name: &str, sql: &SqlType) -> Result<Type> {
    let primitive = match name {
        "timestamptz" => PrimitiveType::Timestamptz,
        "int8" | "long" => PrimitiveType::Long,
        "float4" => PrimitiveType::Float,
        "float8" => PrimitiveType::Double,
        "binary" => PrimitiveType::Binary,
        _ => return Err(unsupported_type(sql)),
    };
    Ok(Type::Primitive(primitive))
}

fn unsupported_type(sql: &SqlType) -> FloeError {
    FloeError::new(
        sqlstate::FEATURE_NOT_SUPPORTED,
        format!("type {sql} is not available for Iceberg columns"),
    )
}

fn decimal(info: &ExactNumberInfo) -> Result<PrimitiveType> {
    let (precision, scale) = match info {
        ExactNumberInfo::None => DEFAULT_DECIMAL,
        ExactNumberInfo::Precision(p) => (*p as u32, 0),
        ExactNumberInfo::PrecisionAndScale(p, s) => {
            if *s < 0 || *s as u64 > *p {
                return Err(FloeError::invalid(format!(
                    "NUMERIC scale {s} must be between 0 and the precision {p}"
                )));
            }
            (*p as u32, *s as u32)
        }
    };
    if precision == 0 || precision as u64 > MAX_DECIMAL_PRECISION {
        return Err(FloeError::invalid(format!(
            "NUMERIC precision {precision} must be between 1 and {MAX_DECIMAL_PRECISION}"
        )));
    }
    Ok(PrimitiveType::Decimal { precision, scale })
}

/// The Iceberg type for a column whose values arrive as `arrow` (CREATE TABLE AS SELECT).
pub fn iceberg_type_from_arrow(arrow: &ArrowType) -> Result<Type> {
    use ArrowType as A;
    let primitive = match arrow {
        A::Boolean => PrimitiveType::Boolean,
        A::Int8 | A::Int16 | A::Int32 | A::UInt8 | A::UInt16 => PrimitiveType::Int,
        A::Int64 | A::UInt32 => PrimitiveType::Long,
        A::Float16 | A::Float32 => PrimitiveType::Float,
        A::Float64 => PrimitiveType::Double,
        A::Decimal32(p, s) | A::Decimal64(p, s) | A::Decimal128(p, s) if *s >= 0 => {
            PrimitiveType::Decimal {
                precision: *p as u32,
                scale: *s as u32,
            }
        }
        A::Utf8 | A::LargeUtf8 | A::Utf8View => PrimitiveType::String,
        // A bare NULL has no type of its own; text is what PostgreSQL would pick.
        A::Null => PrimitiveType::String,
        A::Binary | A::LargeBinary | A::BinaryView => PrimitiveType::Binary,
        A::FixedSizeBinary(n) => PrimitiveType::Fixed(*n as u64),
        A::Date32 | A::Date64 => PrimitiveType::Date,
        A::Time32(_) | A::Time64(_) => PrimitiveType::Time,
        A::Timestamp(_, None) => PrimitiveType::Timestamp,
        A::Timestamp(_, Some(_)) => PrimitiveType::Timestamptz,
        other => {
            return Err(FloeError::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!("a column of Arrow type {other} cannot be stored in an Iceberg table"),
            ));
        }
    };
    Ok(Type::Primitive(primitive))
}

/// The SQL spelling Floe shows for an Iceberg type (DESCRIBE, SHOW CREATE TABLE).
pub fn sql_name(ty: &Type) -> String {
    match ty {
        Type::Primitive(p) => match p {
            PrimitiveType::Boolean => "BOOLEAN".into(),
            PrimitiveType::Int => "INT".into(),
            PrimitiveType::Long => "BIGINT".into(),
            PrimitiveType::Float => "REAL".into(),
            PrimitiveType::Double => "DOUBLE".into(),
            PrimitiveType::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            PrimitiveType::Date => "DATE".into(),
            PrimitiveType::Time => "TIME".into(),
            PrimitiveType::Timestamp | PrimitiveType::TimestampNs => "TIMESTAMP".into(),
            PrimitiveType::Timestamptz | PrimitiveType::TimestamptzNs => "TIMESTAMPTZ".into(),
            PrimitiveType::String => "VARCHAR".into(),
            PrimitiveType::Uuid => "UUID".into(),
            PrimitiveType::Fixed(n) => format!("BINARY({n})"),
            PrimitiveType::Binary => "BYTEA".into(),
        },
        other => other.to_string().to_uppercase(),
    }
}
