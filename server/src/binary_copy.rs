//! PostgreSQL's binary COPY format: an 11-byte signature, flags and a header extension,
//! then per tuple a 16-bit field count and each field as a 32-bit length (-1 for NULL)
//! followed by the value in the type's binary form, and -1 where the tuples end.
//!
//! [`BinaryCopyReader`] decodes a COPY FROM STDIN stream into Arrow batches of a table's
//! columns, each value read as its column's type; [`BinaryTuples`] encodes query rows for
//! COPY TO STDOUT with arrow-pg's binary encoders (the ones result rows use).

use std::io::Read;
use std::sync::Arc;

use floe_engine::FloeError;
use floe_engine::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    FixedSizeBinaryBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder,
    RecordBatch, StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
    TimestampNanosecondBuilder,
};
use floe_engine::arrow::compute::cast;
use floe_engine::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use floe_engine::error::sqlstate;
use pgwire::api::results::{CopyEncoder, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Flag bit 16: each tuple carries an OID, which Floe's tables do not have.
const FLAG_OIDS: u32 = 1 << 16;
/// Bits 17-31 are critical: a reader that does not know them must refuse the data.
const CRITICAL_FLAGS: u32 = !((1 << 17) - 1);
/// Tuples per batch handed to the engine.
const BATCH_ROWS: usize = 8192;
/// PostgreSQL counts dates and timestamps from 2000-01-01, Arrow from 1970-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Reads a binary COPY stream as batches of a table's columns.
pub struct BinaryCopyReader<R> {
    input: R,
    table: String,
    /// The table's columns, their nullability included.
    columns: SchemaRef,
    /// The same columns, all nullable: what the batches carry.
    output: SchemaRef,
    /// Tuples read so far; the one being read is `tuples + 1`.
    tuples: u64,
    header_read: bool,
    ended: bool,
    /// The value being read, reused from field to field.
    value: Vec<u8>,
}

/// What is wrong with a value or with the stream, before the message names where.
struct Problem {
    sqlstate: &'static str,
    message: String,
}

impl Problem {
    fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        Self {
            sqlstate,
            message: message.into(),
        }
    }

    fn format(message: impl Into<String>) -> Self {
        Self::new(sqlstate::BAD_COPY_FILE_FORMAT, message)
    }

    fn value(message: impl Into<String>) -> Self {
        Self::new(sqlstate::INVALID_BINARY_REPRESENTATION, message)
    }
}

impl<R: Read> BinaryCopyReader<R> {
    /// A reader of `input` for the table named `table` with `columns`; refuses column
    /// types the format has no decoding for here.
    pub fn new(input: R, table: &str, columns: SchemaRef) -> Result<Self, FloeError> {
        for field in columns.fields() {
            if ColumnBuilder::new(field.data_type(), 0).is_none() {
                return Err(FloeError::unsupported(format!(
                    "COPY {table}: binary COPY cannot load column {} of type {}",
                    field.name(),
                    field.data_type()
                )));
            }
        }
        let output = Arc::new(Schema::new(
            columns
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<Field>>(),
        ));
        Ok(Self {
            input,
            table: table.to_string(),
            columns,
            output,
            tuples: 0,
            header_read: false,
            ended: false,
            value: Vec::new(),
        })
    }

