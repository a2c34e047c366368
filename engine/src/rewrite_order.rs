//! The order OPTIMIZE writes rows in: the table's sort order (if it has one), the keys of
//! `SORT BY (...)`, or the z-values of `ZORDER BY (...)`. Rows are sorted by DataFusion's
//! `SortExec`, which spills to disk when the session's memory pool runs short, so a
//! rewrite larger than memory still sorts.

use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::context::SessionContext;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::expressions::Column;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::StreamExt;
use iceberg::spec::DataFile;
use iceberg::table::Table;

use crate::error::{FloeError, Result, sqlstate, to_datafusion};
use crate::parser::RewriteOrder;
use crate::sort_order;
use crate::statistics;
use crate::zorder::{self, ZOrder};

/// Rows in the order to write them, and the table sort order id the files then record.
pub struct OrderedRows {
    pub rows: SendableRecordBatchStream,
    pub sort_order_id: Option<i32>,
}

/// Orders `rows` (the table's columns, read from `files`) as `order` asks.
pub fn order_rows(
    ctx: &SessionContext,
    table: &Table,
    rows: SendableRecordBatchStream,
    order: &RewriteOrder,
    files: &[(i32, DataFile)],
) -> Result<OrderedRows> {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    let table_order = metadata.default_sort_order();
    let input = rows.schema();
    match order {
        RewriteOrder::TableSortOrder => {
            match sort_order::write_ordering(table_order, schema, &input) {
                Some(requirement) => Ok(OrderedRows {
                    rows: sort(ctx, rows, requirement.into())?,
                    sort_order_id: Some(table_order.order_id as i32),
                }),
                None => Ok(OrderedRows {
                    rows,
                    sort_order_id: None,
                }),
            }
        }
        RewriteOrder::SortBy(keys) => {
            let order = sort_order::from_keys(keys, schema)?
                .ok_or_else(|| FloeError::syntax("SORT BY needs at least one column"))?;
            let requirement = sort_order::write_ordering(&order, schema, &input)
                .ok_or_else(|| FloeError::internal("SORT BY keys name no table column"))?;
            // Files record a sort order id only for an order the table's metadata holds.
            let sort_order_id = (!table_order.is_unsorted() && table_order.fields == order.fields)
                .then_some(table_order.order_id as i32);
            Ok(OrderedRows {
                rows: sort(ctx, rows, requirement.into())?,
                sort_order_id,
            })
        }
        RewriteOrder::ZOrderBy(columns) => Ok(OrderedRows {
            rows: zorder_rows(ctx, table, rows, columns, files)?,
            sort_order_id: None,
        }),
    }
}

/// Sorts `rows` by their z-values over `columns` (see [`crate::zorder`]).
fn zorder_rows(
    ctx: &SessionContext,
    table: &Table,
    rows: SendableRecordBatchStream,
    columns: &[String],
    files: &[(i32, DataFile)],
) -> Result<SendableRecordBatchStream> {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    let input = rows.schema();
    let file_statistics: Vec<_> = files
        .iter()
        .map(|(spec_id, file)| {
            let spec = metadata.partition_spec_by_id(*spec_id);
            statistics::file_statistics(file, spec.map(|s| s.as_ref()), schema, &input)
        })
        .collect();
    let bounds = statistics::merge(&file_statistics, &input);
    let mut chosen = Vec::new();
    for name in columns {
        let field = schema.field_by_name(name).ok_or_else(|| {
            FloeError::new(
                sqlstate::UNDEFINED_COLUMN,
                format!("ZORDER BY names column {name} which the table does not have"),
            )
        })?;
        if !field.field_type.is_primitive() {
            return Err(FloeError::invalid(format!(
                "cannot ZORDER BY column {name} of type {}",
                field.field_type
            )));
        }
        let index = input.index_of(name)?;
        let column = &bounds.column_statistics[index];
        chosen.push((
            index,
            column.min_value.get_value().cloned(),
            column.max_value.get_value().cloned(),
        ));
    }
    let zorder = ZOrder::new(&input, &chosen)?;
    let with_zvalues = zorder::with_zvalue_column(&input);
    let zvalue_index = with_zvalues.fields().len() - 1;
    let tagged = rows.map(move |batch| {
        batch.and_then(|batch| zorder.append_zvalues(&batch).map_err(to_datafusion))
    });
    let tagged = Box::pin(RecordBatchStreamAdapter::new(with_zvalues, tagged));
    let by_zvalue = LexOrdering::new([PhysicalSortExpr::new_default(Arc::new(Column::new(
        zorder::ZVALUE_COLUMN,
        zvalue_index,
    )))])
    .expect("one sort key");
    let sorted = sort(ctx, tagged, by_zvalue)?;
    let table_columns: Vec<usize> = (0..zvalue_index).collect();
    let untagged =
        sorted.map(move |batch| batch.and_then(|batch| Ok(batch.project(&table_columns)?)));
    Ok(Box::pin(RecordBatchStreamAdapter::new(input, untagged)))
}

/// `rows` sorted by `ordering` through DataFusion's `SortExec`.
fn sort(
    ctx: &SessionContext,
    rows: SendableRecordBatchStream,
    ordering: LexOrdering,
) -> Result<SendableRecordBatchStream> {
    let source = StreamingTableExec::try_new(
        rows.schema(),
        vec![Arc::new(OnceStream::new(rows))],
        None,
        Vec::new(),
        false,
        None,
    )?;
    let sort = SortExec::new(ordering, Arc::new(source));
    Ok(sort.execute(0, ctx.task_ctx())?)
}

/// A stream already opened, handed to the plan that reads it, once.
struct OnceStream {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl OnceStream {
    fn new(stream: SendableRecordBatchStream) -> Self {
        Self {
            schema: stream.schema(),
            stream: Mutex::new(Some(stream)),
        }
    }
}

impl std::fmt::Debug for OnceStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnceStream")
    }
}

impl PartitionStream for OnceStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        match self.stream.lock().expect("stream lock").take() {
            Some(stream) => stream,
            None => Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async {
                    Err(datafusion::error::DataFusionError::Internal(
                        "the rows to rewrite were already read".to_string(),
                    ))
                }),
            )),
        }
    }
}
