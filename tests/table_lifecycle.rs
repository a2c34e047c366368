//! Table history through the engine's statement path: time travel by snapshot id and by
//! timestamp, rollback, VACUUM with its safety floor, dry run and orphan removal, and
//! auto-compaction.
//! (Snapshot ids are random, so these live here rather than in `sql/*.slt`.)

use std::path::Path;

use floe_engine::arrow::array::RecordBatch;
use floe_engine::arrow::util::display::{ArrayFormatter, FormatOptions};
use floe_engine::{Engine, FloeError, Output};
use futures::StreamExt;

/// The rows of a query, each cell as text (`NULL` for null).
async fn rows(engine: &Engine, sql: &str) -> Vec<Vec<String>> {
    let Output::Rows(mut stream) = engine.execute_sql(sql).await.expect(sql) else {
        panic!("{sql} returned no rows");
    };
    let mut batches: Vec<RecordBatch> = Vec::new();
    while let Some(batch) = stream.next().await {
        batches.push(batch.expect("batch"));
    }
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in &batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

async fn one(engine: &Engine, sql: &str) -> String {
    let mut all = rows(engine, sql).await;
    assert_eq!(all.len(), 1, "{sql}: {all:?}");
    all.remove(0).remove(0)
}

async fn fails(engine: &Engine, sql: &str) -> FloeError {
    match engine.execute_sql(sql).await {
        Ok(Output::Rows(mut stream)) => {
            while let Some(batch) = stream.next().await {
                if let Err(err) = batch {
                    return FloeError::from(err);
                }
            }
            panic!("{sql} succeeded")
        }
        Ok(_) => panic!("{sql} succeeded"),
        Err(err) => err,
    }
}

async fn run(engine: &Engine, sql: &str) {
    if let Output::Rows(mut stream) = engine.execute_sql(sql).await.expect(sql) {
        while let Some(batch) = stream.next().await {
            batch.expect(sql);
        }
    }
}

/// Snapshot ids, oldest first.
async fn snapshot_ids(engine: &Engine, table: &str) -> Vec<String> {
    rows(
        engine,
        &format!(
            "SELECT snapshot_id FROM \"{table}$snapshots\" ORDER BY committed_at, snapshot_id"
        ),
    )
    .await
    .into_iter()
    .map(|mut r| r.remove(0))
    .collect()
}

fn parquet_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            found.push(path.to_string_lossy().to_string());
        }
    }
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_travel_and_rollback() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    run(&engine, "CREATE TABLE t (n INT)").await;
    run(&engine, "INSERT INTO t VALUES (1)").await;
    run(&engine, "INSERT INTO t VALUES (2)").await;
    run(&engine, "INSERT INTO t VALUES (3)").await;
    let ids = snapshot_ids(&engine, "t").await;
    assert_eq!(ids.len(), 3);

    let first = &ids[0];
    assert_eq!(
        one(
            &engine,
            &format!("SELECT sum(n) FROM t FOR VERSION AS OF {first}")
        )
        .await,
        "1"
    );
    // The table keeps its name as a qualifier, and an alias works too.
    assert_eq!(
        one(
            &engine,
            &format!("SELECT t.n FROM t FOR VERSION AS OF {first} WHERE t.n > 0")
        )
        .await,
        "1"
    );
    assert_eq!(
        one(
            &engine,
            &format!(
                "SELECT count(*) FROM t FOR VERSION AS OF {} AS old JOIN t ON old.n = t.n",
                ids[1]
            )
        )
        .await,
        "2"
    );
    // By timestamp: the snapshot current at the second commit's time.
    let second_at = one(
        &engine,
        &format!(
            "SELECT CAST(committed_at AS VARCHAR) FROM \"t$snapshots\" WHERE snapshot_id = {}",
            ids[1]
        ),
    )
    .await;
    assert_eq!(
        one(
            &engine,
            &format!("SELECT sum(n) FROM t FOR TIMESTAMP AS OF '{second_at}'")
        )
        .await,
        "3"
    );
    let err = fails(
        &engine,
        "SELECT * FROM t FOR TIMESTAMP AS OF '2000-01-01 00:00:00'",
    )
    .await;
    assert_eq!(err.sqlstate, "22023", "{err:?}");
    let err = fails(&engine, "SELECT * FROM t FOR VERSION AS OF 12345").await;
    assert_eq!(err.sqlstate, "22023", "{err:?}");
    assert!(err.message.contains("no snapshot 12345"), "{err:?}");
    let err = fails(
        &engine,
        &format!("INSERT INTO t FOR VERSION AS OF {first} VALUES (9)"),
    )
    .await;
    assert!(!err.message.is_empty());

    // Rollback (the ROLLBACK TABLE form): the second snapshot is current again; the third
    // is no longer an ancestor.
    run(&engine, &format!("ROLLBACK TABLE t TO SNAPSHOT {}", ids[1])).await;
    assert_eq!(one(&engine, "SELECT sum(n) FROM t").await, "3");
    assert_eq!(
        one(
            &engine,
            &format!(
                "SELECT is_current_ancestor FROM \"t$history\" WHERE snapshot_id = {}",
                ids[2]
            )
        )
        .await,
        "false"
    );
    assert_eq!(
        one(
            &engine,
            "SELECT snapshot_id FROM \"t$refs\" WHERE name = 'main'"
        )
        .await,
        ids[1]
    );
    // Rolling "forward" to a snapshot that is not an ancestor is refused.
    let err = fails(
        &engine,
        &format!("ALTER TABLE t EXECUTE rollback_to_snapshot({})", ids[2]),
    )
    .await;
    assert_eq!(err.sqlstate, "22023", "{err:?}");
    let err = fails(&engine, &format!("ROLLBACK TABLE t TO SNAPSHOT {}", ids[2])).await;
    assert_eq!(err.sqlstate, "22023", "{err:?}");
    // Without TABLE, ROLLBACK ends a transaction as before.
    run(&engine, "ROLLBACK").await;
    // New commits build on the rolled-back state.
    run(&engine, "INSERT INTO t VALUES (10)").await;
    assert_eq!(one(&engine, "SELECT sum(n) FROM t").await, "13");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_expires_snapshots_and_deletes_unreachable_files() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    let data = warehouse.path().join("public").join("v").join("data");
    run(&engine, "CREATE TABLE v (k INT, n INT) PARTITIONED BY (k)").await;
    for i in 0..4 {
        run(&engine, &format!("INSERT INTO v VALUES ({}, {i})", i % 2)).await;
    }
    run(&engine, "OPTIMIZE v").await;
    assert_eq!(parquet_files(&data).len(), 6);
    let before = snapshot_ids(&engine, "v").await;

    // The default retention (7 days) keeps everything that is younger.
    let report = rows(&engine, "VACUUM v").await;
    assert!(report.is_empty(), "{report:?}");
    // Shorter retention is refused until the session lowers the floor.
    let err = fails(&engine, "VACUUM v RETAIN 0 HOURS").await;
    assert_eq!(err.sqlstate, "22023");
    assert!(err.message.contains("floe.vacuum.min_retention"), "{err:?}");
    let err = fails(
        &engine,
        "ALTER TABLE v EXECUTE expire_snapshots(retention_threshold => '1h')",
    )
    .await;
    assert_eq!(err.sqlstate, "22023");
    run(&engine, "SET floe.vacuum.min_retention = '0s'").await;

    // A dry run lists the four replaced data files and changes nothing.
    let listed = rows(&engine, "VACUUM v RETAIN 0 HOURS DRY RUN").await;
    let listed_data: Vec<_> = listed.iter().filter(|r| r[0] == "data").collect();
    assert_eq!(listed_data.len(), 4, "{listed:?}");
    assert!(listed.iter().any(|r| r[0] == "manifest_list"), "{listed:?}");
    assert_eq!(parquet_files(&data).len(), 6);
    assert_eq!(snapshot_ids(&engine, "v").await, before);

    // An orphan: a file no snapshot mentions, as a crashed writer leaves behind.
    let orphan = data.join("orphan.parquet");
    std::fs::write(&orphan, b"not committed").unwrap();

    let deleted = rows(&engine, "VACUUM v RETAIN 0 HOURS").await;
    assert_eq!(
        deleted.iter().filter(|r| r[0] == "data").count(),
        5,
        "{deleted:?}"
    );
    assert!(!orphan.exists());
    assert_eq!(parquet_files(&data).len(), 2);
    assert_eq!(snapshot_ids(&engine, "v").await, vec![before[4].clone()]);
    assert_eq!(one(&engine, "SELECT sum(n) FROM v").await, "6");
    // The expired snapshots are gone for time travel too.
    let err = fails(
        &engine,
        &format!("SELECT * FROM v FOR VERSION AS OF {}", before[0]),
    )
    .await;
    assert_eq!(err.sqlstate, "22023");
    // Nothing is left to delete.
    assert!(rows(&engine, "VACUUM v RETAIN 0 HOURS").await.is_empty());

    // remove_orphan_files only touches files nothing reaches and older than the retention.
    std::fs::write(&orphan, b"stray").unwrap();
    assert!(
        rows(
            &engine,
            "ALTER TABLE v EXECUTE remove_orphan_files(retention_threshold => '7d')"
        )
        .await
        .is_empty()
    );
    assert!(orphan.exists());
    let removed = rows(
        &engine,
        "ALTER TABLE v EXECUTE remove_orphan_files(retention_threshold => '0s')",
    )
    .await;
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(!orphan.exists());
    assert_eq!(one(&engine, "SELECT sum(n) FROM v").await, "6");

    // expire_snapshots keeps history.expire.min-snapshots-to-keep snapshots.
    run(&engine, "INSERT INTO v VALUES (0, 100)").await;
    run(&engine, "INSERT INTO v VALUES (1, 200)").await;
    run(
        &engine,
        "ALTER TABLE v EXECUTE expire_snapshots(retention_threshold => '0s')",
    )
    .await;
    assert_eq!(snapshot_ids(&engine, "v").await.len(), 1);
    assert_eq!(one(&engine, "SELECT sum(n) FROM v").await, "306");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_snapshots_to_keep_is_respected() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    run(
        &engine,
        "CREATE TABLE k (n INT) WITH ('history.expire.min-snapshots-to-keep' = '2')",
    )
    .await;
    for i in 0..4 {
        run(&engine, &format!("INSERT INTO k VALUES ({i})")).await;
    }
    run(&engine, "SET floe.vacuum.min_retention = '0s'").await;
    run(&engine, "VACUUM k RETAIN 0 HOURS").await;
    let ids = snapshot_ids(&engine, "k").await;
    assert_eq!(ids.len(), 2);
    assert_eq!(
        one(
            &engine,
            &format!("SELECT sum(n) FROM k FOR VERSION AS OF {}", ids[0])
        )
        .await,
        "3"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_compaction_compacts_partitions_over_the_limit_in_the_background() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    run(
        &engine,
        "CREATE TABLE a (k INT, n INT) PARTITIONED BY (k) \
         WITH ('floe.auto-compact.min-small-files' = '3')",
    )
    .await;
    let files = |k: i32| format!("SELECT count(*) FROM \"a$files\" WHERE partition.k = {k}");
    // Up to the limit (3 small files in partition 1, 2 in partition 2): nothing happens.
    for n in 1..=3 {
        run(&engine, &format!("INSERT INTO a VALUES (1, {n})")).await;
        engine.wait_for_auto_compaction().await;
    }
    for n in [100, 101] {
        run(&engine, &format!("INSERT INTO a VALUES (2, {n})")).await;
        engine.wait_for_auto_compaction().await;
    }
    assert_eq!(one(&engine, &files(1)).await, "3");
    assert_eq!(one(&engine, &files(2)).await, "2");
    // One more in partition 1: it is compacted in the background, partition 2 is not.
    run(&engine, "INSERT INTO a VALUES (1, 4)").await;
    engine.wait_for_auto_compaction().await;
    assert_eq!(one(&engine, &files(1)).await, "1");
    assert_eq!(one(&engine, &files(2)).await, "2");
    assert_eq!(
        rows(
            &engine,
            "SELECT k, count(*), sum(n) FROM a GROUP BY k ORDER BY k"
        )
        .await,
        [["1", "4", "10"], ["2", "2", "201"]]
    );
    assert_eq!(
        one(
            &engine,
            "SELECT operation FROM \"a$snapshots\" ORDER BY committed_at DESC LIMIT 1"
        )
        .await,
        "replace"
    );
    assert!(
        engine.auto_compaction_errors().is_empty(),
        "{:?}",
        engine.auto_compaction_errors()
    );

    // Off by default: small files stay.
    run(&engine, "CREATE TABLE off (n INT)").await;
    for n in 0..5 {
        run(&engine, &format!("INSERT INTO off VALUES ({n})")).await;
    }
    engine.wait_for_auto_compaction().await;
    assert_eq!(
        one(&engine, "SELECT count(*) FROM \"off$files\"").await,
        "5"
    );

    // A bad setting does not fail the INSERT, and is logged rather than lost.
    run(
        &engine,
        "CREATE TABLE bad (n INT) WITH ('floe.auto-compact.min-small-files' = 'lots')",
    )
    .await;
    run(&engine, "INSERT INTO bad VALUES (1)").await;
    engine.wait_for_auto_compaction().await;
    assert_eq!(one(&engine, "SELECT count(*) FROM bad").await, "1");
    let errors = engine.auto_compaction_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("floe.auto-compact.min-small-files must be a number of files, not lots"),
        "{errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_compaction_loses_no_rows_of_concurrent_writers() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    run(
        &engine,
        "CREATE TABLE c (w INT, i INT) WITH ('floe.auto-compact.min-small-files' = '2')",
    )
    .await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let session = engine.new_session();
            tokio::spawn(async move {
                for i in 0..10 {
                    run(&session, &format!("INSERT INTO c VALUES ({w}, {i})")).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    engine.wait_for_auto_compaction().await;
    assert_eq!(
        rows(
            &engine,
            "SELECT count(*), count(DISTINCT w * 100 + i) FROM c"
        )
        .await,
        [["40", "40"]]
    );
    // At least one background compaction committed, and none met an error other than a
    // lost race (SQLSTATE 40001, logged).
    assert!(
        one(
            &engine,
            "SELECT count(*) FROM \"c$snapshots\" WHERE operation = 'replace'"
        )
        .await
        .parse::<u32>()
        .unwrap()
            > 0
    );
    for error in engine.auto_compaction_errors() {
        assert!(error.contains("SQLSTATE 40001"), "{error}");
    }
}
