//! A Floe server on an ephemeral port over a temporary warehouse, for the wire tests.

// Each test file uses its own part of this module.
#![allow(dead_code)]

use floe_engine::Engine;
use floe_server::{Server, ServerConfig};
use tokio::net::TcpListener;
use tokio_postgres::{Client, NoTls};

pub struct TestServer {
    pub port: u16,
    _warehouse: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(&ServerConfig::default()).await
    }

    /// A server with users, TLS or limits as `config` says (its `listen` is ignored).
    pub async fn start_with(config: &ServerConfig) -> TestServer {
        let warehouse = tempfile::tempdir().expect("temporary warehouse");
        let engine = Engine::open(warehouse.path())
            .await
            .expect("open warehouse");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local address").port();
        let server = Server::new(engine, config).expect("server configuration");
        tokio::spawn(server.serve(listener, std::future::pending()));
        TestServer {
            port,
            _warehouse: warehouse,
        }
    }

    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=floe dbname=floe", self.port)
    }

    pub async fn connect(&self) -> Client {
        let (client, connection) = tokio_postgres::connect(&self.url(), NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
    }
}
