//! A Floe server on an ephemeral port over a temporary warehouse, for the wire tests.

use floe_engine::Engine;
use tokio::net::TcpListener;
use tokio_postgres::{Client, NoTls};

pub struct TestServer {
    pub port: u16,
    _warehouse: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let warehouse = tempfile::tempdir().expect("temporary warehouse");
        let engine = Engine::open(warehouse.path())
            .await
            .expect("open warehouse");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local address").port();
        tokio::spawn(floe_server::serve_listener(
            engine,
            listener,
            std::future::pending(),
        ));
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
