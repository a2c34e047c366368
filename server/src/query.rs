//! The two query protocols over one engine session per connection. Simple query: a text
//! of any number of statements, rows in text. Extended query: one statement parsed once,
//! bound to parameters (text or binary), described, and executed with rows in the formats
//! the client asks for, possibly a few rows at a time (portals with a row limit).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use floe_engine::arrow::datatypes::DataType;
use floe_engine::{Described, FloeError, Output, ParamValues, Statement};
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler, send_describe_response};
use pgwire::api::results::{DescribePortalResponse, FieldInfo, Response, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{
    Describe, Parse, ParseComplete, TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::messages::response::TransactionStatus;

use crate::Backend;
use crate::connection::{Connection, connection_of, report_changes};
use crate::control::StatementLimits;
use crate::copy::{begin_copy_in, copy_out};
use crate::cursor::{Cursor, CursorStatement};
use crate::results::{
    error_info_in, extra_float_digits, respond, respond_rows, to_pg_error, to_pg_error_in,
    user_error, write_notice,
};

/// Prepared statements the protocol layer keeps, which a statement drops.
enum Forget {
    Statement(String),
    All,
}

/// `DEALLOCATE [PREPARE] name | ALL` (answered by the server for the statements made
/// with Parse) and `DISCARD ALL` (which also resets the session's settings in the engine).
fn forgets(statement: &Statement) -> Option<Forget> {
    let Statement::DataFusion(df) = statement else {
        return None;
    };
    let datafusion::DFStatement::Statement(sql) = df.as_ref() else {
        return None;
    };
    match sql.as_ref() {
        datafusion::SqlStatement::Deallocate { name, .. } => {
            if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
                Some(Forget::All)
            } else {
                Some(Forget::Statement(name.value.clone()))
            }
        }
        datafusion::SqlStatement::Discard {
            object_type: datafusion::DiscardObject::ALL,
        } => Some(Forget::All),
        _ => None,
    }
}

fn is_deallocate(statement: &Statement) -> bool {
    matches!(statement, Statement::DataFusion(df) if matches!(df.as_ref(),
        datafusion::DFStatement::Statement(sql)
            if matches!(sql.as_ref(), datafusion::SqlStatement::Deallocate { .. })))
}

/// Drops what `what` names from the protocol layer; returns whether that is all there is
/// to do. DEALLOCATE of a name the protocol does not know, and DEALLOCATE ALL, are also
/// left to the engine, which keeps the statements made with SQL PREPARE.
fn forget<C>(client: &C, connection: &Connection, what: &Forget) -> bool
where
    C: ClientPortalStore,
    C::PortalStore: PortalStore,
{
    let store = client.portal_store();
    match what {
        Forget::Statement(name) => {
            let known = connection.forget_statement(name);
            store.rm_statement(name);
            known
        }
        Forget::All => {
            for name in connection.take_statements() {
                store.rm_statement(&name);
            }
            store.clear_portals();
            false
        }
    }
}

/// The parser types the server inspects, as the engine re-exports them.
mod datafusion {
    pub use floe_engine::sql::DFStatement;
    pub use floe_engine::sql::ast::{DiscardObject, Statement as SqlStatement};
}

#[async_trait]
impl SimpleQueryHandler for Backend {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = connection_of(client)?;
        let session = &connection.session;
        let statements = match session.parse(query) {
            Ok(statements) => statements,
            Err(err) => return Ok(vec![Response::Error(Box::new(error_info_in(err, query)))]),
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let before = session.settings();
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            let forgetting = forgets(&statement);
            if is_deallocate(&statement)
                && let Some(what) = &forgetting
                && forget(client, &connection, what)
            {
                responses.push(Response::Execution(Tag::new("DEALLOCATE")));
                continue;
            }
            if let Some(copy) = wire_copy(client, session, &statement).await {
                // A COPY that reads from the client ends the query string, as in PostgreSQL.
                let reads = matches!(copy, Ok(Response::CopyIn(_)));
                responses.push(as_response(copy));
                if reads {
                    break;
                }
                continue;
            }
            connection.cancel.rearm();
            let limits = StatementLimits::new(
                connection.cancel.clone(),
                session.settings().statement_timeout(),
            );
            if let Some(cursor_statement) = CursorStatement::recognise(&statement) {
                let in_block = client.transaction_status() != TransactionStatus::Idle;
                match run_cursor(&connection, cursor_statement, None, in_block, None, limits).await
                {
                    Ok(response) => responses.push(response),
                    Err(PgWireError::UserError(err)) => {
                        responses.push(Response::Error(err));
                        break;
                    }
                    Err(err) => return Err(err),
                }
                continue;
            }
            match limits.run(session.execute(statement)).await {
                Ok(output) => {
                    if let Some(what) = &forgetting {
                        let _ = forget(client, &connection, what);
                    }
                    close_cursors_after(&connection, &output);
                    if let Some(notice) = write_notice(&output, &session.settings()) {
                        client.feed(notice).await?;
                    }
                    responses.push(respond(
                        output,
                        &Format::UnifiedText,
                        extra_float_digits(&session.settings()),
                        limits,
                    )?);
                }
                Err(err) => {
                    // Like PostgreSQL, the statements after a failing one are not run.
                    responses.push(Response::Error(Box::new(error_info_in(err, query))));
                    break;
                }
            }
        }
        report_changes(client, &before, &session.settings()).await?;
        Ok(responses)
    }
}

