//! What the engine gives back, in the protocol's terms: command tags, rows encoded by
//! arrow-pg (text or binary per column, with PostgreSQL type OIDs), and errors carrying
//! their SQLSTATE.

use std::sync::Arc;

use floe_engine::arrow::array::RecordBatch;
use floe_engine::arrow::compute::cast;
use floe_engine::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use floe_engine::{FloeError, Output};
use futures::stream::BoxStream;
use futures::{StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::api::results::{QueryResponse, Response, Tag};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;

use crate::control::StatementLimits;

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
/// sent before its command tag, which keeps PostgreSQL's `INSERT 0 n` form for drivers.
pub fn write_notice(output: &Output) -> Option<PgWireBackendMessage> {
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
/// or runs past its timeout.
pub fn respond(output: Output, format: &Format, limits: StatementLimits) -> PgWireResult<Response> {
    match output {
        Output::Command { tag, rows, .. } => Ok(command_response(tag, rows)),
        Output::Rows(batches) => {
            let schema = batches.schema();
            let batches = batches.map(|batch| batch.map_err(FloeError::from)).boxed();
            respond_rows(&schema, batches, format, limits)
        }
    }
}

/// The response for rows with `schema`, encoded as they come from `batches`.
pub fn respond_rows(
    schema: &SchemaRef,
    batches: BoxStream<'static, Result<RecordBatch, FloeError>>,
    format: &Format,
    limits: StatementLimits,
) -> PgWireResult<Response> {
    let fields = Arc::new(arrow_pg::datatypes::arrow_schema_to_pg_fields(
        schema, format, None,
    )?);
    let row_fields = fields.clone();
    let rows = limits.guard(batches).flat_map(move |batch| {
        stream::iter(match batch.and_then(encodable) {
            Ok(batch) => encode_rows(row_fields.clone(), batch),
            Err(err) => vec![Err(to_pg_error(err))],
        })
    });
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

/// The rows of `batch`, up to the first value that cannot be encoded (whose error ends
/// the list: arrow-pg's row iterator repeats a failing row for ever).
fn encode_rows(fields: Arc<Vec<FieldInfo>>, batch: RecordBatch) -> Vec<PgWireResult<DataRow>> {
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in arrow_pg::datatypes::encode_recordbatch(fields, batch) {
        let failed = row.is_err();
        rows.push(row);
        if failed {
            break;
        }
    }
    rows
}

/// Columns arrow-pg describes but cannot encode, recast to the type it encodes the same
/// way: fixed-size binary (Iceberg `fixed` and `uuid`) is sent as `bytea`.
pub fn encodable(batch: RecordBatch) -> Result<RecordBatch, FloeError> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::FixedSizeBinary(_)))
    {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .map(|column| match column.data_type() {
            DataType::FixedSizeBinary(_) => cast(column, &DataType::Binary),
            _ => Ok(column.clone()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::FixedSizeBinary(_) => f.as_ref().clone().with_data_type(DataType::Binary),
            _ => f.as_ref().clone(),
        })
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
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