    /// The next batch of tuples; `None` once the trailer has been read.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>, FloeError> {
        if !self.header_read {
            self.read_header().map_err(|p| self.stream_error(p))?;
            self.header_read = true;
        }
        if self.ended {
            return Ok(None);
        }
        let mut builders: Vec<ColumnBuilder> = self
            .columns
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f.data_type(), BATCH_ROWS).expect("checked in new"))
            .collect();
        let mut rows = 0;
        while rows < BATCH_ROWS && self.read_tuple(&mut builders)? {
            rows += 1;
        }
        if rows == 0 {
            return Ok(None);
        }
        let columns = builders
            .into_iter()
            .zip(self.columns.fields())
            .map(|(builder, field)| builder.finish(field.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(RecordBatch::try_new(self.output.clone(), columns)?))
    }

    fn read_header(&mut self) -> Result<(), Problem> {
        let mut signature = [0u8; 11];
        self.read_exact(&mut signature)?;
        if &signature != SIGNATURE {
            return Err(Problem::format(
                "the data does not start with the binary COPY signature (PGCOPY)",
            ));
        }
        let flags = self.read_u32()?;
        if flags & FLAG_OIDS != 0 {
            return Err(Problem::format(
                "the data has OIDs (WITH OIDS), which Floe's tables do not have",
            ));
        }
        if flags & CRITICAL_FLAGS != 0 {
            return Err(Problem::format(format!(
                "the header has unknown critical flags {flags:#010x}"
            )));
        }
        // The header extension: nothing in it is meant for this reader; skip it.
        let extension = u64::from(self.read_u32()?);
        let skipped = std::io::copy(&mut (&mut self.input).take(extension), &mut std::io::sink())
            .map_err(|err| Problem::format(err.to_string()))?;
        if skipped != extension {
            return Err(truncated());
        }
        Ok(())
    }

    /// Reads one tuple into `builders`; `false` at the trailer.
    fn read_tuple(&mut self, builders: &mut [ColumnBuilder]) -> Result<bool, FloeError> {
        let count = self.read_i16().map_err(|p| self.tuple_error(p))?;
        if count == -1 {
            self.ended = true;
            let mut extra = [0u8; 1];
            return match self.input.read(&mut extra) {
                Ok(0) => Ok(false),
                Ok(_) => Err(self.stream_error(Problem::format(
                    "the COPY data goes on after its trailer (-1)",
                ))),
                Err(err) => Err(self.stream_error(Problem::format(err.to_string()))),
            };
        }
        if usize::try_from(count).ok() != Some(builders.len()) {
            return Err(self.tuple_error(Problem::format(format!(
                "the tuple has {count} fields, the table has {} columns",
                builders.len()
            ))));
        }
        for (index, builder) in builders.iter_mut().enumerate() {
            let present = self.read_value().map_err(|p| self.tuple_error(p))?;
            let field = self.columns.field(index);
            let appended = if present {
                builder.append(&self.value)
            } else if field.is_nullable() {
                builder.append_null();
                Ok(())
            } else {
                Err(Problem::new(
                    sqlstate::NOT_NULL_VIOLATION,
                    "null value violates not-null constraint",
                ))
            };
            appended.map_err(|p| self.column_error(field, p))?;
        }
        self.tuples += 1;
        Ok(true)
    }

    /// Reads a field's value into `self.value`; `false` for NULL.
    fn read_value(&mut self) -> Result<bool, Problem> {
        let length = self.read_i32()?;
        if length == -1 {
            return Ok(false);
        }
        let length = u64::try_from(length)
            .map_err(|_| Problem::format(format!("invalid field length {length}")))?;
        self.value.clear();
        // Read through `take` rather than allocating the length first: the length is the
        // client's word, the bytes that follow are the truth.
        (&mut self.input)
            .take(length)
            .read_to_end(&mut self.value)
            .map_err(|err| Problem::format(err.to_string()))?;
        if self.value.len() as u64 != length {
            return Err(truncated());
        }
        Ok(true)
    }

    fn read_exact(&mut self, buffer: &mut [u8]) -> Result<(), Problem> {
        self.input
            .read_exact(buffer)
            .map_err(|err| match err.kind() {
                std::io::ErrorKind::UnexpectedEof => truncated(),
                _ => Problem::format(err.to_string()),
            })
    }

    fn read_i16(&mut self) -> Result<i16, Problem> {
        let mut bytes = [0u8; 2];
        self.read_exact(&mut bytes)?;
        Ok(i16::from_be_bytes(bytes))
    }

    fn read_i32(&mut self) -> Result<i32, Problem> {
        let mut bytes = [0u8; 4];
        self.read_exact(&mut bytes)?;
        Ok(i32::from_be_bytes(bytes))
    }

    fn read_u32(&mut self) -> Result<u32, Problem> {
        Ok(self.read_i32()? as u32)
    }

    fn stream_error(&self, problem: Problem) -> FloeError {
        FloeError::new(
            problem.sqlstate,
            format!("COPY {}: {} (STDIN)", self.table, problem.message),
        )
    }

    fn tuple_error(&self, problem: Problem) -> FloeError {
        FloeError::new(
            problem.sqlstate,
            format!(
                "COPY {}: {} (STDIN, tuple {})",
                self.table,
                problem.message,
                self.tuples + 1
            ),
        )
    }

    fn column_error(&self, field: &Field, problem: Problem) -> FloeError {
        FloeError::new(
            problem.sqlstate,
            format!(
                "COPY {}: {} (STDIN, tuple {}, column {})",
                self.table,
                problem.message,
                self.tuples + 1,
                field.name()
            ),
        )
    }
}

