//! Bound parameter values, decoded into the engine's scalars: by arrow-pg, except the
//! types it cannot decode, which are decoded here: `uuid` (drivers bind `uuid.UUID` and
//! Rust's `Uuid` as type 2950) and `oid[]` (asyncpg's type introspection binds the oids
//! it wants to know as one).

use std::sync::Arc;

use floe_engine::arrow::datatypes::{DataType, Field, FieldRef, Schema};
use floe_engine::{ParamValues, ScalarValue};
use pgwire::api::Type;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::stmt::StoredStatement;
use pgwire::error::{PgWireError, PgWireResult};

use crate::results::user_error;

/// The PostgreSQL type the server describes for a parameter the statement infers as
/// `field`: as for a result column of that type (`results::pg_fields`), so a uuid column's
/// parameter is `uuid` and `$1::oid[]` is `oid[]`.
pub fn described_type(field: &FieldRef) -> PgWireResult<Type> {
    let schema = Schema::new(vec![field.clone()]);
    let fields = crate::results::pg_fields(&schema, &Format::UnifiedBinary)?;
    Ok(fields[0].datatype().clone())
}

/// The values bound to `portal`'s parameters, given the types the statement inferred.
pub fn decode<S: Clone>(
    portal: &Portal<S>,
    fields: &[Option<FieldRef>],
) -> PgWireResult<ParamValues> {
    let inferred: Vec<Option<&DataType>> = fields
        .iter()
        .map(|field| field.as_ref().map(|field| field.data_type()))
        .collect();
    let inferred = inferred.as_slice();
    let mut own = Vec::new();
    let mut parameter_types = portal.statement.parameter_types.clone();
    let mut parameters = portal.parameters.clone();
    for (index, bytes) in portal.parameters.iter().enumerate() {
        let declared = portal
            .statement
            .parameter_types
            .get(index)
            .cloned()
            .flatten();
        let field = fields.get(index).cloned().flatten();
        let inferred = inferred.get(index).copied().flatten();
        let ty = match (declared, &field) {
            (Some(ty), _) => ty,
            (None, Some(field)) => described_type(field)?,
            (None, None) => continue,
        };
        let binary = portal.parameter_format.is_binary(index);
        let value = match ty {
            Type::UUID => uuid_value(bytes.as_deref(), binary, inferred)?,
            Type::OID_ARRAY => oid_array_value(bytes.as_deref(), binary)?,
            _ => continue,
        };
        own.push((index, value));
        // arrow-pg sees a text NULL in its place.
        if parameter_types.len() <= index {
            parameter_types.resize(index + 1, None);
        }
        parameter_types[index] = Some(Type::TEXT);
        parameters[index] = None;
    }
    if own.is_empty() {
        return arrow_pg::datatypes::df::deserialize_parameters(portal, inferred);
    }
    let mut rest = Portal::new_cursor(
        portal.name.clone(),
        Arc::new(StoredStatement::new(
            portal.statement.id.clone(),
            portal.statement.statement.clone(),
            parameter_types,
        )),
    );
    rest.parameter_format = portal.parameter_format.clone();
    rest.parameters = parameters;
    let ParamValues::List(mut values) =
        arrow_pg::datatypes::df::deserialize_parameters(&rest, inferred)?
    else {
        unreachable!("arrow-pg decodes positional parameters");
    };
    for (index, value) in own {
        values[index] = value.into();
    }
    Ok(ParamValues::List(values))
}

/// A uuid: 16 bytes in binary, the usual hex spelling in text. A uuid column's values
/// are 16-byte fixed-size binary; elsewhere a uuid is its text.
fn uuid_value(
    bytes: Option<&[u8]>,
    binary: bool,
    inferred: Option<&DataType>,
) -> PgWireResult<ScalarValue> {
    let as_bytes = matches!(inferred, Some(DataType::FixedSizeBinary(16)));
    let Some(bytes) = bytes else {
        return Ok(if as_bytes {
            ScalarValue::FixedSizeBinary(16, None)
        } else {
            ScalarValue::Utf8(None)
        });
    };
    let value: [u8; 16] = if binary {
        bytes
            .try_into()
            .map_err(|_| invalid_text(format!("a binary uuid has 16 bytes, not {}", bytes.len())))?
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| invalid_text("uuid is not UTF-8"))?;
        parse_uuid(text).ok_or_else(|| {
            invalid_text(format!("invalid input syntax for type uuid: \"{text}\""))
        })?
    };
    Ok(if as_bytes {
        ScalarValue::FixedSizeBinary(16, Some(value.to_vec()))
    } else {
        ScalarValue::Utf8(Some(format_uuid(&value)))
    })
}

