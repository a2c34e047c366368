//! Arrow batches to DataRow messages. Each batch is written into one buffer, row by row,
//! from columns resolved once per batch: booleans, integers, floats, strings and bytes
//! (what most results are made of) are formatted here without per-value allocation;
//! every other column is encoded by arrow-pg, one column at a time, and its cells copied
//! into the rows. Text follows PostgreSQL's output functions (float8out and friends,
//! including `extra_float_digits`); binary is PostgreSQL's send format.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use floe_engine::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float32Array, Float64Array, Int64Array, RecordBatch,
};
use floe_engine::arrow::compute::cast;
use floe_engine::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;

use crate::nested_arrays::{self, NestedArrays};
use crate::temporal_text::{TimestampZone, push_time, push_timestamp};

/// The DataRows of `batch`, whose columns are described by `fields` (types and formats),
/// floats in text printed as PostgreSQL prints them with `extra_float_digits`.
///
/// A value that cannot be encoded ends the rows with its error: the rows before it are
/// returned, then the error.
pub fn encode_batch(
    batch: &RecordBatch,
    fields: &[FieldInfo],
    extra_float_digits: i32,
) -> Vec<PgWireResult<DataRow>> {
    let columns: PgWireResult<Vec<Column>> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .zip(fields)
        .map(|((field, array), pg_field)| Column::new(field, array, pg_field))
        .collect();
    let mut columns = match columns {
        Ok(columns) => columns,
        Err(err) => return vec![Err(err)],
    };
    let mut failure: Option<(usize, PgWireError)> = None;
    for column in &mut columns {
        let rows = failure.as_ref().map_or(batch.num_rows(), |(row, _)| *row);
        if let Err((row, err)) = column.prepare(rows) {
            failure = Some((row, err));
        }
    }
    let rows = failure.as_ref().map_or(batch.num_rows(), |(row, _)| *row);
    let field_count = fields.len() as i16;
    let text = Text { extra_float_digits };
    let mut buffer = BytesMut::with_capacity(estimated_size(&columns, rows));
    let mut out = Vec::with_capacity(rows + 1);
    for row in 0..rows {
        for column in &mut columns {
            column.write(row, &text, &mut buffer);
        }
        out.push(Ok(DataRow::new(buffer.split(), field_count)));
    }
    if let Some((_, err)) = failure {
        out.push(Err(err));
    }
    out
}

/// A guess at the bytes of `rows` rows, so that a batch mostly fits one allocation.
fn estimated_size(columns: &[Column], rows: usize) -> usize {
    let per_row: usize = columns
        .iter()
        .map(|column| match column {
            Column::Strings(array) => 4 + array.get_buffer_memory_size() / array.len().max(1),
            _ => 16,
        })
        .sum();
    rows * per_row
}

/// Numbers as PostgreSQL's text output writes them.
pub(crate) struct Text {
    extra_float_digits: i32,
}

/// One column of a batch, resolved to how its cells are written.
pub(crate) enum Column {
    Bool(BooleanArray, FieldFormat),
    /// Integers widened to 64 bits; `width` is the byte size of the PostgreSQL type
    /// (int2, int4, int8) for binary.
    Int {
        values: Int64Array,
        width: usize,
        format: FieldFormat,
    },
    Float4(Float32Array, FieldFormat),
    Float8(Float64Array, FieldFormat),
    /// Text, or values already in their wire form (uuids and oid arrays, see
    /// `results::encodable`): written as they are in both formats.
    Strings(ArrayRef),
    /// Bytes: raw in binary, `\x` and hex digits in text (PostgreSQL's `bytea_output =
    /// hex`).
    Bytes(ArrayRef, FieldFormat),
    /// Timestamps in text, as microseconds after the epoch; with `zone` a timestamptz
    /// shown in that zone (the engine labels them with the session's TimeZone).
    Timestamps {
        micros: Int64Array,
        zone: Option<TimestampZone>,
    },
    /// Times of day in text, as microseconds after midnight.
    Times(Int64Array),
    /// Lists of lists: PostgreSQL multidimensional arrays.
    Nested(NestedArrays),
    /// Encoded by arrow-pg: each cell's length and bytes, as a one-column DataRow.
    Fallback {
        field: Field,
        array: ArrayRef,
        pg_field: FieldInfo,
        cells: Vec<DataRow>,
    },
}

