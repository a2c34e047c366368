//! Writing rows into an Iceberg table: Parquet data files through Floe's table writers
//! (one per core, each table partition with one of them, see `write_routing`; each keeps
//! one open file per partition, rolled at the target size), then one append snapshot per
//! statement. A statement that fails before its commit deletes what it wrote, so the
//! table is left exactly as it was.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::runtime::SpawnedTask;
use datafusion::datasource::sink::DataSink;
use datafusion::error::Result as DFResult;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::{Stream, StreamExt};
use iceberg::spec::PartitionKey;
use iceberg::table::Table;
use tokio::sync::mpsc;

use crate::catalog::FloeCatalog;
use crate::commit::{Change, commit};
use crate::error::{FloeError, Result, sqlstate, to_datafusion};
use crate::partition_split::PartitionSplitter;
use crate::progress;
use crate::table_writer::{TableWriter, Written};
use crate::write_routing::Router;

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

    /// Appends what was written as one snapshot through the engine's one commit path.
    async fn commit(&self, written: &Written) -> Result<Table> {
        let change = Change::Append {
            files: written.files.clone(),
            arrow_bytes: Some(written.uncompressed_bytes),
        };
        commit(self.catalog.as_ref(), self.table.identifier(), &change).await
    }
}

/// Rows of one table partition (`None`: the table is unpartitioned), cut from one batch.
type Piece = (Option<PartitionKey>, RecordBatch);

/// Writes `data` (the table's columns, in order) into new data files of `table`, not yet
/// committed, with up to `writers` table writers working in parallel (each has at most one
/// open file per table partition; see [`Router`] for which rows each gets). `sort_order_id`
/// says which sort order the rows arrive in, if any: each writer receives a subsequence of
/// the rows, so its files stay sorted. When it fails, the files it began are removed again.
pub(crate) async fn write_data_files(
    table: &Table,
    file_schema: SchemaRef,
    mut data: SendableRecordBatchStream,
    sort_order_id: Option<i32>,
    pool: &Arc<dyn MemoryPool>,
    writers: usize,
) -> Result<Written> {
    // The first batch chooses encodings for files whose own first rows are too few.
    let first = data.next().await;
    let writers = writers.max(1);
    let mut senders = Vec::with_capacity(writers);
    let mut tasks = Vec::with_capacity(writers);
    for number in 0..writers {
        let reservation =
            MemoryConsumer::new(format!("write to {} ({number})", table.identifier()))
                .register(pool);
        let mut writer = TableWriter::new(table, file_schema.clone(), sort_order_id, reservation)?
            .share_budget(writers);
        if let Some(Ok(batch)) = &first {
            writer.sample(batch);
        }
        let (sender, pieces) = mpsc::channel(2);
        senders.push(sender);
        tasks.push(SpawnedTask::spawn(progress::carry(run_writer(
            writer, pieces,
        ))));
    }
    let data = futures::stream::iter(first).chain(data);
    let dispatched = dispatch(table, &file_schema, data, &senders).await;
    drop(senders);

    let mut written = Written::default();
    let mut failure = dispatched.err();
    for task in tasks {
        match task.join().await {
            Ok(Ok(part)) => written.add(part),
            // A writer's own error explains a failed dispatch better than the dispatch does.
            Ok(Err(err)) => failure = Some(err),
            Err(err) => {
                failure = Some(FloeError::internal(format!("a table writer failed: {err}")))
            }
        }
    }
    if let Some(err) = failure {
        for file in &written.files {
            let _ = table.file_io().delete(file.file_path()).await;
        }
        return Err(err);
    }
    Ok(written)
}

/// Cuts each batch into its table partitions and hands the pieces to the writers the
/// [`Router`] picks. Stops early when a writer has failed.
async fn dispatch(
    table: &Table,
    file_schema: &SchemaRef,
    mut data: impl Stream<Item = DFResult<RecordBatch>> + Unpin,
    writers: &[mpsc::Sender<Vec<Piece>>],
) -> Result<()> {
    let metadata = table.metadata();
    let splitter = PartitionSplitter::new(
        metadata.default_partition_spec(),
        metadata.current_schema().clone(),
    )?;
    let mut router = Router::new(writers.len());
    while let Some(batch) = data.next().await {
        let batch = to_file_schema(table, file_schema, batch?)?;
        let batch_rows = batch.num_rows();
        let pieces: Vec<Piece> = match &splitter {
            None => vec![(None, batch)],
            Some(splitter) => splitter
                .split(&batch)?
                .into_iter()
                .map(|(key, rows)| (Some(key), rows))
                .collect(),
        };
        let mut by_writer: Vec<Vec<Piece>> = writers.iter().map(|_| Vec::new()).collect();
        for piece in pieces {
            let writer = router.writer_for(
                piece.0.as_ref().map(PartitionKey::data),
                piece.1.num_rows(),
                batch_rows,
                |w| writers[w].capacity() > 0,
            );
            by_writer[writer].push(piece);
        }
        for (writer, pieces) in writers.iter().zip(by_writer) {
            if !pieces.is_empty() && writer.send(pieces).await.is_err() {
                // The writer failed; its error is what the statement reports.
                return Ok(());
            }
        }
    }
    Ok(())
}

/// One table writer's task: writes the pieces it receives, then closes its files.
async fn run_writer(
    mut writer: TableWriter,
    mut pieces: mpsc::Receiver<Vec<Piece>>,
) -> Result<Written> {
    let write_all = async {
        while let Some(received) = pieces.recv().await {
            for (partition, rows) in received {
                writer.write(partition.as_ref(), &rows).await?;
            }
        }
        Ok::<_, FloeError>(())
    };
    let written = match write_all.await {
        Ok(()) => writer.finish().await,
        Err(err) => Err(err),
    };
    if written.is_err() {
        writer.abort().await;
    }
    written
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
            context.session_config().target_partitions(),
        )
        .await
        .map_err(to_datafusion)?;
        if written.files.is_empty() {
            return Ok(0);
        }
        match self.commit(&written).await {
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
