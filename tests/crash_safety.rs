//! Crash safety: a child `floe` runs INSERT, OPTIMIZE and VACUUM in a loop and is killed
//! with SIGKILL at a random moment, again and again. After every kill the table must load
//! and hold exactly one committed state: each INSERT's rows all present or all absent, and
//! the present ones a prefix of the INSERTs issued. At the end, a VACUUM leaves exactly the
//! files the table reaches: nothing the crashes left behind survives.
//!
//! `FLOE_CRASH_ITERATIONS` sets the number of kills (default 50; use more for a long run).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The floe binary; `FLOE_BIN` overrides it (e.g. when several checkouts share a target
/// directory and the uplifted `target/debug/floe` may belong to another one).
fn floe_bin() -> String {
    std::env::var("FLOE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_floe").to_string())
}
/// Rows each INSERT writes, all carrying the INSERT's batch number.
const ROWS_PER_BATCH: usize = 3;

fn floe(warehouse: &Path, sql: &str) -> String {
    let output = Command::new(floe_bin())
        .arg("--warehouse")
        .arg(warehouse)
        .args(["--format", "csv", "--quiet", "-c", sql])
        .output()
        .expect("run floe");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// A small pseudo-random sequence (xorshift), seeded from the clock and printed so that
/// a failing run can be repeated with `FLOE_CRASH_SEED`.
struct Random(u64);

impl Random {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// The batch numbers present in the table, checking that each batch is whole.
fn committed_batches(warehouse: &Path) -> BTreeSet<u64> {
    let out = floe(
        warehouse,
        "SELECT batch, count(*) AS n FROM t GROUP BY batch ORDER BY batch",
    );
    let mut batches = BTreeSet::new();
    for line in out.lines().skip(1) {
        let (batch, n) = line.split_once(',').expect("two columns");
        assert_eq!(
            n,
            ROWS_PER_BATCH.to_string(),
            "batch {batch} is torn: {out}"
        );
        batches.insert(batch.parse().unwrap());
    }
    batches
}

fn files_under(dir: &Path, extension: &str, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, extension, found);
        } else if path.to_string_lossy().ends_with(extension) {
            found.insert(path.to_string_lossy().to_string());
        }
    }
}

fn listed(warehouse: &Path, sql: &str) -> BTreeSet<String> {
    floe(warehouse, sql)
        .lines()
        .skip(1)
        .map(|l| l.trim_start_matches("file://").to_string())
        .collect()
}

#[test]
fn killed_writers_leave_a_committed_state_and_vacuum_removes_their_debris() {
    let iterations: usize = std::env::var("FLOE_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed = std::env::var("FLOE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("FLOE_CRASH_SEED={seed}");
    let mut random = Random(seed);

    let warehouse = tempfile::tempdir().unwrap();
    let warehouse = warehouse.path();
    floe(
        warehouse,
        "CREATE TABLE t (batch BIGINT NOT NULL, part INT NOT NULL, v INT) PARTITIONED BY (part)",
    );
    let mut next_batch = 0u64;
    for _ in 0..iterations {
        // The child's work: a few INSERTs (each one batch over two partitions), then
        // maintenance. Batches that never committed are issued again later.
        let mut script = String::from("SET floe.vacuum.min_retention = '0s';\n");
        for batch in next_batch..next_batch + 3 {
            let rows: Vec<String> = (0..ROWS_PER_BATCH)
                .map(|i| format!("({batch}, {}, {i})", i % 2))
                .collect();
            script.push_str(&format!("INSERT INTO t VALUES {};\n", rows.join(", ")));
        }
        script.push_str("OPTIMIZE t;\nVACUUM t RETAIN 0 HOURS;\n");
        let mut child = Command::new(floe_bin())
            .arg("--warehouse")
            .arg(warehouse)
            .args(["--quiet", "-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn floe");
        std::thread::sleep(Duration::from_millis(random.next(400)));
        // SIGKILL: no chance to clean up.
        let _ = child.kill();
        let _ = child.wait();

        let batches = committed_batches(warehouse);
        let expected: BTreeSet<u64> = (0..batches.len() as u64).collect();
        assert_eq!(batches, expected, "committed batches are not a prefix");
        assert!(
            batches.len() as u64 >= next_batch,
            "a committed batch vanished"
        );
        next_batch = batches.len() as u64;
    }
    eprintln!("{next_batch} batches committed over {iterations} kills");

    // Whatever the kills left behind is removed; what the table reaches is kept.
    floe(
        warehouse,
        "SET floe.vacuum.min_retention = '0s'; VACUUM t RETAIN 0 HOURS",
    );
    let table_dir = warehouse.join("public").join("t");
    let mut parquet = BTreeSet::new();
    files_under(&table_dir, ".parquet", &mut parquet);
    assert_eq!(
        parquet,
        listed(warehouse, "SELECT file_path FROM \"t$files\"")
    );
    let mut avro = BTreeSet::new();
    files_under(&table_dir, ".avro", &mut avro);
    let mut reachable = listed(warehouse, "SELECT path FROM \"t$manifests\"");
    reachable.extend(listed(
        warehouse,
        "SELECT manifest_list FROM \"t$snapshots\"",
    ));
    assert_eq!(avro, reachable);
    assert_eq!(committed_batches(warehouse).len() as u64, next_batch);
}
