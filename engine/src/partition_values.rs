//! Iceberg partition tuples as Arrow values, so that SQL can see them: the `partition`
//! column of metadata tables and the `WHERE` of `OPTIMIZE` are evaluated by DataFusion.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use datafusion::common::ScalarValue;
use iceberg::spec::{
    Literal, PartitionSpec, PrimitiveLiteral, PrimitiveType, Schema, Struct, StructType, Type,
};

use crate::error::{FloeError, Result};

/// The Arrow type Floe shows for an Iceberg primitive type.
pub fn arrow_type(ty: &PrimitiveType) -> DataType {
    match ty {
        PrimitiveType::Boolean => DataType::Boolean,
        PrimitiveType::Int => DataType::Int32,
        PrimitiveType::Long => DataType::Int64,
        PrimitiveType::Float => DataType::Float32,
        PrimitiveType::Double => DataType::Float64,
        PrimitiveType::Decimal { precision, scale } => {
            DataType::Decimal128(*precision as u8, *scale as i8)
        }
        PrimitiveType::Date => DataType::Date32,
        PrimitiveType::Time => DataType::Time64(TimeUnit::Microsecond),
        PrimitiveType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        PrimitiveType::Timestamptz => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        }
        PrimitiveType::TimestampNs => DataType::Timestamp(TimeUnit::Nanosecond, None),
        PrimitiveType::TimestamptzNs => {
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))
        }
        PrimitiveType::String | PrimitiveType::Uuid => DataType::Utf8,
        PrimitiveType::Fixed(_) | PrimitiveType::Binary => DataType::Binary,
    }
}

/// One partition value as a scalar of [`arrow_type`]`(ty)`.
pub fn scalar(literal: Option<&Literal>, ty: &PrimitiveType) -> ScalarValue {
    let Some(Literal::Primitive(value)) = literal else {
        return ScalarValue::try_from(&arrow_type(ty)).unwrap_or(ScalarValue::Null);
    };
    match (ty, value) {
        (PrimitiveType::Boolean, PrimitiveLiteral::Boolean(b)) => ScalarValue::Boolean(Some(*b)),
        (PrimitiveType::Int, PrimitiveLiteral::Int(v)) => ScalarValue::Int32(Some(*v)),
        (PrimitiveType::Date, PrimitiveLiteral::Int(v)) => ScalarValue::Date32(Some(*v)),
        (PrimitiveType::Long, PrimitiveLiteral::Long(v)) => ScalarValue::Int64(Some(*v)),
        (PrimitiveType::Time, PrimitiveLiteral::Long(v)) => {
            ScalarValue::Time64Microsecond(Some(*v))
        }
        (PrimitiveType::Timestamp, PrimitiveLiteral::Long(v)) => {
            ScalarValue::TimestampMicrosecond(Some(*v), None)
        }
        (PrimitiveType::Timestamptz, PrimitiveLiteral::Long(v)) => {
            ScalarValue::TimestampMicrosecond(Some(*v), Some("+00:00".into()))
        }
        (PrimitiveType::TimestampNs, PrimitiveLiteral::Long(v)) => {
            ScalarValue::TimestampNanosecond(Some(*v), None)
        }
        (PrimitiveType::TimestamptzNs, PrimitiveLiteral::Long(v)) => {
            ScalarValue::TimestampNanosecond(Some(*v), Some("+00:00".into()))
        }
        (PrimitiveType::Float, PrimitiveLiteral::Float(v)) => ScalarValue::Float32(Some(v.0)),
        (PrimitiveType::Double, PrimitiveLiteral::Double(v)) => ScalarValue::Float64(Some(v.0)),
        (PrimitiveType::Decimal { precision, scale }, PrimitiveLiteral::Int128(v)) => {
            ScalarValue::Decimal128(Some(*v), *precision as u8, *scale as i8)
        }
        (PrimitiveType::String, PrimitiveLiteral::String(s)) => ScalarValue::Utf8(Some(s.clone())),
        (PrimitiveType::Uuid, PrimitiveLiteral::UInt128(v)) => {
            ScalarValue::Utf8(Some(uuid::Uuid::from_u128(*v).to_string()))
        }
        (_, PrimitiveLiteral::Binary(b)) => ScalarValue::Binary(Some(b.clone())),
        _ => ScalarValue::try_from(&arrow_type(ty)).unwrap_or(ScalarValue::Null),
    }
}

/// The Arrow struct fields of a partition type (one field per partition field).
pub fn partition_fields(partition_type: &StructType) -> Fields {
    partition_type
        .fields()
        .iter()
        .map(|f| {
            let ty = match f.field_type.as_ref() {
                Type::Primitive(p) => arrow_type(p),
                _ => DataType::Null,
            };
            Arc::new(Field::new(&f.name, ty, true))
        })
        .collect()
}

/// A partition tuple as one struct scalar of [`partition_fields`].
pub fn partition_scalar(partition: &Struct, partition_type: &StructType) -> ScalarValue {
    let values: Vec<ScalarValue> = partition_type
        .fields()
        .iter()
        .zip(partition.iter())
        .map(|(field, value)| match field.field_type.as_ref() {
            Type::Primitive(p) => scalar(value, p),
            _ => ScalarValue::Null,
        })
        .collect();
    let fields = partition_fields(partition_type);
    let mut builder = datafusion::common::scalar::ScalarStructBuilder::new();
    for (field, value) in fields.iter().zip(values) {
        builder = builder.with_scalar(field.as_ref().clone(), value);
    }
    builder.build().unwrap_or_else(|_| {
        ScalarValue::Struct(Arc::new(
            datafusion::arrow::array::StructArray::new_empty_fields(1, None),
        ))
    })
}

/// The values of a partition's identity fields, named after their source columns: what a
/// predicate on partition columns can be evaluated against.
pub fn identity_columns(
    partition: &Struct,
    spec: &PartitionSpec,
    schema: &Schema,
) -> Result<Vec<(String, ScalarValue)>> {
    let mut columns = Vec::new();
    for (field, value) in spec.fields().iter().zip(partition.iter()) {
        if field.transform != iceberg::spec::Transform::Identity {
            continue;
        }
        let source = schema.field_by_id(field.source_id).ok_or_else(|| {
            FloeError::internal(format!(
                "partition source column {} is gone",
                field.source_id
            ))
        })?;
        let Type::Primitive(ty) = source.field_type.as_ref() else {
            continue;
        };
        columns.push((source.name.clone(), scalar(value, ty)));
    }
    Ok(columns)
}