fn truncated() -> Problem {
    Problem::format("the COPY data ends in the middle of a tuple or before its trailer (-1)")
}

/// Collects one column's values, each decoded from PostgreSQL's binary form of the
/// column's type.
enum ColumnBuilder {
    Boolean(BooleanBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Text(StringBuilder),
    Bytes(BinaryBuilder),
    Fixed(FixedSizeBinaryBuilder, i32),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    TimestampNs(TimestampNanosecondBuilder),
}

impl ColumnBuilder {
    /// `None` for a type with no binary decoding here (nested types).
    fn new(data_type: &DataType, capacity: usize) -> Option<Self> {
        Some(match data_type {
            DataType::Boolean => Self::Boolean(BooleanBuilder::with_capacity(capacity)),
            DataType::Int32 => Self::Int32(Int32Builder::with_capacity(capacity)),
            DataType::Int64 => Self::Int64(Int64Builder::with_capacity(capacity)),
            DataType::Float32 => Self::Float32(Float32Builder::with_capacity(capacity)),
            DataType::Float64 => Self::Float64(Float64Builder::with_capacity(capacity)),
            DataType::Decimal128(precision, scale) => Self::Decimal(
                Decimal128Builder::with_capacity(capacity),
                *precision,
                *scale,
            ),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Self::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                Self::Bytes(BinaryBuilder::with_capacity(capacity, capacity * 16))
            }
            DataType::FixedSizeBinary(width) => Self::Fixed(
                FixedSizeBinaryBuilder::with_capacity(capacity, *width),
                *width,
            ),
            DataType::Date32 => Self::Date(Date32Builder::with_capacity(capacity)),
            DataType::Time64(TimeUnit::Microsecond) => {
                Self::Time(Time64MicrosecondBuilder::with_capacity(capacity))
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Self::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity))
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                Self::TimestampNs(TimestampNanosecondBuilder::with_capacity(capacity))
            }
            _ => return None,
        })
    }

    fn append(&mut self, value: &[u8]) -> Result<(), Problem> {
        match self {
            Self::Boolean(b) => match value {
                [byte] => b.append_value(*byte != 0),
                _ => return Err(wrong_length("boolean", value, "1")),
            },
            Self::Int32(b) => {
                let wide = integer(value, "integer")?;
                let narrow = i32::try_from(wide).map_err(|_| {
                    Problem::new(
                        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
                        format!("value {wide} is out of range for type integer"),
                    )
                })?;
                b.append_value(narrow)
            }
            Self::Int64(b) => b.append_value(integer(value, "bigint")?),
            Self::Float32(b) => match value.len() {
                4 => b.append_value(f32::from_be_bytes(fixed(value))),
                8 => b.append_value(f64::from_be_bytes(fixed(value)) as f32),
                _ => return Err(wrong_length("real", value, "4 or 8")),
            },
            Self::Float64(b) => match value.len() {
                4 => b.append_value(f64::from(f32::from_be_bytes(fixed(value)))),
                8 => b.append_value(f64::from_be_bytes(fixed(value))),
                _ => return Err(wrong_length("double precision", value, "4 or 8")),
            },
            Self::Decimal(b, precision, scale) => {
                b.append_value(numeric(value, *precision, *scale)?)
            }
            Self::Text(b) => match std::str::from_utf8(value) {
                Ok(text) => b.append_value(text),
                Err(_) => {
                    return Err(Problem::new(
                        sqlstate::CHARACTER_NOT_IN_REPERTOIRE,
                        "invalid byte sequence for encoding UTF8",
                    ));
                }
            },
            Self::Bytes(b) => b.append_value(value),
            Self::Fixed(b, width) => {
                if value.len() != *width as usize {
                    return Err(wrong_length(
                        &format!("fixed({width})"),
                        value,
                        &width.to_string(),
                    ));
                }
                b.append_value(value)
                    .map_err(|err| Problem::value(err.to_string()))?
            }
            Self::Date(b) => {
                if value.len() != 4 {
                    return Err(wrong_length("date", value, "4"));
                }
                let days = i32::from_be_bytes(fixed(value));
                let unix = days.checked_add(PG_EPOCH_DAYS).filter(|_| {
                    // PostgreSQL's 'infinity' and '-infinity' dates have no Arrow value.
                    days != i32::MAX && days != i32::MIN
                });
                b.append_value(unix.ok_or_else(|| out_of_range("date"))?)
            }
            Self::Time(b) => b.append_value(micros(value, "time")?),
            Self::Timestamp(b) => b.append_value(timestamp_micros(value)?),
            Self::TimestampNs(b) => {
                let nanos = timestamp_micros(value)?
                    .checked_mul(1000)
                    .ok_or_else(|| out_of_range("timestamp"))?;
                b.append_value(nanos)
            }
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            Self::Boolean(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::Float32(b) => b.append_null(),
            Self::Float64(b) => b.append_null(),
            Self::Decimal(b, ..) => b.append_null(),
            Self::Text(b) => b.append_null(),
            Self::Bytes(b) => b.append_null(),
            Self::Fixed(b, _) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Time(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::TimestampNs(b) => b.append_null(),
        }
    }

    /// The column's values as an array of `data_type`.
    fn finish(self, data_type: &DataType) -> Result<ArrayRef, FloeError> {
        let array: ArrayRef = match self {
            Self::Boolean(mut b) => Arc::new(b.finish()),
            Self::Int32(mut b) => Arc::new(b.finish()),
            Self::Int64(mut b) => Arc::new(b.finish()),
            Self::Float32(mut b) => Arc::new(b.finish()),
            Self::Float64(mut b) => Arc::new(b.finish()),
            Self::Decimal(mut b, precision, scale) => {
                Arc::new(b.finish().with_precision_and_scale(precision, scale)?)
            }
            Self::Text(mut b) => Arc::new(b.finish()),
            Self::Bytes(mut b) => Arc::new(b.finish()),
            Self::Fixed(mut b, _) => Arc::new(b.finish()),
            Self::Date(mut b) => Arc::new(b.finish()),
            Self::Time(mut b) => Arc::new(b.finish()),
            Self::Timestamp(mut b) => Arc::new(b.finish()),
            Self::TimestampNs(mut b) => Arc::new(b.finish()),
        };
        // Large and view strings, and time zones, differ only in layout or metadata.
        if array.data_type() == data_type {
            Ok(array)
        } else {
            Ok(cast(&array, data_type)?)
        }
    }
}

fn fixed<const N: usize>(value: &[u8]) -> [u8; N] {
    let mut bytes = [0u8; N];
    bytes.copy_from_slice(&value[..N]);
    bytes
}

fn wrong_length(type_name: &str, value: &[u8], expected: &str) -> Problem {
    Problem::value(format!(
        "incorrect binary data format: {} bytes for type {type_name}, which takes {expected}",
        value.len()
    ))
}

fn out_of_range(type_name: &str) -> Problem {
    Problem::new(
        sqlstate::DATETIME_FIELD_OVERFLOW,
        format!("{type_name} out of range"),
    )
}

/// A smallint, integer or bigint: a client may send a narrower integer than the column.
fn integer(value: &[u8], type_name: &str) -> Result<i64, Problem> {
    match value.len() {
        2 => Ok(i64::from(i16::from_be_bytes(fixed(value)))),
        4 => Ok(i64::from(i32::from_be_bytes(fixed(value)))),
        8 => Ok(i64::from_be_bytes(fixed(value))),
        _ => Err(wrong_length(type_name, value, "2, 4 or 8")),
    }
}

fn micros(value: &[u8], type_name: &str) -> Result<i64, Problem> {
    if value.len() != 8 {
        return Err(wrong_length(type_name, value, "8"));
    }
    Ok(i64::from_be_bytes(fixed(value)))
}

/// A timestamp (with or without time zone: both are microseconds from 2000-01-01, UTC for
/// the zoned one) as microseconds from 1970-01-01.
fn timestamp_micros(value: &[u8]) -> Result<i64, Problem> {
    let micros = micros(value, "timestamp")?;
    if micros == i64::MAX || micros == i64::MIN {
        // 'infinity' and '-infinity'.
        return Err(out_of_range("timestamp"));
    }
    micros
        .checked_add(PG_EPOCH_MICROS)
        .ok_or_else(|| out_of_range("timestamp"))
}

/// A numeric as an unscaled value at `scale` (rounded half away from zero, as PostgreSQL
/// rounds into a numeric(p, s) column), which must fit `precision` digits.
///
/// The binary form is: digit count, weight (the power of 10000 of the first digit), sign,
/// display scale, then the base-10000 digits.
fn numeric(value: &[u8], precision: u8, scale: i8) -> Result<i128, Problem> {
    if value.len() < 8 {
        return Err(wrong_length("numeric", value, "at least 8"));
    }
    let word = |i: usize| i16::from_be_bytes([value[2 * i], value[2 * i + 1]]);
    let (count, weight, sign) = (word(0), i32::from(word(1)), word(2) as u16);
    let digits = usize::try_from(count).map_err(|_| Problem::value("invalid numeric digits"))?;
    if value.len() != 8 + 2 * digits {
        return Err(Problem::value(format!(
            "incorrect binary data format: {} bytes for a numeric of {digits} digits",
            value.len()
        )));
    }
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        0xC000 => return Err(decimal_overflow("NaN")),
        0xD000 | 0xF000 => return Err(decimal_overflow("infinity")),
        _ => return Err(Problem::value(format!("invalid numeric sign {sign:#06x}"))),
    };
    let scale = i32::from(scale);
    let limit = 10i128.pow(u32::from(precision));
    let mut unscaled: i128 = 0;
    let mut round_up = false;
    for i in 0..digits {
        let digit = word(4 + i);
        if !(0..10_000).contains(&digit) {
            return Err(Problem::value(format!("invalid numeric digit {digit}")));
        }
        // The power of ten of this base-10000 digit's last decimal digit, counted in
        // units of the column's scale.
        let exponent = 4 * (weight - i as i32) + scale;
        let digit = i128::from(digit);
        if exponent >= 0 {
            let place = 10i128
                .checked_pow(exponent as u32)
                .filter(|place| *place < limit || digit == 0)
                .ok_or_else(|| decimal_overflow("the value"))?;
            unscaled = digit
                .checked_mul(place)
                .and_then(|part| unscaled.checked_add(part))
                .filter(|sum| *sum < limit)
                .ok_or_else(|| decimal_overflow("the value"))?;
        } else if exponent > -4 {
            // Straddles the scale: the digits above it count, the next one rounds.
            let divisor = 10i128.pow((-exponent) as u32);
            unscaled += digit / divisor;
            round_up = (digit % divisor) * 10 / divisor >= 5;
        } else if exponent == -4 && !round_up {
            round_up = digit >= 5_000;
        }
    }
    if round_up {
        unscaled += 1;
    }
    if unscaled >= limit {
        return Err(decimal_overflow("the value"));
    }
    Ok(if negative { -unscaled } else { unscaled })
}

