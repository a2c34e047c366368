//! COPY over the wire. `COPY t FROM STDIN` spools the client's CopyData into a file and
//! loads it with the engine's COPY (text and csv), or decodes it here (PostgreSQL's binary
//! format) into rows the engine loads, so the rows land in one Iceberg commit and a bad row
//! is named by its line or tuple. `COPY (query) TO STDOUT` streams the query's rows to the
//! client as text, CSV or binary, one CopyData message per row.

use std::fmt::Debug;
use std::io::{BufReader, Write};
use std::sync::{Arc, Mutex};

use bytes::Buf;
use floe_engine::arrow::array::RecordBatch;
use floe_engine::arrow::datatypes::SchemaRef;
use floe_engine::copy_lines::CopyLines;
use floe_engine::parser::{CopyFormat, CopyOptions};
use floe_engine::sql::ast::{ObjectName, Query};
use floe_engine::{FloeError, Output, Statement};
use futures::stream::BoxStream;
use futures::{Sink, SinkExt, StreamExt, stream};
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyResponse, Response, Tag};
use pgwire::api::{ClientInfo, PgWireConnectionState};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::data::DataRow;

use crate::Backend;
use crate::binary_copy::{BinaryCopyReader, BinaryTuples};
use crate::connection::connection_of;
use crate::data_rows::encode_batch;
use crate::results::{encodable, error_info, pg_fields, to_pg_error, user_error, write_notice};

/// The COPY FROM STDIN a connection is receiving, if any.
#[derive(Default)]
struct CopyIn {
    pending: Mutex<Option<Pending>>,
}

struct Pending {
    table: ObjectName,
    options: CopyOptions,
    spool: tempfile::NamedTempFile,
}

/// Starts `COPY table FROM STDIN`: checks the table and options, then asks the client
/// for the rows.
pub async fn begin_copy_in<C: ClientInfo>(
    client: &C,
    table: ObjectName,
    options: CopyOptions,
) -> PgWireResult<Response> {
    if !matches!(
        options.format,
        None | Some(CopyFormat::Csv | CopyFormat::Text | CopyFormat::Binary)
    ) {
        return Err(to_pg_error(FloeError::unsupported(
            "COPY FROM STDIN takes text, csv or binary",
        )));
    }
    let format = copy_format_code(&options);
    let connection = connection_of(client)?;
    let columns = table_columns(&connection.session, &table).await?;
    let spool = tempfile::Builder::new()
        .prefix("floe-copy-")
        .suffix(".stdin")
        .tempfile()
        .map_err(|err| to_pg_error(err.into()))?;
    let state = client
        .session_extensions()
        .get_or_insert_with(CopyIn::default);
    *state.pending.lock().expect("copy lock") = Some(Pending {
        table,
        options,
        spool,
    });
    Ok(Response::CopyIn(CopyResponse::new(
        format,
        columns,
        stream::empty(),
    )))
}

/// The protocol's overall format code of a COPY: 1 for binary, 0 for text and csv.
fn copy_format_code(options: &CopyOptions) -> i8 {
    i8::from(options.format == Some(CopyFormat::Binary))
}

/// How many columns `table` has (and an error if there is no such table).
async fn table_columns(session: &floe_engine::Engine, table: &ObjectName) -> PgWireResult<usize> {
    let described = session
        .execute(Statement::Describe {
            table: table.clone(),
        })
        .await
        .map_err(to_pg_error)?;
    let Output::Rows(mut rows) = described else {
        return Ok(0);
    };
    let mut count = 0;
    while let Some(batch) = rows.next().await {
        count += batch.map_err(|err| to_pg_error(err.into()))?.num_rows();
    }
    Ok(count)
}

#[async_trait::async_trait]
impl CopyHandler for Backend {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let state = client
            .session_extensions()
            .get_or_insert_with(CopyIn::default);
        let mut pending = state.pending.lock().expect("copy lock");
        let Some(pending) = pending.as_mut() else {
            return Err(protocol_violation("CopyData outside of COPY FROM STDIN"));
        };
        pending
            .spool
            .write_all(&copy_data.data)
            .map_err(|err| to_pg_error(err.into()))
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(mut pending) = end_copy_in(client) else {
            return Err(protocol_violation("CopyDone outside of COPY FROM STDIN"));
        };
        pending
            .spool
            .flush()
            .map_err(|err| to_pg_error(err.into()))?;
        let connection = connection_of(client)?;
        let output = if pending.options.format == Some(CopyFormat::Binary) {
            let table = pending.table.clone();
            connection
                .session
                .copy_from_stream(&table, |name, columns| {
                    decode_binary(pending.spool, name, columns)
                })
                .await
        } else {
            let path = pending.spool.path().to_string_lossy().into_owned();
            connection
                .session
                .copy_from(&pending.table, &path, &pending.options, Some("STDIN"))
                .await
        }
        .map_err(|err| PgWireError::UserError(Box::new(error_info(err))))?;
        if let Some(notice) = write_notice(&output, &connection.session.settings()) {
            client.feed(notice).await?;
        }
        let rows = match output {
            Output::Command { rows, .. } => rows.unwrap_or(0),
            Output::Rows(_) => 0,
        };
        let tag = Tag::new("COPY").with_rows(rows as usize);
        client
            .send(PgWireBackendMessage::CommandComplete(tag.into()))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        end_copy_in(client);
        PgWireError::UserError(Box::new(user_error(
            "57014",
            format!("COPY from stdin failed: {}", fail.message),
        )))
    }
}

