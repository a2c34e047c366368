//! OPTIMIZE: compaction by bin-packing. Within each partition, data files smaller than the
//! threshold are read and written again as files of the table's target size, sorted by the
//! table's sort order if it has one, and the swap is committed as one `replace` snapshot.
//! Rows are unchanged; a partition with fewer than two small files is left alone, so running
//! OPTIMIZE twice does nothing the second time.
//!
//! With `SORT BY (...)` or `ZORDER BY (...)` the point is to re-cluster the data, so every
//! data file of the chosen partitions is rewritten, whatever its size.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::datatypes::{Field, Schema as ArrowSchema};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::physical_plan::execute_stream;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{DataContentType, DataFile, Struct, TableProperties};
use iceberg::table::Table;
use iceberg::{Catalog, TableIdent};

use crate::catalog::FloeCatalog;
use crate::commit::{Change, commit};
use crate::data_file_scan::{DataFileToScan, ScanRequest, scan_data_files};
use crate::error::{FloeError, Result, sqlstate};
use crate::parser::RewriteOrder;
use crate::partition_values::identity_columns;
use crate::rewrite_order::order_rows;
use crate::sink::write_data_files;
use crate::statistics;
use crate::table::datafusion_schema;
use crate::table_writer::Written;

/// What `OPTIMIZE` was asked to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OptimizeRequest {
    /// SQL predicate over identity partition columns choosing the partitions to compact.
    pub filter: Option<String>,
    /// Files smaller than this many bytes are compacted; default 75% of the target size.
    pub file_size_threshold: Option<u64>,
    /// The order the rewritten files are sorted in.
    pub order: RewriteOrder,
    /// Only partitions with at least this many small files are compacted (default 2).
    pub min_small_files: Option<usize>,
}

/// What `OPTIMIZE` did (Iceberg's `rewrite_data_files` result columns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptimizeReport {
    pub rewritten_data_files: u64,
    pub added_data_files: u64,
    pub rewritten_bytes: u64,
    pub added_bytes: u64,
}

/// Compacts the small files of `ident` (see the module documentation).
pub async fn optimize(
    ctx: &SessionContext,
    catalog: &Arc<FloeCatalog>,
    ident: &TableIdent,
    request: &OptimizeRequest,
) -> Result<OptimizeReport> {
    let table = catalog.load_table(ident).await?;
    let metadata = table.metadata();
    let Some(snapshot) = metadata.current_snapshot() else {
        return Ok(OptimizeReport::default());
    };
    let target = target_file_size(&table)?;
    let threshold = request.file_size_threshold.unwrap_or(target / 4 * 3);
    let recluster = request.order != RewriteOrder::TableSortOrder;
    // One small file alone gains nothing from being rewritten, unless it is re-clustered.
    let min_files = match request.min_small_files {
        _ if recluster => 1,
        Some(n) => n.max(1),
        None => 2,
    };

    let mut partitions: BTreeMap<String, (i32, Struct, Vec<DataFile>)> = BTreeMap::new();
    let manifests = catalog
        .manifests()
        .of_snapshot(&table, Some(snapshot))
        .await?;
    let live = manifests.iter().flat_map(|(manifest, entries)| {
        entries
            .entries()
            .iter()
            .filter(|entry| entry.is_alive())
            .map(move |entry| (manifest.partition_spec_id, entry))
    });
    for (spec_id, entry) in live {
        let file = entry.data_file();
        if file.content_type() != DataContentType::Data {
            return Err(FloeError::unsupported(format!(
                "table {ident} has row-level delete files, which OPTIMIZE cannot compact"
            )));
        }
        if !recluster && file.file_size_in_bytes() >= threshold {
            continue;
        }
        let key = format!("{spec_id}/{:?}", file.partition());
        partitions
            .entry(key)
            .or_insert_with(|| (spec_id, file.partition().clone(), Vec::new()))
            .2
            .push(file.clone());
    }
    let mut groups: Vec<(i32, Struct, Vec<DataFile>)> = partitions
        .into_values()
        .filter(|(_, _, files)| files.len() >= min_files)
        .collect();
    if let Some(filter) = &request.filter {
        groups = select_partitions(ctx, &table, groups, filter).await?;
    }
    let removed: Vec<(i32, DataFile)> = groups
        .into_iter()
        .flat_map(|(spec_id, _, files)| files.into_iter().map(move |f| (spec_id, f)))
        .collect();
    if removed.is_empty() {
        return Ok(OptimizeReport::default());
    }

    let written = rewrite(ctx, &table, &removed, &request.order).await?;
    let (added, rows) = (written.files, written.rows);
    let removed: Vec<DataFile> = removed.into_iter().map(|(_, f)| f).collect();
    let expected: u64 = removed.iter().map(|f| f.record_count()).sum();
    let report = OptimizeReport {
        rewritten_data_files: removed.len() as u64,
        added_data_files: added.len() as u64,
        rewritten_bytes: removed.iter().map(|f| f.file_size_in_bytes()).sum(),
        added_bytes: added.iter().map(|f| f.file_size_in_bytes()).sum(),
    };
    let change = Change::Replace {
        remove: removed.iter().map(|f| f.file_path().to_string()).collect(),
        add: added.clone(),
    };
    let outcome = if rows != expected {
        Err(FloeError::internal(format!(
            "OPTIMIZE read {rows} rows from files that hold {expected}; nothing was changed"
        )))
    } else {
        commit(catalog, ident, &change).await.map(|_| ())
    };
    if let Err(err) = outcome {
        for file in &added {
            let _ = table.file_io().delete(file.file_path()).await;
        }
        return Err(err);
    }
    Ok(report)
}

