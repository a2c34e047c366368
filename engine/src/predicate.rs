//! Translating DataFusion filters into Iceberg predicates, so that Iceberg's planning can
//! skip manifests and data files by partition values and column bounds.
//!
//! A translation may only ever be *weaker* than the filter (keep every row the filter
//! keeps): DataFusion still applies the filter to the rows that are read. So a conjunct that
//! cannot be translated is dropped from an AND, an OR needs both sides, a NOT needs its
//! whole operand translated exactly, and a literal that does not convert exactly into the
//! column's type is not used at all.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Like, Operator};
use iceberg::expr::{Predicate, Reference};
use iceberg::spec::{Datum, PrimitiveType, Schema, Type};

/// The Iceberg predicate implied by all of `filters`, or `None` if none of them translates.
/// Column names in `filters` are the table's `current` ones; the predicate names columns
/// as the `scan` schema (the snapshot's, which Iceberg binds to) does.
pub fn to_iceberg(filters: &[Expr], current: &Schema, scan: &Schema) -> Option<Predicate> {
    let schema = &ScanColumns { current, scan };
    filters
        .iter()
        .filter_map(|f| translate(f, schema, Mode::Weaker))
        .reduce(Predicate::and)
}

/// Resolves a column named as SQL sees it to the scan schema's field with the same id.
/// A column the snapshot does not have yet resolves to nothing (and is not pruned on).
struct ScanColumns<'a> {
    current: &'a Schema,
    scan: &'a Schema,
}

impl ScanColumns<'_> {
    fn resolve(&self, name: &str) -> Option<(Reference, PrimitiveType)> {
        let id = self.current.field_by_name(name)?.id;
        let field = self.scan.field_by_id(id)?;
        match field.field_type.as_ref() {
            Type::Primitive(ty) => Some((Reference::new(field.name.clone()), ty.clone())),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Parts that cannot be translated may be dropped from conjunctions.
    Weaker,
    /// Everything must be translated (under a NOT, dropping would make it stronger).
    Exact,
}

fn translate(expr: &Expr, schema: &ScanColumns, mode: Mode) -> Option<Predicate> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => {
                let l = translate(left, schema, mode);
                let r = translate(right, schema, mode);
                match (l, r) {
                    (Some(l), Some(r)) => Some(l.and(r)),
                    (Some(one), None) | (None, Some(one)) if mode == Mode::Weaker => Some(one),
                    _ => None,
                }
            }
            Operator::Or => {
                Some(translate(left, schema, mode)?.or(translate(right, schema, mode)?))
            }
            _ => comparison(left, *op, right, schema),
        },
        Expr::Not(inner) => Some(translate(inner, schema, Mode::Exact)?.negate()),
        Expr::IsNull(inner) => Some(reference(inner, schema)?.0.is_null()),
        Expr::IsNotNull(inner) => Some(reference(inner, schema)?.0.is_not_null()),
        Expr::InList(list) => {
            let (column, ty) = reference(&list.expr, schema)?;
            let values = list
                .list
                .iter()
                .map(|item| literal(item, &ty))
                .collect::<Option<Vec<_>>>()?;
            Some(if list.negated {
                column.is_not_in(values)
            } else {
                column.is_in(values)
            })
        }
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let range = comparison(expr, Operator::GtEq, low, schema)?.and(comparison(
                expr,
                Operator::LtEq,
                high,
                schema,
            )?);
            Some(if *negated { range.negate() } else { range })
        }
        Expr::Like(Like {
            negated: false,
            expr,
            pattern,
            escape_char: None,
            case_insensitive: false,
        }) => {
            let (column, ty) = reference(expr, schema)?;
            if ty != PrimitiveType::String {
                return None;
            }
            let prefix = like_prefix(pattern)?;
            // `LIKE 'abc%'` is exactly "starts with abc"; other patterns are not translated.
            Some(column.starts_with(Datum::string(prefix)))
        }
        _ => None,
    }
}

