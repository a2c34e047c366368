//! `IcebergTable`: an Iceberg table as a DataFusion `TableProvider`.
//!
//! A scan asks Iceberg which data files make up the current snapshot and reads them with
//! DataFusion's Parquet machinery, spread over the session's target partitions so that all
//! cores work; the pushed-down filters prune row groups by their statistics. Data files
//! that row-level delete files apply to are read by [`ScanWithDeletesExec`] instead. An
//! INSERT streams into [`IcebergSink`].

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::datasource::TableType;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use futures::TryStreamExt;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::expr::{Bind, Predicate};
use iceberg::scan::FileScanTask;
use iceberg::spec::{DataFile, ManifestContentType};
use iceberg::table::Table;

use crate::catalog::FloeCatalog;
use crate::data_file_scan::{DataFileToScan, ScanRequest, balance, scan_data_files};
use crate::error::iceberg_to_datafusion;
use crate::names::display_table;
use crate::predicate::to_iceberg;
use crate::pruning::{PlannedFile, plan_scan};
use crate::scan::{IcebergScanExec, PruningSummary};
use crate::scan_with_deletes::{ScanWithDeletesExec, TaskWithDeletes};
use crate::sink::IcebergSink;
use crate::sort_order;
use crate::statistics;

#[derive(Debug)]
pub struct IcebergTable {
    catalog: Arc<FloeCatalog>,
    /// The table as loaded when the statement looked it up.
    table: Table,
    /// Columns as DataFusion sees them (see [`datafusion_schema`]).
    schema: SchemaRef,
    /// Columns with their Iceberg field ids, as written into Parquet.
    file_schema: SchemaRef,
    /// Time travel: the snapshot to read instead of the current one.
    snapshot_id: Option<i64>,
}

/// The columns of a table as DataFusion sees them, from the Arrow schema of its files and
/// its Iceberg schema: no Iceberg field-id metadata, and all nullable so that NOT NULL is
/// enforced (with the column named) by the sink rather than by Arrow.
pub fn datafusion_schema(
    file_schema: &ArrowSchema,
    iceberg_schema: &iceberg::spec::Schema,
) -> ArrowSchema {
    ArrowSchema::new(
        file_schema
            .fields()
            .iter()
            .zip(iceberg_schema.as_struct().fields())
            .map(|(f, iceberg)| {
                f.as_ref()
                    .clone()
                    .with_metadata(extension_metadata(&iceberg.field_type))
                    .with_nullable(true)
            })
            .collect::<Vec<_>>(),
    )
}

/// The Arrow extension type of a column whose Arrow storage type alone does not say what
/// it holds: an Iceberg uuid is stored as 16-byte fixed-size binary, like `fixed(16)`, and
/// is marked `arrow.uuid` so that clients are told it is a uuid.
fn extension_metadata(ty: &iceberg::spec::Type) -> std::collections::HashMap<String, String> {
    match ty {
        iceberg::spec::Type::Primitive(iceberg::spec::PrimitiveType::Uuid) => {
            [("ARROW:extension:name".to_string(), "arrow.uuid".to_string())].into()
        }
        _ => Default::default(),
    }
}

impl IcebergTable {
    pub fn new(catalog: Arc<FloeCatalog>, table: Table) -> DFResult<Self> {
        let file_schema = Arc::new(
            schema_to_arrow_schema(table.metadata().current_schema())
                .map_err(iceberg_to_datafusion)?,
        );
        let schema = Arc::new(datafusion_schema(
            &file_schema,
            table.metadata().current_schema(),
        ));
        Ok(Self {
            catalog,
            table,
            schema,
            file_schema,
            snapshot_id: None,
        })
    }

    /// The table's current Iceberg schema (required columns, decimal precision and scale).
    pub fn iceberg_schema(&self) -> &iceberg::spec::Schema {
        self.table.metadata().current_schema()
    }

    /// The table as of snapshot `snapshot_id` (time travel); such a table is read-only.
    pub fn at_snapshot(mut self, snapshot_id: i64) -> Self {
        self.snapshot_id = Some(snapshot_id);
        self
    }

