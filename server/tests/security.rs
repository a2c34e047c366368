//! Logging in: SCRAM-SHA-256 and MD5 against stored secrets, wrong passwords and unknown
//! users refused with 28P01, TLS with a certificate made by the openssl CLI, through
//! tokio-postgres and psql.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::TestServer;
use floe_server::{ScramSecret, Secret, ServerConfig, md5_secret};
use pgwire::tokio::tokio_rustls::rustls;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

fn config_with_users() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.users.insert(
        "alice".to_string(),
        Secret::Scram(ScramSecret::from_password("wonderland")),
    );
    config
        .users
        .insert("bob".to_string(), md5_secret("bob", "builder"));
    config
}

fn login(server: &TestServer, user: &str, password: &str) -> Config {
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(server.port)
        .user(user)
        .password(password)
        .dbname("floe");
    config
}

async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn one(client: &Client) -> i64 {
    client
        .query_one("SELECT 1::BIGINT", &[])
        .await
        .unwrap()
        .get(0)
}

fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.code()
        .map(|code| code.code().to_string())
        .unwrap_or_else(|| panic!("no SQLSTATE in {err:?}"))
}

#[tokio::test]
async fn scram_and_md5_users_log_in_with_their_password_only() {
    let server = TestServer::start_with(&config_with_users()).await;
    let alice = connect(&login(&server, "alice", "wonderland"))
        .await
        .unwrap();
    assert_eq!(one(&alice).await, 1);
    let bob = connect(&login(&server, "bob", "builder")).await.unwrap();
    assert_eq!(one(&bob).await, 1);

    for (user, password) in [
        ("alice", "wonderlan"),
        ("alice", ""),
        ("bob", "wonderland"),
        ("mallory", "wonderland"),
    ] {
        let err = connect(&login(&server, user, password))
            .await
            .err()
            .unwrap_or_else(|| panic!("{user}/{password} got in"));
        assert_eq!(sqlstate(&err), "28P01", "{user}: {err}");
        assert_eq!(
            err.as_db_error().unwrap().message(),
            format!("password authentication failed for user \"{user}\"")
        );
    }
    // A failed login does not disturb the sessions that are in.
    assert_eq!(one(&alice).await, 1);
}

#[tokio::test]
async fn without_users_any_user_name_gets_in_on_loopback() {
    let server = TestServer::start().await;
    let client = connect(&login(&server, "whoever", "")).await.unwrap();
    assert_eq!(one(&client).await, 1);
}

/// A certificate authority and a server certificate for 127.0.0.1/localhost it signed,
/// made with the openssl command-line tool.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl must be installed");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=Floe test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

fn tls_config(dir: &Path) -> ServerConfig {
    let mut config = config_with_users();
    config.tls_cert = Some(dir.join("server.crt"));
    config.tls_key = Some(dir.join("server.key"));
    config
}

/// A TLS connector for tokio-postgres that trusts only the test CA.
fn trusting(ca: &Path) -> tokio_postgres_rustls::MakeRustlsConnect {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_postgres_rustls::MakeRustlsConnect::new(config)
}

#[tokio::test]
async fn tls_connections_verify_the_server_and_carry_scram() {
    let certificates = tempfile::tempdir().unwrap();
    make_certificates(certificates.path());
    let server = TestServer::start_with(&tls_config(certificates.path())).await;
    let connector = trusting(&certificates.path().join("ca.crt"));

    let mut config = login(&server, "alice", "wonderland");
    config.ssl_mode(SslMode::Require);
    let (client, connection) = config.connect(connector.clone()).await.unwrap();
    tokio::spawn(connection);
    assert_eq!(one(&client).await, 1);

    let mut wrong = login(&server, "alice", "nope");
    wrong.ssl_mode(SslMode::Require);
    let err = wrong.connect(connector).await.err().unwrap();
    assert_eq!(sqlstate(&err), "28P01");

    // Clients that do not ask for TLS may still connect in the clear.
    let plain = connect(&login(&server, "bob", "builder")).await.unwrap();
    assert_eq!(one(&plain).await, 1);
}

/// Runs `SELECT current_user` in psql with `connection` and `password`; returns whether
/// psql succeeded, with its stdout and stderr.
fn psql(connection: &str, password: &str) -> (bool, String, String) {
    let output = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-w",
            "-d",
            connection,
            "-c",
            "SELECT 1 + 1",
        ])
        .env("PGPASSWORD", password)
        .env_remove("PGSSLMODE")
        .output()
        .expect("psql must be installed (apt-get install postgresql-client)");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_logs_in_over_verified_tls() {
    let certificates = tempfile::tempdir().unwrap();
    make_certificates(certificates.path());
    let server = TestServer::start_with(&tls_config(certificates.path())).await;
    let ca = certificates.path().join("ca.crt");
    let connection = |user: &str| {
        format!(
            "host=localhost port={} user={user} dbname=floe sslmode=verify-full sslrootcert={}",
            server.port,
            ca.display()
        )
    };
    let alice = connection("alice");
    let bob = connection("bob");
    let ((ok, out, err), (wrong_ok, _, wrong_err), (md5_ok, md5_out, _)) =
        tokio::task::spawn_blocking(move || {
            (
                psql(&alice, "wonderland"),
                psql(&alice, "looking-glass"),
                psql(&bob, "builder"),
            )
        })
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "2");
    assert!(!wrong_ok);
    assert!(
        wrong_err.contains("password authentication failed for user \"alice\""),
        "{wrong_err}"
    );
    assert!(md5_ok);
    assert_eq!(md5_out.trim(), "2");
}
