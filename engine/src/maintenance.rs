//! The table maintenance statements (OPTIMIZE, VACUUM, `ALTER TABLE ... EXECUTE`) and the
//! session settings they read: each statement runs its action and reports what it did.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::context::SessionContext;
use iceberg::TableIdent;

use crate::catalog::FloeCatalog;
use crate::commit::{Change, commit};
use crate::error::{FloeError, Result};
use crate::optimize::{OptimizeRequest, optimize};
use crate::output::Output;
use crate::parser::parse_duration;
use crate::vacuum::{self, VacuumRequest};

/// The setting that lowers VACUUM's safety floor.
pub const MIN_RETENTION_SETTING: &str = "floe.vacuum.min_retention";

/// Floe's own session settings (`SET floe.<name> = ...`).
#[derive(Debug)]
pub struct FloeSettings {
    vacuum_min_retention: Mutex<Duration>,
}

impl Default for FloeSettings {
    fn default() -> Self {
        Self {
            vacuum_min_retention: Mutex::new(vacuum::DEFAULT_RETENTION),
        }
    }
}

impl FloeSettings {
    pub fn set(&self, name: &str, value: &str) -> Result<Output> {
        match name {
            MIN_RETENTION_SETTING => {
                *self.vacuum_min_retention.lock().expect("settings lock") = parse_duration(value)?;
                Ok(Output::command("SET"))
            }
            other => Err(FloeError::invalid(format!(
                "unknown setting {other}; Floe has {MIN_RETENTION_SETTING}"
            ))),
        }
    }

    pub fn vacuum_min_retention(&self) -> Duration {
        *self.vacuum_min_retention.lock().expect("settings lock")
    }
}

pub async fn run_optimize(
    ctx: &SessionContext,
    catalog: &Arc<FloeCatalog>,
    ident: &TableIdent,
    request: OptimizeRequest,
) -> Result<Output> {
    let report = optimize(ctx, catalog, ident, &request).await?;
    let counts = [
        report.rewritten_data_files,
        report.added_data_files,
        report.rewritten_bytes,
        report.added_bytes,
    ];
    let arrays: Vec<ArrayRef> = counts
        .iter()
        .map(|value| Arc::new(UInt64Array::from(vec![*value])) as ArrayRef)
        .collect();
    Output::batch(RecordBatch::try_new(optimize_result_schema(), arrays)?)
}

/// The one row OPTIMIZE returns (known before it runs, for the wire's Describe).
pub fn optimize_result_schema() -> SchemaRef {
    let columns = [
        "rewritten_data_files_count",
        "added_data_files_count",
        "rewritten_bytes_count",
        "added_bytes_count",
    ];
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|name| Field::new(*name, DataType::UInt64, false))
            .collect::<Vec<_>>(),
    ))
}

/// The rows VACUUM and its actions return: one per file deleted (or to delete).
pub fn vacuum_result_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("file_kind", DataType::Utf8, false),
        Field::new("file_path", DataType::Utf8, false),
    ]))
}

pub async fn run_rollback(
    catalog: &FloeCatalog,
    ident: &TableIdent,
    snapshot_id: i64,
) -> Result<Output> {
    commit(catalog, ident, &Change::Rollback { snapshot_id }).await?;
    Ok(Output::command("ALTER TABLE"))
}

/// Runs a VACUUM-family action and lists the files it deleted (or would delete).
pub async fn run_vacuum(
    catalog: &FloeCatalog,
    ident: &TableIdent,
    request: VacuumRequest,
    settings: &FloeSettings,
) -> Result<Output> {
    let report = vacuum::vacuum(catalog, ident, &request, settings.vacuum_min_retention()).await?;
    let schema = vacuum_result_schema();
    let kinds: StringArray = report.files.iter().map(|(k, _)| Some(k.as_str())).collect();
    let paths: StringArray = report.files.iter().map(|(_, p)| Some(p.as_str())).collect();
    Output::batch(RecordBatch::try_new(
        schema,
        vec![Arc::new(kinds), Arc::new(paths)],
    )?)
}
