//! One Parquet data file being written. Rows go in batch by batch; the row group in
//! progress can be flushed early to free memory; closing the file yields the Iceberg
//! `DataFile` with the statistics scans plan with: value, null and NaN counts, column sizes
//! and lower/upper bounds.
//!
//! Bounds come from the statistics the Parquet writer keeps for every row group anyway.
//! They are written untruncated (see `write_properties`), so they are exact before
//! Iceberg's truncation rule is applied: strings and binaries keep a 16-character (byte)
//! prefix as lower bound and the prefix with its last character incremented as upper bound.
//! Like Iceberg's bounds, Parquet's leave NaN out; NaNs and NULLs are counted here.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::arrow::async_writer::AsyncFileWriter;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ColumnChunkMetaData;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::statistics::{Statistics, ValueStatistics};
use futures::future::BoxFuture;
use iceberg::io::FileWrite;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, PrimitiveLiteral,
    PrimitiveType, Schema, Struct, Type,
};

use crate::error::{FloeError, Result};

/// Iceberg's default metrics mode, `truncate(16)`.
const BOUND_LENGTH: usize = 16;

/// Where the file lands in the table, recorded on its `DataFile`.
#[derive(Debug, Clone)]
pub struct Placement {
    pub partition: Struct,
    pub spec_id: i32,
    pub sort_order_id: Option<i32>,
}

pub struct ParquetDataFile {
    path: String,
    writer: AsyncArrowWriter<OutputWriter>,
    columns: Vec<ColumnStatistics>,
    rows: u64,
    /// The Arrow size of the rows written, for the compression ratio.
    raw_bytes: u64,
    placement: Placement,
}

/// What a closed file adds up to, for write metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSizes {
    /// The file's size on storage.
    pub bytes: u64,
    /// The rows' size in memory (Arrow), before encoding and compression.
    pub uncompressed_bytes: u64,
}

