//! PostgreSQL's text COPY format escapes a field's special characters with backslashes
//! (`\t`, `\n`, `\\`, octal `\123`, hex `\x41` ...). This decodes one field, and wraps
//! that as an SQL function over string columns for COPY FROM's plans. (COPY TO escapes
//! in [`crate::copy_lines`].)

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

/// `decode` over a string column: the SQL function COPY FROM applies to text-format fields.
pub fn decode_function() -> ScalarUDF {
    ScalarUDF::new_from_impl(TextFunction {
        name: "floe_copy_text_decode",
        signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
    })
}

/// Decodes the fields of a string column.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TextFunction {
    name: &'static str,
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
            decode(value)
                .map(Cow::into_owned)
                .map_err(DataFusionError::Execution)
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
}
