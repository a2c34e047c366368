//! What the engine gives back, in the protocol's terms: command tags, rows (text or
//! binary per column, with PostgreSQL type OIDs from arrow-pg's mapping, encoded by
//! `data_rows`), and errors carrying their SQLSTATE.

use std::sync::Arc;

use floe_engine::arrow::array::{
    Array, ArrayRef, BinaryArray, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray,
    UInt32Array,
};
use floe_engine::arrow::compute::cast;
use floe_engine::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use floe_engine::settings::Settings;
use floe_engine::{FloeError, Output};
use futures::stream::BoxStream;
use futures::{StreamExt, stream};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::control::StatementLimits;
use crate::data_rows::encode_batch;
use crate::nested_arrays;

pub fn user_error(sqlstate: &str, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo::new("ERROR".to_string(), sqlstate.to_string(), message.into())
}

pub fn error_info(err: FloeError) -> ErrorInfo {
    user_error(err.sqlstate, err.message)
}

pub fn to_pg_error(err: FloeError) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(err)))
}

/// The error of a statement from the query string `sql`, with its position (the
/// ErrorResponse `P` field, from which psql draws its caret) when the engine knows it.
pub fn error_info_in(err: FloeError, sql: &str) -> ErrorInfo {
    let position = err
        .position
        .and_then(|at| character_index(sql, at.line, at.column));
    let mut info = error_info(err);
    info.position = position.map(|index| index.to_string());
    info
}

pub fn to_pg_error_in(err: FloeError, sql: &str) -> PgWireError {
    PgWireError::UserError(Box::new(error_info_in(err, sql)))
}

/// The 1-based character index into `sql` of 1-based `line` and `column`, as PostgreSQL
/// counts positions; `None` past the end of the text.
fn character_index(sql: &str, line: usize, column: usize) -> Option<usize> {
    let mut index = 0;
    for (number, text) in sql.split('\n').enumerate() {
        if number + 1 == line {
            return (column <= text.chars().count() + 1).then_some(index + column);
        }
        index += text.chars().count() + 1;
    }
    None
}

/// A NOTICE saying what a write added to the table (rows, files, bytes, compression),
/// sent before its command tag, which keeps PostgreSQL's `INSERT 0 n` form for drivers;
/// none when the session's `client_min_messages` is above `notice`.
pub fn write_notice(output: &Output, settings: &Settings) -> Option<PgWireBackendMessage> {
    if !settings.sends_notices() {
        return None;
    }
    let Output::Command {
        written: Some(written),
        ..
    } = output
    else {
        return None;
    };
    let notice = ErrorInfo::new(
        "NOTICE".to_string(),
        "00000".to_string(),
        written.describe(),
    );
    Some(PgWireBackendMessage::NoticeResponse(notice.into()))
}

/// The response for one statement's output. Rows stream: each batch is encoded when the
/// client is ready for it, and the stream stops with 57014 if the statement is canceled
/// or runs past its timeout. Floats in text print with `extra_float_digits`.
pub fn respond(
    output: Output,
    format: &Format,
    extra_float_digits: i32,
    limits: StatementLimits,
) -> PgWireResult<Response> {
    match output {
        Output::Command { tag, rows, .. } => Ok(command_response(tag, rows)),
        Output::Rows(batches) => {
            let schema = batches.schema();
            let batches = batches.map(|batch| batch.map_err(FloeError::from)).boxed();
            respond_rows(&schema, batches, format, extra_float_digits, limits)
        }
    }
}

/// The session's `extra_float_digits`: how many digits floats print with in text (above
/// 0, PostgreSQL's default, the shortest that read back exactly).
pub fn extra_float_digits(settings: &Settings) -> i32 {
    settings
        .get("extra_float_digits")
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(1)
}

/// The response for rows with `schema`, encoded as they come from `batches`.
pub fn respond_rows(
    schema: &SchemaRef,
    batches: BoxStream<'static, Result<RecordBatch, FloeError>>,
    format: &Format,
    extra_float_digits: i32,
    limits: StatementLimits,
) -> PgWireResult<Response> {
    let fields = Arc::new(pg_fields(schema, format)?);
    let row_fields = fields.clone();
    let rows = limits.guard(batches).flat_map(move |batch| {
        stream::iter(
            match batch.and_then(|batch| encodable(batch, &row_fields)) {
                Ok(batch) => encode_batch(&batch, &row_fields, extra_float_digits),
                Err(err) => vec![Err(to_pg_error(err))],
            },
        )
    });
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

/// The PostgreSQL fields of rows with `schema`: arrow-pg's mapping, with the types it
/// does not know: a uuid column (16-byte fixed-size binary marked `arrow.uuid`, as Floe's
/// tables mark Iceberg uuid columns) is `uuid`, an array of unsigned 32-bit integers
/// (oids, as in catalog queries) is `oid[]`, and lists of lists are arrays of their
/// innermost items (PostgreSQL's multidimensional arrays).
pub fn pg_fields(schema: &Schema, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let ty = match own_encoding(field) {
                Some(OwnEncoding::Uuid) => Type::UUID,
                Some(OwnEncoding::Oids) => Type::OID_ARRAY,
                None if nested_arrays::is_nested(field.data_type()) => {
                    nested_arrays::array_type(field.data_type())?
                }
                None => arrow_pg::datatypes::field_into_pg_type(field)?,
            };
            Ok(FieldInfo::new(
                field.name().clone(),
                None,
                None,
                ty,
                format.format_for(index),
            ))
        })
        .collect()
}

