//! `IcebergScanExec`: the root of an Iceberg table scan in a physical plan. It reads
//! through its child (DataFusion's Parquet scan over the planned files) and makes Iceberg's
//! pruning visible: `EXPLAIN` shows the pushed predicate and how many data files were
//! planned out of the snapshot's total, and `EXPLAIN ANALYZE` reports them as metrics.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use datafusion::common::Statistics;
use datafusion::error::Result as DFResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

/// What Iceberg's planning kept and skipped for one scan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruningSummary {
    /// The table, as `schema.table`.
    pub table: String,
    /// The Iceberg predicate planning used, if any filter translated.
    pub predicate: Option<String>,
    /// Data files in the snapshot (from its summary; `None` if the writer did not record it).
    pub data_files_total: Option<u64>,
    /// Data files left to read after pruning.
    pub data_files_scanned: u64,
    /// Bytes in those files.
    pub bytes_scanned: u64,
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
        if let Some(total) = summary.data_files_total {
            count("data_files_total", total);
            count(
                "data_files_pruned",
                total.saturating_sub(summary.data_files_scanned),
            );
        }
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
        match s.data_files_total {
            Some(total) => write!(f, ", data_files={} of {total}", s.data_files_scanned),
            None => write!(f, ", data_files={}", s.data_files_scanned),
        }
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
}
