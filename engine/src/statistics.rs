//! DataFusion statistics from Iceberg manifests: every data file's entry records its row
//! count exactly and, per column, its NULL count and lower/upper bounds. DataFusion uses
//! them to answer `count(*)` without reading files, to order joins, and to skip files
//! against dynamic filters at run time.
//!
//! An identity partition column holds one value in all of a file's rows: the value its
//! manifest entry records. Its statistics say so exactly, and DataFusion's Parquet scan then
//! serves the column as that constant instead of reading it, which also gives the right
//! values for files that do not store the column at all (written by tools that leave
//! identity partition columns out, or imported).

use datafusion::arrow::datatypes::{DataType, Schema as ArrowSchema, TimeUnit};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use iceberg::spec::{DataFile, Datum, PartitionSpec, PrimitiveLiteral, Schema, Transform};

/// Statistics of one data file, for the columns of `arrow_schema` (which are the fields of
/// `schema`, in order). `spec` is the partition spec the file was written with.
pub fn file_statistics(
    file: &DataFile,
    spec: Option<&PartitionSpec>,
    schema: &Schema,
    arrow_schema: &ArrowSchema,
) -> Statistics {
    let column_statistics = schema
        .as_struct()
        .fields()
        .iter()
        .zip(arrow_schema.fields())
        .map(|(field, arrow_field)| {
            identity_partition_statistics(file, spec, field.id, arrow_field.data_type())
                .unwrap_or_else(|| column_statistics(file, field.id, arrow_field.data_type()))
        })
        .collect();
    Statistics {
        num_rows: Precision::Exact(file.record_count() as usize),
        total_byte_size: Precision::Inexact(file.file_size_in_bytes() as usize),
        column_statistics,
    }
}

/// The exact statistics of a column the file is identity-partitioned by: every row holds
/// the partition value. `None` for other columns, NULL partition values and empty files.
fn identity_partition_statistics(
    file: &DataFile,
    spec: Option<&PartitionSpec>,
    field_id: i32,
    data_type: &DataType,
) -> Option<ColumnStatistics> {
    if file.record_count() == 0 {
        return None;
    }
    let index = spec?
        .fields()
        .iter()
        .position(|f| f.source_id == field_id && f.transform == Transform::Identity)?;
    let value = file.partition().fields().get(index)?.as_ref()?;
    let value = scalar(&value.as_primitive_literal()?, data_type)?;
    Some(ColumnStatistics {
        null_count: Precision::Exact(0),
        min_value: Precision::Exact(value.clone()),
        max_value: Precision::Exact(value),
        ..ColumnStatistics::new_unknown()
    })
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
    let bound = |datum: Option<&Datum>| match datum.and_then(|d| scalar(d.literal(), data_type)) {
        Some(value) if !may_hold_nan => Precision::Inexact(value),
        _ => Precision::Absent,
    };
    let lower = file.lower_bounds().get(&field_id);
    let upper = file.upper_bounds().get(&field_id);
    let (min_value, max_value) = (bound(lower), bound(upper));
    let constant =
        null_count == Precision::Exact(0) && lower.is_some_and(|l| is_only_value(l, upper));
    let (min_value, max_value) = match (min_value, max_value) {
        // DataFusion then serves the column as that constant instead of decoding it.
        (Precision::Inexact(min), Precision::Inexact(max)) if constant => {
            (Precision::Exact(min), Precision::Exact(max))
        }
        bounds => bounds,
    };
    ColumnStatistics {
        null_count,
        min_value,
        max_value,
        ..ColumnStatistics::new_unknown()
    }
}

/// Whether a column may hold NaN as far as `column` (its statistics from above) says.
/// Parquet's row-group and page statistics leave NaN out of a float column's range while
/// DataFusion sorts NaN above every number, so such a column's filters must not prune by
/// them: `v > 2` could skip a row group whose only match is a NaN.
pub fn may_hold_nan(data_type: &DataType, column: &ColumnStatistics) -> bool {
    data_type.is_floating() && column.max_value == Precision::Absent
}