/// The columns Floe encodes itself rather than arrow-pg.
enum OwnEncoding {
    Uuid,
    Oids,
}

fn own_encoding(field: &Field) -> Option<OwnEncoding> {
    match field.data_type() {
        DataType::FixedSizeBinary(16) if field.extension_type_name() == Some(UUID_EXTENSION) => {
            Some(OwnEncoding::Uuid)
        }
        DataType::List(element) if element.data_type() == &DataType::UInt32 => {
            Some(OwnEncoding::Oids)
        }
        _ => None,
    }
}

/// The Arrow extension name of uuid columns.
pub const UUID_EXTENSION: &str = "arrow.uuid";

/// `batch` with its columns in the form arrow-pg encodes as `fields` (from [`pg_fields`])
/// say: fixed-size binary as `bytea`; uuids and oid arrays already in PostgreSQL's binary
/// or text form, which arrow-pg then writes as they are.
pub fn encodable(batch: RecordBatch, fields: &[FieldInfo]) -> Result<RecordBatch, FloeError> {
    if !batch.schema().fields().iter().any(|f| {
        matches!(
            f.data_type(),
            DataType::FixedSizeBinary(_) | DataType::List(_)
        )
    }) {
        return Ok(batch);
    }
    let mut columns = Vec::with_capacity(batch.num_columns());
    let mut new_fields = Vec::with_capacity(batch.num_columns());
    for (index, (field, column)) in batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .enumerate()
    {
        let binary = fields
            .get(index)
            .is_some_and(|f| f.format() == FieldFormat::Binary);
        let column = match (own_encoding(field), field.data_type()) {
            (Some(OwnEncoding::Uuid), _) if !binary => uuid_text(column)?,
            (Some(OwnEncoding::Oids), _) => oid_arrays(column, binary)?,
            (_, DataType::FixedSizeBinary(_)) => cast(column, &DataType::Binary)?,
            _ => column.clone(),
        };
        new_fields.push(
            Field::new(
                field.name(),
                column.data_type().clone(),
                field.is_nullable(),
            )
            .with_metadata(field.metadata().clone()),
        );
        columns.push(column);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(new_fields)),
        columns,
    )?)
}

/// Uuids as text: `12345678-9abc-def0-1234-56789abcdef0`.
fn uuid_text(column: &ArrayRef) -> Result<ArrayRef, FloeError> {
    let values = column
        .as_any()
        .downcast_ref::<FixedSizeBinaryArray>()
        .ok_or_else(|| FloeError::internal("a uuid column is not fixed-size binary"))?;
    let text: StringArray = values
        .iter()
        .map(|value| {
            value
                .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
                .map(|bytes| crate::parameters::format_uuid(&bytes))
        })
        .collect();
    Ok(Arc::new(text))
}

/// Arrays of oids in PostgreSQL's `oid[]` form: binary (one dimension, element type 26,
/// 4-byte values) or text (`{23,25}`).
fn oid_arrays(column: &ArrayRef, binary: bool) -> Result<ArrayRef, FloeError> {
    let lists = column
        .as_any()
        .downcast_ref::<ListArray>()
        .ok_or_else(|| FloeError::internal("an oid array column is not a list"))?;
    let encoded = (0..lists.len()).map(|row| {
        if lists.is_null(row) {
            return None;
        }
        let list = lists.value(row);
        let oids = list.as_any().downcast_ref::<UInt32Array>()?;
        Some(if binary {
            let mut bytes = Vec::with_capacity(20 + 8 * oids.len());
            let has_nulls = i32::from(oids.null_count() > 0);
            for word in [1, has_nulls, 26, oids.len() as i32, 1] {
                bytes.extend(word.to_be_bytes());
            }
            for oid in oids {
                match oid {
                    Some(oid) => {
                        bytes.extend(4i32.to_be_bytes());
                        bytes.extend(oid.to_be_bytes());
                    }
                    None => bytes.extend((-1i32).to_be_bytes()),
                }
            }
            bytes
        } else {
            let items: Vec<String> = oids
                .iter()
                .map(|oid| oid.map_or("NULL".to_string(), |oid| oid.to_string()))
                .collect();
            format!("{{{}}}", items.join(",")).into_bytes()
        })
    });
    Ok(if binary {
        Arc::new(encoded.collect::<BinaryArray>())
    } else {
        let text: StringArray = encoded
            .map(|bytes| bytes.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
            .collect();
        Arc::new(text)
    })
}

fn command_response(tag: &'static str, rows: Option<u64>) -> Response {
    match tag {
        "BEGIN" | "START TRANSACTION" => Response::TransactionStart(Tag::new(tag)),
        "COMMIT" | "ROLLBACK" => Response::TransactionEnd(Tag::new(tag)),
        // Inside the transaction block: PostgreSQL's tag, without ending the block.
        "ROLLBACK TO SAVEPOINT" => Response::Execution(Tag::new("ROLLBACK")),
        // PostgreSQL's INSERT tag carries an (always zero) oid before the count.
        "INSERT" => Response::Execution(
            Tag::new("INSERT")
                .with_oid(0)
                .with_rows(rows.unwrap_or(0) as usize),
        ),
        tag => match rows {
            Some(rows) => Response::Execution(Tag::new(tag).with_rows(rows as usize)),
            None => Response::Execution(Tag::new(tag)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_across_lines() {
        assert_eq!(character_index("SELECT x", 1, 8), Some(8));
        assert_eq!(
            character_index("SELECT 1;\nSELECT é, nope", 2, 11),
            Some(21)
        );
        assert_eq!(character_index("SELECT 1", 3, 1), None);
    }
}
