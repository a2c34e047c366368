//! Eight `floe` processes append while a ninth compacts the same table over and over.
//! OPTIMIZE's replace commits must never lose or duplicate a row appended concurrently,
//! and every INSERT that reports success must be in the table.

use std::process::{Command, Stdio};

/// The floe binary; `FLOE_BIN` overrides it (e.g. when several checkouts share a target
/// directory and the uplifted `target/debug/floe` may belong to another one).
fn floe_bin() -> String {
    std::env::var("FLOE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_floe").to_string())
}
const WRITERS: usize = 8;
const INSERTS_PER_WRITER: usize = 25;

fn floe(warehouse: &std::path::Path) -> Command {
    let mut command = Command::new(floe_bin());
    command
        .arg("--warehouse")
        .arg(warehouse)
        .args(["--format", "csv", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

#[test]
fn concurrent_inserts_and_optimize_lose_nothing() {
    let warehouse = tempfile::tempdir().unwrap();
    let created = floe(warehouse.path())
        .args([
            "-c",
            "CREATE TABLE t (writer INT NOT NULL, seq INT NOT NULL) PARTITIONED BY (writer)",
        ])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let script: String = (0..INSERTS_PER_WRITER)
                .map(|seq| format!("INSERT INTO t VALUES ({writer}, {seq});\n"))
                .collect();
            floe(warehouse.path())
                .args(["-c", &script])
                .spawn()
                .unwrap()
        })
        .collect();
    let mut writers = writers;
    // OPTIMIZE again and again for as long as any writer is still appending.
    let mut rounds = 0;
    let mut compacted = 0;
    while writers.iter_mut().any(|w| w.try_wait().unwrap().is_none()) {
        let output = floe(warehouse.path())
            .args(["-c", "OPTIMIZE t"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "OPTIMIZE failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        rounds += 1;
        if !String::from_utf8_lossy(&output.stdout).contains("\n0,0,0,0") {
            compacted += 1;
        }
    }
    for writer in writers {
        let output = writer.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // A last OPTIMIZE after the writers stopped compacts whatever is left.
    let counted = floe(warehouse.path())
        .args([
            "-c",
            "OPTIMIZE t; SELECT count(*) AS n, count(DISTINCT writer * 1000 + seq) AS d, \
             (SELECT count(*) FROM \"t$files\") AS files FROM t",
        ])
        .output()
        .unwrap();
    assert!(
        counted.status.success(),
        "{}",
        String::from_utf8_lossy(&counted.stderr)
    );
    let expected = WRITERS * INSERTS_PER_WRITER;
    let stdout = String::from_utf8_lossy(&counted.stdout);
    let last = stdout.lines().last().unwrap();
    assert_eq!(last, format!("{expected},{expected},{WRITERS}"), "{stdout}");
    eprintln!("OPTIMIZE compacted something in {compacted} of {rounds} rounds");
}