/// PostgreSQL's accepted uuid spellings: 32 hex digits, hyphens between groups of four
/// allowed, optionally in braces.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let text = text.trim();
    let text = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    if digits.len() != 32 || text.starts_with('-') || text.ends_with('-') {
        return None;
    }
    let mut value = [0u8; 16];
    for (i, pair) in digits.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        value[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(value)
}

pub fn format_uuid(value: &[u8; 16]) -> String {
    let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A one-dimensional `oid[]`: PostgreSQL's binary array layout, or `{1,2,3}` in text.
fn oid_array_value(bytes: Option<&[u8]>, binary: bool) -> PgWireResult<ScalarValue> {
    let element = DataType::UInt32;
    let Some(bytes) = bytes else {
        let list = DataType::List(Arc::new(Field::new_list_field(element, true)));
        return ScalarValue::try_from(&list).map_err(|err| invalid_text(err.to_string()));
    };
    let oids = if binary {
        binary_oids(bytes).ok_or_else(|| invalid_text("malformed binary oid[] parameter"))?
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| invalid_text("oid[] is not UTF-8"))?;
        text_oids(text)
            .ok_or_else(|| invalid_text(format!("malformed array literal: \"{text}\"")))?
    };
    let values: Vec<ScalarValue> = oids.into_iter().map(ScalarValue::UInt32).collect();
    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
        &values, &element,
    )))
}

fn binary_oids(bytes: &[u8]) -> Option<Vec<Option<u32>>> {
    let int = |at: usize| -> Option<i32> {
        Some(i32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let dimensions = int(0)?;
    if dimensions == 0 {
        return Some(vec![]);
    }
    if dimensions != 1 {
        return None;
    }
    let count = usize::try_from(int(12)?).ok()?;
    let mut at = 20;
    let mut oids = Vec::with_capacity(count);
    for _ in 0..count {
        let length = int(at)?;
        at += 4;
        if length < 0 {
            oids.push(None);
            continue;
        }
        oids.push(Some(u32::from_be_bytes(
            bytes.get(at..at + 4)?.try_into().ok()?,
        )));
        at += 4;
    }
    Some(oids)
}

fn text_oids(text: &str) -> Option<Vec<Option<u32>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    if inner.is_empty() {
        return Some(vec![]);
    }
    inner
        .split(',')
        .map(|item| match item.trim() {
            item if item.eq_ignore_ascii_case("null") => Some(None),
            item => item.parse().ok().map(Some),
        })
        .collect()
}

fn invalid_text(message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(user_error("22P02", message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_parse_in_postgres_spellings() {
        let value = parse_uuid("12345678-9abc-def0-1234-56789abcdef0").unwrap();
        assert_eq!(format_uuid(&value), "12345678-9abc-def0-1234-56789abcdef0");
        assert_eq!(
            parse_uuid("{123456789ABCDEF0123456789abcdef0}"),
            Some(value)
        );
        assert_eq!(parse_uuid("12345678-9abc-def0-1234-56789abcdef"), None);
        assert_eq!(parse_uuid("not a uuid at all, not at all!!!!"), None);
    }

    #[test]
    fn oid_arrays_decode_in_both_formats() {
        assert_eq!(
            text_oids("{20,NULL, 1016}"),
            Some(vec![Some(20), None, Some(1016)])
        );
        assert_eq!(text_oids("{}"), Some(vec![]));
        let mut binary = Vec::new();
        for word in [1i32, 0, 26, 2, 1] {
            binary.extend(word.to_be_bytes());
        }
        binary.extend(4i32.to_be_bytes());
        binary.extend(20u32.to_be_bytes());
        binary.extend(4i32.to_be_bytes());
        binary.extend(1016u32.to_be_bytes());
        assert_eq!(binary_oids(&binary), Some(vec![Some(20), Some(1016)]));
        assert_eq!(binary_oids(&binary[..20]), None);
    }
}