impl Column {
    pub(crate) fn new(
        field: &Field,
        array: &ArrayRef,
        pg_field: &FieldInfo,
    ) -> PgWireResult<Column> {
        let format = pg_field.format();
        let pg_type = pg_field.datatype();
        let integer_width = match *pg_type {
            Type::INT2 => Some(2),
            Type::INT4 => Some(4),
            Type::INT8 => Some(8),
            _ => None,
        };
        Ok(match (array.data_type(), integer_width) {
            (DataType::Boolean, _) if *pg_type == Type::BOOL => {
                Column::Bool(array.as_boolean().clone(), format)
            }
            (
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32,
                Some(width),
            ) => {
                let values = cast(array, &DataType::Int64).map_err(arrow_error)?;
                Column::Int {
                    values: values.as_primitive().clone(),
                    width,
                    format,
                }
            }
            (DataType::Float32, _) if *pg_type == Type::FLOAT4 => {
                Column::Float4(array.as_primitive().clone(), format)
            }
            (DataType::Float64, _) if *pg_type == Type::FLOAT8 => {
                Column::Float8(array.as_primitive().clone(), format)
            }
            (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, _) => {
                Column::Strings(array.clone())
            }
            (DataType::Timestamp(unit, zone), _)
                if format == FieldFormat::Text
                    && matches!(*pg_type, Type::TIMESTAMP | Type::TIMESTAMPTZ)
                    && zone
                        .as_deref()
                        .is_none_or(|z| TimestampZone::new(z).is_some()) =>
            {
                Column::Timestamps {
                    micros: microseconds(array, *unit)?,
                    zone: zone.as_deref().and_then(TimestampZone::new),
                }
            }
            (DataType::Time32(unit) | DataType::Time64(unit), _)
                if format == FieldFormat::Text && *pg_type == Type::TIME =>
            {
                Column::Times(microseconds(array, *unit)?)
            }
            (DataType::Binary | DataType::LargeBinary | DataType::BinaryView, _)
                if format == FieldFormat::Binary || *pg_type == Type::BYTEA =>
            {
                Column::Bytes(array.clone(), format)
            }
            (DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..), _)
                if nested_arrays::is_nested(array.data_type()) =>
            {
                Column::Nested(NestedArrays::new(field.name(), array, format)?)
            }
            _ => Column::Fallback {
                field: field.clone(),
                array: array.clone(),
                pg_field: pg_field.clone(),
                cells: Vec::new(),
            },
        })
    }

    /// Appends the cell of `row`: its length (-1 for NULL) and its bytes.
    pub(crate) fn write(&mut self, row: usize, text: &Text, out: &mut BytesMut) {
        match self {
            Column::Nested(arrays) => return arrays.write(row, text, out),
            Column::Fallback { cells, .. } => {
                out.extend_from_slice(&cells[row].data);
                return;
            }
            Column::Strings(array) | Column::Bytes(array, _) if array.is_null(row) => {}
            Column::Timestamps { micros, zone } if micros.is_valid(row) => {
                let micros = micros.value(row);
                let offset = zone.as_ref().map(|zone| zone.offset_at(micros));
                with_length(out, |out| push_timestamp(out, micros, offset));
                return;
            }
            Column::Times(micros) if micros.is_valid(row) => {
                with_length(out, |out| push_time(out, micros.value(row)));
                return;
            }
            Column::Strings(array) => {
                let value = string_value(array, row);
                out.put_i32(value.len() as i32);
                out.extend_from_slice(value);
                return;
            }
            Column::Bytes(array, format) => {
                let value = binary_value(array, row);
                if *format == FieldFormat::Binary {
                    out.put_i32(value.len() as i32);
                    out.extend_from_slice(value);
                } else {
                    out.put_i32(2 + 2 * value.len() as i32);
                    push_hex(out, value);
                }
                return;
            }
            Column::Bool(array, format) if array.is_valid(row) => {
                let value = array.value(row);
                out.put_i32(1);
                out.put_u8(match format {
                    FieldFormat::Binary => u8::from(value),
                    FieldFormat::Text => [b'f', b't'][usize::from(value)],
                });
                return;
            }
            Column::Int {
                values,
                width,
                format,
            } if values.is_valid(row) => {
                let value = values.value(row);
                match format {
                    FieldFormat::Binary => {
                        out.put_i32(*width as i32);
                        out.extend_from_slice(&value.to_be_bytes()[8 - *width..]);
                    }
                    FieldFormat::Text => {
                        let mut digits = itoa::Buffer::new();
                        let digits = digits.format(value);
                        out.put_i32(digits.len() as i32);
                        out.extend_from_slice(digits.as_bytes());
                    }
                }
                return;
            }
            Column::Float4(values, format) if values.is_valid(row) => {
                let value = values.value(row);
                match format {
                    FieldFormat::Binary => {
                        out.put_i32(4);
                        out.put_f32(value);
                    }
                    FieldFormat::Text => with_length(out, |out| {
                        push_float(out, Float::Float4(value), text.extra_float_digits)
                    }),
                }
                return;
            }
            Column::Float8(values, format) if values.is_valid(row) => {
                let value = values.value(row);
                match format {
                    FieldFormat::Binary => {
                        out.put_i32(8);
                        out.put_f64(value);
                    }
                    FieldFormat::Text => with_length(out, |out| {
                        push_float(out, Float::Float8(value), text.extra_float_digits)
                    }),
                }
                return;
            }
            // NULLs of the primitive columns.
            Column::Bool(..)
            | Column::Int { .. }
            | Column::Float4(..)
            | Column::Float8(..)
            | Column::Timestamps { .. }
            | Column::Times(..) => {}
        }
        out.put_i32(-1);
    }
}