    /// The snapshot a scan reads.
    fn snapshot(&self) -> Option<&iceberg::spec::SnapshotRef> {
        let metadata = self.table.metadata();
        match self.snapshot_id {
            Some(id) => metadata.snapshot_by_id(id),
            None => metadata.current_snapshot(),
        }
    }

    /// Iceberg's own planning of the scan, with the delete files that apply to each data
    /// file; used only for snapshots that have delete files.
    async fn plan_files(&self, predicate: Option<Predicate>) -> DFResult<Vec<FileScanTask>> {
        let mut scan = self.table.scan();
        if let Some(id) = self.snapshot_id {
            scan = scan.snapshot_id(id);
        }
        if let Some(predicate) = predicate {
            scan = scan.with_filter(predicate);
        }
        let scan = scan.build().map_err(iceberg_to_datafusion)?;
        let tasks: Vec<FileScanTask> = scan
            .plan_files()
            .await
            .map_err(iceberg_to_datafusion)?
            .try_collect()
            .await
            .map_err(iceberg_to_datafusion)?;
        Ok(tasks)
    }

    /// The scan of the data files that delete files apply to (see [`ScanWithDeletesExec`]).
    fn scan_with_deletes(
        &self,
        tasks: Vec<FileScanTask>,
        projection: Option<&Vec<usize>>,
        partitions: usize,
        batch_size: usize,
        planned: &HashMap<&str, &PlannedFile>,
        file_statistics: &dyn Fn(&DataFile, i32) -> Statistics,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let metadata = self.table.metadata();
        let schema = metadata.current_schema();
        let fields = schema.as_struct().fields();
        let indices: Vec<usize> = match projection {
            Some(indices) => indices.clone(),
            None => (0..fields.len()).collect(),
        };
        let output_field_ids: Vec<i32> = indices.iter().map(|i| fields[*i].id).collect();
        let statistics: Vec<Statistics> = tasks
            .iter()
            .map(|task| match planned.get(task.data_file_path.as_str()) {
                Some(p) => file_statistics(p.file, p.spec_id),
                None => Statistics::new_unknown(&self.schema),
            })
            .collect();
        let prepared: Vec<TaskWithDeletes> = tasks
            .into_iter()
            .map(|mut task| {
                let (columns_in_file, spec) = match planned.get(task.data_file_path.as_str()) {
                    Some(p) => (
                        p.file
                            .column_sizes()
                            .keys()
                            .chain(p.file.value_counts().keys())
                            .copied()
                            .collect(),
                        metadata.partition_spec_by_id(p.spec_id).cloned(),
                    ),
                    None => (Vec::new(), None),
                };
                // Columns are read as the current schema has them (the Parquet scan does the
                // same); identity partition columns come from the file's partition values.
                task.schema = schema.clone();
                task.partition_spec = spec;
                TaskWithDeletes::new(task, &output_field_ids, &columns_in_file)
            })
            .collect();
        let reader = self
            .table
            .reader_builder()
            .with_batch_size(batch_size)
            .build();
        Ok(Arc::new(ScanWithDeletesExec::new(
            balance(prepared, partitions, TaskWithDeletes::file_size_in_bytes),
            reader,
            output_field_ids,
            Arc::new(self.schema.project(&indices)?),
            statistics::merge(&statistics, &self.schema).project(projection),
        )))
    }
}

