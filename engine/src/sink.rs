//! Writing rows into an Iceberg table: Parquet data files through iceberg's writer stack
//! (one open file per table partition, rolled at the target size), then one append
//! snapshot per statement. A statement that fails before its commit deletes what it wrote,
//! so the table is left exactly as it was.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::sink::DataSink;
use datafusion::error::Result as DFResult;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;
use iceberg::arrow::record_batch_partition_splitter::RecordBatchPartitionSplitter;
use iceberg::table::Table;

use crate::catalog::FloeCatalog;
use crate::commit::{Change, commit};
use crate::error::{FloeError, Result, sqlstate, to_datafusion};
use crate::table_writer::{TableWriter, Written};

/// The `DataSink` behind `INSERT INTO <iceberg table>`.
pub struct IcebergSink {
    catalog: Arc<FloeCatalog>,
    table: Table,
    /// The Arrow schema DataFusion delivers rows in (the table's columns, in order).
    input_schema: SchemaRef,
    /// The same columns carrying Iceberg field ids, as the Parquet writer needs them.
    file_schema: SchemaRef,
    /// The sort order the rows arrive in, recorded on the files.
    sort_order_id: Option<i32>,
    metrics: ExecutionPlanMetricsSet,
    counters: WriteCounters,
}

/// The write metrics a sink reports (see [`WRITE_METRICS`]).
struct WriteCounters {
    files: Count,
    bytes: Count,
    uncompressed_bytes: Count,
}

/// The names of the metrics an INSERT reports beside `output_rows`, in the order
/// files, bytes, uncompressed bytes.
pub const WRITE_METRICS: [&str; 3] = ["files_written", "bytes_written", "uncompressed_bytes"];

impl IcebergSink {
    pub fn new(
        catalog: Arc<FloeCatalog>,
        table: Table,
        input_schema: SchemaRef,
        file_schema: SchemaRef,
        sort_order_id: Option<i32>,
    ) -> Self {
        let metrics = ExecutionPlanMetricsSet::new();
        let count = |name: &'static str| MetricBuilder::new(&metrics).counter(name, 0);
        let counters = WriteCounters {
            files: count(WRITE_METRICS[0]),
            bytes: count(WRITE_METRICS[1]),
            uncompressed_bytes: count(WRITE_METRICS[2]),
        };
        Self {
            catalog,
            table,
            input_schema,
            file_schema,
            sort_order_id,
            metrics,
            counters,
        }
    }

    /// Appends `files` as one snapshot through the engine's one commit path.
    async fn commit(&self, files: Vec<iceberg::spec::DataFile>) -> Result<Table> {
        commit(
            self.catalog.as_ref(),
            self.table.identifier(),
            &Change::Append(files),
        )
        .await
    }
}

/// Writes `data` (the table's columns, in order) into new data files of `table`, not yet
/// committed. `sort_order_id` says which sort order the rows arrive in, if any. When it
/// fails, the files it began are removed again.
pub(crate) async fn write_data_files(
    table: &Table,
    file_schema: SchemaRef,
    data: SendableRecordBatchStream,
    sort_order_id: Option<i32>,
    pool: &Arc<dyn MemoryPool>,
) -> Result<Written> {
    let reservation =
        MemoryConsumer::new(format!("write to {}", table.identifier())).register(pool);
    let mut writer = TableWriter::new(table, file_schema.clone(), sort_order_id, reservation)?;
    let written = match write_all_batches(table, &file_schema, data, &mut writer).await {
        Ok(()) => writer.finish().await,
        Err(err) => Err(err),
    };
    if written.is_err() {
        writer.abort().await;
    }
    written
}

async fn write_all_batches(
    table: &Table,
    file_schema: &SchemaRef,
    mut data: SendableRecordBatchStream,
    writer: &mut TableWriter,
) -> Result<()> {
    let metadata = table.metadata();
    let spec = metadata.default_partition_spec().clone();
    let splitter = if spec.is_unpartitioned() {
        None
    } else {
        Some(RecordBatchPartitionSplitter::try_new_with_computed_values(
            metadata.current_schema().clone(),
            spec,
        )?)
    };
    while let Some(batch) = data.next().await {
        let batch = to_file_schema(table, file_schema, batch?)?;
        match &splitter {
            None => writer.write(None, &batch).await?,
            Some(splitter) => {
                for (key, part) in splitter.split(&batch)? {
                    writer.write(Some(&key), &part).await?;
                }
            }
        }
    }
    Ok(())
}

/// Checks NOT NULL columns, then relabels the batch with the field-id schema (the columns
/// are already the table's, in order and type).
fn to_file_schema(
    table: &Table,
    file_schema: &SchemaRef,
    batch: RecordBatch,
) -> Result<RecordBatch> {
    for (field, column) in file_schema.fields().iter().zip(batch.columns()) {
        if !field.is_nullable() && column.logical_null_count() > 0 {
            return Err(FloeError::new(
                sqlstate::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" of table {} violates not-null constraint",
                    field.name(),
                    table.identifier()
                ),
            ));
        }
    }
    Ok(RecordBatch::try_new(
        file_schema.clone(),
        batch.columns().to_vec(),
    )?)
}

impl fmt::Debug for IcebergSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IcebergSink")
            .field("table", self.table.identifier())
            .finish()
    }
}

impl DisplayAs for IcebergSink {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IcebergSink: table={}", self.table.identifier())
    }
}

#[async_trait]
impl DataSink for IcebergSink {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> &SchemaRef {
        &self.input_schema
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> DFResult<u64> {
        let written = write_data_files(
            &self.table,
            self.file_schema.clone(),
            data,
            self.sort_order_id,
            context.memory_pool(),
        )
        .await
        .map_err(to_datafusion)?;
        if written.files.is_empty() {
            return Ok(0);
        }
        match self.commit(written.files.clone()).await {
            Ok(committed) => self.catalog.auto_compaction().after_append(
                &self.catalog,
                &committed,
                context.runtime_env(),
            ),
            Err(err) => {
                for file in &written.files {
                    let _ = self.table.file_io().delete(file.file_path()).await;
                }
                return Err(to_datafusion(err));
            }
        }
        self.counters.files.add(written.files.len());
        self.counters.bytes.add(written.bytes as usize);
        self.counters
            .uncompressed_bytes
            .add(written.uncompressed_bytes as usize);
        Ok(written.rows)
    }
}
