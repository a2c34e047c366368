//! PostgreSQL's text COPY format escapes a field's special characters with backslashes
//! (`\t`, `\n`, `\\`, octal `\123`, hex `\x41` ...). These functions decode and encode
//! one field, and wrap both as SQL functions over string columns for COPY's plans.

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Decodes the escapes of one text-format field. A backslash before any other character
/// stands for that character, as in PostgreSQL. Fails when octal or hex escapes spell
/// bytes that are not UTF-8.
pub fn decode(field: &str) -> Result<Cow<'_, str>, String> {
    if !field.contains('\\') {
        return Ok(Cow::Borrowed(field));
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let escaped = bytes[i + 1];
        i += 2;
        match escaped {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut value = u32::from(escaped - b'0');
                for _ in 0..2 {
                    match bytes.get(i) {
                        Some(digit @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(digit - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(value as u8);
            }
            b'x' if bytes.get(i).is_some_and(u8::is_ascii_hexdigit) => {
                let mut value = 0u8;
                for _ in 0..2 {
                    match bytes.get(i).and_then(|b| (*b as char).to_digit(16)) {
                        Some(digit) => {
                            value = value * 16 + digit as u8;
                            i += 1;
                        }
                        None => break,
                    }
                }
                out.push(value);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| format!("invalid byte sequence for encoding \"UTF8\" in \"{field}\""))
}

/// Encodes `value` as a text-format field: backslash, newline, carriage return, tab and
/// the column `delimiter` are escaped. An ASCII delimiter is written as its octal escape
/// (`\174` for `|`), which a reader that splits fields before decoding never mistakes for
/// a delimiter.
pub fn encode(value: &str, delimiter: char) -> Cow<'_, str> {
    let special = |c: char| matches!(c, '\\' | '\n' | '\r' | '\t') || c == delimiter;
    if !value.contains(special) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == delimiter && c.is_ascii() => out.push_str(&format!("\\{:03o}", c as u32)),
            c if c == delimiter => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `decode` over a string column: the SQL function COPY FROM applies to text-format fields.
pub fn decode_function() -> ScalarUDF {
    ScalarUDF::new_from_impl(TextFunction {
        name: "floe_copy_text_decode",
        delimiter: None,
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    })
}

/// `encode` over a string column, for COPY TO in text format with `delimiter`.
pub fn encode_function(delimiter: char) -> ScalarUDF {
    ScalarUDF::new_from_impl(TextFunction {
        name: "floe_copy_text_encode",
        delimiter: Some(delimiter),
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    })
}

/// Decodes (`delimiter: None`) or encodes the fields of a string column.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TextFunction {
    name: &'static str,
    delimiter: Option<char>,
    signature: Signature,
}

impl ScalarUDFImpl for TextFunction {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DFResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let convert = |value: &str| -> DFResult<String> {
            match self.delimiter {
                Some(delimiter) => Ok(encode(value, delimiter).into_owned()),
                None => decode(value)
                    .map(Cow::into_owned)
                    .map_err(DataFusionError::Execution),
            }
        };
        match &args.args[0] {
            ColumnarValue::Scalar(ScalarValue::Utf8(value)) => Ok(ColumnarValue::Scalar(
                ScalarValue::Utf8(value.as_deref().map(convert).transpose()?),
            )),
            ColumnarValue::Scalar(other) => Err(DataFusionError::Internal(format!(
                "{} expects text, got {other:?}",
                self.name
            ))),
            ColumnarValue::Array(array) => {
                let strings = array.as_string::<i32>();
                let converted = strings
                    .iter()
                    .map(|value| value.map(convert).transpose())
                    .collect::<DFResult<StringArray>>()?;
                Ok(ColumnarValue::Array(Arc::new(converted) as ArrayRef))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_postgres_escapes() {
        assert_eq!(decode("plain").unwrap(), "plain");
        assert_eq!(decode(r"a\tb\nc\\d").unwrap(), "a\tb\nc\\d");
        assert_eq!(decode(r"\101\x42\x4").unwrap(), "AB\u{4}");
        assert_eq!(decode(r"\q\,").unwrap(), "q,");
        assert_eq!(decode(r"\b\f\r\v").unwrap(), "\u{8}\u{c}\r\u{b}");
        assert_eq!(decode(r"ends with \").unwrap(), "ends with \\");
        assert!(decode(r"\377").is_err());
    }

    #[test]
    fn encoding_round_trips() {
        for value in [
            "plain",
            "tab\there",
            "line\nbreak\r",
            "back\\slash",
            "a|b",
            "ünï",
        ] {
            let encoded = encode(value, '|');
            assert!(!encoded.contains(['\t', '\n', '\r']), "{encoded}");
            assert_eq!(decode(&encoded).unwrap(), value);
        }
        assert_eq!(encode("a|b\tc", '|'), r"a\174b\tc");
    }
}
