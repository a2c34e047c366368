//! The catalog is read live: what another process creates or commits is visible to the
//! next statement of an engine that is already open.

use std::process::Command;

use floe_engine::arrow::array::RecordBatch;
use floe_engine::arrow::util::pretty::pretty_format_batches;
use floe_engine::{Engine, Output};
use futures::StreamExt;

fn other_process(warehouse: &std::path::Path, sql: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_floe"))
        .arg("--warehouse")
        .arg(warehouse)
        .args(["-c", sql])
        .output()
        .expect("run floe");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn query(engine: &Engine, sql: &str) -> String {
    let Output::Rows(mut stream) = engine.execute_sql(sql).await.expect(sql) else {
        panic!("{sql} returned no rows");
    };
    let mut batches: Vec<RecordBatch> = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.expect("batch"));
    }
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_changes_are_seen_by_the_next_statement() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    assert!(query(&engine, "SHOW SCHEMAS").await.contains("public"));

    other_process(
        warehouse.path(),
        "CREATE SCHEMA remote; CREATE TABLE remote.t (x INT); INSERT INTO remote.t VALUES (1), (2);",
    );
    assert!(query(&engine, "SHOW SCHEMAS").await.contains("remote"));
    assert!(
        query(&engine, "SELECT sum(x) AS s FROM remote.t")
            .await
            .contains("| 3 |")
    );
    let listed = query(
        &engine,
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'remote'",
    )
    .await;
    assert!(listed.contains("| remote       | t          |"), "{listed}");

    // A new snapshot committed elsewhere.
    other_process(warehouse.path(), "INSERT INTO remote.t VALUES (10)");
    assert!(
        query(&engine, "SELECT sum(x) AS s FROM remote.t")
            .await
            .contains("| 13 |")
    );

    // Dropped elsewhere: gone here too.
    other_process(warehouse.path(), "DROP SCHEMA remote CASCADE");
    let err = match engine.execute_sql("SELECT * FROM remote.t").await {
        Ok(_) => panic!("the dropped table is still readable"),
        Err(err) => err,
    };
    assert_eq!(err.sqlstate, "42P01", "{}", err.message);
    assert!(!query(&engine, "SHOW SCHEMAS").await.contains("remote"));
}

/// Moves every file under `dir` whose name matches `pick` into `hideout`.
fn hide(dir: &std::path::Path, hideout: &std::path::Path, pick: impl Fn(&str) -> bool) -> usize {
    let mut moved = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if pick(&name) {
            std::fs::rename(&path, hideout.join(&name)).unwrap();
            moved += 1;
        }
    }
    moved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_tables_are_not_reread_and_new_commits_are_seen() {
    let warehouse = tempfile::tempdir().unwrap();
    let hideout = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    engine
        .execute_sql("CREATE TABLE c (x INT); INSERT INTO c VALUES (1), (2)")
        .await
        .unwrap();
    assert!(
        query(&engine, "SELECT sum(x) AS s FROM c")
            .await
            .contains("| 3 |")
    );

    // With the metadata file, manifest list and manifests gone, the unchanged table is
    // still served: none of them is read again.
    let metadata = warehouse.path().join("public/c/metadata");
    let hidden = hide(&metadata, hideout.path(), |name| {
        name.ends_with(".metadata.json") || name.ends_with(".avro")
    });
    assert!(
        hidden >= 3,
        "metadata, manifest list and manifest: {hidden}"
    );
    assert!(
        query(&engine, "SELECT sum(x) AS s FROM c")
            .await
            .contains("| 3 |")
    );
    hide(hideout.path(), &metadata, |_| true);

    // Another process commits: the next statement reads the new snapshot.
    other_process(warehouse.path(), "INSERT INTO c VALUES (10)");
    assert!(
        query(&engine, "SELECT sum(x) AS s FROM c")
            .await
            .contains("| 13 |")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_keep_data_file_footers_in_the_session_cache() {
    // As for a Parquet listing table, a data file's footer and page index are read once
    // and kept in the session's file-metadata cache for the next query.
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    engine
        .execute_sql("CREATE TABLE f (x INT); INSERT INTO f VALUES (1), (2)")
        .await
        .unwrap();
    let data_file = std::fs::read_dir(warehouse.path().join("public/f/data"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let cache = engine
        .session()
        .runtime_env()
        .cache_manager
        .get_file_metadata_cache();
    let cached = || -> Vec<String> { cache.list_entries().keys().map(|p| p.to_string()).collect() };
    assert!(!cached().iter().any(|p| p.ends_with(&data_file)));
    assert!(
        query(&engine, "SELECT sum(x) AS s FROM f WHERE x > 0")
            .await
            .contains("| 3 |")
    );
    assert!(
        cached().iter().any(|p| p.ends_with(&data_file)),
        "{data_file} not in {:?}",
        cached()
    );
}
