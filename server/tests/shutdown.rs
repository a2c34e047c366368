//! Graceful shutdown: a statement that is running when the server is told to stop runs to
//! its end, then every client is told FATAL 57P01 (admin_shutdown) and `serve` returns.

use floe_engine::Engine;
use floe_server::{Server, ServerConfig};
use futures::{StreamExt, pin_mut};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_postgres::NoTls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_statements_finish_then_clients_are_told_to_go() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::new(engine, &ServerConfig::default()).unwrap();
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));

    let url = format!("host=127.0.0.1 port={port} user=floe dbname=floe");
    let connect = || async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        (client, tokio::spawn(connection))
    };
    let (idle, idle_connection) = connect().await;
    idle.batch_execute("CREATE TABLE t (id BIGINT)")
        .await
        .unwrap();
    let (busy, busy_connection) = connect().await;

    // Far more rows than the socket buffers hold: the server is still sending them, in the
    // middle of the statement, while the client holds back after the first row.
    const ROWS: i64 = 1_000_000;
    let rows = busy
        .query_raw(
            &format!("SELECT value FROM generate_series(1, {ROWS})"),
            std::iter::empty::<i64>(),
        )
        .await
        .unwrap();
    pin_mut!(rows);
    let first: i64 = rows.next().await.unwrap().unwrap().get(0);
    assert_eq!(first, 1);
    stop.send(()).unwrap();

    // The idle client is told at once.
    let idle_end = idle_connection.await.unwrap().unwrap_err();
    assert_eq!(idle_end.code().unwrap().code(), "57P01", "{idle_end}");
    // The busy one gets every row of its statement first.
    let mut count = 1;
    while let Some(row) = rows.next().await {
        row.unwrap_or_else(|err| panic!("after {count} rows: {err}"));
        count += 1;
    }
    assert_eq!(count, ROWS);
    let busy_end = busy_connection.await.unwrap().unwrap_err();
    assert_eq!(busy_end.code().unwrap().code(), "57P01", "{busy_end}");
    serving.await.unwrap().unwrap();
    // No new connections once stopped.
    assert!(tokio_postgres::connect(&url, NoTls).await.is_err());
}
