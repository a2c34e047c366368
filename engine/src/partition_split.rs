//! Splitting a batch of rows by the table partition each row belongs to.
//!
//! iceberg's own splitter turns every row's partition value into an Iceberg literal and
//! filters the whole batch once per partition, which costs (rows x partitions) per batch.
//! Here the partition values are computed as Arrow arrays, grouped through their row
//! encoding, and each group's rows are taken out of the batch; only one literal per group
//! is built.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::row::{RowConverter, SortField};
use iceberg::arrow::{PartitionValueCalculator, arrow_struct_to_literal};
use iceberg::spec::{Literal, PartitionKey, PartitionSpec, SchemaRef};

use crate::error::{FloeError, Result};

pub struct PartitionSplitter {
    calculator: PartitionValueCalculator,
    spec: PartitionSpec,
    schema: SchemaRef,
}

impl PartitionSplitter {
    /// A splitter for `spec`, or `None` when the spec leaves the table unpartitioned.
    pub fn new(spec: &PartitionSpec, schema: SchemaRef) -> Result<Option<Self>> {
        if spec.is_unpartitioned() {
            return Ok(None);
        }
        Ok(Some(Self {
            calculator: PartitionValueCalculator::try_new(spec, &schema)?,
            spec: spec.clone(),
            schema,
        }))
    }

    /// The rows of `batch` grouped by partition: one batch per partition present, in the
    /// order each partition first appears.
    pub fn split(&self, batch: &RecordBatch) -> Result<Vec<(PartitionKey, RecordBatch)>> {
        let values = self.calculator.calculate(batch)?;
        let fields = values.as_struct().columns();
        let converter = RowConverter::new(
            fields
                .iter()
                .map(|column| SortField::new(column.data_type().clone()))
                .collect(),
        )?;
        let rows = converter.convert_columns(fields)?;

        // Row numbers of each group, and the first row of each (for its partition value).
        let mut group_of_row: HashMap<_, usize> = HashMap::new();
        let mut groups: Vec<Vec<u32>> = Vec::new();
        for row in 0..batch.num_rows() {
            let group = *group_of_row.entry(rows.row(row)).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push(row as u32);
        }

        if groups.len() == 1 {
            return Ok(vec![(self.key(&values, 0)?, batch.clone())]);
        }
        // Each group gets arrays of its own rather than a slice of one reordered batch: a
        // writer keeps a partition's rows staged until it has enough of them, and a slice
        // would keep every other partition's rows alive with it, out of the write budget's
        // sight.
        groups
            .into_iter()
            .map(|rows| {
                let key = self.key(&values, rows[0] as usize)?;
                let part = take_record_batch(batch, &UInt32Array::from(rows))?;
                Ok((key, part))
            })
            .collect()
    }

    /// The partition key of row `row`, from the computed partition `values`.
    fn key(&self, values: &ArrayRef, row: usize) -> Result<PartitionKey> {
        let one: ArrayRef = Arc::new(values.slice(row, 1));
        let literal = arrow_struct_to_literal(&one, self.calculator.partition_type())?;
        match literal.into_iter().next() {
            Some(Some(Literal::Struct(data))) => Ok(PartitionKey::new(
                self.spec.clone(),
                self.schema.clone(),
                data,
            )),
            _ => Err(FloeError::internal(
                "a row's partition value is not a struct",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Date32Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
    use iceberg::spec::{
        NestedField, PrimitiveType, Schema, Struct, Transform, Type, UnboundPartitionField,
    };

    use super::*;

    #[test]
    fn groups_rows_by_partition_keeping_their_order() {
        let schema = Arc::new(
            Schema::builder()
                .with_fields(vec![
                    NestedField::optional(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
                    NestedField::optional(2, "day", Type::Primitive(PrimitiveType::Date)).into(),
                ])
                .build()
                .unwrap(),
        );
        let spec = PartitionSpec::builder(schema.clone())
            .add_unbound_field(UnboundPartitionField {
                source_id: 2,
                field_id: None,
                name: "day_month".into(),
                transform: Transform::Month,
            })
            .unwrap()
            .build()
            .unwrap();
        let splitter = PartitionSplitter::new(&spec, schema).unwrap().unwrap();

        // Days 0 and 40 are in January and February 1970; NULL is its own partition.
        let batch = RecordBatch::try_new(
            Arc::new(ArrowSchema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("day", DataType::Date32, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
                Arc::new(Date32Array::from(vec![
                    Some(40),
                    Some(0),
                    None,
                    Some(41),
                    Some(1),
                ])),
            ],
        )
        .unwrap();
        let parts: Vec<(Struct, Vec<i64>)> = splitter
            .split(&batch)
            .unwrap()
            .into_iter()
            .map(|(key, part)| {
                let ids = part
                    .column(0)
                    .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                (key.data().clone(), ids.values().to_vec())
            })
            .collect();
        assert_eq!(
            parts,
            vec![
                (Struct::from_iter([Some(Literal::int(1))]), vec![1, 4]),
                (Struct::from_iter([Some(Literal::int(0))]), vec![2, 5]),
                (Struct::from_iter([None]), vec![3]),
            ]
        );
    }

    #[test]
    fn each_partition_owns_its_rows() {
        let schema = Arc::new(
            Schema::builder()
                .with_fields(vec![
                    NestedField::optional(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
                ])
                .build()
                .unwrap(),
        );
        let spec = PartitionSpec::builder(schema.clone())
            .add_partition_field("id", "id_bucket", Transform::Bucket(2))
            .unwrap()
            .build()
            .unwrap();
        let splitter = PartitionSplitter::new(&spec, schema).unwrap().unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(ArrowSchema::new(vec![Field::new(
                "id",
                DataType::Int64,
                true,
            )])),
            vec![Arc::new(Int64Array::from_iter_values(0..100_000))],
        )
        .unwrap();
        let parts = splitter.split(&batch).unwrap();
        assert_eq!(parts.len(), 2);
        // A piece's buffers hold its own rows only, not the whole batch's: 8 bytes per
        // row and a little padding.
        for (_, part) in &parts {
            let bytes = part.get_array_memory_size();
            assert!(
                bytes < part.num_rows() * 8 + 1024,
                "{bytes} bytes for {} rows",
                part.num_rows()
            );
        }
        assert_eq!(
            parts.iter().map(|(_, p)| p.num_rows()).sum::<usize>(),
            100_000
        );
    }

    #[test]
    fn an_unpartitioned_spec_needs_no_splitter() {
        let schema = Arc::new(Schema::builder().build().unwrap());
        let spec = PartitionSpec::unpartition_spec();
        assert!(PartitionSplitter::new(&spec, schema).unwrap().is_none());
    }
}