/// Whether equal lower and upper bounds say every (non-NULL) value of the column is
/// `lower`. A truncated upper bound has its last character incremented, so it never equals
/// the truncated lower bound; for floats, -0 and 0 may share a bound.
fn is_only_value(lower: &Datum, upper: Option<&Datum>) -> bool {
    use PrimitiveLiteral as L;
    if upper != Some(lower) {
        return false;
    }
    match lower.literal() {
        L::Float(v) => v.0 != 0.0,
        L::Double(v) => v.0 != 0.0,
        _ => true,
    }
}

/// A value as a value of the column's Arrow type; `None` for types not converted.
fn scalar(value: &PrimitiveLiteral, data_type: &DataType) -> Option<ScalarValue> {
    use PrimitiveLiteral as L;
    Some(match (value, data_type) {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
    use datafusion::common::stats::Precision;
    use iceberg::spec::{
        DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, NestedField,
        PrimitiveType, Schema, Type,
    };

    use super::file_statistics;

    fn schema() -> (Schema, ArrowSchema) {
        let fields = [
            (1, "s", PrimitiveType::String, DataType::Utf8),
            (2, "x", PrimitiveType::Double, DataType::Float64),
        ];
        let schema = Schema::builder()
            .with_fields(fields.iter().map(|(id, name, t, _)| {
                NestedField::optional(*id, *name, Type::Primitive(t.clone())).into()
            }))
            .build()
            .unwrap();
        let arrow = ArrowSchema::new(
            fields
                .iter()
                .map(|(_, name, _, t)| Field::new(*name, t.clone(), true))
                .collect::<Vec<_>>(),
        );
        (schema, arrow)
    }

    fn file(bounds: [(Datum, Datum); 2], nulls: u64) -> DataFile {
        let (lower, upper): (HashMap<i32, Datum>, HashMap<i32, Datum>) = bounds
            .into_iter()
            .enumerate()
            .map(|(i, (l, u))| ((i as i32 + 1, l), (i as i32 + 1, u)))
            .unzip();
        DataFileBuilder::default()
            .content(DataContentType::Data)
            .file_path("f.parquet".to_string())
            .file_format(DataFileFormat::Parquet)
            .partition_spec_id(0)
            .record_count(3)
            .file_size_in_bytes(100)
            .null_value_counts(HashMap::from([(1, nulls), (2, nulls)]))
            .nan_value_counts(HashMap::from([(2, 0)]))
            .lower_bounds(lower)
            .upper_bounds(upper)
            .build()
            .unwrap()
    }

    fn exact(file: &DataFile) -> Vec<bool> {
        let (schema, arrow) = schema();
        file_statistics(file, None, &schema, &arrow)
            .column_statistics
            .iter()
            .map(|c| matches!(c.min_value, Precision::Exact(_)))
            .collect()
    }

    #[test]
    fn equal_bounds_without_nulls_are_the_columns_only_value() {
        let constant = file(
            [
                (Datum::string("a"), Datum::string("a")),
                (Datum::double(2.5), Datum::double(2.5)),
            ],
            0,
        );
        assert_eq!(exact(&constant), vec![true, true]);
    }

    #[test]
    fn bounds_stay_inexact_when_they_differ_nulls_occur_or_zero_may_be_signed() {
        let differ = file(
            [
                (Datum::string("a"), Datum::string("b")),
                (Datum::double(1.0), Datum::double(2.0)),
            ],
            0,
        );
        assert_eq!(exact(&differ), vec![false, false]);
        let nulls = file(
            [
                (Datum::string("a"), Datum::string("a")),
                (Datum::double(2.5), Datum::double(2.5)),
            ],
            1,
        );
        assert_eq!(exact(&nulls), vec![false, false]);
        let zero = file(
            [
                (Datum::string("a"), Datum::string("a")),
                (Datum::double(0.0), Datum::double(0.0)),
            ],
            0,
        );
        assert_eq!(exact(&zero), vec![true, false]);
    }
}
