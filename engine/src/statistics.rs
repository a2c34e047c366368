//! DataFusion statistics from Iceberg manifests: every data file's entry records its row
//! count exactly and, per column, its NULL count and lower/upper bounds. DataFusion uses
//! them to answer `count(*)` without reading files, to order joins, and to skip files
//! against dynamic filters at run time.

use datafusion::arrow::datatypes::{DataType, Schema as ArrowSchema, TimeUnit};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use iceberg::spec::{DataFile, Datum, PrimitiveLiteral, Schema};

/// Statistics of one data file, for the columns of `arrow_schema` (which are the fields of
/// `schema`, in order).
pub fn file_statistics(file: &DataFile, schema: &Schema, arrow_schema: &ArrowSchema) -> Statistics {
    let column_statistics = schema
        .as_struct()
        .fields()
        .iter()
        .zip(arrow_schema.fields())
        .map(|(field, arrow_field)| column_statistics(file, field.id, arrow_field.data_type()))
        .collect();
    Statistics {
        num_rows: Precision::Exact(file.record_count() as usize),
        total_byte_size: Precision::Inexact(file.file_size_in_bytes() as usize),
        column_statistics,
    }
}

fn column_statistics(file: &DataFile, field_id: i32, data_type: &DataType) -> ColumnStatistics {
    let null_count = match file.null_value_counts().get(&field_id) {
        Some(nulls) => Precision::Exact(*nulls as usize),
        None => Precision::Absent,
    };
    // Bounds exclude NaN, which DataFusion orders above every number: a float column
    // that may hold NaN has no usable maximum (nor, to keep it simple, minimum).
    let may_hold_nan = matches!(data_type, DataType::Float32 | DataType::Float64)
        && file
            .nan_value_counts()
            .get(&field_id)
            .is_none_or(|n| *n > 0);
    // Bounds are inexact: other writers truncate long strings (a truncated bound is still a
    // bound, but not a value of the column).
    let bound = |datum: Option<&Datum>| match datum.and_then(|d| scalar(d, data_type)) {
        Some(value) if !may_hold_nan => Precision::Inexact(value),
        _ => Precision::Absent,
    };
    ColumnStatistics {
        null_count,
        min_value: bound(file.lower_bounds().get(&field_id)),
        max_value: bound(file.upper_bounds().get(&field_id)),
        ..ColumnStatistics::new_unknown()
    }
}

/// A bound as a value of the column's Arrow type; `None` for types not converted.
fn scalar(datum: &Datum, data_type: &DataType) -> Option<ScalarValue> {
    use PrimitiveLiteral as L;
    Some(match (datum.literal(), data_type) {
        (L::Boolean(v), DataType::Boolean) => ScalarValue::Boolean(Some(*v)),
        (L::Int(v), DataType::Int32) => ScalarValue::Int32(Some(*v)),
        (L::Int(v), DataType::Date32) => ScalarValue::Date32(Some(*v)),
        (L::Long(v), DataType::Int64) => ScalarValue::Int64(Some(*v)),
        (L::Long(v), DataType::Time64(TimeUnit::Microsecond)) => {
            ScalarValue::Time64Microsecond(Some(*v))
        }
        (L::Long(v), DataType::Timestamp(TimeUnit::Microsecond, tz)) => {
            ScalarValue::TimestampMicrosecond(Some(*v), tz.clone())
        }
        (L::Long(v), DataType::Timestamp(TimeUnit::Nanosecond, tz)) => {
            ScalarValue::TimestampNanosecond(Some(*v), tz.clone())
        }
        (L::Float(v), DataType::Float32) => ScalarValue::Float32(Some(v.0)),
        (L::Double(v), DataType::Float64) => ScalarValue::Float64(Some(v.0)),
        (L::String(v), DataType::Utf8) => ScalarValue::Utf8(Some(v.clone())),
        (L::String(v), DataType::LargeUtf8) => ScalarValue::LargeUtf8(Some(v.clone())),
        (L::String(v), DataType::Utf8View) => ScalarValue::Utf8View(Some(v.clone())),
        (L::Int128(v), DataType::Decimal128(precision, scale)) => {
            ScalarValue::Decimal128(Some(*v), *precision, *scale)
        }
        _ => return None,
    })
}

/// The statistics of a scan over files with these statistics.
pub fn merge(files: &[Statistics], arrow_schema: &ArrowSchema) -> Statistics {
    let Some((first, rest)) = files.split_first() else {
        let mut empty = Statistics::new_unknown(arrow_schema);
        empty.num_rows = Precision::Exact(0);
        return empty;
    };
    rest.iter().fold(first.clone(), |total, file| Statistics {
        num_rows: total.num_rows.add(&file.num_rows),
        total_byte_size: total.total_byte_size.add(&file.total_byte_size),
        column_statistics: total
            .column_statistics
            .iter()
            .zip(&file.column_statistics)
            .map(|(a, b)| ColumnStatistics {
                null_count: a.null_count.add(&b.null_count),
                min_value: a.min_value.min(&b.min_value),
                max_value: a.max_value.max(&b.max_value),
                ..ColumnStatistics::new_unknown()
            })
            .collect(),
    })
}