fn comparison(left: &Expr, op: Operator, right: &Expr, schema: &ScanColumns) -> Option<Predicate> {
    let (column, value, op) = match (reference(left, schema), reference(right, schema)) {
        (Some((column, ty)), None) => (column, literal(right, &ty)?, op),
        (None, Some((column, ty))) => (column, literal(left, &ty)?, op.swap()?),
        _ => return None,
    };
    Some(match op {
        Operator::Eq => column.equal_to(value),
        Operator::NotEq => column.not_equal_to(value),
        Operator::Lt => column.less_than(value),
        Operator::LtEq => column.less_than_or_equal_to(value),
        Operator::Gt => column.greater_than(value),
        Operator::GtEq => column.greater_than_or_equal_to(value),
        _ => return None,
    })
}

/// The column an expression reads, seen through casts that preserve order and equality
/// (widening numbers, finer time units, string encodings, dates to timestamps).
fn reference(expr: &Expr, schema: &ScanColumns) -> Option<(Reference, PrimitiveType)> {
    match expr {
        Expr::Column(Column { name, .. }) => schema.resolve(name),
        Expr::Cast(cast) => faithful_cast(&cast.expr, &cast.data_type, schema),
        Expr::TryCast(cast) => faithful_cast(&cast.expr, &cast.data_type, schema),
        _ => None,
    }
}

fn faithful_cast(
    inner: &Expr,
    to: &DataType,
    schema: &ScanColumns,
) -> Option<(Reference, PrimitiveType)> {
    let (column, ty) = reference(inner, schema)?;
    let faithful = match (&ty, to) {
        (PrimitiveType::Int, DataType::Int32 | DataType::Int64 | DataType::Float64) => true,
        (PrimitiveType::Int, DataType::Decimal128(p, 0)) => *p >= 10,
        (PrimitiveType::Long, DataType::Int64) => true,
        (PrimitiveType::Long, DataType::Decimal128(p, 0)) => *p >= 19,
        (PrimitiveType::Float, DataType::Float32 | DataType::Float64) => true,
        (PrimitiveType::Double, DataType::Float64) => true,
        (PrimitiveType::Decimal { precision, scale }, DataType::Decimal128(p, s)) => {
            *s >= 0 && (*s as u32) >= *scale && (*p as u32) - (*s as u32) >= precision - scale
        }
        (PrimitiveType::String, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => true,
        (
            PrimitiveType::Date,
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, None),
        ) => true,
        (PrimitiveType::Timestamp, DataType::Timestamp(_, None)) => true,
        (PrimitiveType::Timestamptz, DataType::Timestamp(_, Some(_))) => true,
        _ => false,
    };
    faithful.then_some((column, ty))
}

/// A constant as an Iceberg value of the column's type, if it converts without loss.
fn literal(expr: &Expr, ty: &PrimitiveType) -> Option<Datum> {
    let value = match expr {
        Expr::Literal(value, _) => value,
        Expr::Cast(cast) => return literal_cast(&cast.expr, &cast.data_type, ty),
        _ => return None,
    };
    datum(value, ty)
}

/// `CAST(<constant> AS type)` that the optimizer left unfolded.
fn literal_cast(inner: &Expr, to: &DataType, ty: &PrimitiveType) -> Option<Datum> {
    let Expr::Literal(value, _) = inner else {
        return None;
    };
    let cast = value.cast_to(to).ok()?;
    datum(&cast, ty)
}

