//! `ScanWithDeletesExec`: reads the data files that row-level delete files apply to
//! (merge-on-read tables written by other tools) and leaves the deleted rows out.
//!
//! Iceberg's planning has already paired each data file with the delete files that apply
//! to it by the spec's rules: a position delete applies to data files of its partition
//! whose data sequence number is at most its own, an equality delete to those whose number
//! is strictly lower. Position deletes are applied by iceberg's `ArrowReader`, which turns
//! them into a Parquet row selection. Equality deletes are applied here: iceberg's reader
//! turns them into `column != value` filters, which also drop every row whose column is
//! NULL, while Iceberg's equality matches NULL to NULL and to nothing else. A set of the
//! delete rows' keys in Arrow's row format, where NULLs compare equal, gives exactly that.
//!
//! Files without deletes keep DataFusion's Parquet scan; only these go through here, spread
//! over partitions like the others.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::Statistics;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use iceberg::arrow::ArrowReader;
use iceberg::scan::{FileScanTask, FileScanTaskDeleteFile};
use iceberg::spec::{DataContentType, DataFileFormat};
use tokio::sync::OnceCell;

use crate::error::iceberg_to_datafusion;

/// One data file to read, with the deletes that apply to it.
#[derive(Debug, Clone)]
pub struct TaskWithDeletes {
    /// The data file, projected to `read_field_ids`, carrying only its position deletes
    /// (iceberg's reader applies those).
    task: FileScanTask,
    /// The columns read, in the order the reader returns them.
    read_field_ids: Vec<i32>,
    /// The equality delete files that apply.
    equality_deletes: Vec<FileScanTaskDeleteFile>,
}

impl TaskWithDeletes {
    /// Prepares `task` (as planning returned it, with its deletes) to be read for the
    /// columns `output_field_ids`. `columns_in_file` are the field ids the manifest records
    /// metrics for, that is the columns the data file holds, when it says.
    pub fn new(mut task: FileScanTask, output_field_ids: &[i32], columns_in_file: &[i32]) -> Self {
        let (equality_deletes, position_deletes): (Vec<_>, Vec<_>) = task
            .deletes
            .drain(..)
            .partition(|delete| delete.file_type == DataContentType::EqualityDeletes);
        task.deletes = position_deletes;
        // DataFusion filters the rows above the scan; the reader need not.
        task.predicate = None;
        let mut read_field_ids = output_field_ids.to_vec();
        for delete in &equality_deletes {
            for id in delete.equality_ids.iter().flatten() {
                if !read_field_ids.contains(id) {
                    read_field_ids.push(*id);
                }
            }
        }
        // iceberg's reader cannot build batches when the file holds none of the columns
        // asked for (columns added to the table after the file was written): then one
        // column the file does hold is read as well, to carry the row count.
        if !read_field_ids.is_empty()
            && !read_field_ids.iter().any(|id| columns_in_file.contains(id))
            && let Some(id) = columns_in_file.iter().find(|id| {
                // A top-level column: the reader projects those.
                task.schema
                    .as_struct()
                    .fields()
                    .iter()
                    .any(|field| field.id == **id && field.field_type.is_primitive())
            })
        {
            read_field_ids.push(*id);
        }
        task.project_field_ids = read_field_ids.clone();
        Self {
            task,
            read_field_ids,
            equality_deletes,
        }
    }

    pub fn file_size_in_bytes(&self) -> u64 {
        self.task.file_size_in_bytes
    }
}

pub struct ScanWithDeletesExec {
    groups: Vec<Vec<TaskWithDeletes>>,
    /// Shared by all partitions, so that a delete file is loaded once per scan.
    reader: ArrowReader,
    equality_deletes: Arc<EqualityDeleteCache>,
    /// Field ids of the output columns, in order.
    output_field_ids: Vec<i32>,
    schema: SchemaRef,
    statistics: Statistics,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for ScanWithDeletesExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanWithDeletesExec")
            .field("groups", &self.groups)
            .field("output_field_ids", &self.output_field_ids)
            .finish_non_exhaustive()
    }
}

