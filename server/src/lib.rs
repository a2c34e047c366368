//! Floe's PostgreSQL-wire face: accepts connections, hands each query to the engine's
//! statement path, and encodes what comes back (Arrow batches to Postgres rows through
//! arrow-pg; engine errors to Postgres errors with their SQLSTATE).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use floe_engine::{Engine, FloeError, Output};
use futures::{Sink, StreamExt, stream};
use pgwire::api::auth::StartupHandler;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{FieldFormat, QueryResponse, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::net::TcpListener;

/// Where `floe serve` listens by default: loopback, one above PostgreSQL's 5432 range
/// so that a local PostgreSQL keeps its port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:6543";

/// Serves `engine` on `listen` until SIGINT or SIGTERM.
pub async fn serve(engine: Engine, listen: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    eprintln!(
        "floe: serving {} on postgresql://{}",
        engine.warehouse().root.display(),
        listener.local_addr()?
    );
    let handlers = Arc::new(Handlers {
        backend: Arc::new(Backend { engine }),
    });
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, _) = accepted?;
                let handlers = handlers.clone();
                tokio::spawn(async move {
                    let _ = pgwire::tokio::process_socket(socket, None, handlers).await;
                });
            }
            _ = &mut shutdown => {
                eprintln!("floe: shutting down");
                return Ok(());
            }
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

struct Handlers {
    backend: Arc<Backend>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.backend.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.backend.clone()
    }
}

struct Backend {
    engine: Engine,
}

#[async_trait]
impl NoopStartupHandler for Backend {
    async fn post_startup<C>(
        &self,
        _client: &mut C,
        _message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Ok(())
    }
}

fn to_pg_error(err: FloeError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        err.sqlstate.to_string(),
        err.message,
    )))
}

impl Backend {
    async fn respond(&self, output: Output) -> PgWireResult<Response> {
        match output {
            Output::Command { tag, rows } => {
                let tag = match (tag, rows) {
                    ("INSERT", Some(n)) => Tag::new("INSERT").with_oid(0).with_rows(n as usize),
                    (tag, Some(n)) => Tag::new(tag).with_rows(n as usize),
                    (tag, None) => Tag::new(tag),
                };
                Ok(Response::Execution(tag))
            }
            Output::Rows(batches) => {
                let fields = Arc::new(arrow_pg::datatypes::arrow_schema_to_pg_fields(
                    &batches.schema(),
                    &pgwire::api::portal::Format::UnifiedText,
                    None,
                )?);
                debug_assert!(fields.iter().all(|f| f.format() == FieldFormat::Text));
                let row_fields = fields.clone();
                let rows = batches.flat_map(move |batch| match batch {
                    Ok(batch) => stream::iter(
                        arrow_pg::datatypes::encode_recordbatch(row_fields.clone(), batch)
                            .collect::<Vec<_>>(),
                    )
                    .left_stream(),
                    Err(err) => stream::iter(vec![Err(to_pg_error(err.into()))]).right_stream(),
                });
                Ok(Response::Query(QueryResponse::new(fields, rows)))
            }
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for Backend {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
    {
        let statements = match self.engine.parse(query) {
            Ok(statements) => statements,
            Err(err) => return Ok(vec![Response::Error(Box::new(error_info(err)))]),
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            match self.engine.execute(statement).await {
                Ok(output) => responses.push(self.respond(output).await?),
                Err(err) => {
                    // Like PostgreSQL, the statements after a failing one are not run.
                    responses.push(Response::Error(Box::new(error_info(err))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

fn error_info(err: FloeError) -> ErrorInfo {
    ErrorInfo::new("ERROR".to_string(), err.sqlstate.to_string(), err.message)
}