/// Ends the connection's COPY FROM STDIN (after CopyDone or CopyFail), returning the load
/// it was receiving. pgwire leaves a COPY begun by the extended protocol in copy mode,
/// where the client's following Sync would be ignored and the client would wait for
/// ReadyForQuery forever: back to normal processing, so that Sync answers it.
fn end_copy_in<C: ClientInfo>(client: &mut C) -> Option<Pending> {
    if matches!(client.state(), PgWireConnectionState::CopyInProgress(true)) {
        client.set_state(PgWireConnectionState::ReadyForQuery);
    }
    client
        .session_extensions()
        .get_or_insert_with(CopyIn::default)
        .pending
        .lock()
        .expect("copy lock")
        .take()
}

/// The rows of a spooled binary COPY, decoded batch by batch off the async threads; the
/// spool lives (and is deleted) with the stream.
fn decode_binary(
    spool: tempfile::NamedTempFile,
    table: &str,
    columns: SchemaRef,
) -> BoxStream<'static, Result<RecordBatch, FloeError>> {
    let reader = spool
        .reopen()
        .map_err(FloeError::from)
        .and_then(|file| BinaryCopyReader::new(BufReader::new(file), table, columns));
    let reader = match reader {
        Ok(reader) => reader,
        Err(err) => return stream::once(async move { Err(err) }).boxed(),
    };
    stream::try_unfold((reader, spool), |(mut reader, spool)| async move {
        let (batch, reader) = tokio::task::spawn_blocking(move || (reader.next_batch(), reader))
            .await
            .map_err(|err| FloeError::internal(format!("COPY decoding stopped: {err}")))?;
        Ok(batch?.map(|batch| (batch, (reader, spool))))
    })
    .boxed()
}

fn protocol_violation(message: &str) -> PgWireError {
    PgWireError::UserError(Box::new(user_error("08P01", message)))
}

/// `COPY (query) TO STDOUT`: the query's rows, one CopyData message per row (the header
/// line, if asked for, travels with the first row so that the row count stays right).
pub async fn copy_out(
    session: &floe_engine::Engine,
    query: Box<Query>,
    options: CopyOptions,
    extra_float_digits: i32,
) -> PgWireResult<Response> {
    match options.format {
        None | Some(CopyFormat::Text | CopyFormat::Csv | CopyFormat::Binary) => {}
        Some(_) => {
            return Err(to_pg_error(FloeError::unsupported(
                "COPY TO STDOUT writes text, csv or binary",
            )));
        }
    }
    let Output::Rows(batches) = session.query_rows(query).await.map_err(to_pg_error)? else {
        return Err(to_pg_error(FloeError::internal(
            "COPY query returned no rows",
        )));
    };
    let columns = batches.schema().fields().len();
    if options.format == Some(CopyFormat::Binary) {
        let schema = batches.schema();
        let batches = batches.map(|batch| batch.map_err(FloeError::from)).boxed();
        return binary_copy_out(&schema, batches);
    }
    // The values are the text of result rows, then escaped or quoted for COPY.
    let lines = CopyLines::new(&options).map_err(to_pg_error)?;
    let schema = batches.schema();
    let fields = Arc::new(pg_fields(&schema, &Format::UnifiedText)?);
    let mut header = options
        .header
        .then(|| lines.header(schema.fields().iter().map(|field| field.name().as_str())));
    let rows = batches.flat_map(move |batch| {
        let encoded = match batch
            .map_err(FloeError::from)
            .and_then(|b| encodable(b, &fields))
        {
            Ok(batch) => encode_batch(&batch, &fields, extra_float_digits),
            Err(err) => vec![Err(to_pg_error(err))],
        };
        let copy_data: Vec<PgWireResult<CopyData>> = encoded
            .into_iter()
            .map(|row| {
                let mut line = header.take().unwrap_or_default();
                lines.push_row(&mut line, cells(&row?));
                Ok(CopyData::new(line.into()))
            })
            .collect();
        stream::iter(copy_data)
    });
    Ok(Response::CopyOut(CopyResponse::new(0, columns, rows)))
}

/// The cells of a text-format result row: each value's text, `None` for NULL.
fn cells(row: &DataRow) -> impl ExactSizeIterator<Item = Option<&[u8]>> {
    let mut data = &row.data[..];
    (0..row.field_count).map(move |_| {
        let length = data.get_i32();
        let (value, rest) = data.split_at(length.max(0) as usize);
        data = rest;
        (length >= 0).then_some(value)
    })
}

/// The rows of `batches` as binary COPY tuples, encoded as result rows are (arrow-pg).
fn binary_copy_out(
    schema: &SchemaRef,
    batches: BoxStream<'static, Result<RecordBatch, FloeError>>,
) -> PgWireResult<Response> {
    let fields = Arc::new(pg_fields(schema, &Format::UnifiedBinary)?);
    let columns = fields.len();
    let tuples = Arc::new(Mutex::new(BinaryTuples::new(fields.clone())));
    let end = tuples.clone();
    let rows = batches
        .flat_map(move |batch| {
            stream::iter(match batch.and_then(|batch| encodable(batch, &fields)) {
                Ok(batch) => tuples.lock().expect("copy lock").encode(&batch),
                Err(err) => vec![Err(to_pg_error(err))],
            })
        })
        .chain(stream::once(async move {
            Ok(end.lock().expect("copy lock").end())
        }));
    // pgwire would add a trailer of its own to a binary response; this one ends itself.
    let mut response = CopyResponse::new(0, columns, rows);
    response.format = 1;
    Ok(Response::CopyOut(response))
}