impl ScanWithDeletesExec {
    /// A scan of `groups` (one output partition each) producing the columns
    /// `output_field_ids` as `schema`. `statistics` describe the files before deletes.
    pub fn new(
        groups: Vec<Vec<TaskWithDeletes>>,
        reader: ArrowReader,
        output_field_ids: Vec<i32>,
        schema: SchemaRef,
        statistics: Statistics,
    ) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(groups.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self {
            groups,
            equality_deletes: Arc::new(EqualityDeleteCache {
                reader: reader.clone(),
                loaded: Mutex::default(),
            }),
            reader,
            output_field_ids,
            schema,
            // Deleted rows are not counted out of the manifests' figures.
            statistics: statistics.to_inexact(),
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for ScanWithDeletesExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: usize = self.groups.iter().map(Vec::len).sum();
        let (mut position, mut equality) = (HashSet::new(), HashSet::new());
        for task in self.groups.iter().flatten() {
            position.extend(task.task.deletes.iter().map(|d| d.file_path.as_str()));
            equality.extend(task.equality_deletes.iter().map(|d| d.file_path.as_str()));
        }
        write!(
            f,
            "ScanWithDeletesExec: data_files={files}, position_delete_files={}, \
             equality_delete_files={}",
            position.len(),
            equality.len()
        )
    }
}

/// What reading one partition needs, shared by the streams of its files.
struct PartitionReader {
    reader: ArrowReader,
    equality_deletes: Arc<EqualityDeleteCache>,
    output_field_ids: Vec<i32>,
    schema: SchemaRef,
    rows_deleted_by_equality: Count,
    bytes_scanned: Count,
}

impl ExecutionPlan for ScanWithDeletesExec {
    fn name(&self) -> &str {
        "ScanWithDeletesExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "ScanWithDeletesExec has no children".to_string(),
            ))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        let tasks = self.groups.get(partition).cloned().unwrap_or_default();
        let shared = Arc::new(PartitionReader {
            reader: self.reader.clone(),
            equality_deletes: self.equality_deletes.clone(),
            output_field_ids: self.output_field_ids.clone(),
            schema: self.schema.clone(),
            rows_deleted_by_equality: MetricBuilder::new(&self.metrics)
                .global_counter("rows_deleted_by_equality_deletes"),
            bytes_scanned: MetricBuilder::new(&self.metrics).global_counter("bytes_scanned"),
        });
        let batches = stream::iter(tasks)
            .then(move |task| read_file(shared.clone(), task))
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            batches,
        )))
    }

    fn partition_statistics(&self, partition: Option<usize>) -> DFResult<Statistics> {
        Ok(match partition {
            None => self.statistics.clone(),
            Some(_) => Statistics::new_unknown(&self.schema),
        })
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The rows of one data file that no delete removes, as output batches.
async fn read_file(
    shared: Arc<PartitionReader>,
    file: TaskWithDeletes,
) -> DFResult<BoxStream<'static, DFResult<RecordBatch>>> {
    let mut deletes = Vec::with_capacity(file.equality_deletes.len());
    for delete in &file.equality_deletes {
        deletes.push(shared.equality_deletes.get(delete, &file.task).await?);
    }
    let result = shared
        .reader
        .clone()
        .read(Box::pin(stream::iter([Ok(file.task)])))
        .map_err(iceberg_to_datafusion)?;
    let scan_metrics = result.metrics().clone();
    let read_field_ids = file.read_field_ids;
    let finishing = shared.clone();
    let batches = result
        .stream()
        .map_err(iceberg_to_datafusion)
        .and_then(move |batch| {
            futures::future::ready(keep_live_rows(&finishing, &read_field_ids, &deletes, batch))
        });
    // Bytes are counted once the file has been read (delete files included).
    let count_bytes = stream::once(async move {
        shared.bytes_scanned.add(scan_metrics.bytes_read() as usize);
    })
    .filter_map(|_| futures::future::ready(None));
    Ok(batches.chain(count_bytes).boxed())
}

/// Drops the rows of `batch` (columns `read_field_ids`) that an equality delete matches and
/// returns the output columns.
fn keep_live_rows(
    shared: &PartitionReader,
    read_field_ids: &[i32],
    deletes: &[Arc<EqualityDeleteSet>],
    batch: RecordBatch,
) -> DFResult<RecordBatch> {
    let column = |id: i32| -> DFResult<ArrayRef> {
        let index = read_field_ids
            .iter()
            .position(|read| *read == id)
            .ok_or_else(|| {
                DataFusionError::Internal(format!("column with field id {id} was not read"))
            })?;
        Ok(plain(batch.column(index).clone()))
    };
    let mut deleted: Option<Vec<bool>> = None;
    for delete in deletes {
        let Some(converter) = &delete.converter else {
            continue;
        };
        let keys = delete
            .field_ids
            .iter()
            .zip(&delete.key_types)
            .map(|(id, ty)| {
                let array = column(*id)?;
                if array.data_type() == ty {
                    Ok(array)
                } else {
                    Ok(cast(&array, ty)?)
                }
            })
            .collect::<DFResult<Vec<_>>>()?;
        let rows = converter.convert_columns(&keys)?;
        let deleted = deleted.get_or_insert_with(|| vec![false; batch.num_rows()]);
        for (index, row) in rows.iter().enumerate() {
            deleted[index] |= delete.keys.contains(row.as_ref());
        }
    }
    let output: Vec<ArrayRef> = shared
        .output_field_ids
        .iter()
        .zip(shared.schema.fields())
        .map(|(id, field)| {
            let array = column(*id)?;
            if array.data_type() == field.data_type() {
                Ok(array)
            } else {
                Ok(cast(&array, field.data_type())?)
            }
        })
        .collect::<DFResult<_>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    let output = RecordBatch::try_new_with_options(shared.schema.clone(), output, &options)?;
    match deleted {
        None => Ok(output),
        Some(deleted) => {
            let removed = deleted.iter().filter(|d| **d).count();
            if removed == 0 {
                return Ok(output);
            }
            shared.rows_deleted_by_equality.add(removed);
            let keep: BooleanArray = deleted.into_iter().map(|d| Some(!d)).collect();
            Ok(filter_record_batch(&output, &keep)?)
        }
    }
}

