//! Auto-compaction: a table with the property `floe.auto-compact.min-small-files` = N gets
//! a background OPTIMIZE after every append that leaves more than N small files in one of
//! its partitions; that OPTIMIZE compacts exactly the partitions over the limit. Off unless
//! the property is set.
//!
//! The compaction commits through the one commit path like any OPTIMIZE, so writers that
//! append meanwhile lose nothing (the replace is rebuilt on their snapshots). At most one
//! compaction per table runs at a time; appends made while it runs are looked at by the
//! next append's check. Errors never vanish: each is printed to stderr and kept in a log
//! the engine exposes ([`AutoCompaction::errors`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnv;
use iceberg::TableIdent;
use iceberg::table::Table;
use tokio::task::JoinHandle;

use crate::catalog::FloeCatalog;
use crate::error::{FloeError, Result};
use crate::optimize::{OptimizeRequest, optimize};

/// The table property: the number of small files a partition may hold before a commit
/// that leaves more schedules its compaction.
pub const MIN_SMALL_FILES_PROPERTY: &str = "floe.auto-compact.min-small-files";

/// How many errors the log keeps (the oldest are dropped; all went to stderr).
const ERROR_LOG_LIMIT: usize = 100;

/// The background compactions of one catalog.
#[derive(Debug, Default)]
pub struct AutoCompaction {
    /// Tables with a compaction under way.
    running: Mutex<HashSet<TableIdent>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    errors: Mutex<Vec<String>>,
}

impl AutoCompaction {
    /// Called after an append committed `table` (its new metadata): schedules a background
    /// compaction when the table asks for auto-compaction. `runtime` provides the memory
    /// pool and spill space the compaction's writes and sorts use.
    pub fn after_append(
        &self,
        catalog: &Arc<FloeCatalog>,
        table: &Table,
        runtime: Arc<RuntimeEnv>,
    ) {
        let ident = table.identifier().clone();
        let limit = match min_small_files(table) {
            Ok(Some(limit)) => limit,
            Ok(None) => return,
            Err(err) => {
                self.log(&ident, &err);
                return;
            }
        };
        if !self
            .running
            .lock()
            .expect("auto-compaction lock")
            .insert(ident.clone())
        {
            return;
        }
        let catalog = catalog.clone();
        let task = tokio::spawn(async move {
            let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
            let request = OptimizeRequest {
                min_small_files: Some(limit + 1),
                ..OptimizeRequest::default()
            };
            let outcome = optimize(&ctx, &catalog, &ident, &request).await;
            let compaction = catalog.auto_compaction();
            if let Err(err) = outcome {
                compaction.log(&ident, &err);
            }
            compaction
                .running
                .lock()
                .expect("auto-compaction lock")
                .remove(&ident);
        });
        let mut tasks = self.tasks.lock().expect("auto-compaction lock");
        tasks.retain(|task| !task.is_finished());
        tasks.push(task);
    }

    /// Waits until no compaction is under way (those scheduled meanwhile included).
    pub async fn wait_idle(&self) {
        loop {
            let tasks: Vec<JoinHandle<()>> =
                std::mem::take(&mut *self.tasks.lock().expect("auto-compaction lock"));
            if tasks.is_empty() {
                return;
            }
            for task in tasks {
                if let Err(err) = task.await {
                    self.push_error(format!("auto-compaction task failed: {err}"));
                }
            }
        }
    }

    /// The errors of background compactions, oldest first.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().expect("auto-compaction lock").clone()
    }

    fn log(&self, ident: &TableIdent, err: &FloeError) {
        self.push_error(format!(
            "auto-compaction of {ident} failed: {} (SQLSTATE {})",
            err.message, err.sqlstate
        ));
    }

    fn push_error(&self, message: String) {
        eprintln!("floe: {message}");
        let mut errors = self.errors.lock().expect("auto-compaction lock");
        if errors.len() == ERROR_LOG_LIMIT {
            errors.remove(0);
        }
        errors.push(message);
    }
}

/// The table's limit, `None` when auto-compaction is off.
fn min_small_files(table: &Table) -> Result<Option<usize>> {
    match table.metadata().properties().get(MIN_SMALL_FILES_PROPERTY) {
        None => Ok(None),
        Some(value) => value.trim().parse().map(Some).map_err(|_| {
            FloeError::invalid(format!(
                "table property {MIN_SMALL_FILES_PROPERTY} must be a number of files, not {value}"
            ))
        }),
    }
}