#[async_trait]
impl TableProvider for IcebergTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let metadata = self.table.metadata();
        // Iceberg binds the predicate to the schema the snapshot was written with.
        let scan_schema = self
            .snapshot()
            .and_then(|snapshot| snapshot.schema_id())
            .and_then(|id| metadata.schema_by_id(id))
            .unwrap_or_else(|| metadata.current_schema());
        let predicate = to_iceberg(filters, metadata.current_schema(), scan_schema);
        let manifests = self
            .catalog
            .manifests()
            .of_snapshot(&self.table, self.snapshot())
            .await
            .map_err(iceberg_to_datafusion)?;
        let bound = predicate
            .clone()
            .and_then(|p| p.rewrite_not().bind(scan_schema.clone(), true).ok());
        let plan = plan_scan(&manifests, bound.as_ref(), metadata, scan_schema);
        let current_schema = metadata.current_schema();
        let file_statistics = |file: &DataFile, spec_id: i32| {
            statistics::file_statistics(
                file,
                metadata.partition_spec_by_id(spec_id).map(|s| s.as_ref()),
                current_schema,
                &self.schema,
            )
        };
        // Delete files written by other tools: Iceberg's planning matches them to the data
        // files they apply to, and those files are read by a scan that applies them.
        let has_deletes = manifests
            .iter()
            .any(|(file, _)| file.content == ManifestContentType::Deletes);
        let tasks = match has_deletes {
            true => self.plan_files(predicate.clone()).await?,
            false => Vec::new(),
        };
        let (with_deletes, plain): (Vec<FileScanTask>, Vec<FileScanTask>) =
            tasks.into_iter().partition(|task| !task.deletes.is_empty());
        let plain_paths: HashSet<&str> = plain.iter().map(|t| t.data_file_path.as_str()).collect();
        let read_plain = |file: &DataFile| !has_deletes || plain_paths.contains(file.file_path());
        let plain: Vec<DataFileToScan> = plan
            .files
            .iter()
            .filter(|planned| read_plain(planned.file))
            .map(|planned| DataFileToScan {
                location: planned.file.file_path().to_string(),
                size_in_bytes: planned.file.file_size_in_bytes(),
                statistics: file_statistics(planned.file, planned.spec_id),
            })
            .collect();
        let summary = PruningSummary {
            table: display_table(self.table.identifier()),
            predicate: predicate.as_ref().map(|p| p.to_string()),
            counts: plan.counts,
            data_files_scanned: (plain.len() + with_deletes.len()) as u64,
            bytes_scanned: plain.iter().map(|f| f.size_in_bytes).sum::<u64>()
                + with_deletes
                    .iter()
                    .map(|t| t.file_size_in_bytes)
                    .sum::<u64>(),
        };
        if plain.is_empty() && with_deletes.is_empty() {
            let projected = match projection {
                Some(indices) => Arc::new(self.schema.project(indices)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(IcebergScanExec::new(
                summary,
                Arc::new(EmptyExec::new(projected)),
            )));
        }

        // Files with row-level deletes are read by a scan that applies them; the others by
        // DataFusion's Parquet scan, which prunes row groups and pages. Manifests record
        // each data file's row count exactly and its columns' bounds, so DataFusion knows
        // the scan's statistics (and answers `count(*)` reading no file, unless delete files
        // make the counts inexact).
        let partitions = state.config().target_partitions();
        let mut scans: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !plain.is_empty() {
            let request = ScanRequest {
                schema: self.schema.clone(),
                iceberg_schema: current_schema,
                projection,
                filters,
                limit,
            };
            scans.push(scan_data_files(state, request, plain)?);
        }
        if !with_deletes.is_empty() {
            let planned: HashMap<&str, &PlannedFile> = plan
                .files
                .iter()
                .map(|planned| (planned.file.file_path(), planned))
                .collect();
            scans.push(self.scan_with_deletes(
                with_deletes,
                projection,
                partitions,
                state.config().batch_size(),
                &planned,
                &file_statistics,
            )?);
        }
        let input = UnionExec::try_new(scans)?;
        Ok(Arc::new(IcebergScanExec::new(summary, input)))
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Pruning is by statistics, so DataFusion still filters the rows it gets back.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        if self.snapshot_id.is_some() {
            return Err(DataFusionError::Plan(
                "a table read as of a snapshot (FOR VERSION/TIMESTAMP AS OF) cannot be written"
                    .to_string(),
            ));
        }
        if insert_op != InsertOp::Append {
            return Err(DataFusionError::NotImplemented(format!(
                "{insert_op} into an Iceberg table; use INSERT INTO"
            )));
        }
        // DataFusion sorts the rows (spilling if need be) when the table has a sort order.
        let metadata = self.table.metadata();
        let ordering = sort_order::write_ordering(
            metadata.default_sort_order(),
            metadata.current_schema(),
            &input.schema(),
        );
        let sorted_by = ordering
            .as_ref()
            .map(|_| metadata.default_sort_order().order_id as i32);
        let sink = IcebergSink::new(
            self.catalog.clone(),
            self.table.clone(),
            self.schema.clone(),
            self.file_schema.clone(),
            sorted_by,
        );
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), ordering)))
    }
}