/// iceberg's reader fills identity partition columns with run-end encoded constants; the
/// rest of the plan wants plain arrays.
fn plain(array: ArrayRef) -> ArrayRef {
    match array.data_type() {
        DataType::RunEndEncoded(_, values) => {
            cast(&array, values.data_type()).unwrap_or(array.clone())
        }
        _ => array,
    }
}

/// The rows of one equality delete file: their values in the equality columns.
struct EqualityDeleteSet {
    field_ids: Vec<i32>,
    /// The Arrow types of the equality columns, as the keys were encoded.
    key_types: Vec<DataType>,
    /// `None` for a file without rows.
    converter: Option<RowConverter>,
    keys: HashSet<Box<[u8]>>,
}

/// Equality delete files loaded during one scan, each once however many data files and
/// partitions it applies to.
struct EqualityDeleteCache {
    reader: ArrowReader,
    loaded: Mutex<HashMap<String, Arc<OnceCell<Arc<EqualityDeleteSet>>>>>,
}

impl EqualityDeleteCache {
    async fn get(
        &self,
        delete: &FileScanTaskDeleteFile,
        data_task: &FileScanTask,
    ) -> DFResult<Arc<EqualityDeleteSet>> {
        let cell = self
            .loaded
            .lock()
            .expect("equality delete cache lock")
            .entry(delete.file_path.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.load(delete, data_task))
            .await
            .cloned()
    }

    async fn load(
        &self,
        delete: &FileScanTaskDeleteFile,
        data_task: &FileScanTask,
    ) -> DFResult<Arc<EqualityDeleteSet>> {
        let field_ids = delete.equality_ids.clone().unwrap_or_default();
        if field_ids.is_empty() {
            return Err(DataFusionError::Execution(format!(
                "equality delete file {} names no equality columns",
                delete.file_path
            )));
        }
        // The delete file is read like a data file holding just the equality columns, so
        // that its columns are matched by field id and promoted to the table's types.
        let task = FileScanTask::builder()
            .with_file_size_in_bytes(delete.file_size_in_bytes)
            .with_start(0)
            .with_length(delete.file_size_in_bytes)
            .with_data_file_path(delete.file_path.clone())
            .with_data_file_format(DataFileFormat::Parquet)
            .with_schema(data_task.schema.clone())
            .with_project_field_ids(field_ids.clone())
            .with_name_mapping(data_task.name_mapping.clone())
            .with_case_sensitive(true)
            .build();
        let batches: Vec<RecordBatch> = self
            .reader
            .clone()
            .read(Box::pin(stream::iter([Ok(task)])))
            .map_err(iceberg_to_datafusion)?
            .stream()
            .try_collect()
            .await
            .map_err(iceberg_to_datafusion)?;
        let mut converter = None;
        let mut key_types = Vec::new();
        let mut keys = HashSet::new();
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let columns: Vec<ArrayRef> = batch.columns().iter().cloned().map(plain).collect();
            let converter = match &mut converter {
                Some(converter) => converter,
                None => {
                    key_types = columns.iter().map(|c| c.data_type().clone()).collect();
                    converter.insert(RowConverter::new(
                        key_types.iter().cloned().map(SortField::new).collect(),
                    )?)
                }
            };
            let rows = converter.convert_columns(&columns)?;
            keys.extend(rows.iter().map(|row| Box::<[u8]>::from(row.as_ref())));
        }
        Ok(Arc::new(EqualityDeleteSet {
            field_ids,
            key_types,
            converter,
            keys,
        }))
    }
}

#[cfg(test)]
mod tests;
