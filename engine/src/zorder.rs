//! Z-order values for `OPTIMIZE ... ZORDER BY (a, b, ...)`: rows sorted by them are
//! clustered on every named column at once, so that a selective filter on any one of them
//! skips files and row groups.
//!
//! The method, per row:
//! 1. Each column's value becomes an order-preserving 128-bit key: the first 16 bytes of
//!    Arrow's row format for the value (a byte string whose memcmp order is the value's
//!    order, so its prefix, read as a big-endian number, never decreases as values grow).
//! 2. Each key is normalised to `64 / n` bits (n columns) over the column's range in the
//!    files being rewritten, taken from their manifests' lower and upper bounds: the key's
//!    offset from the lower bound's key, shifted right until the range fits. Without
//!    bounds (e.g. floats holding NaN) the full key range is used, which still orders the
//!    rows but clusters them less. Values outside the bounds are clamped.
//! 3. The normalised keys' bits are interleaved, most significant first, first column
//!    first, into one `u64`: the z-value.
//!
//! The normalisation is linear in the key, so skewed data (most values in a narrow part of
//! the range) gets fewer distinct z-values than a rank-based method would give it; it costs
//! no extra pass over the data.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;

use crate::error::{FloeError, Result};

/// The most columns a ZORDER BY takes: each then still gets 8 bits of the z-value.
pub const MAX_COLUMNS: usize = 8;

/// The column the z-value is carried in while rows are sorted.
pub const ZVALUE_COLUMN: &str = "__floe_zvalue";

/// Computes z-values over chosen columns of a batch (see the module documentation).
#[derive(Debug)]
pub struct ZOrder {
    columns: Vec<ZColumn>,
    bits: u32,
}

#[derive(Debug)]
struct ZColumn {
    index: usize,
    converter: RowConverter,
    low: u128,
    high: u128,
}

impl ZOrder {
    /// `columns`: each column's index in the batches and its bounds over all the rows
    /// (`None` when unknown).
    pub fn new(
        schema: &Schema,
        columns: &[(usize, Option<ScalarValue>, Option<ScalarValue>)],
    ) -> Result<Self> {
        if columns.is_empty() || columns.len() > MAX_COLUMNS {
            return Err(FloeError::invalid(format!(
                "ZORDER BY takes 1 to {MAX_COLUMNS} columns, not {}",
                columns.len()
            )));
        }
        let columns = columns
            .iter()
            .map(|(index, low, high)| {
                let data_type = schema.field(*index).data_type();
                let converter = RowConverter::new(vec![SortField::new(data_type.clone())])?;
                let bound = |value: &Option<ScalarValue>| -> Result<Option<u128>> {
                    match value {
                        Some(v) if !v.is_null() && v.data_type() == *data_type => {
                            Ok(keys(&converter, &v.to_array()?)?.first().copied())
                        }
                        _ => Ok(None),
                    }
                };
                let low = bound(low)?.unwrap_or(0);
                let high = bound(high)?.unwrap_or(u128::MAX).max(low);
                Ok(ZColumn {
                    index: *index,
                    converter,
                    low,
                    high,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let bits = 64 / columns.len() as u32;
        Ok(Self { columns, bits })
    }

    /// The batch with its z-values appended as column [`ZVALUE_COLUMN`].
    pub fn append_zvalues(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let normalised: Vec<Vec<u64>> = self
            .columns
            .iter()
            .map(|column| {
                let keys = keys(&column.converter, batch.column(column.index))?;
                Ok(keys
                    .into_iter()
                    .map(|key| normalise(key, column.low, column.high, self.bits))
                    .collect())
            })
            .collect::<Result<_>>()?;
        let mut values = [0u64; MAX_COLUMNS];
        let zvalues: UInt64Array = (0..batch.num_rows())
            .map(|row| {
                for (value, column) in values.iter_mut().zip(&normalised) {
                    *value = column[row];
                }
                interleave(&values[..normalised.len()], self.bits)
            })
            .collect();
        let schema = with_zvalue_column(batch.schema_ref());
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns.push(Arc::new(zvalues));
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// `schema` with the z-value column appended.
pub fn with_zvalue_column(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(ZVALUE_COLUMN, DataType::UInt64, false)));
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The order-preserving key of every value of `array`.
fn keys(converter: &RowConverter, array: &ArrayRef) -> Result<Vec<u128>> {
    let rows = converter.convert_columns(std::slice::from_ref(array))?;
    Ok(rows
        .iter()
        .map(|row| {
            let bytes = row.as_ref();
            let mut prefix = [0u8; 16];
            let n = bytes.len().min(16);
            prefix[..n].copy_from_slice(&bytes[..n]);
            u128::from_be_bytes(prefix)
        })
        .collect())
}

/// `key`'s place in `[low, high]` as a number of `bits` bits, order preserved.
fn normalise(key: u128, low: u128, high: u128, bits: u32) -> u64 {
    let offset = key.clamp(low, high) - low;
    let range = high - low;
    let range_bits = 128 - range.leading_zeros();
    let shift = range_bits.saturating_sub(bits);
    (offset >> shift) as u64
}

/// The bits of `values` (each `bits` wide) interleaved, most significant first.
fn interleave(values: &[u64], bits: u32) -> u64 {
    let mut z = 0u64;
    for bit in (0..bits).rev() {
        for value in values {
            z = (z << 1) | ((value >> bit) & 1);
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StringArray};

    #[test]
    fn interleaving_puts_the_first_column_first() {
        assert_eq!(interleave(&[0b11, 0b00], 2), 0b1010);
        assert_eq!(interleave(&[0b01, 0b10], 2), 0b0110);
        assert_eq!(interleave(&[u32::MAX as u64, 0], 32), 0xAAAA_AAAA_AAAA_AAAA);
    }

    #[test]
    fn normalising_preserves_order_within_the_bits() {
        assert_eq!(normalise(5, 0, 10, 32), 5);
        assert_eq!(normalise(u128::MAX, 0, u128::MAX, 8), 255);
        assert_eq!(normalise(u128::MAX / 2, 0, u128::MAX, 8), 127);
        // Outside the bounds: clamped.
        assert_eq!(normalise(1, 3, 10, 32), 0);
        assert_eq!(normalise(99, 3, 10, 32), 7);
    }

    #[test]
    fn zvalues_follow_each_column_order() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![Some(-5), Some(0), Some(7), None])),
                Arc::new(StringArray::from(vec!["a", "a", "a", "a"])),
            ],
        )
        .unwrap();
        let zorder = ZOrder::new(
            &schema,
            &[
                (
                    0,
                    Some(ScalarValue::Int32(Some(-5))),
                    Some(ScalarValue::Int32(Some(7))),
                ),
                (1, None, None),
            ],
        )
        .unwrap();
        let out = zorder.append_zvalues(&batch).unwrap();
        assert_eq!(out.schema().field(2).name(), ZVALUE_COLUMN);
        let z = out
            .column(2)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .unwrap();
        // Same string everywhere: the z-values order the rows as column a does, with NULL
        // (below the lower bound) first.
        assert!(z.value(3) <= z.value(0));
        assert!(z.value(0) < z.value(1));
        assert!(z.value(1) < z.value(2));
        assert!(ZOrder::new(&schema, &[]).is_err());
    }
}