/// COPY FROM STDIN and COPY TO STDOUT, which the server carries out with the client;
/// `None` for every other statement.
async fn wire_copy<C: ClientInfo>(
    client: &C,
    session: &floe_engine::Engine,
    statement: &Statement,
) -> Option<PgWireResult<Response>> {
    match statement {
        Statement::CopyFrom {
            table,
            source: None,
            options,
        } => Some(begin_copy_in(client, table.clone(), options.clone()).await),
        Statement::CopyTo {
            query,
            target: None,
            options,
        } => Some(
            copy_out(
                session,
                query.clone(),
                options.clone(),
                extra_float_digits(&session.settings()),
            )
            .await,
        ),
        _ => None,
    }
}

/// A user error as the response for its statement; other errors stay errors.
fn as_response(result: PgWireResult<Response>) -> Response {
    match result {
        Ok(response) => response,
        Err(PgWireError::UserError(info)) => Response::Error(info),
        Err(other) => Response::Error(Box::new(user_error("XX000", other.to_string()))),
    }
}

/// A statement prepared by Parse: `None` for an empty query string.
#[derive(Debug, Clone)]
pub struct Prepared {
    statement: Option<Statement>,
    described: Described,
}

#[derive(Debug, Default)]
pub struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Prepared>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let connection = connection_of(client)?;
        let session = &connection.session;
        let mut statements = session.parse(sql).map_err(|err| to_pg_error_in(err, sql))?;
        match statements.len() {
            0 => Ok(Prepared {
                statement: None,
                described: Described {
                    parameters: vec![],
                    schema: None,
                },
            }),
            1 => {
                let statement = statements.remove(0);
                let described = match CursorStatement::recognise(&statement) {
                    Some(cursor_statement) => {
                        describe_cursor(&connection, cursor_statement.map_err(to_pg_error)?)
                            .await
                            .map_err(to_pg_error)?
                    }
                    None => session
                        .describe(&statement)
                        .await
                        .map_err(|err| to_pg_error_in(err, sql))?,
                };
                Ok(Prepared {
                    statement: Some(statement),
                    described,
                })
            }
            _ => Err(PgWireError::UserError(Box::new(user_error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            )))),
        }
    }

    fn get_parameter_types(&self, prepared: &Prepared) -> PgWireResult<Vec<Type>> {
        // A parameter whose type cannot be inferred is text, as in PostgreSQL.
        prepared
            .described
            .parameters
            .iter()
            .map(|field| match field {
                Some(field) => crate::parameters::described_type(field),
                None => Ok(Type::TEXT),
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        prepared: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &prepared.described.schema {
            Some(schema) => {
                crate::results::pg_fields(schema, format.unwrap_or(&Format::UnifiedText))
            }
            None => Ok(vec![]),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Backend {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        self.parser.clone()
    }

    /// Parses as the default does, and remembers the name for DEALLOCATE ALL.
    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = StoredStatement::parse(client, &message, self.parser.clone()).await?;
        if statement.id != DEFAULT_NAME {
            connection_of(client)?.remember_statement(&statement.id);
        }
        client.portal_store().put_statement(Arc::new(statement));
        futures::SinkExt::send(
            client,
            PgWireBackendMessage::ParseComplete(ParseComplete::new()),
        )
        .await?;
        Ok(())
    }

    /// Describes as the default does, except: a portal name that is a SQL cursor's
    /// (PostgreSQL makes each DECLAREd cursor a portal, and psycopg's named cursors
    /// describe it) gives the cursor's columns, and a statement without rows is NoData.
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type == TARGET_TYPE_BYTE_PORTAL
            && let Some(name) = message.name.as_deref()
            && client.portal_store().get_portal(name).is_none()
            && let Ok(cursor) = connection_of(client)?.cursors.get(name)
        {
            let format = if cursor.binary {
                Format::UnifiedBinary
            } else {
                Format::UnifiedText
            };
            let fields = crate::results::pg_fields(&cursor.schema, &format)?;
            return send_describe_response(client, &DescribePortalResponse::new(fields)).await;
        }
        if message.target_type == TARGET_TYPE_BYTE_STATEMENT
            && let Some(stored) = client
                .portal_store()
                .get_statement(message.name.as_deref().unwrap_or(DEFAULT_NAME))
            && stored.statement.described.schema.is_none()
        {
            // A statement that returns no rows is described by NoData, as PostgreSQL
            // does. pgwire sends an empty RowDescription when it has parameters, and
            // pgJDBC then takes an INSERT for a query ("a result was returned").
            let described = self.do_describe_statement(client, &stored).await?;
            let oids = described.parameters.iter().map(Type::oid).collect();
            client
                .send(PgWireBackendMessage::ParameterDescription(
                    ParameterDescription::new(oids),
                ))
                .await?;
            return Ok(client
                .send(PgWireBackendMessage::NoData(NoData::new()))
                .await?);
        }
        self._on_describe(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = connection_of(client)?;
        let session = &connection.session;
        let prepared = &portal.statement.statement;
        let Some(statement) = prepared.statement.clone() else {
            return Ok(Response::EmptyQuery);
        };
        if let Some(copy) = wire_copy(client, session, &statement).await {
            return copy;
        }
        let forgetting = forgets(&statement);
        if is_deallocate(&statement)
            && let Some(what) = &forgetting
            && forget(client, &connection, what)
        {
            return Ok(Response::Execution(Tag::new("DEALLOCATE")));
        }
        let fields = &prepared.described.parameters;
        let inferred: Vec<Option<&DataType>> = fields
            .iter()
            .map(|field| field.as_ref().map(|field| field.data_type()))
            .collect();
        let parameters = fit_parameters(crate::parameters::decode(portal, fields)?, &inferred);
        let before = session.settings();
        connection.cancel.rearm();
        let limits = StatementLimits::new(
            connection.cancel.clone(),
            session.settings().statement_timeout(),
        );
        if let Some(cursor_statement) = CursorStatement::recognise(&statement) {
            let in_block = client.transaction_status() != TransactionStatus::Idle;
            let parameters = (portal.parameter_len() > 0).then_some(parameters);
            return run_cursor(
                &connection,
                cursor_statement,
                parameters,
                in_block,
                Some(&portal.result_column_format),
                limits,
            )
            .await;
        }
        let work = async {
            if portal.parameter_len() == 0 {
                session.execute(statement).await
            } else {
                session.execute_with_parameters(statement, parameters).await
            }
        };
        let output = limits.run(work).await.map_err(to_pg_error)?;
        if let Some(what) = &forgetting {
            let _ = forget(client, &connection, what);
        }
        close_cursors_after(&connection, &output);
        report_changes(client, &before, &session.settings()).await?;
        if let Some(notice) = write_notice(&output, &session.settings()) {
            client.feed(notice).await?;
        }
        respond(
            output,
            &portal.result_column_format,
            extra_float_digits(&session.settings()),
            limits,
        )
    }
}

/// Closes the cursors a statement ends: those of a transaction block at COMMIT or
/// ROLLBACK (unless declared WITH HOLD), all of them at DISCARD ALL.
fn close_cursors_after(connection: &Connection, output: &Output) {
    match output {
        Output::Command {
            tag: "COMMIT" | "ROLLBACK",
            ..
        } => connection.cursors.end_transaction(),
        Output::Command {
            tag: "DISCARD ALL", ..
        } => {
            let _ = connection.cursors.close(None);
        }
        _ => {}
    }
}

/// What a cursor statement takes and returns: DECLARE takes its query's parameters,
/// FETCH returns its cursor's columns.
async fn describe_cursor(
    connection: &Connection,
    statement: CursorStatement,
) -> Result<Described, FloeError> {
    Ok(match statement {
        CursorStatement::Declare { query, .. } => Described {
            parameters: connection.session.describe(&query).await?.parameters,
            schema: None,
        },
        CursorStatement::Fetch { name, .. } => Described {
            parameters: vec![],
            schema: Some(connection.cursors.get(&name)?.schema.clone()),
        },
        CursorStatement::Close(_) => Described {
            parameters: vec![],
            schema: None,
        },
    })
}

/// Runs a cursor statement on the connection's cursors. `in_block`: the client is inside
/// BEGIN; `format`: the result formats the client asked for (extended protocol), else
/// the cursor's own (BINARY or text).
async fn run_cursor(
    connection: &Connection,
    statement: Result<CursorStatement, FloeError>,
    parameters: Option<ParamValues>,
    in_block: bool,
    format: Option<&Format>,
    limits: StatementLimits,
) -> PgWireResult<Response> {
    match statement.map_err(to_pg_error)? {
        CursorStatement::Declare {
            name,
            binary,
            hold,
            query,
        } => {
            connection.cursors.check_free(&name).map_err(to_pg_error)?;
            let session = &connection.session;
            let work = async {
                match parameters {
                    Some(parameters) => session.execute_with_parameters(query, parameters).await,
                    None => session.execute(query).await,
                }
            };
            let Output::Rows(batches) = limits.run(work).await.map_err(to_pg_error)? else {
                return Err(to_pg_error(FloeError::new(
                    "42601",
                    "DECLARE CURSOR needs a query that returns rows",
                )));
            };
            let schema = batches.schema();
            let batches = batches.map(|batch| batch.map_err(FloeError::from)).boxed();
            // Outside a transaction block there is no block to end it: it is held.
            let cursor = Cursor::new(schema, binary, hold || !in_block, batches);
            connection
                .cursors
                .declare(&name, cursor)
                .map_err(to_pg_error)?;
            Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
        }
        CursorStatement::Fetch { name, count } => {
            let cursor = connection.cursors.get(&name).map_err(to_pg_error)?;
            let format = match format {
                Some(format) => format.clone(),
                None if cursor.binary => Format::UnifiedBinary,
                None => Format::UnifiedText,
            };
            let schema = cursor.schema.clone();
            let extra_float_digits = extra_float_digits(&connection.session.settings());
            let mut response = respond_rows(
                &schema,
                cursor.fetch(count),
                &format,
                extra_float_digits,
                limits,
            )?;
            if let Response::Query(rows) = &mut response {
                rows.set_command_tag("FETCH");
            }
            Ok(response)
        }
        CursorStatement::Close(name) => {
            connection
                .cursors
                .close(name.as_deref())
                .map_err(to_pg_error)?;
            Ok(Response::Execution(Tag::new("CLOSE CURSOR")))
        }
    }
}

/// Casts each parameter to the type the statement inferred for it where the decoder chose
/// a sibling type (a `bytea` comes as Binary, a LargeBinary column wants LargeBinary), so
/// the plan and its values agree.
fn fit_parameters(parameters: ParamValues, inferred: &[Option<&DataType>]) -> ParamValues {
    let ParamValues::List(mut values) = parameters else {
        return parameters;
    };
    for (value, ty) in values.iter_mut().zip(inferred) {
        if let Some(ty) = ty
            && value.value.data_type() != **ty
            && let Ok(cast) = value.value.cast_to(ty)
        {
            value.value = cast;
        }
    }
    ParamValues::List(values)
}
