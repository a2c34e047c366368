//! The interactive shell driven through a pseudo-terminal, as a person uses it: multi-line
//! entry, history recall, Tab completion of a table and a column, `\d`, `\timing`, Ctrl-C
//! during a long query, progress of a long write, Ctrl-C on a half-typed line, and Ctrl-D
//! to leave.

use std::process::Command;

use rexpect::session::{PtySession, spawn_command};

/// The binary under test; `FLOE_BIN` overrides it (the target dir may be shared).
fn floe_bin() -> String {
    std::env::var("FLOE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_floe").to_string())
}

const UP_ARROW: &str = "\x1b[A";

fn prompt(shell: &mut PtySession) {
    shell.exp_string("floe> ").expect("prompt");
}

#[test]
fn a_session_at_the_prompt() {
    let home = tempfile::tempdir().unwrap();
    let warehouse = home.path().join("wh");
    let setup = Command::new(floe_bin())
        .arg("--warehouse")
        .arg(&warehouse)
        .args([
            "-c",
            "CREATE TABLE people (person_id INT, name TEXT, score DOUBLE); \
             INSERT INTO people VALUES (1, 'Ada', 9.5), (2, 'Bo', -1.0)",
        ])
        .output()
        .unwrap();
    assert!(setup.status.success(), "{setup:?}");

    let mut command = Command::new(floe_bin());
    command
        .arg("--warehouse")
        .arg(&warehouse)
        .env("HOME", home.path())
        .env("TERM", "xterm");
    let mut shell = spawn_command(command, Some(60_000)).unwrap();
    shell.exp_string("\\? for help").unwrap();
    prompt(&mut shell);

    // A statement over two lines: the second line gets the continuation prompt.
    shell.send_line("SELECT 40 +").unwrap();
    shell.exp_string("  ... ").unwrap();
    shell.send_line("2 AS answer;").unwrap();
    shell.exp_string("answer").unwrap();
    shell.exp_string("42").unwrap();
    shell.exp_string("(1 row)").unwrap();
    prompt(&mut shell);

    // Up arrow recalls the whole statement as one entry; Enter runs it again.
    shell.send(UP_ARROW).unwrap();
    shell.send_line("").unwrap();
    shell.exp_string("42").unwrap();
    shell.exp_string("(1 row)").unwrap();
    prompt(&mut shell);

    // Tab completes a table name, then a column of the table in the statement.
    shell.send("SELECT name FROM peo\t").unwrap();
    shell.send(" WHERE sco\t > 0;\n").unwrap();
    shell.exp_string("Ada").unwrap();
    shell.exp_string("(1 row)").unwrap();
    prompt(&mut shell);

    // \d describes the table.
    shell.send_line("\\d people").unwrap();
    shell.exp_string("Table public.people").unwrap();
    shell.exp_string("person_id").unwrap();
    shell.exp_string("Partitioned by: none").unwrap();
    shell.exp_string("Snapshots: 1").unwrap();
    prompt(&mut shell);

    // \timing adds the elapsed time after each statement.
    shell.send_line("\\timing on").unwrap();
    shell.exp_string("Timing is on.").unwrap();
    prompt(&mut shell);
    shell.send_line("SELECT 7 AS seven;").unwrap();
    shell.exp_string("(1 row)").unwrap();
    shell.exp_regex(r"Time: \d+\.\d{3} ms").unwrap();
    prompt(&mut shell);
    shell.send_line("\\timing off").unwrap();
    prompt(&mut shell);

    // Ctrl-C cancels a long query once its spinner shows; the shell stays usable.
    shell
        .send_line("SELECT count(*) FROM range(1, 100000000000000);")
        .unwrap();
    shell.exp_string("Ctrl-C cancels").unwrap();
    shell.send_control('c').unwrap();
    shell
        .exp_string("canceling statement due to user request (SQLSTATE 57014)")
        .unwrap();
    prompt(&mut shell);
    shell.send_line("SELECT 5 AS five;").unwrap();
    shell.exp_string("five").unwrap();
    shell.exp_string("(1 row)").unwrap();
    prompt(&mut shell);

    // A long write shows the rows and bytes written so far; Ctrl-C cancels it and the
    // table is left as it was.
    shell
        .send_line("INSERT INTO people SELECT value, 'x', 0.0 FROM range(3, 100000000000000);")
        .unwrap();
    shell
        .exp_regex(r"\d[\d,]* rows, [\d.]+ (bytes|KiB|MiB|GiB) written")
        .unwrap();
    shell.send_control('c').unwrap();
    shell
        .exp_string("canceling statement due to user request (SQLSTATE 57014)")
        .unwrap();
    prompt(&mut shell);
    shell
        .send_line("SELECT count(*) AS people FROM people;")
        .unwrap();
    shell.exp_regex(r"people\s+-+\s+2\s").unwrap();
    shell.exp_string("(1 row)").unwrap();
    prompt(&mut shell);

    // Ctrl-C on a half-typed statement throws it away.
    shell.send("SELECT broken").unwrap();
    shell.send_control('c').unwrap();
    prompt(&mut shell);
    shell.send_line("SELECT 6 AS six;").unwrap();
    shell.exp_string("six").unwrap();
    shell.exp_string("(1 row)").unwrap();
    prompt(&mut shell);

    // Ctrl-D leaves with success.
    shell.send_control('d').unwrap();
    shell.exp_eof().unwrap();
    let status = shell.process_mut().wait().unwrap();
    assert!(
        matches!(status, rexpect::process::WaitStatus::Exited(_, 0)),
        "{status:?}"
    );
    let history = std::fs::read_to_string(home.path().join(".floe_history")).unwrap();
    assert!(history.contains("2 AS answer;"), "{history}");
    assert!(history.contains("\\d people"), "{history}");
    assert!(!history.contains("broken"), "{history}");
}
