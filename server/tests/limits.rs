//! Resource limits: a statement that needs more memory than the server's memory limit
//! fails with 53200 (out_of_memory) while the server and the session go on; and many
//! simultaneous connections each run their queries.

mod common;

use common::TestServer;
use floe_server::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_memory_limit_fails_alone() {
    let config = ServerConfig {
        memory_limit: Some(4 << 20),
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(&config).await;
    let client = server.connect().await;
    let other = server.connect().await;
    // The build side of a hash join is held in memory whole: far more than 4 MB here.
    let err = client
        .simple_query(
            "SELECT count(*) FROM generate_series(1, 2000000) a \
             JOIN generate_series(1, 2000000) b ON a.value = b.value",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "53200", "{err:?}");
    let message = err.as_db_error().unwrap().message();
    assert!(message.starts_with("out of memory"), "{message}");
    // Small statements still run, in this session and the others.
    for session in [&client, &other] {
        let row = session
            .query_one("SELECT count(*) FROM generate_series(1, 1000)", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), 1000);
    }
}

/// Lets this process open `wanted` files (sockets) if the hard limit allows.
fn raise_open_file_limit(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_connections_query_at_once() {
    const CONNECTIONS: usize = 500;
    // Both ends of every connection live in this process.
    raise_open_file_limit(4 * CONNECTIONS as u64);
    let server = TestServer::start().await;
    let setup = server.connect().await;
    setup
        .batch_execute(
            "CREATE TABLE shared (id BIGINT); INSERT INTO shared SELECT value FROM generate_series(1, 100)",
        )
        .await
        .unwrap();
    // Every connection is open before any of them queries.
    let clients = futures::future::join_all((0..CONNECTIONS).map(|_| server.connect())).await;
    let answers =
        futures::future::join_all(clients.iter().enumerate().map(|(i, client)| async move {
            let row = client
                .query_one(
                    "SELECT count(*) FROM shared WHERE id <= $1",
                    &[&(i as i64 % 100)],
                )
                .await
                .unwrap();
            row.get::<_, i64>(0)
        }))
        .await;
    let expected: Vec<i64> = (0..CONNECTIONS as i64).map(|i| i % 100).collect();
    assert_eq!(answers, expected);
    // All of them are still there.
    for client in &clients {
        assert!(!client.is_closed());
    }
}
