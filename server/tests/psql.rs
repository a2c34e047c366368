//! psql, the PostgreSQL shell, against a live server: its meta-commands read Floe's
//! pg_catalog, so `\l`, `\dn`, `\dt`, `\d t` and `\d+ t` show the Iceberg tables.

mod common;

use std::process::Command;

use common::TestServer;

/// Runs `script` with psql (no ~/.psqlrc, stop at the first error) and returns stdout.
fn psql(server: &TestServer, script: &str) -> String {
    let output = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "floe",
        ])
        .args(["-p", &server.port.to_string(), "-d", "floe", "-c", script])
        .env("PGCLIENTENCODING", "UTF8")
        .env_remove("PGPASSWORD")
        .output()
        .expect("psql must be installed (apt-get install postgresql-client)");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "psql failed on {script:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_commands_describe_iceberg_tables() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE SCHEMA sales; \
             CREATE TABLE sales.orders (id BIGINT NOT NULL, customer VARCHAR, amount DECIMAL(10, 2), placed TIMESTAMP); \
             CREATE TABLE t (a INT, b DOUBLE)",
        )
        .await
        .unwrap();
    let server = std::sync::Arc::new(server);

    let run = |script: &'static str| {
        let server = server.clone();
        tokio::task::spawn_blocking(move || psql(&server, script))
    };
    assert_eq!(run("\\echo :SERVER_VERSION_NAME").await.unwrap(), "15.0\n");
    assert_eq!(
        run("\\dn").await.unwrap(),
        "  List of schemas\n  Name  |  Owner   \n--------+----------\n public | postgres\n sales  | postgres\n(2 rows)\n\n"
    );
    // \dt lists the tables on the search path, as in PostgreSQL.
    assert_eq!(
        run("\\dt").await.unwrap(),
        "        List of relations\n Schema | Name | Type  |  Owner   \n--------+------+-------+----------\n public | t    | table | postgres\n(1 row)\n\n"
    );
    assert_eq!(
        run("\\dt sales.*").await.unwrap(),
        "         List of relations\n Schema |  Name  | Type  |  Owner   \n--------+--------+-------+----------\n sales  | orders | table | postgres\n(1 row)\n\n"
    );
    let described = run("\\d sales.orders").await.unwrap();
    for line in [
        "Table \"sales.orders\"",
        // NOT NULL and the decimal's precision and scale come from the Iceberg schema;
        // Iceberg keeps no varchar length.
        " id       | bigint                      |           | not null | ",
        " customer | text                        |           |          | ",
        " amount   | numeric(10,2)               |           |          | ",
        " placed   | timestamp without time zone |           |          | ",
    ] {
        assert!(described.contains(line), "{line:?} not in\n{described}");
    }
    let verbose = run("\\d+ t").await.unwrap();
    assert!(verbose.contains("Table \"public.t\""), "{verbose}");
    assert!(
        verbose.contains(" b      | double precision |           |          |         | plain   |"),
        "{verbose}"
    );
    let databases = run("\\l").await.unwrap();
    assert!(databases.contains(" floe "), "{databases}");
    // psql's own queries and a plain one, in one session.
    assert_eq!(
        run("SELECT count(*) AS n FROM sales.orders").await.unwrap(),
        " n \n---\n 0\n(1 row)\n\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_the_users_that_logged_in() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let run = |script: &'static str| {
        let server = server.clone();
        tokio::task::spawn_blocking(move || psql(&server, script))
    };
    assert_eq!(
        run("SELECT current_user, session_user, user, current_user() AS called")
            .await
            .unwrap(),
        " current_user | session_user | user | called \n\
         --------------+--------------+------+--------\n \
         floe         | floe         | floe | floe\n(1 row)\n\n"
    );
    let roles = "                       List of roles\n \
                 Role name |            Attributes             | Member of \n\
                 -----------+-----------------------------------+-----------\n \
                 floe      | Superuser, Create role, Create DB | {}\n\n";
    assert_eq!(run("\\du").await.unwrap(), roles);
    assert_eq!(run("\\dg").await.unwrap(), roles);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_are_listed() {
    let server = std::sync::Arc::new(TestServer::start().await);
    let run = |script: &'static str| {
        let server = server.clone();
        tokio::task::spawn_blocking(move || psql(&server, script))
    };
    // Floe has no user-defined functions: \df lists none, as on a new PostgreSQL
    // database, and finds the built-ins by name.
    assert_eq!(
        run("\\df").await.unwrap(),
        "                       List of functions\n \
         Schema | Name | Result data type | Argument data types | Type \n\
         --------+------+------------------+---------------------+------\n(0 rows)\n\n"
    );
    assert!(
        run("\\df+")
            .await
            .unwrap()
            .contains("| Security | Access privileges | Language | Source code | Description \n")
    );
    assert_eq!(
        run("\\df substr").await.unwrap(),
        "                            List of functions\n   \
         Schema   |  Name  | Result data type |   Argument data types   | Type \n\
         ------------+--------+------------------+-------------------------+------\n \
         pg_catalog | substr | bytea            | bytea, integer          | func\n \
         pg_catalog | substr | bytea            | bytea, integer, integer | func\n \
         pg_catalog | substr | text             | text, integer           | func\n \
         pg_catalog | substr | text             | text, integer, integer  | func\n\
         (4 rows)\n\n"
    );
}
