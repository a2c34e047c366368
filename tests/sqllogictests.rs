//! Runs every `sql/*.slt` script against a fresh, temporary warehouse, in-process, through
//! the engine's single statement path. Error expectations can match the SQLSTATE, which is
//! part of the error text here: `statement error .*SQLSTATE 23502`.
//!
//! `cargo test --test sqllogictests -- <substring>` runs only the matching files.

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use floe_engine::{Engine, FloeError, Output};
use futures::StreamExt;
use sqllogictest::{DBOutput, DefaultColumnType};

mod slt_harness;
use slt_harness::Tally;

struct FloeDb {
    engine: Engine,
}

#[derive(Debug)]
struct SltError(FloeError);

impl std::fmt::Display for SltError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.0.message, self.0.sqlstate)
    }
}

impl std::error::Error for SltError {}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating() || matches!(data_type, DataType::Decimal128(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

/// Cell text as sqllogictest files write it: `NULL` for null, `(empty)` for ''. A row
/// whose last cell spans lines (SHOW CREATE TABLE, EXPLAIN) continues on further rows.
fn rows_of(batch: &RecordBatch) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formattable column"))
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| match f.value(row).to_string() {
                    text if text.is_empty() => "(empty)".to_string(),
                    text => text,
                })
                .collect::<Vec<String>>()
        })
        .flat_map(|mut row: Vec<String>| {
            let Some(last) = row.pop() else {
                return vec![row];
            };
            let mut lines = last.lines().map(str::to_string);
            row.push(lines.next().unwrap_or_default());
            std::iter::once(row)
                .chain(lines.map(|l| vec![l]))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[async_trait]
impl sqllogictest::AsyncDB for FloeDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let statements = self.engine.parse(sql).map_err(SltError)?;
        let mut result = DBOutput::StatementComplete(0);
        for statement in statements {
            result = match self.engine.execute(statement).await.map_err(SltError)? {
                Output::Rows(mut stream) => {
                    let types = stream
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| column_type(f.data_type()))
                        .collect();
                    let mut rows = Vec::new();
                    while let Some(batch) = stream.next().await {
                        rows.extend(rows_of(&batch.map_err(|e| SltError(e.into()))?));
                    }
                    DBOutput::Rows { types, rows }
                }
                Output::Command { rows, .. } => DBOutput::StatementComplete(rows.unwrap_or(0)),
            };
        }
        Ok(result)
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "floe"
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut tally = Tally::default();
    for file in slt_harness::selected_files() {
        let warehouse = tempfile::tempdir().expect("temporary warehouse");
        let dir = warehouse.path().to_path_buf();
        let mut runner = sqllogictest::Runner::new(move || {
            let dir = dir.clone();
            async move {
                Ok(FloeDb {
                    engine: Engine::open(&dir).await.map_err(SltError)?,
                })
            }
        });
        tally.record(&file, runner.run_file_async(&file).await);
    }
    tally.finish();
}