fn datum(value: &ScalarValue, ty: &PrimitiveType) -> Option<Datum> {
    use ScalarValue as S;
    if value.is_null() {
        return None;
    }
    match ty {
        PrimitiveType::Boolean => match value {
            S::Boolean(Some(b)) => Some(Datum::bool(*b)),
            _ => None,
        },
        PrimitiveType::Int => i32::try_from(integer(value)?).ok().map(Datum::int),
        PrimitiveType::Long => i64::try_from(integer(value)?).ok().map(Datum::long),
        PrimitiveType::Float => {
            let v = float(value)?;
            let narrow = v as f32;
            (f64::from(narrow) == v).then(|| Datum::float(narrow))
        }
        PrimitiveType::Double => float(value).map(Datum::double),
        PrimitiveType::Decimal { scale, .. } => {
            let (mantissa, from_scale) = decimal(value)?;
            let mantissa = rescale(mantissa, from_scale, *scale as i8)?;
            Datum::decimal_from_str(decimal_text(mantissa, *scale)).ok()
        }
        PrimitiveType::String => match value {
            S::Utf8(Some(s)) | S::LargeUtf8(Some(s)) | S::Utf8View(Some(s)) => {
                Some(Datum::string(s.clone()))
            }
            _ => None,
        },
        PrimitiveType::Date => match value {
            S::Date32(Some(days)) => Some(Datum::date(*days)),
            S::Date64(Some(ms)) if ms % 86_400_000 == 0 => {
                Some(Datum::date(i32::try_from(ms / 86_400_000).ok()?))
            }
            S::TimestampSecond(..)
            | S::TimestampMillisecond(..)
            | S::TimestampMicrosecond(..)
            | S::TimestampNanosecond(..) => {
                let micros = timestamp_micros(value)?;
                (micros % 86_400_000_000 == 0)
                    .then(|| Some(Datum::date(i32::try_from(micros / 86_400_000_000).ok()?)))?
            }
            _ => None,
        },
        PrimitiveType::Timestamp | PrimitiveType::Timestamptz => {
            let with_zone = matches!(ty, PrimitiveType::Timestamptz);
            let micros = match value {
                S::Date32(Some(days)) if !with_zone => i64::from(*days) * 86_400_000_000,
                S::TimestampSecond(_, zone)
                | S::TimestampMillisecond(_, zone)
                | S::TimestampMicrosecond(_, zone)
                | S::TimestampNanosecond(_, zone)
                    if zone.is_some() == with_zone =>
                {
                    timestamp_micros(value)?
                }
                _ => return None,
            };
            Some(if with_zone {
                Datum::timestamptz_micros(micros)
            } else {
                Datum::timestamp_micros(micros)
            })
        }
        PrimitiveType::Uuid => match value {
            S::FixedSizeBinary(16, Some(bytes)) => {
                Some(Datum::uuid(uuid::Uuid::from_slice(bytes).ok()?))
            }
            _ => None,
        },
        _ => None,
    }
}

fn integer(value: &ScalarValue) -> Option<i128> {
    use ScalarValue as S;
    Some(match value {
        S::Int8(Some(v)) => i128::from(*v),
        S::Int16(Some(v)) => i128::from(*v),
        S::Int32(Some(v)) => i128::from(*v),
        S::Int64(Some(v)) => i128::from(*v),
        S::UInt8(Some(v)) => i128::from(*v),
        S::UInt16(Some(v)) => i128::from(*v),
        S::UInt32(Some(v)) => i128::from(*v),
        S::UInt64(Some(v)) => i128::from(*v),
        S::Decimal128(Some(v), _, scale) => rescale(*v, *scale, 0)?,
        S::Float64(Some(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => *v as i128,
        _ => return None,
    })
}

fn float(value: &ScalarValue) -> Option<f64> {
    use ScalarValue as S;
    let v = match value {
        S::Float32(Some(v)) => f64::from(*v),
        S::Float64(Some(v)) => *v,
        other => {
            let i = integer(other)?;
            // Integers beyond 2^53 do not all have an exact double.
            (i.abs() <= 1 << 53).then_some(i as f64)?
        }
    };
    (!v.is_nan()).then_some(v)
}

/// A numeric constant as (mantissa, scale).
fn decimal(value: &ScalarValue) -> Option<(i128, i8)> {
    match value {
        ScalarValue::Decimal128(Some(v), _, scale) => Some((*v, *scale)),
        other => integer(other).map(|i| (i, 0)),
    }
}

/// The same number at another scale, if no digits are lost.
fn rescale(mantissa: i128, from: i8, to: i8) -> Option<i128> {
    if to >= from {
        mantissa.checked_mul(10i128.checked_pow((to - from) as u32)?)
    } else {
        let factor = 10i128.checked_pow((from - to) as u32)?;
        (mantissa % factor == 0).then_some(mantissa / factor)
    }
}

fn decimal_text(mantissa: i128, scale: u32) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let sign = if mantissa < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

fn timestamp_micros(value: &ScalarValue) -> Option<i64> {
    use ScalarValue as S;
    match value {
        S::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000),
        S::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000),
        S::TimestampMicrosecond(Some(v), _) => Some(*v),
        S::TimestampNanosecond(Some(v), _) => (v % 1_000 == 0).then_some(v / 1_000),
        _ => None,
    }
}

