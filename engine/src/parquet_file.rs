//! One Parquet data file being written. Rows go in batch by batch; the row group in
//! progress can be flushed early to free memory; closing the file yields the Iceberg
//! `DataFile` with the statistics scans plan with: value, null and NaN counts, column sizes
//! and lower/upper bounds.
//!
//! Bounds are computed from the Arrow values themselves, so they are always exact before
//! Iceberg's truncation rule is applied: strings and binaries keep a 16-character (byte)
//! prefix as lower bound and the prefix with its last character incremented as upper bound.

use std::collections::HashMap;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Decimal128Array, FixedSizeBinaryArray,
    LargeBinaryArray, LargeStringArray, RecordBatch, StringArray,
};
use datafusion::arrow::compute::{
    max, max_binary, max_boolean, max_string, max_string_view, min, min_binary, min_boolean,
    min_string, min_string_view,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Float32Type, Float64Type, Int32Type, Int64Type,
    Time64MicrosecondType, TimeUnit, TimestampMicrosecondType, TimestampNanosecondType,
};
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::arrow::async_writer::AsyncFileWriter;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::WriterProperties;
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
            statistics.update(column)?;
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
        for column in self.columns {
            value_counts.insert(column.field_id, self.rows);
            null_counts.insert(column.field_id, column.nulls);
            if matches!(column.ty, PrimitiveType::Float | PrimitiveType::Double) {
                nan_counts.insert(column.field_id, column.nans);
            }
            if let Some(lower) = column.lower.and_then(truncate_lower) {
                lower_bounds.insert(column.field_id, lower);
            }
            if let Some(upper) = column.upper.and_then(truncate_upper) {
                upper_bounds.insert(column.field_id, upper);
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

/// Per-column counts and bounds, accumulated batch by batch.
struct ColumnStatistics {
    field_id: i32,
    ty: PrimitiveType,
    nulls: u64,
    nans: u64,
    lower: Option<Datum>,
    upper: Option<Datum>,
}

impl ColumnStatistics {
    fn new(field_id: i32, ty: PrimitiveType) -> Self {
        Self {
            field_id,
            ty,
            nulls: 0,
            nans: 0,
            lower: None,
            upper: None,
        }
    }

    fn update(&mut self, column: &ArrayRef) -> Result<()> {
        self.nulls += column.null_count() as u64;
        if column.null_count() == column.len() {
            return Ok(());
        }
        let Some((low, high)) = self.batch_bounds(column)? else {
            return Ok(());
        };
        let low = Datum::try_from_bytes(&low, self.ty.clone())?;
        let high = Datum::try_from_bytes(&high, self.ty.clone())?;
        if self.lower.as_ref().is_none_or(|current| low < *current) {
            self.lower = Some(low);
        }
        if self.upper.as_ref().is_none_or(|current| high > *current) {
            self.upper = Some(high);
        }
        Ok(())
    }

    /// The batch's smallest and largest value in Iceberg's single-value binary form
    /// (little-endian numbers, big-endian decimals, raw bytes), NaN left out.
    fn batch_bounds(&mut self, column: &ArrayRef) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        fn le<T>(column: &ArrayRef) -> Option<(Vec<u8>, Vec<u8>)>
        where
            T: ArrowPrimitiveType + datafusion::arrow::datatypes::ArrowNumericType,
            T::Native: LittleEndian,
        {
            let array = column.as_primitive::<T>();
            Some((min(array)?.le(), max(array)?.le()))
        }
        let bounds = match column.data_type() {
            DataType::Boolean => {
                let array: &BooleanArray = column.as_boolean();
                let byte = |b: bool| vec![b as u8];
                min_boolean(array)
                    .zip(max_boolean(array))
                    .map(|(l, h)| (byte(l), byte(h)))
            }
            DataType::Int32 => le::<Int32Type>(column),
            DataType::Date32 => le::<Date32Type>(column),
            DataType::Int64 => le::<Int64Type>(column),
            DataType::Time64(TimeUnit::Microsecond) => le::<Time64MicrosecondType>(column),
            DataType::Timestamp(TimeUnit::Microsecond, _) => le::<TimestampMicrosecondType>(column),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => le::<TimestampNanosecondType>(column),
            DataType::Float32 => {
                let (bounds, nans) = float_bounds(column.as_primitive::<Float32Type>().iter());
                self.nans += nans;
                bounds.map(|(l, h)| (l.to_le_bytes().to_vec(), h.to_le_bytes().to_vec()))
            }
            DataType::Float64 => {
                let (bounds, nans) = float_bounds(column.as_primitive::<Float64Type>().iter());
                self.nans += nans;
                bounds.map(|(l, h)| (l.to_le_bytes().to_vec(), h.to_le_bytes().to_vec()))
            }
            DataType::Decimal128(_, _) => {
                let array: &Decimal128Array = column.as_primitive();
                min(array)
                    .zip(max(array))
                    .map(|(l, h)| (l.to_be_bytes().to_vec(), h.to_be_bytes().to_vec()))
            }
            DataType::Utf8 => {
                let array: &StringArray = column.as_string();
                bytes_pair(min_string(array), max_string(array))
            }
            DataType::LargeUtf8 => {
                let array: &LargeStringArray = column.as_string();
                bytes_pair(min_string(array), max_string(array))
            }
            DataType::Utf8View => {
                let array = column.as_string_view();
                bytes_pair(min_string_view(array), max_string_view(array))
            }
            DataType::Binary => {
                let array: &BinaryArray = column.as_binary();
                bytes_pair(min_binary(array), max_binary(array))
            }
            DataType::LargeBinary => {
                let array: &LargeBinaryArray = column.as_binary();
                bytes_pair(min_binary(array), max_binary(array))
            }
            DataType::FixedSizeBinary(_) => {
                let array: &FixedSizeBinaryArray = column.as_fixed_size_binary();
                let values = || array.iter().flatten();
                bytes_pair(values().min(), values().max())
            }
            other => {
                return Err(FloeError::unsupported(format!(
                    "writing Arrow type {other} into an Iceberg data file"
                )));
            }
        };
        Ok(bounds)
    }
}

trait LittleEndian {
    fn le(self) -> Vec<u8>;
}

impl LittleEndian for i32 {
    fn le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}

impl LittleEndian for i64 {
    fn le(self) -> Vec<u8> {
        self.to_le_bytes().to_vec()
    }
}

fn bytes_pair<T: AsRef<[u8]> + ?Sized>(
    low: Option<&T>,
    high: Option<&T>,
) -> Option<(Vec<u8>, Vec<u8>)> {
    Some((low?.as_ref().to_vec(), high?.as_ref().to_vec()))
}

/// The smallest and largest non-NaN value, and how many NaNs there were.
fn float_bounds<F: num_like::Float>(
    values: impl Iterator<Item = Option<F>>,
) -> (Option<(F, F)>, u64) {
    let mut nans = 0;
    let mut bounds: Option<(F, F)> = None;
    for value in values.flatten() {
        if value.is_nan() {
            nans += 1;
            continue;
        }
        bounds = Some(match bounds {
            None => (value, value),
            Some((low, high)) => (
                if value < low { value } else { low },
                if value > high { value } else { high },
            ),
        });
    }
    (bounds, nans)
}

mod num_like {
    pub trait Float: Copy + PartialOrd {
        fn is_nan(self) -> bool;
    }
    impl Float for f32 {
        fn is_nan(self) -> bool {
            f32::is_nan(self)
        }
    }
    impl Float for f64 {
        fn is_nan(self) -> bool {
            f64::is_nan(self)
        }
    }
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
    fn float_bounds_leave_nan_out_and_count_it() {
        let values = [Some(2.0f64), Some(f64::NAN), None, Some(-1.5)];
        let (bounds, nans) = float_bounds(values.into_iter());
        assert_eq!(bounds, Some((-1.5, 2.0)));
        assert_eq!(nans, 1);
    }
}
