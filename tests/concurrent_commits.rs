//! Two `floe` processes append to the same table at the same time. Every INSERT that
//! reports success must be in the table: the commit path detects lost races and retries.

use std::process::Command;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");
const INSERTS_PER_WRITER: usize = 30;

fn floe(warehouse: &std::path::Path, sql: &str) -> std::process::Output {
    Command::new(FLOE)
        .arg("--warehouse")
        .arg(warehouse)
        .args(["--format", "csv", "--quiet", "-c", sql])
        .output()
        .expect("run floe")
}

#[test]
fn concurrent_inserts_from_two_processes_all_land() {
    let warehouse = tempfile::tempdir().unwrap();
    let created = floe(
        warehouse.path(),
        "CREATE TABLE t (writer INT NOT NULL, seq INT NOT NULL) PARTITIONED BY (writer)",
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let writers: Vec<_> = (0..2)
        .map(|writer| {
            let script: String = (0..INSERTS_PER_WRITER)
                .map(|seq| format!("INSERT INTO t VALUES ({writer}, {seq});\n"))
                .collect();
            Command::new(FLOE)
                .arg("--warehouse")
                .arg(warehouse.path())
                .args(["-c", &script])
                .output_async()
        })
        .collect();
    for writer in writers {
        let output = writer.wait_with_output().expect("writer finished");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            stdout.matches("INSERT 0 1").count(),
            INSERTS_PER_WRITER,
            "{stdout}"
        );
    }

    let counted = floe(
        warehouse.path(),
        "SELECT writer, count(*) AS n, count(DISTINCT seq) AS d FROM t GROUP BY writer ORDER BY writer",
    );
    let expected = format!("writer,n,d\n0,{n},{n}\n1,{n},{n}\n", n = INSERTS_PER_WRITER);
    assert_eq!(String::from_utf8_lossy(&counted.stdout), expected);
}

/// Starts a command without waiting for it.
trait SpawnOutput {
    fn output_async(&mut self) -> std::process::Child;
}

impl SpawnOutput for Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn floe")
    }
}
