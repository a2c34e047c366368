//! `floe serve` as a process: users made with `floe hash-password`, the refusal to listen
//! off loopback without users, and shutdown on SIGTERM/SIGINT.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use tokio_postgres::NoTls;

/// The floe binary; `FLOE_BIN` overrides it (e.g. when several checkouts share a target
/// directory).
fn floe() -> String {
    std::env::var("FLOE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_floe").to_string())
}

/// A running `floe serve` and the port it listens on.
struct Served {
    child: Child,
    port: u16,
    _warehouse: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `floe serve` on a free loopback port with `args`, and waits for its "serving"
/// line.
fn serve(args: &[&str]) -> Served {
    let warehouse = tempfile::tempdir().unwrap();
    let mut child = Command::new(floe())
        .arg("--warehouse")
        .arg(warehouse.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let port = line
        .split("postgresql://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    // Keep draining stderr so that the server never blocks on it.
    std::thread::spawn(move || for _ in stderr.lines() {});
    Served {
        child,
        port,
        _warehouse: warehouse,
    }
}

fn hash_password(password: &str, extra: &[&str]) -> String {
    let mut child = Command::new(floe())
        .arg("hash-password")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

async fn can_log_in(port: u16, user: &str, password: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user={user} password={password} dbname=floe"),
        NoTls,
    )
    .await?;
    tokio::spawn(connection);
    client.simple_query("SELECT 1").await.map(|_| ())
}

#[tokio::test]
async fn users_log_in_with_secrets_from_hash_password() {
    let scram = hash_password("s3cret", &[]);
    assert!(scram.starts_with("SCRAM-SHA-256$4096:"), "{scram}");
    // A fresh salt each time.
    assert_ne!(scram, hash_password("s3cret", &[]));
    let md5 = hash_password("old", &["--md5-for-user", "legacy"]);
    assert!(md5.starts_with("md5"), "{md5}");

    let config = tempfile::tempdir().unwrap();
    let config_file = config.path().join("floe.toml");
    std::fs::write(&config_file, format!("[users]\nlegacy = \"{md5}\"\n")).unwrap();
    let served = serve(&[
        "--user",
        &format!("alice:{scram}"),
        "--config",
        config_file.to_str().unwrap(),
    ]);
    can_log_in(served.port, "alice", "s3cret").await.unwrap();
    can_log_in(served.port, "legacy", "old").await.unwrap();
    let err = can_log_in(served.port, "alice", "guess").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "28P01");
}

/// Runs floe with `args` to its end; a run that has not ended after a minute (a server
/// that started instead of refusing) is killed and fails the test.
fn run_to_end(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(floe())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    panic!(
        "floe {args:?} did not end: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn refuses_to_listen_off_loopback_without_users() {
    let warehouse = tempfile::tempdir().unwrap();
    let warehouse = warehouse.path().to_str().unwrap();
    let output = run_to_end(&["--warehouse", warehouse, "serve", "--listen", "0.0.0.0:0"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without authentication"), "{stderr}");
    assert!(stderr.contains("--insecure"), "{stderr}");

    let bad = run_to_end(&["--warehouse", warehouse, "serve", "--user", "eve:hunter2"]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("--user eve"), "{stderr}");
}

#[tokio::test]
async fn sigterm_and_sigint_stop_the_server_cleanly() {
    for signal in ["-TERM", "-INT"] {
        let mut served = serve(&[]);
        let (client, connection) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={} user=floe dbname=floe", served.port),
            NoTls,
        )
        .await
        .unwrap();
        let connection = tokio::spawn(connection);
        client
            .batch_execute("CREATE TABLE kept (x INT); INSERT INTO kept VALUES (1)")
            .await
            .unwrap();
        let status = Command::new("kill")
            .args([signal, &served.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let end = connection.await.unwrap().unwrap_err();
        assert_eq!(end.code().unwrap().code(), "57P01", "{signal}: {end}");
        let exit = served.child.wait().unwrap();
        assert!(exit.success(), "{signal}: {exit}");
    }
}