/// `'abc%'` -> `abc`, for patterns whose only wildcard is one trailing `%`.
fn like_prefix(pattern: &Expr) -> Option<String> {
    let Expr::Literal(
        ScalarValue::Utf8(Some(p))
        | ScalarValue::LargeUtf8(Some(p))
        | ScalarValue::Utf8View(Some(p)),
        _,
    ) = pattern
    else {
        return None;
    };
    let prefix = p.strip_suffix('%')?;
    if prefix.is_empty() || prefix.contains(['%', '_', '\\']) {
        return None;
    }
    Some(prefix.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::logical_expr::{col, lit};
    use iceberg::spec::NestedField;

    use super::*;

    fn schema() -> Schema {
        let decimal = PrimitiveType::Decimal {
            precision: 10,
            scale: 2,
        };
        let columns = [
            ("i", PrimitiveType::Int),
            ("r", PrimitiveType::Float),
            ("d", decimal),
            ("s", PrimitiveType::String),
            ("ts", PrimitiveType::Timestamp),
        ];
        let fields = columns.into_iter().enumerate().map(|(i, (name, ty))| {
            Arc::new(NestedField::optional(
                i as i32 + 1,
                name,
                Type::Primitive(ty),
            ))
        });
        Schema::builder().with_fields(fields).build().unwrap()
    }

    fn text(filters: &[Expr]) -> String {
        to_iceberg(filters, &schema(), &schema())
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn comparisons_lists_and_ranges() {
        assert_eq!(text(&[col("i").gt(lit(5i64))]), "i > 5");
        assert_eq!(text(&[lit(5i32).lt(col("i"))]), "i > 5");
        assert_eq!(
            text(&[col("i").in_list(vec![lit(1), lit(2)], false)]),
            "i IN (1, 2)"
        );
        assert_eq!(
            text(&[col("i").between(lit(1), lit(3))]),
            "(i >= 1) AND (i <= 3)"
        );
        assert_eq!(text(&[col("s").is_null()]), "s IS NULL");
        assert_eq!(text(&[col("s").like(lit("ab%"))]), "s STARTS WITH \"ab\"");
        assert_eq!(text(&[col("s").like(lit("a_b%"))]), "");
    }

    #[test]
    fn and_drops_what_it_cannot_translate_but_or_and_not_do_not() {
        let opaque = col("s").like(lit("%x"));
        assert_eq!(text(&[col("i").eq(lit(1)).and(opaque.clone())]), "i = 1");
        assert_eq!(text(&[col("i").eq(lit(1)).or(opaque.clone())]), "");
        assert_eq!(
            text(&[Expr::Not(Box::new(col("i").eq(lit(1)).and(opaque)))]),
            ""
        );
    }

    #[test]
    fn literals_convert_only_when_exact() {
        // 1.1 has no exact REAL: no pruning on it, rather than a wrong one.
        assert_eq!(text(&[col("r").gt(lit(1.1f64))]), "");
        assert_eq!(text(&[col("r").gt(lit(1.5f64))]), "r > 1.5");
        assert_eq!(
            text(&[col("d").eq(lit(ScalarValue::Decimal128(Some(15), 3, 1)))]),
            "d = 1.50"
        );
        assert_eq!(
            text(&[col("d").eq(lit(ScalarValue::Decimal128(Some(1505), 4, 3)))]),
            ""
        );
        assert_eq!(text(&[col("i").eq(lit(3_000_000_000i64))]), "");
        assert_eq!(
            text(&[col("ts").gt_eq(lit(ScalarValue::TimestampNanosecond(
                Some(86_400_000_000_000),
                None
            )))]),
            "ts >= 1970-01-02 00:00:00"
        );
    }
}
