//! Floe's PostgreSQL-wire face: accepts connections, gives each its own engine session,
//! hands every statement to the engine's statement path, and encodes what comes back
//! (Arrow batches to Postgres rows through arrow-pg; engine errors to Postgres errors with
//! their SQLSTATE). It never plans anything itself.

mod connection;
mod control;
mod copy;
mod query;
mod results;

use std::sync::Arc;

use async_trait::async_trait;
use floe_engine::Engine;
use pgwire::api::PgWireServerHandlers;
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::messages::cancel::CancelRequest;
use tokio::net::TcpListener;

use crate::connection::Pids;
use crate::control::CancelRegistry;
use crate::query::Parser;

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
    serve_listener(engine, listener, shutdown_signal()).await
}

/// Serves `engine` on an already bound `listener` until `shutdown` resolves. Tests bind
/// port 0 and pass their own shutdown.
pub async fn serve_listener(
    engine: Engine,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let handlers = Arc::new(Handlers {
        backend: Arc::new(Backend {
            engine,
            parser: Arc::new(Parser),
            cancels: Arc::new(CancelRegistry::default()),
            pids: Pids::default(),
        }),
    });
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (socket, _) = match accepted {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: this client is refused, the
                    // server goes on.
                    Err(err) => {
                        eprintln!("floe: accept failed: {err}");
                        continue;
                    }
                };
                let _ = socket.set_nodelay(true);
                let handlers = handlers.clone();
                tokio::spawn(async move {
                    // A malformed message ends this connection only.
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

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.backend.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.backend.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.backend.clone()
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        self.backend.clone()
    }
}

/// The state all connections share.
struct Backend {
    /// The server's base session; each connection gets a new session from it.
    engine: Engine,
    parser: Arc<Parser>,
    cancels: Arc<CancelRegistry>,
    pids: Pids,
}

#[async_trait]
impl CancelHandler for Backend {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.cancels
            .cancel(request.pid, &request.secret_key.to_bytes());
    }
}
