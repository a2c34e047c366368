//! Binary values written as text in SQL, as PostgreSQL reads `bytea` input: `'\xdeadbeef'`
//! (hex format) or `'a\\b\001'` (escape format), in `'…'::bytea` (and `CAST(… AS BYTEA)`,
//! `BYTEA '…'`) and in text literals inserted into binary columns. DataFusion's own cast
//! from text to binary keeps the characters, so `'\xdeadbeef'` would store ten bytes.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, FixedSizeBinaryBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::error::{FloeError, sqlstate};
use datafusion::sql::sqlparser::ast;

use crate::text_literal_calls::{cast_operand, function_call};

/// The function `'…'::bytea` becomes: text (or binary, unchanged) to binary.
pub const FUNCTION: &str = "bytea_from_text";

/// Whether values of `data_type` are bytes that a text literal is read into as bytea.
pub fn is_binary(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    ) || matches!(data_type, DataType::FixedSizeBinary(_))
}

/// The bytes of bytea text input: `\x` then pairs of hex digits (whitespace allowed
/// between pairs), or else the escape format, where `\\` is a backslash, `\ooo` an octal
/// byte, and any other character stands for its UTF-8 bytes; 22P02 otherwise.
pub fn parse(text: &str) -> Result<Vec<u8>> {
    match text
        .strip_prefix("\\x")
        .or_else(|| text.strip_prefix("\\X"))
    {
        Some(digits) => parse_hex(digits),
        None => parse_escaped(text),
    }
}

fn invalid(message: String) -> DataFusionError {
    DataFusionError::from(ArrowError::ParseError(message))
}

fn parse_hex(digits: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(digits.len() / 2);
    let mut characters = digits.chars();
    while let Some(first) = characters.next() {
        if first.is_ascii_whitespace() {
            continue;
        }
        let high = hex_digit(first)?;
        let low = characters
            .next()
            .ok_or_else(|| invalid("invalid hexadecimal data: odd number of digits".into()))
            .and_then(hex_digit)?;
        bytes.push(high << 4 | low);
    }
    Ok(bytes)
}

fn hex_digit(character: char) -> Result<u8> {
    character
        .to_digit(16)
        .map(|value| value as u8)
        .ok_or_else(|| invalid(format!("invalid hexadecimal digit: \"{character}\"")))
}

fn parse_escaped(text: &str) -> Result<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut parsed = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while position < bytes.len() {
        if bytes[position] != b'\\' {
            parsed.push(bytes[position]);
            position += 1;
        } else if bytes.get(position + 1) == Some(&b'\\') {
            parsed.push(b'\\');
            position += 2;
        } else if let Some(
            &[
                first @ b'0'..=b'3',
                second @ b'0'..=b'7',
                third @ b'0'..=b'7',
            ],
        ) = bytes.get(position + 1..position + 4)
        {
            parsed.push((first - b'0') << 6 | (second - b'0') << 3 | (third - b'0'));
            position += 4;
        } else {
            return Err(invalid("invalid input syntax for type bytea".into()));
        }
    }
    Ok(parsed)
}

/// `bytea_from_text(text)`: what casts to `bytea` are planned as; `bytea_from_text(text,
/// n)` reads a literal for a `binary(n)` column, which holds exactly `n` bytes (22026
/// for any other length).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ByteaFromText {
    signature: Signature,
}

impl ByteaFromText {
    pub fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![TypeSignature::Any(1), TypeSignature::Any(2)],
                Volatility::Immutable,
            ),
        }
    }
}

