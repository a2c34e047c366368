//! The two query protocols over one engine session per connection. Simple query: a text
//! of any number of statements, rows in text. Extended query: one statement parsed once,
//! bound to parameters (text or binary), described, and executed with rows in the formats
//! the client asks for, possibly a few rows at a time (portals with a row limit).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use floe_engine::arrow::datatypes::DataType;
use floe_engine::{Described, Statement};
use futures::{Sink, SinkExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::{Parse, ParseComplete};

use crate::Backend;
use crate::connection::{Connection, connection_of, report_changes};
use crate::control::StatementLimits;
use crate::copy::{begin_copy_in, copy_out};
use crate::results::{error_info, respond, to_pg_error, user_error, write_notice};

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

/// Drops what `what` names from the protocol layer. DEALLOCATE of a name the protocol
/// does not know is left to the engine (a statement made with SQL PREPARE).
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
            true
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
            Err(err) => return Ok(vec![Response::Error(Box::new(error_info(err)))]),
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
            match limits.run(session.execute(statement)).await {
                Ok(output) => {
                    if let Some(what) = &forgetting {
                        let _ = forget(client, &connection, what);
                    }
                    if let Some(notice) = write_notice(&output) {
                        client.feed(notice).await?;
                    }
                    responses.push(respond(output, &Format::UnifiedText, limits)?);
                }
                Err(err) => {
                    // Like PostgreSQL, the statements after a failing one are not run.
                    responses.push(Response::Error(Box::new(error_info(err))));
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
        } => Some(copy_out(session, query.clone(), options.clone()).await),
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
        let mut statements = session.parse(sql).map_err(to_pg_error)?;
        match statements.len() {
            0 => Ok(Prepared {
                statement: None,
                described: Described {
                    parameter_types: vec![],
                    schema: None,
                },
            }),
            1 => {
                let statement = statements.remove(0);
                let described = session.describe(&statement).await.map_err(to_pg_error)?;
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
            .parameter_types
            .iter()
            .map(|ty| match ty {
                Some(ty) => arrow_pg::datatypes::into_pg_type(ty),
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
            Some(schema) => arrow_pg::datatypes::arrow_schema_to_pg_fields(
                schema,
                format.unwrap_or(&Format::UnifiedText),
                None,
            ),
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
        let inferred: Vec<Option<&DataType>> = prepared
            .described
            .parameter_types
            .iter()
            .map(Option::as_ref)
            .collect();
        let parameters = arrow_pg::datatypes::df::deserialize_parameters(portal, &inferred)?;
        let before = session.settings();
        connection.cancel.rearm();
        let limits = StatementLimits::new(
            connection.cancel.clone(),
            session.settings().statement_timeout(),
        );
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
        report_changes(client, &before, &session.settings()).await?;
        if let Some(notice) = write_notice(&output) {
            client.feed(notice).await?;
        }
        respond(output, &portal.result_column_format, limits)
    }
}