fn decimal_overflow(what: &str) -> Problem {
    Problem::new(
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("numeric field overflow: {what} does not fit the column's decimal type"),
    )
}

/// Encodes query rows as binary COPY tuples. The first message carries the header, the
/// last one the trailer; a result without rows sends both in one.
pub struct BinaryTuples {
    encoder: CopyEncoder,
    fields: Arc<Vec<FieldInfo>>,
    header_sent: bool,
}

impl BinaryTuples {
    /// Tuples of rows described by `fields` (binary-format fields from arrow-pg).
    pub fn new(fields: Arc<Vec<FieldInfo>>) -> Self {
        Self {
            encoder: CopyEncoder::new_binary(fields.clone()),
            fields,
            header_sent: false,
        }
    }

    /// One CopyData message per row of `batch`, up to the first value that cannot be
    /// encoded (whose error ends the list).
    pub fn encode(&mut self, batch: &RecordBatch) -> Vec<PgWireResult<CopyData>> {
        let mut tuples = Vec::with_capacity(batch.num_rows());
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let encoded = batch
                .columns()
                .iter()
                .zip(schema.fields())
                .zip(self.fields.iter())
                .try_for_each(|((column, arrow_field), pg_field)| {
                    arrow_pg::encoder::encode_value(
                        &mut self.encoder,
                        column,
                        row,
                        arrow_field,
                        pg_field,
                    )
                });
            match encoded {
                Ok(()) => {
                    // The encoder puts the header before its first tuple.
                    self.header_sent = true;
                    tuples.push(Ok(self.encoder.take_copy()));
                }
                Err(err) => {
                    tuples.push(Err(err));
                    break;
                }
            }
        }
        tuples
    }

    /// The end of the COPY: the trailer, after the header if no tuple has carried it (a
    /// result without rows), in one message as PostgreSQL sends it: clients read the
    /// header together with what follows it.
    pub fn end(&self) -> CopyData {
        let mut end = Vec::with_capacity(SIGNATURE.len() + 10);
        if !self.header_sent {
            end.extend_from_slice(SIGNATURE);
            end.extend_from_slice(&0u32.to_be_bytes()); // flags
            end.extend_from_slice(&0u32.to_be_bytes()); // header extension length
        }
        end.extend_from_slice(&(-1i16).to_be_bytes());
        CopyData::new(end.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, negative: bool, digits: &[i16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        bytes.extend_from_slice(&weight.to_be_bytes());
        bytes.extend_from_slice(&(if negative { 0x4000u16 } else { 0 }).to_be_bytes());
        bytes.extend_from_slice(&0u16.to_be_bytes());
        for digit in digits {
            bytes.extend_from_slice(&digit.to_be_bytes());
        }
        bytes
    }

    fn decoded(weight: i16, negative: bool, digits: &[i16], p: u8, s: i8) -> Option<i128> {
        numeric(&numeric_bytes(weight, negative, digits), p, s).ok()
    }

    #[test]
    fn numerics_become_unscaled_decimals() {
        // 12345.67 = 1|2345|6700 with weight 1.
        assert_eq!(decoded(1, false, &[1, 2345, 6700], 15, 2), Some(1_234_567));
        assert_eq!(decoded(1, true, &[1, 2345, 6700], 15, 2), Some(-1_234_567));
        assert_eq!(decoded(0, false, &[], 15, 2), Some(0));
        // 0.005 rounds half away from zero to 0.01; 0.0049 to 0.00.
        assert_eq!(decoded(-1, false, &[50], 10, 2), Some(1));
        assert_eq!(decoded(-1, false, &[49], 10, 2), Some(0));
        // 1.99999 at scale 4 is 2.0000.
        assert_eq!(decoded(0, false, &[1, 9999, 9000], 10, 4), Some(20_000));
        // 100000000 (weight 2) at scale 0.
        assert_eq!(decoded(2, false, &[1], 10, 0), Some(100_000_000));
    }

    #[test]
    fn numerics_too_wide_for_the_column_overflow() {
        assert_eq!(decoded(1, false, &[1, 2345], 4, 0), None);
        assert_eq!(decoded(1, false, &[1, 2345], 5, 0), Some(12_345));
        let mut nan = numeric_bytes(0, false, &[]);
        nan[4..6].copy_from_slice(&0xC000u16.to_be_bytes());
        let err = numeric(&nan, 10, 2).err().unwrap();
        assert_eq!(err.sqlstate, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
    }
}
