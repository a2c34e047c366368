//! Floe's PostgreSQL-wire face: accepts connections, gives each its own engine session,
//! hands every statement to the engine's statement path, and encodes what comes back
//! (Arrow batches to Postgres rows through arrow-pg; engine errors to Postgres errors with
//! their SQLSTATE). It never plans anything itself.

mod auth;
mod binary_copy;
mod config;
mod connection;
mod control;
mod copy;
mod cursor;
mod data_rows;
mod nested_arrays;
mod parameters;
mod query;
mod results;
mod scram;
mod secret;
mod socket;
mod temporal_text;
mod tls;

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

pub use crate::config::{ServerConfig, parse_size};
pub use crate::secret::{ScramSecret, Secret, md5_secret};

use crate::auth::Access;
use crate::connection::Pids;
use crate::control::CancelRegistry;
use crate::query::Parser;

/// Where `floe serve` listens by default: loopback, one above PostgreSQL's 5432 range
/// so that a local PostgreSQL keeps its port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:6543";

/// Serves `engine` as `config` says until SIGINT or SIGTERM.
pub async fn serve(engine: Engine, config: &ServerConfig) -> std::io::Result<()> {
    let listener = TcpListener::bind(&config.listen).await?;
    let address = listener.local_addr()?;
    let server = Server::new(engine, config).map_err(std::io::Error::other)?;
    server
        .backend
        .access
        .check_listen(address)
        .map_err(std::io::Error::other)?;
    eprintln!(
        "floe: serving {} on postgresql://{address}{}{}",
        server.backend.engine.warehouse().root.display(),
        if server.tls.is_some() { " (TLS)" } else { "" },
        if server.backend.access.has_users() {
            ""
        } else {
            " (no users: any user name, loopback clients only)"
        },
    );
    server.serve(listener, shutdown_signal()).await
}

/// Serves `engine` on an already bound `listener`, without users or TLS, until
/// `shutdown` resolves. Tests bind port 0 and pass their own shutdown.
pub async fn serve_listener(
    engine: Engine,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    Server::new(engine, &ServerConfig::default())
        .map_err(std::io::Error::other)?
        .serve(listener, shutdown)
        .await
}

/// A configured server, ready to serve a listener.
pub struct Server {
    backend: Arc<Backend>,
    tls: Option<pgwire::tokio::TlsAcceptor>,
}

impl Server {
    /// Checks `config` (users, TLS files) without binding anything.
    pub fn new(engine: Engine, config: &ServerConfig) -> Result<Server, String> {
        let mut engine = engine;
        engine.set_memory_limit(config.memory_limit);
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
            (None, None) => None,
            _ => return Err("TLS needs both --tls-cert and --tls-key".to_string()),
        };
        Ok(Server {
            backend: Arc::new(Backend {
                engine,
                parser: Arc::new(Parser),
                cancels: Arc::new(CancelRegistry::default()),
                pids: Pids::default(),
                access: config.access(),
            }),
            tls,
        })
    }

    /// Serves `listener` until `shutdown` resolves; then stops accepting, lets every
    /// statement that is running finish, tells each client FATAL 57P01 and returns once
    /// all connections are closed.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let handlers = Arc::new(Handlers {
            backend: self.backend,
        });
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (socket, _) = match accepted {
                        Ok(accepted) => accepted,
                        // Out of file descriptors and the like: this client is refused,
                        // the server goes on.
                        Err(err) => {
                            eprintln!("floe: accept failed: {err}");
                            continue;
                        }
                    };
                    let _ = socket.set_nodelay(true);
                    // A malformed message ends this connection only.
                    connections.spawn(socket::serve_socket(
                        socket,
                        self.tls.clone(),
                        handlers.clone(),
                        stopping.clone(),
                    ));
                }
                // Reap connections that ended.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = &mut shutdown => break,
            }
        }
        drop(listener);
        eprintln!(
            "floe: shutting down: waiting for {} connection(s) to finish their statements",
            connections.len()
        );
        let _ = stop.send(true);
        while connections.join_next().await.is_some() {}
        eprintln!("floe: stopped");
        Ok(())
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
    access: Access,
}

#[async_trait]
impl CancelHandler for Backend {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.cancels
            .cancel(request.pid, &request.secret_key.to_bytes());
    }
}