impl ScalarUDFImpl for ByteaFromText {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &str {
        FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let argument = &args.arg_fields[0];
        match argument.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {}
            binary if is_binary(binary) => {}
            other => {
                return Err(DataFusionError::Plan(format!(
                    "cannot cast type {other} to bytea"
                )));
            }
        }
        let data_type = match args.scalar_arguments.get(1) {
            None => DataType::Binary,
            Some(Some(width)) => DataType::FixedSizeBinary(fixed_width(width)?),
            Some(None) => {
                return Err(DataFusionError::Plan(format!(
                    "{FUNCTION}: the width must be a constant"
                )));
            }
        };
        Ok(Arc::new(Field::new(
            FUNCTION,
            data_type,
            argument.is_nullable(),
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bytes = read_bytes(&args.args[0], args.number_rows)?;
        match args.return_field.data_type() {
            DataType::FixedSizeBinary(width) => fixed(&bytes, *width).map(ColumnarValue::Array),
            _ => Ok(ColumnarValue::Array(bytes)),
        }
    }
}

fn fixed_width(width: &ScalarValue) -> Result<i32> {
    match width {
        ScalarValue::Int64(Some(width)) => i32::try_from(*width).ok(),
        ScalarValue::Int32(Some(width)) => Some(*width),
        _ => None,
    }
    .filter(|width| *width >= 0)
    .ok_or_else(|| DataFusionError::Plan(format!("{FUNCTION}: bad width {width}")))
}

/// `values` (text or bytes) as bytes.
fn read_bytes(values: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    let values = values.clone().into_array(rows)?;
    if is_binary(values.data_type()) {
        return Ok(datafusion::arrow::compute::cast(
            &values,
            &DataType::Binary,
        )?);
    }
    let text = datafusion::arrow::compute::cast(&values, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let mut bytes = BinaryBuilder::with_capacity(rows, text.value_data().len());
    for value in text.iter() {
        match value {
            Some(value) => bytes.append_value(parse(value)?),
            None => bytes.append_null(),
        }
    }
    Ok(Arc::new(bytes.finish()))
}

/// `bytes` as values of `binary(width)`, each of exactly `width` bytes.
fn fixed(bytes: &ArrayRef, width: i32) -> Result<ArrayRef> {
    let bytes = bytes.as_binary::<i32>();
    let mut fixed = FixedSizeBinaryBuilder::with_capacity(bytes.len(), width);
    for value in bytes.iter() {
        match value {
            Some(value) if value.len() == width as usize => fixed.append_value(value)?,
            Some(value) => {
                return Err(DataFusionError::External(Box::new(FloeError::new(
                    sqlstate::STRING_DATA_LENGTH_MISMATCH,
                    format!(
                        "value of {} bytes does not fit type binary({width}), which holds exactly {width} bytes",
                        value.len()
                    ),
                ))));
            }
            None => fixed.append_null(),
        }
    }
    Ok(Arc::new(fixed.finish()))
}

/// Rewrites `x::bytea`, `CAST(x AS BYTEA)` and `BYTEA 'x'` into [`FUNCTION`] calls.
pub fn rewrite_cast(expr: &mut ast::Expr) {
    if let Some(value) = cast_operand(expr, &ast::DataType::Bytea) {
        *expr = call(value);
    }
}

/// `value` read as bytea: a call of [`FUNCTION`].
pub fn call(value: ast::Expr) -> ast::Expr {
    function_call(FUNCTION, vec![value])
}

/// `value` read as a value of `binary(width)`.
pub fn call_fixed(value: ast::Expr, width: i32) -> ast::Expr {
    let width = ast::Expr::value(ast::Value::Number(width.to_string(), false));
    function_call(FUNCTION, vec![value, width])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_format_reads_pairs_of_digits() {
        assert_eq!(parse("\\xdeadbeef").unwrap(), [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(parse("\\XDEAD BE\tEF").unwrap(), [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(parse("\\x").unwrap(), Vec::<u8>::new());
        let odd = parse("\\xabc").unwrap_err().to_string();
        assert!(odd.contains("odd number of digits"), "{odd}");
        let bad = parse("\\xzz").unwrap_err().to_string();
        assert!(bad.contains("invalid hexadecimal digit: \"z\""), "{bad}");
        // Whitespace splits pairs only between them, as in PostgreSQL.
        assert!(parse("\\xa b").is_err());
    }

    #[test]
    fn escape_format_reads_backslashes_and_octal() {
        assert_eq!(parse("abc").unwrap(), b"abc");
        assert_eq!(parse("a\\\\b").unwrap(), b"a\\b");
        assert_eq!(parse("\\000\\377x").unwrap(), [0, 0xff, b'x']);
        assert_eq!(parse("é").unwrap(), "é".as_bytes());
        assert_eq!(parse("").unwrap(), Vec::<u8>::new());
        for bad in ["\\", "a\\b", "\\400", "\\01", "\\08"] {
            let error = parse(bad).unwrap_err().to_string();
            assert!(
                error.contains("invalid input syntax for type bytea"),
                "{bad}: {error}"
            );
        }
    }
}