fn target_file_size(table: &Table) -> Result<u64> {
    match table
        .metadata()
        .properties()
        .get(TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES)
    {
        Some(v) => v.parse().map_err(|_| {
            FloeError::invalid(format!(
                "table property {} must be a number of bytes, not {v}",
                TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES
            ))
        }),
        None => Ok(TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT as u64),
    }
}

/// Reads `files` and writes their rows, in `order`, into new data files (not yet
/// committed). The files are read by the Parquet scan queries use, from all cores.
async fn rewrite(
    ctx: &SessionContext,
    table: &Table,
    files: &[(i32, DataFile)],
    order: &RewriteOrder,
) -> Result<Written> {
    let metadata = table.metadata();
    let iceberg_schema = metadata.current_schema();
    let file_schema = Arc::new(schema_to_arrow_schema(iceberg_schema)?);
    let schema = Arc::new(datafusion_schema(&file_schema, iceberg_schema));
    let to_scan = files
        .iter()
        .map(|(spec_id, file)| DataFileToScan {
            location: file.file_path().to_string(),
            size_in_bytes: file.file_size_in_bytes(),
            statistics: statistics::file_statistics(
                file,
                metadata.partition_spec_by_id(*spec_id).map(|s| s.as_ref()),
                iceberg_schema,
                &schema,
            ),
        })
        .collect();
    let request = ScanRequest {
        schema,
        iceberg_schema,
        projection: None,
        filters: &[],
        limit: None,
    };
    let scan = scan_data_files(&ctx.state(), request, to_scan)?;
    // The order the files' rows arrive in does not matter: they are sorted afterwards when
    // an order is asked for.
    let rows = execute_stream(scan, ctx.task_ctx())?;
    let ordered = order_rows(ctx, table, rows, order, files)?;
    write_data_files(
        table,
        file_schema,
        ordered.rows,
        ordered.sort_order_id,
        &ctx.runtime_env().memory_pool,
        // One writer: compaction's point is one file per partition near the target size.
        1,
    )
    .await
}

/// Keeps the groups whose partition satisfies `filter`, a SQL predicate over identity
/// partition columns, evaluated by DataFusion over one row per partition.
async fn select_partitions(
    ctx: &SessionContext,
    table: &Table,
    groups: Vec<(i32, Struct, Vec<DataFile>)>,
    filter: &str,
) -> Result<Vec<(i32, Struct, Vec<DataFile>)>> {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    let spec = metadata.default_partition_spec();
    // The columns a predicate may use: the identity partition columns of the current spec.
    let names: Vec<String> = spec
        .fields()
        .iter()
        .filter(|f| f.transform == iceberg::spec::Transform::Identity)
        .filter_map(|f| schema.field_by_id(f.source_id).map(|c| c.name.clone()))
        .collect();
    if names.is_empty() {
        return Err(FloeError::invalid(format!(
            "OPTIMIZE ... WHERE needs a table partitioned by columns (identity partitions); \
             {} has none",
            table.identifier()
        )));
    }
    let mut rows: Vec<Vec<ScalarValue>> = Vec::new();
    for (index, (spec_id, partition, _)) in groups.iter().enumerate() {
        let values = if *spec_id == spec.spec_id() {
            identity_columns(partition, spec, schema)?
        } else {
            Vec::new()
        };
        let mut row: Vec<ScalarValue> = names
            .iter()
            .map(|name| {
                values
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(ScalarValue::Null)
            })
            .collect();
        row.push(ScalarValue::UInt32(Some(index as u32)));
        rows.push(row);
    }
    // Column types come from the table so that an empty group list still has a schema.
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let column = schema.field_by_name(name).expect("identity source column");
        let iceberg::spec::Type::Primitive(ty) = column.field_type.as_ref() else {
            return Err(FloeError::invalid(format!(
                "{name} is not a primitive column"
            )));
        };
        let data_type = crate::partition_values::arrow_type(ty);
        let values = rows.iter().map(|r| r[i].clone());
        let array = if rows.is_empty() {
            datafusion::arrow::array::new_empty_array(&data_type)
        } else {
            ScalarValue::iter_to_array(values)?
        };
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    fields.push(Field::new(
        "__group",
        datafusion::arrow::datatypes::DataType::UInt32,
        false,
    ));
    arrays.push(Arc::new(UInt32Array::from_iter_values(
        0..rows.len() as u32,
    )));
    let batch = RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays)?;

    let frame = ctx.read_batch(batch)?;
    let df_schema: &DFSchema = frame.schema();
    let predicate = ctx.parse_sql_expr(filter, df_schema).map_err(|err| {
        let err = FloeError::from(err);
        FloeError::new(
            if err.sqlstate == sqlstate::UNDEFINED_COLUMN {
                sqlstate::INVALID_PARAMETER_VALUE
            } else {
                err.sqlstate
            },
            format!(
                "OPTIMIZE ... WHERE may only use the partition columns {}: {}",
                names.join(", "),
                err.message
            ),
        )
    })?;
    let kept = frame
        .filter(predicate)
        .map_err(|err| {
            let err = FloeError::from(err);
            FloeError::new(
                sqlstate::INVALID_PARAMETER_VALUE,
                format!(
                    "OPTIMIZE ... WHERE may only use the partition columns {}: {}",
                    names.join(", "),
                    err.message
                ),
            )
        })?
        .select_columns(&["__group"])?
        .collect()
        .await?;
    let mut chosen = HashSet::new();
    for batch in kept {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .expect("group ids");
        chosen.extend(ids.values().iter().copied());
    }
    Ok(groups
        .into_iter()
        .enumerate()
        .filter(|(i, _)| chosen.contains(&(*i as u32)))
        .map(|(_, group)| group)
        .collect())
}