impl ParquetDataFile {
    pub async fn create(
        path: String,
        output: Box<dyn FileWrite>,
        schema: &Schema,
        arrow_schema: datafusion::arrow::datatypes::SchemaRef,
        properties: WriterProperties,
        placement: Placement,
    ) -> Result<Self> {
        let columns = schema
            .as_struct()
            .fields()
            .iter()
            .map(|field| match field.field_type.as_ref() {
                Type::Primitive(ty) => Ok(ColumnStatistics::new(field.id, ty.clone())),
                other => Err(FloeError::unsupported(format!(
                    "writing column {} of type {other}",
                    field.name
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let writer =
            AsyncArrowWriter::try_new(OutputWriter(output), arrow_schema, Some(properties))?;
        Ok(Self {
            path,
            writer,
            columns,
            rows: 0,
            raw_bytes: 0,
            placement,
        })
    }

    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        for (statistics, column) in self.columns.iter_mut().zip(batch.columns()) {
            statistics.update(column);
            self.raw_bytes += column.to_data().get_slice_memory_size()? as u64;
        }
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).await?;
        Ok(())
    }

    /// Memory held for this file: the encoded row group in progress and write buffers.
    pub fn buffered_bytes(&self) -> usize {
        self.writer.memory_size()
    }

    /// The encoded size of the row group in progress.
    pub fn row_group_bytes(&self) -> usize {
        self.writer.in_progress_size()
    }

    /// The size the file has reached, counting the row group in progress.
    pub fn size_so_far(&self) -> usize {
        self.writer.bytes_written() + self.writer.in_progress_size()
    }

    /// Ends the row group in progress, writing it out.
    pub async fn flush_row_group(&mut self) -> Result<()> {
        Ok(self.writer.flush().await?)
    }

    pub async fn close(mut self) -> Result<(DataFile, FileSizes)> {
        let metadata = self.writer.finish().await?;
        let file_size = self.writer.bytes_written() as u64;
        let mut column_sizes = HashMap::new();
        for row_group in metadata.row_groups() {
            for (statistics, chunk) in self.columns.iter().zip(row_group.columns()) {
                *column_sizes.entry(statistics.field_id).or_insert(0u64) +=
                    chunk.compressed_size() as u64;
            }
        }
        let mut value_counts = HashMap::new();
        let mut null_counts = HashMap::new();
        let mut nan_counts = HashMap::new();
        let mut lower_bounds = HashMap::new();
        let mut upper_bounds = HashMap::new();
        for (index, column) in self.columns.iter().enumerate() {
            value_counts.insert(column.field_id, self.rows);
            null_counts.insert(column.field_id, column.nulls);
            if matches!(column.ty, PrimitiveType::Float | PrimitiveType::Double) {
                nan_counts.insert(column.field_id, column.nans);
            }
            let chunks = metadata
                .row_groups()
                .iter()
                .map(|group| group.column(index));
            if let Some((lower, upper)) = column.bounds(chunks)? {
                if let Some(lower) = truncate_lower(lower) {
                    lower_bounds.insert(column.field_id, lower);
                }
                if let Some(upper) = truncate_upper(upper) {
                    upper_bounds.insert(column.field_id, upper);
                }
            }
        }
        let mut builder = DataFileBuilder::default();
        if let Some(id) = self.placement.sort_order_id {
            builder.sort_order_id(id);
        }
        let data_file = builder
            .content(DataContentType::Data)
            .file_path(self.path)
            .file_format(DataFileFormat::Parquet)
            .partition(self.placement.partition)
            .partition_spec_id(self.placement.spec_id)
            .record_count(self.rows)
            .file_size_in_bytes(file_size)
            .column_sizes(column_sizes)
            .value_counts(value_counts)
            .null_value_counts(null_counts)
            .nan_value_counts(nan_counts)
            .lower_bounds(lower_bounds)
            .upper_bounds(upper_bounds)
            .split_offsets(Some(
                metadata
                    .row_groups()
                    .iter()
                    .filter_map(|group| group.file_offset())
                    .collect(),
            ))
            .build()
            .map_err(|err| FloeError::internal(format!("building the data file entry: {err}")))?;
        Ok((
            data_file,
            FileSizes {
                bytes: file_size,
                uncompressed_bytes: self.raw_bytes,
            },
        ))
    }
}

/// Per-column NULL and NaN counts, accumulated batch by batch.
struct ColumnStatistics {
    field_id: i32,
    ty: PrimitiveType,
    nulls: u64,
    nans: u64,
}

impl ColumnStatistics {
    fn new(field_id: i32, ty: PrimitiveType) -> Self {
        Self {
            field_id,
            ty,
            nulls: 0,
            nans: 0,
        }
    }

    fn update(&mut self, column: &ArrayRef) {
        self.nulls += column.null_count() as u64;
        let nans = match column.data_type() {
            DataType::Float32 => (column.as_primitive::<Float32Type>().iter().flatten())
                .filter(|value| value.is_nan())
                .count(),
            DataType::Float64 => (column.as_primitive::<Float64Type>().iter().flatten())
                .filter(|value| value.is_nan())
                .count(),
            _ => 0,
        };
        self.nans += nans as u64;
    }

    /// The column's bounds over the file: the union of its row groups' Parquet statistics.
    /// `None` when a row group has no exact statistics.
    fn bounds<'a>(
        &self,
        chunks: impl Iterator<Item = &'a ColumnChunkMetaData>,
    ) -> Result<Option<(Datum, Datum)>> {
        let mut bounds: Option<(Datum, Datum)> = None;
        for chunk in chunks {
            let Some(statistics) = chunk.statistics() else {
                return Ok(None);
            };
            // No minimum: every value of the row group is NULL or NaN.
            let Some((low, high)) = iceberg_bytes(statistics, &self.ty) else {
                continue;
            };
            if !statistics.min_is_exact() || !statistics.max_is_exact() {
                return Ok(None);
            }
            let low = Datum::try_from_bytes(&low, self.ty.clone())?;
            let high = Datum::try_from_bytes(&high, self.ty.clone())?;
            bounds = Some(match bounds {
                None => (low, high),
                Some((lower, upper)) => (
                    if low < lower { low } else { lower },
                    if high > upper { high } else { upper },
                ),
            });
        }
        Ok(bounds)
    }
}

/// A row group's minimum and maximum in Iceberg's single-value binary form (little-endian
/// numbers, big-endian decimals, raw bytes), from the physical type Parquet stores them in.
fn iceberg_bytes(statistics: &Statistics, ty: &PrimitiveType) -> Option<(Vec<u8>, Vec<u8>)> {
    fn pair<T>(
        statistics: &ValueStatistics<T>,
        bytes: impl Fn(&T) -> Vec<u8>,
    ) -> Option<(Vec<u8>, Vec<u8>)> {
        Some((bytes(statistics.min_opt()?), bytes(statistics.max_opt()?)))
    }
    let decimal = matches!(ty, PrimitiveType::Decimal { .. });
    match statistics {
        Statistics::Boolean(s) => pair(s, |v| vec![*v as u8]),
        Statistics::Int32(s) if decimal => pair(s, |v| i128::from(*v).to_be_bytes().to_vec()),
        Statistics::Int32(s) => pair(s, |v| v.to_le_bytes().to_vec()),
        Statistics::Int64(s) if decimal => pair(s, |v| i128::from(*v).to_be_bytes().to_vec()),
        Statistics::Int64(s) => pair(s, |v| v.to_le_bytes().to_vec()),
        Statistics::Float(s) => pair(s, |v| v.to_le_bytes().to_vec()),
        Statistics::Double(s) => pair(s, |v| v.to_le_bytes().to_vec()),
        Statistics::FixedLenByteArray(s) if decimal => pair(s, |v| sign_extend(v.data())),
        Statistics::ByteArray(s) => pair(s, |v| v.data().to_vec()),
        Statistics::FixedLenByteArray(s) => pair(s, |v| v.data().to_vec()),
        Statistics::Int96(_) => None,
    }
}

/// A big-endian two's-complement number widened to the 16 bytes of an `i128`.
fn sign_extend(bytes: &[u8]) -> Vec<u8> {
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        0xFF
    } else {
        0
    };
    let mut wide = vec![fill; 16usize.saturating_sub(bytes.len())];
    wide.extend_from_slice(bytes);
    wide
}

/// A lower bound no longer than Iceberg's truncation length: a prefix is never greater.
fn truncate_lower(bound: Datum) -> Option<Datum> {
    match bound.literal() {
        PrimitiveLiteral::String(s) if s.chars().count() > BOUND_LENGTH => Some(Datum::string(
            s.chars().take(BOUND_LENGTH).collect::<String>(),
        )),
        PrimitiveLiteral::Binary(b) if b.len() > BOUND_LENGTH && is_binary(&bound) => {
            Some(Datum::binary(b[..BOUND_LENGTH].to_vec()))
        }
        _ => Some(bound),
    }
}

/// An upper bound no longer than Iceberg's truncation length: the prefix with its last
/// character incremented is greater than every value starting with it. `None` when no
/// character of the prefix can be incremented (the file then has no upper bound).
fn truncate_upper(bound: Datum) -> Option<Datum> {
    match bound.literal() {
        PrimitiveLiteral::String(s) if s.chars().count() > BOUND_LENGTH => {
            let mut prefix: Vec<char> = s.chars().take(BOUND_LENGTH).collect();
            while let Some(last) = prefix.pop() {
                if let Some(next) = next_char(last) {
                    prefix.push(next);
                    return Some(Datum::string(prefix.into_iter().collect::<String>()));
                }
            }
            None
        }
        PrimitiveLiteral::Binary(b) if b.len() > BOUND_LENGTH && is_binary(&bound) => {
            let mut prefix = b[..BOUND_LENGTH].to_vec();
            while let Some(last) = prefix.pop() {
                if last < u8::MAX {
                    prefix.push(last + 1);
                    return Some(Datum::binary(prefix));
                }
            }
            None
        }
        _ => Some(bound),
    }
}

/// Fixed-size values keep their whole bound: truncating would change their type.
fn is_binary(bound: &Datum) -> bool {
    matches!(bound.data_type(), PrimitiveType::Binary)
}

fn next_char(c: char) -> Option<char> {
    let mut code = c as u32 + 1;
    // Skip the surrogate range, which holds no characters.
    if (0xD800..=0xDFFF).contains(&code) {
        code = 0xE000;
    }
    char::from_u32(code)
}

/// Feeds the Parquet writer's output into an Iceberg `FileWrite` (local disk or object
/// storage, whatever the table's FileIO is).
struct OutputWriter(Box<dyn FileWrite>);

impl AsyncFileWriter for OutputWriter {
    fn write(
        &mut self,
        bytes: bytes::Bytes,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<()>> {
        Box::pin(async move {
            self.0
                .write(bytes)
                .await
                .map_err(|err| ParquetError::External(Box::new(err)))
        })
    }

    fn complete(&mut self) -> BoxFuture<'_, datafusion::parquet::errors::Result<()>> {
        Box::pin(async move {
            self.0
                .close()
                .await
                .map_err(|err| ParquetError::External(Box::new(err)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_are_truncated_to_bounds_that_still_enclose_them() {
        let long = "x".repeat(70) + "tail";
        let lower = truncate_lower(Datum::string(&long)).unwrap();
        let upper = truncate_upper(Datum::string(&long)).unwrap();
        assert_eq!(lower, Datum::string("x".repeat(16)));
        assert_eq!(upper, Datum::string("x".repeat(15) + "y"));
        assert!(lower <= Datum::string(&long) && Datum::string(&long) <= upper);
        // Short values are kept whole.
        assert_eq!(
            truncate_upper(Datum::string("short")).unwrap(),
            Datum::string("short")
        );
    }

    #[test]
    fn an_upper_bound_that_cannot_be_incremented_is_dropped() {
        let top = char::MAX.to_string().repeat(20);
        assert!(truncate_upper(Datum::string(&top)).is_none());
        let bytes = vec![0xFFu8; 20];
        assert!(truncate_upper(Datum::binary(bytes)).is_none());
        let mut bytes = vec![0x01u8; 15];
        bytes.extend([0xFF; 5]);
        let mut expected = vec![0x01u8; 14];
        expected.push(0x02);
        assert_eq!(
            truncate_upper(Datum::binary(bytes)).unwrap(),
            Datum::binary(expected)
        );
    }

    #[test]
    fn nans_are_counted_and_nulls_are_not() {
        use datafusion::arrow::array::PrimitiveArray;
        use std::sync::Arc;
        let values = PrimitiveArray::<Float64Type>::from(vec![
            Some(2.0),
            Some(f64::NAN),
            None,
            Some(f64::NAN),
        ]);
        let mut statistics = ColumnStatistics::new(1, PrimitiveType::Double);
        statistics.update(&(Arc::new(values) as ArrayRef));
        assert_eq!((statistics.nans, statistics.nulls), (2, 1));
    }

    #[test]
    fn wide_decimals_keep_their_sign() {
        assert_eq!(sign_extend(&[0x80, 0x01]), {
            let mut wide = vec![0xFF; 14];
            wide.extend([0x80, 0x01]);
            wide
        });
        assert_eq!(sign_extend(&[0x7F]), {
            let mut wide = vec![0; 15];
            wide.push(0x7F);
            wide
        });
    }
}
