//! DataFusion's Parquet scan over a set of Iceberg data files: the reader both queries and
//! OPTIMIZE use. Columns are matched by Iceberg field id, each file's manifest statistics
//! go with it (identity partition columns are then served from them, see
//! [`crate::statistics`]), and the files are spread over the session's target partitions so
//! that all cores read.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Statistics};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DFResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_plan::ExecutionPlan;

use crate::data_file_reader::DataFileReaderFactory;
use crate::field_ids::FieldIdAdapterFactory;
use crate::statistics;

/// One data file to read, with its statistics from the manifest.
pub struct DataFileToScan {
    pub location: String,
    pub size_in_bytes: u64,
    pub statistics: Statistics,
}

/// What to read of the files.
pub struct ScanRequest<'a> {
    /// The table's columns as DataFusion sees them (no field-id metadata).
    pub schema: SchemaRef,
    /// The table's current Iceberg schema, whose field ids name the columns.
    pub iceberg_schema: &'a iceberg::spec::Schema,
    pub projection: Option<&'a Vec<usize>>,
    /// Filters to prune row groups and pages with (rows are still filtered above).
    pub filters: &'a [Expr],
    pub limit: Option<usize>,
}

/// The Parquet scan of `files`, in their order, cut into runs of similar size.
pub fn scan_data_files(
    state: &dyn Session,
    request: ScanRequest<'_>,
    files: Vec<DataFileToScan>,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    let file_statistics: Vec<Statistics> = files.iter().map(|f| f.statistics.clone()).collect();
    let pruning_filters = nan_safe_filters(request.filters, &request.schema, &file_statistics);
    let files: Vec<PartitionedFile> = files
        .into_iter()
        .map(|file| {
            PartitionedFile::new(object_path(&file.location), file.size_in_bytes)
                .with_statistics(Arc::new(file.statistics))
        })
        .collect();
    // The session's Parquet options (`SET datafusion.execution.parquet.*`) apply, and
    // footers and page indexes stay in the session's file-metadata cache between queries,
    // as for a Parquet listing table: an Iceberg data file never changes.
    let store = state
        .runtime_env()
        .object_store(ObjectStoreUrl::local_filesystem())?;
    let metadata_cache = state.runtime_env().cache_manager.get_file_metadata_cache();
    let options = state
        .table_options()
        .combine_with_session_config(state.config_options())
        .parquet;
    let footer_hint = options.global.metadata_size_hint;
    let mut source = ParquetSource::new(request.schema.clone())
        .with_table_parquet_options(options)
        .with_parquet_file_reader_factory(Arc::new(DataFileReaderFactory::new(
            store,
            metadata_cache,
        )));
    // The table options do not carry the footer prefetch to the reader; without it each
    // file's footer costs two requests (its length, then the footer).
    if let Some(hint) = footer_hint {
        source = source.with_metadata_size_hint(hint);
    }
    if let Some(predicate) = conjunction(pruning_filters) {
        let df_schema = DFSchema::try_from(request.schema.as_ref().clone())?;
        source = source.with_predicate(state.create_physical_expr(predicate, &df_schema)?);
    }
    let partitions = state.config().target_partitions();
    let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
        .with_file_groups(
            balance(files, partitions, |f| f.object_meta.size)
                .into_iter()
                .map(FileGroup::new)
                .collect(),
        )
        .with_projection_indices(request.projection.cloned())?
        .with_limit(request.limit)
        .with_statistics(statistics::merge(&file_statistics, &request.schema))
        .with_expr_adapter(Some(Arc::new(FieldIdAdapterFactory::new(
            request.iceberg_schema,
        ))))
        .build();
    Ok(DataSourceExec::from_data_source(config))
}

/// The filters that may prune row groups and pages by their Parquet statistics: none on a
/// float column that may hold NaN in any of the files (see [`statistics::may_hold_nan`]).
fn nan_safe_filters(filters: &[Expr], schema: &SchemaRef, files: &[Statistics]) -> Vec<Expr> {
    let unsafe_column = |name: &str| match schema.index_of(name) {
        Ok(index) => files.iter().any(|file| {
            file.column_statistics.get(index).is_none_or(|column| {
                statistics::may_hold_nan(schema.field(index).data_type(), column)
            })
        }),
        Err(_) => true,
    };
    filters
        .iter()
        .filter(|filter| !filter.column_refs().iter().any(|c| unsafe_column(&c.name)))
        .cloned()
        .collect()
}

/// Cuts `files`, in their order, into at most `partitions` runs of similar total size.
/// Keeping the order (unlike dealing files out largest first) keeps neighbouring files in
/// one stream: for a table in path order, that is neighbouring partitions, whose rows share
/// keys (an order's lines ship in adjacent months), which partial aggregation folds early.
pub fn balance<T>(files: Vec<T>, partitions: usize, size: impl Fn(&T) -> u64) -> Vec<Vec<T>> {
    let groups_count = partitions.clamp(1, files.len().max(1)) as u64;
    let total: u64 = files.iter().map(&size).sum();
    let mut groups: Vec<Vec<T>> = vec![Vec::new()];
    let mut done = 0u64;
    for file in files {
        // A new run starts once the runs so far hold their share of the total.
        let runs = groups.len() as u64;
        if runs < groups_count
            && !groups[groups.len() - 1].is_empty()
            && done * groups_count >= total * runs
        {
            groups.push(Vec::new());
        }
        done += size(&file);
        groups.last_mut().expect("at least one group").push(file);
    }
    groups.retain(|group| !group.is_empty());
    groups
}

/// The object-store path of a data file location (`file:///a/b.parquet` -> `a/b.parquet`).
fn object_path(location: &str) -> String {
    location
        .strip_prefix("file://")
        .unwrap_or(location)
        .trim_start_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::balance;

    fn runs(sizes: &[u64], partitions: usize) -> Vec<Vec<u64>> {
        balance(sizes.to_vec(), partitions, |size| *size)
    }

    #[test]
    fn cuts_files_in_order_into_runs_of_similar_size() {
        assert_eq!(
            runs(&[1, 2, 3, 4, 5, 6, 7, 8], 2),
            vec![vec![1, 2, 3, 4, 5, 6], vec![7, 8]]
        );
        assert_eq!(
            runs(&[5; 9], 3),
            vec![vec![5, 5, 5], vec![5, 5, 5], vec![5, 5, 5]]
        );
    }

    #[test]
    fn makes_no_empty_run_and_no_more_runs_than_asked() {
        assert_eq!(runs(&[100, 1, 1], 8), vec![vec![100], vec![1], vec![1]]);
        assert_eq!(runs(&[100, 1, 1], 2), vec![vec![100], vec![1, 1]]);
        assert_eq!(runs(&[3, 4], 1), vec![vec![3, 4]]);
        assert_eq!(runs(&[], 4), Vec::<Vec<u64>>::new());
    }
}
