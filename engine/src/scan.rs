//! `IcebergScanExec`: the root of an Iceberg table scan in a physical plan. It reads
//! through its child (DataFusion's Parquet scan over the planned files) and makes Iceberg's
//! pruning visible: `EXPLAIN` shows the pushed predicate and how many manifests and data
//! files planning kept out of the snapshot's totals, and `EXPLAIN ANALYZE` reports each
//! stage as metrics. (Row groups and bytes read are the child's metrics.)
//!
//! The node is transparent to filter pushdown, so the filters joins and TopK sorts build
//! while running (DataFusion's dynamic filters) reach the Parquet scan below and skip its
//! files, row groups and pages as they do on a plain Parquet table.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use datafusion::common::Statistics;
use datafusion::config::ConfigOptions;
use datafusion::error::Result as DFResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::filter_pushdown::{
    ChildFilterDescription, ChildPushdownResult, FilterDescription, FilterPushdownPhase,
    FilterPushdownPropagation,
};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

use crate::pruning::PlanningCounts;
use crate::statistics;

/// What Iceberg's planning kept and skipped for one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruningSummary {
    /// The table, as `schema.table`.
    pub table: String,
    /// The Iceberg predicate planning used, if any filter translated.
    pub predicate: Option<String>,
    /// Manifests and data files in the snapshot, and how many the partition stages ruled out.
    pub counts: PlanningCounts,
    /// Data files left to read after pruning.
    pub data_files_scanned: u64,
    /// Bytes in those files.
    pub bytes_scanned: u64,
}

impl PruningSummary {
    pub fn pruned_by_partition(&self) -> u64 {
        let c = &self.counts;
        c.data_files_total
            .saturating_sub(c.data_files_after_partitions)
    }

    /// Files the column bounds ruled out: what the partition stages left, less what is read.
    pub fn pruned_by_metrics(&self) -> u64 {
        self.counts
            .data_files_after_partitions
            .saturating_sub(self.data_files_scanned)
    }
}

#[derive(Debug)]
pub struct IcebergScanExec {
    summary: PruningSummary,
    input: Arc<dyn ExecutionPlan>,
    metrics: ExecutionPlanMetricsSet,
}

impl IcebergScanExec {
    pub fn new(summary: PruningSummary, input: Arc<dyn ExecutionPlan>) -> Self {
        let metrics = ExecutionPlanMetricsSet::new();
        let count = |name: &'static str, value: u64| {
            MetricBuilder::new(&metrics)
                .global_counter(name)
                .add(value as usize);
        };
        let c = &summary.counts;
        count("manifests_total", c.manifests_total);
        count("manifests_skipped", c.manifests_skipped);
        count("data_files_total", c.data_files_total);
        count(
            "data_files_pruned_by_partition",
            c.data_files_total
                .saturating_sub(c.data_files_after_partitions),
        );
        count(
            "data_files_pruned_by_metrics",
            c.data_files_after_partitions
                .saturating_sub(summary.data_files_scanned),
        );
        count("data_files_scanned", summary.data_files_scanned);
        count("data_bytes_planned", summary.bytes_scanned);
        Self {
            summary,
            input,
            metrics,
        }
    }
}

impl DisplayAs for IcebergScanExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        write!(f, "IcebergScanExec: table={}", s.table)?;
        if let Some(predicate) = &s.predicate {
            write!(f, ", predicate={predicate}")?;
        }
        let c = &s.counts;
        write!(
            f,
            ", manifests={} of {}, data_files={} of {}",
            c.manifests_total - c.manifests_skipped,
            c.manifests_total,
            s.data_files_scanned,
            c.data_files_total
        )?;
        let (by_partition, by_metrics) = (s.pruned_by_partition(), s.pruned_by_metrics());
        if by_partition + by_metrics > 0 {
            write!(
                f,
                " (pruned {by_partition} by partition, {by_metrics} by metrics)"
            )?;
        }
        Ok(())
    }
}

impl ExecutionPlan for IcebergScanExec {
    fn name(&self) -> &str {
        "IcebergScanExec"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let input = children.swap_remove(0);
        Ok(Arc::new(IcebergScanExec {
            summary: self.summary.clone(),
            input,
            metrics: self.metrics.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DFResult<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn partition_statistics(&self, partition: Option<usize>) -> DFResult<Statistics> {
        self.input.partition_statistics(partition)
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> DFResult<FilterDescription> {
        // The child has this node's schema, so every filter from above applies to it, but
        // one on a column that may hold NaN must not prune by Parquet statistics: it stays
        // above (see `statistics::may_hold_nan`).
        let columns = self.input.partition_statistics(None)?.column_statistics;
        let schema = self.schema();
        let nan_safe = (0..schema.fields().len())
            .filter(|&i| {
                columns.get(i).is_some_and(|column| {
                    !statistics::may_hold_nan(schema.field(i).data_type(), column)
                })
            })
            .collect();
        Ok(FilterDescription::new().with_child(
            ChildFilterDescription::from_child_with_allowed_indices(
                &parent_filters,
                nan_safe,
                &self.input,
            )?,
        ))
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> DFResult<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        Ok(FilterPushdownPropagation::if_all(child_pushdown_result))
    }
}