impl Column {
    /// Gets the column ready for its first `rows` rows: encodes fallback columns with
    /// arrow-pg and checks nested arrays. On a value that cannot be encoded, returns its
    /// row and the error.
    pub(crate) fn prepare(&mut self, rows: usize) -> Result<(), (usize, PgWireError)> {
        match self {
            Column::Nested(arrays) => arrays.prepare(rows),
            Column::Fallback {
                field,
                array,
                pg_field,
                cells,
            } => {
                let one_column = RecordBatch::try_new(
                    Arc::new(Schema::new(vec![field.clone()])),
                    vec![array.clone()],
                )
                .map_err(|err| (0, arrow_error(err)))?;
                cells.reserve(rows);
                let encoded = arrow_pg::datatypes::encode_recordbatch(
                    Arc::new(vec![pg_field.clone()]),
                    one_column,
                );
                // arrow-pg repeats a failing row for ever: stop at the first error.
                for cell in encoded.take(rows) {
                    cells.push(cell.map_err(|err| (cells.len(), err))?);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// The values of a timestamp or time `array` in `unit`, as microseconds (PostgreSQL's
/// precision: nanoseconds are cut to the microsecond below).
fn microseconds(array: &ArrayRef, unit: TimeUnit) -> PgWireResult<Int64Array> {
    let values = cast(array, &DataType::Int64).map_err(arrow_error)?;
    let values: &Int64Array = values.as_primitive();
    Ok(match unit {
        TimeUnit::Second => values.unary(|v| v.saturating_mul(1_000_000)),
        TimeUnit::Millisecond => values.unary(|v| v.saturating_mul(1_000)),
        TimeUnit::Microsecond => values.clone(),
        TimeUnit::Nanosecond => values.unary(|v| v.div_euclid(1_000)),
    })
}

pub(crate) fn arrow_error(err: floe_engine::arrow::error::ArrowError) -> PgWireError {
    PgWireError::ApiError(Box::new(err))
}

fn string_value(array: &ArrayRef, row: usize) -> &[u8] {
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).as_bytes(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).as_bytes(),
        _ => array.as_string_view().value(row).as_bytes(),
    }
}

fn binary_value(array: &ArrayRef, row: usize) -> &[u8] {
    match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(row),
        DataType::LargeBinary => array.as_binary::<i64>().value(row),
        _ => array.as_binary_view().value(row),
    }
}

/// Writes a cell whose length is known only once written: a placeholder, then the value,
/// then the length over the placeholder.
fn with_length(out: &mut BytesMut, write: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.put_i32(0);
    write(out);
    let length = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&length.to_be_bytes());
}

fn push_hex(out: &mut BytesMut, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\x");
    for byte in bytes {
        out.put_u8(DIGITS[usize::from(byte >> 4)]);
        out.put_u8(DIGITS[usize::from(byte & 15)]);
    }
}

#[derive(Clone, Copy)]
enum Float {
    Float4(f32),
    Float8(f64),
}

/// A float as PostgreSQL's `float4out`/`float8out` write it: with `extra_float_digits`
/// above 0 (the default, 1), the shortest digits that read back as the same value;
/// otherwise 6 (float4) or 15 (float8) plus `extra_float_digits` significant digits, as
/// `%g` rounds them. Both print fixed-point when the decimal exponent is at least -4 and
/// below that precision, else `d.ddde+XX`; `NaN`, `Infinity`, `-Infinity`, `0`, `-0`.
fn push_float(out: &mut BytesMut, value: Float, extra_float_digits: i32) {
    let (wide, type_digits) = match value {
        Float::Float4(value) => (f64::from(value), 6),
        Float::Float8(value) => (value, 15),
    };
    if wide.is_nan() {
        return out.extend_from_slice(b"NaN");
    }
    if wide.is_infinite() {
        return out.extend_from_slice(if wide > 0.0 {
            b"Infinity"
        } else {
            b"-Infinity"
        });
    }
    if wide == 0.0 {
        return out.extend_from_slice(if wide.is_sign_negative() { b"-0" } else { b"0" });
    }
    if extra_float_digits > 0 {
        if let Float::Float8(value) = value
            && push_few_decimals(out, value)
        {
            return;
        }
        let mut shortest = ryu::Buffer::new();
        let digits = match value {
            Float::Float4(value) => shortest.format_finite(value),
            Float::Float8(value) => shortest.format_finite(value),
        };
        push_decimal(out, digits, type_digits);
    } else {
        let precision = (type_digits + extra_float_digits).max(1) as usize;
        let digits = match value {
            Float::Float4(value) => format!("{:.*e}", precision - 1, value),
            Float::Float8(value) => format!("{:.*e}", precision - 1, value),
        };
        push_decimal(out, &digits, precision as i32);
    }
}

/// Writes `value` when a decimal with at most four decimals reads back as it (`42`,
/// `0.5`, `19.99`): that decimal is then its shortest exact form, as ryu would find it,
/// but cheaper to print. Returns false, having written nothing, for other values.
///
/// Why it is the shortest: decimals are tried with 0, 1, 2 ... places, so none with
/// fewer places reads back as `value`; and with `|m| < 2^50` (m = value * 10^places),
/// one unit in the last place of `value` is below a quarter of 10^-places, so no other
/// decimal with as many places reads back as `value` either. `m / 10^places` is computed
/// exactly rounded, as parsing the decimal would be.
fn push_few_decimals(out: &mut BytesMut, value: f64) -> bool {
    const POWERS: [f64; 5] = [1.0, 10.0, 100.0, 1000.0, 10000.0];
    if !(1e-4..1e15).contains(&value.abs()) {
        return false;
    }
    for (places, power) in POWERS.iter().enumerate() {
        let scaled = (value * power).round();
        if scaled.abs() >= (1u64 << 50) as f64 {
            return false;
        }
        if scaled / power != value {
            continue;
        }
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(scaled.abs() as u64).as_bytes();
        if value < 0.0 {
            out.put_u8(b'-');
        }
        if places == 0 {
            out.extend_from_slice(digits);
        } else if digits.len() <= places {
            out.extend_from_slice(b"0.");
            out.put_bytes(b'0', places - digits.len());
            out.extend_from_slice(digits);
        } else {
            let whole = digits.len() - places;
            out.extend_from_slice(&digits[..whole]);
            out.put_u8(b'.');
            out.extend_from_slice(&digits[whole..]);
        }
        return true;
    }
    false
}

/// Rewrites a finite, non-zero decimal (`-12.5`, `0.001`, `1e20`, `1.50e-7`, as ryu and
/// Rust's `{:e}` print them) in PostgreSQL's layout: fixed-point when its decimal
/// exponent is in -4..`fixed_below`, else exponential with a signed, two-digit-or-more
/// exponent; no trailing zeros.
fn push_decimal(out: &mut BytesMut, text: &str, fixed_below: i32) {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let mut digits = [0u8; 40];
    let mut count = 0;
    let mut integer_digits = 0;
    let mut leading_zeros = 0;
    let mut seen_point = false;
    for byte in mantissa.bytes() {
        match byte {
            b'.' => seen_point = true,
            b'0'..=b'9' => {
                if !seen_point {
                    integer_digits += 1;
                }
                if count == 0 && byte == b'0' {
                    leading_zeros += 1;
                } else if count < digits.len() {
                    digits[count] = byte;
                    count += 1;
                }
            }
            _ => {}
        }
    }
    while count > 1 && digits[count - 1] == b'0' {
        count -= 1;
    }
    if count == 0 {
        return out.extend_from_slice(if negative { b"-0" } else { b"0" });
    }
    let digits = &digits[..count];
    // The power of ten of the first significant digit.
    let point = exponent + integer_digits - 1 - leading_zeros;
    if negative {
        out.put_u8(b'-');
    }
    if (-4..fixed_below).contains(&point) {
        if point >= 0 {
            let whole = point as usize + 1;
            if digits.len() <= whole {
                out.extend_from_slice(digits);
                out.put_bytes(b'0', whole - digits.len());
            } else {
                out.extend_from_slice(&digits[..whole]);
                out.put_u8(b'.');
                out.extend_from_slice(&digits[whole..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            out.put_bytes(b'0', (-point - 1) as usize);
            out.extend_from_slice(digits);
        }
    } else {
        out.put_u8(digits[0]);
        if digits.len() > 1 {
            out.put_u8(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.put_u8(b'e');
        out.put_u8(if point < 0 { b'-' } else { b'+' });
        let magnitude = point.unsigned_abs();
        if magnitude < 10 {
            out.put_u8(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(magnitude).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use floe_engine::arrow::array::{
        BinaryArray, Date32Array, Int8Array, Int16Array, Int32Array, StringArray, StringViewArray,
        UInt32Array,
    };
    use pgwire::api::portal::Format;

    use super::*;

    fn float8(value: f64, extra_float_digits: i32) -> String {
        let mut out = BytesMut::new();
        push_float(&mut out, Float::Float8(value), extra_float_digits);
        String::from_utf8(out.to_vec()).unwrap()
    }

    fn float4(value: f32, extra_float_digits: i32) -> String {
        let mut out = BytesMut::new();
        push_float(&mut out, Float::Float4(value), extra_float_digits);
        String::from_utf8(out.to_vec()).unwrap()
    }

    /// What PostgreSQL 15's `SELECT x::float8::text` prints with the default
    /// `extra_float_digits` (1).
    #[test]
    fn float8_text_is_postgres_shortest() {
        for (value, text) in [
            (1.0, "1"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (100.0, "100"),
            (123456789012345.0, "123456789012345"),
            (1e15, "1e+15"),
            (1234567890123456.0, "1.234567890123456e+15"),
            (1e20, "1e+20"),
            (1.5e300, "1.5e+300"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1e-05"),
            (1.25e-7, "1.25e-07"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(float8(value, 1), text, "{value:e}");
            assert_eq!(float8(value, 3), text, "{value:e}");
        }
    }

    /// `%g` with 15 + extra_float_digits significant digits (extra_float_digits <= 0).
    #[test]
    fn float8_text_with_fewer_digits_rounds_like_printf() {
        assert_eq!(float8(0.1 + 0.2, 1), "0.30000000000000004");
        assert_eq!(float8(0.1 + 0.2, 0), "0.3");
        assert_eq!(float8(1.0 / 3.0, 0), "0.333333333333333");
        assert_eq!(float8(1.0 / 3.0, -10), "0.33333");
        assert_eq!(float8(123456.789, -12), "1.23e+05");
        assert_eq!(float8(1e15, 0), "1e+15");
        assert_eq!(float8(999999999999999.9, 0), "1e+15");
        assert_eq!(float8(0.00001234, 0), "1.234e-05");
        assert_eq!(float8(2.5, -15), "2");
        assert_eq!(float8(-0.0, 0), "-0");
    }

    /// The shortcut for few decimals prints what ryu's shortest digits print.
    #[test]
    fn few_decimals_agree_with_shortest_digits() {
        let mut values = vec![
            0.5,
            19.99,
            -0.0001,
            0.001,
            123456.5,
            999999999999999.0,
            0.1 + 0.2,
            1e15,
            1125899906842.6,
            2.675,
            -1.005,
            0.30000000000000004,
        ];
        for i in -3000..3000 {
            values.push(i as f64 * 0.01);
            values.push(i as f64 * 0.37 / 7.0);
            values.push(i as f64 * 1234.5678);
            values.push(i as f64 * 0.0001);
        }
        for value in values {
            if value == 0.0 {
                continue;
            }
            let mut shortest = BytesMut::new();
            push_decimal(&mut shortest, ryu::Buffer::new().format_finite(value), 15);
            let mut few = BytesMut::new();
            if push_few_decimals(&mut few, value) {
                assert_eq!(few, shortest, "{value:e}");
            }
        }
        for (value, taken) in [
            (0.5, true),
            (-19.99, true),
            (0.1 + 0.2, false),
            (1e15, false),
        ] {
            assert_eq!(
                push_few_decimals(&mut BytesMut::new(), value),
                taken,
                "{value}"
            );
        }
    }

    #[test]
    fn float4_text_is_postgres_shortest() {
        for (value, text) in [
            (1.0f32, "1"),
            (0.1, "0.1"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (3.4028235e38, "3.4028235e+38"),
            (1e-5, "1e-05"),
            (-1.5, "-1.5"),
            (f32::INFINITY, "Infinity"),
        ] {
            assert_eq!(float4(value, 1), text, "{value:e}");
        }
        assert_eq!(float4(0.1 + 0.2, 0), "0.3");
        assert_eq!(float4(1.0 / 3.0, 0), "0.333333");
    }

    /// The cells of `row` of a DataRow: `None` for NULL.
    fn cells(row: &DataRow) -> Vec<Option<Vec<u8>>> {
        let mut data = &row.data[..];
        let mut cells = Vec::new();
        for _ in 0..row.field_count {
            let length = i32::from_be_bytes(data[..4].try_into().unwrap());
            data = &data[4..];
            if length < 0 {
                cells.push(None);
            } else {
                cells.push(Some(data[..length as usize].to_vec()));
                data = &data[length as usize..];
            }
        }
        assert!(data.is_empty(), "bytes after the last cell");
        cells
    }

    fn encode(columns: Vec<(&str, ArrayRef)>, format: FieldFormat) -> Vec<Vec<Option<Vec<u8>>>> {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let format = match format {
            FieldFormat::Text => Format::UnifiedText,
            FieldFormat::Binary => Format::UnifiedBinary,
        };
        let fields =
            arrow_pg::datatypes::arrow_schema_to_pg_fields(&batch.schema(), &format, None).unwrap();
        encode_batch(&batch, &fields, 1)
            .into_iter()
            .map(|row| cells(&row.unwrap()))
            .collect()
    }

    fn text(value: &str) -> Option<Vec<u8>> {
        Some(value.as_bytes().to_vec())
    }

    #[test]
    fn timestamps_and_times_in_text_are_postgres_output() {
        use floe_engine::arrow::array::{
            Time32SecondArray, Time64MicrosecondArray, Time64NanosecondArray,
            TimestampMicrosecondArray, TimestampNanosecondArray,
        };
        // 2024-01-01 10:00:15.5 UTC.
        let micros = 1_704_103_215_500_000i64;
        let rows = encode(
            vec![
                (
                    "ts",
                    Arc::new(TimestampMicrosecondArray::from(vec![Some(micros), None])) as ArrayRef,
                ),
                (
                    "tstz",
                    Arc::new(
                        TimestampMicrosecondArray::from(vec![Some(micros), Some(0)])
                            .with_timezone("+00:00"),
                    ),
                ),
                (
                    "tsns",
                    Arc::new(TimestampNanosecondArray::from(vec![micros * 1000 + 999, 0])),
                ),
                (
                    "t",
                    Arc::new(Time64MicrosecondArray::from(vec![
                        Some(36_015_250_000),
                        None,
                    ])),
                ),
                ("tns", Arc::new(Time64NanosecondArray::from(vec![1_000, 0]))),
                ("ts32", Arc::new(Time32SecondArray::from(vec![59, 3600]))),
            ],
            FieldFormat::Text,
        );
        assert_eq!(
            rows,
            vec![
                vec![
                    text("2024-01-01 10:00:15.5"),
                    text("2024-01-01 10:00:15.5+00"),
                    text("2024-01-01 10:00:15.5"),
                    text("10:00:15.25"),
                    text("00:00:00.000001"),
                    text("00:00:59"),
                ],
                vec![
                    None,
                    text("1970-01-01 00:00:00+00"),
                    text("1970-01-01 00:00:00"),
                    None,
                    text("00:00:00"),
                    text("01:00:00"),
                ],
            ]
        );
    }

    #[test]
    fn text_rows_with_nulls() {
        let rows = encode(
            vec![
                (
                    "i8",
                    Arc::new(Int8Array::from(vec![Some(-8), None])) as ArrayRef,
                ),
                ("i16", Arc::new(Int16Array::from(vec![None, Some(300)]))),
                ("i32", Arc::new(Int32Array::from(vec![i32::MIN, 7]))),
                ("i64", Arc::new(Int64Array::from(vec![i64::MAX, -1]))),
                ("u32", Arc::new(UInt32Array::from(vec![u32::MAX, 0]))),
                ("b", Arc::new(BooleanArray::from(vec![Some(true), None]))),
                ("f", Arc::new(Float64Array::from(vec![Some(2.0), None]))),
                ("s", Arc::new(StringArray::from(vec![Some("héllo"), None]))),
                (
                    "v",
                    Arc::new(StringViewArray::from(vec![
                        None,
                        Some("a longer string view"),
                    ])),
                ),
                (
                    "x",
                    Arc::new(BinaryArray::from(vec![Some(&[0u8, 0xab, 0xff][..]), None])),
                ),
                ("d", Arc::new(Date32Array::from(vec![Some(19000), None]))),
            ],
            FieldFormat::Text,
        );
        assert_eq!(
            rows,
            vec![
                vec![
                    text("-8"),
                    None,
                    text("-2147483648"),
                    text("9223372036854775807"),
                    text("4294967295"),
                    text("t"),
                    text("2"),
                    text("héllo"),
                    None,
                    text("\\x00abff"),
                    text("2022-01-08"),
                ],
                vec![
                    None,
                    text("300"),
                    text("7"),
                    text("-1"),
                    text("0"),
                    None,
                    None,
                    None,
                    text("a longer string view"),
                    None,
                    None,
                ],
            ]
        );
    }

    #[test]
    fn binary_rows_are_postgres_send_format() {
        let rows = encode(
            vec![
                (
                    "i8",
                    Arc::new(Int8Array::from(vec![Some(-2), None])) as ArrayRef,
                ),
                ("i32", Arc::new(Int32Array::from(vec![1, 2]))),
                ("u32", Arc::new(UInt32Array::from(vec![u32::MAX, 0]))),
                (
                    "b",
                    Arc::new(BooleanArray::from(vec![Some(false), Some(true)])),
                ),
                ("f", Arc::new(Float64Array::from(vec![Some(0.5), None]))),
                ("r", Arc::new(Float32Array::from(vec![Some(-1.0), None]))),
                ("s", Arc::new(StringArray::from(vec![Some("é"), Some("")]))),
                (
                    "x",
                    Arc::new(BinaryArray::from(vec![Some(&[1u8, 2][..]), None])),
                ),
                ("d", Arc::new(Date32Array::from(vec![Some(10958), None]))),
            ],
            FieldFormat::Binary,
        );
        assert_eq!(
            rows[0],
            vec![
                Some((-2i16).to_be_bytes().to_vec()),
                Some(1i32.to_be_bytes().to_vec()),
                Some(i64::from(u32::MAX).to_be_bytes().to_vec()),
                Some(vec![0]),
                Some(0.5f64.to_be_bytes().to_vec()),
                Some((-1.0f32).to_be_bytes().to_vec()),
                Some("é".as_bytes().to_vec()),
                Some(vec![1, 2]),
                // Days since 2000-01-01.
                Some(1i32.to_be_bytes().to_vec()),
            ]
        );
        assert_eq!(
            rows[1],
            vec![
                None,
                Some(2i32.to_be_bytes().to_vec()),
                Some(0i64.to_be_bytes().to_vec()),
                Some(vec![1]),
                None,
                None,
                Some(vec![]),
                None,
                None,
            ]
        );
    }
}
