//! What the two sqllogictest runners (in-process and over the wire) share: which scripts
//! run and how their outcomes are reported, so both always cover the same `sql/*.slt`.

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// The `sql/*.slt` files, sorted; a first non-flag argument keeps only names containing it.
pub fn selected_files() -> Vec<PathBuf> {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sql/ directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .filter(|path| {
            filter
                .as_deref()
                .is_none_or(|f| path.to_string_lossy().contains(f))
        })
        .collect();
    files.sort();
    files
}

/// Counts outcomes file by file and ends the process with a failing code if any failed.
#[derive(Default)]
pub struct Tally {
    passed: usize,
    failed: usize,
}

impl Tally {
    pub fn record(&mut self, file: &Path, outcome: Result<(), impl Display>) {
        let name = file.file_name().unwrap().to_string_lossy();
        match outcome {
            Ok(()) => {
                self.passed += 1;
                println!("ok   {name}");
            }
            Err(err) => {
                self.failed += 1;
                println!("FAIL {name}\n{err}\n");
            }
        }
    }

    pub fn finish(self) {
        println!("{} passed, {} failed", self.passed, self.failed);
        if self.failed > 0 {
            std::process::exit(1);
        }
    }
}
