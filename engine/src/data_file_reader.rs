//! How the Parquet scan reads a data file's bytes. Footers and page indexes are kept in the
//! session's file-metadata cache, as for DataFusion's Parquet listing table (an Iceberg data
//! file never changes). A file no larger than the footer prefetch hint is fetched whole, in
//! one request, and its footer and pages are both served from those bytes: read piece by
//! piece, a one-row file costs three requests (footer length, footer, pages), and the small
//! files that many single-row INSERTs leave are what OPTIMIZE and the queries before it read.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    CachedParquetFileReaderFactory, CachedParquetMetaData, ParquetFileReaderFactory,
};
use datafusion::error::Result as DFResult;
use datafusion::execution::cache::cache_manager::{CachedFileMetadataEntry, FileMetadataCache};
use datafusion::object_store::{ObjectStore, ObjectStoreExt};
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::errors::{ParquetError, Result as ParquetResult};
use datafusion::parquet::file::metadata::{
    PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader,
};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};
use futures::FutureExt;
use futures::future::BoxFuture;

/// Creates the readers of a scan's data files (see the module documentation).
#[derive(Debug)]
pub struct DataFileReaderFactory {
    store: Arc<dyn ObjectStore>,
    metadata_cache: Arc<dyn FileMetadataCache>,
    /// Files larger than the footer prefetch hint are read range by range.
    by_range: CachedParquetFileReaderFactory,
}

impl DataFileReaderFactory {
    pub fn new(store: Arc<dyn ObjectStore>, metadata_cache: Arc<dyn FileMetadataCache>) -> Self {
        let by_range = CachedParquetFileReaderFactory::new(store.clone(), metadata_cache.clone());
        Self {
            store,
            metadata_cache,
            by_range,
        }
    }
}

impl ParquetFileReaderFactory for DataFileReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> DFResult<Box<dyn AsyncFileReader + Send>> {
        let size = file.object_meta.size;
        if metadata_size_hint.is_none_or(|hint| size > hint as u64) {
            return self
                .by_range
                .create_reader(partition_index, file, metadata_size_hint, metrics);
        }
        // The counter EXPLAIN ANALYZE sums as `bytes_scanned`, as DataFusion's reader keeps it.
        let bytes_scanned = MetricBuilder::new(metrics)
            .with_new_label("filename", file.object_meta.location.to_string())
            .counter("bytes_scanned", partition_index);
        Ok(Box::new(WholeFileReader {
            store: self.store.clone(),
            metadata_cache: self.metadata_cache.clone(),
            file,
            bytes: None,
            bytes_scanned,
        }))
    }
}

/// Reads a small file in one request, the first time any part of it is needed.
struct WholeFileReader {
    store: Arc<dyn ObjectStore>,
    metadata_cache: Arc<dyn FileMetadataCache>,
    file: PartitionedFile,
    bytes: Option<Bytes>,
    bytes_scanned: Count,
}

impl WholeFileReader {
    async fn whole_file(&mut self) -> ParquetResult<Bytes> {
        if let Some(bytes) = &self.bytes {
            return Ok(bytes.clone());
        }
        let meta = &self.file.object_meta;
        let bytes = self
            .store
            .get_range(&meta.location, 0..meta.size)
            .await
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        self.bytes = Some(bytes.clone());
        Ok(bytes)
    }

    fn slice(bytes: &Bytes, range: &Range<u64>) -> ParquetResult<Bytes> {
        if range.start > range.end || range.end > bytes.len() as u64 {
            return Err(ParquetError::EOF(format!(
                "range {range:?} is outside a file of {} bytes",
                bytes.len()
            )));
        }
        Ok(bytes.slice(range.start as usize..range.end as usize))
    }
}

impl AsyncFileReader for WholeFileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        async move {
            self.bytes_scanned.add((range.end - range.start) as usize);
            Self::slice(&self.whole_file().await?, &range)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, ParquetResult<Vec<Bytes>>> {
        async move {
            let bytes = self.whole_file().await?;
            let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
            self.bytes_scanned.add(total as usize);
            ranges
                .iter()
                .map(|range| Self::slice(&bytes, range))
                .collect()
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        async move {
            let meta = &self.file.object_meta;
            let cached = self
                .metadata_cache
                .get(&meta.location)
                .filter(|entry| entry.is_valid_for(meta))
                .and_then(|entry| {
                    let parquet = entry
                        .file_metadata
                        .as_any()
                        .downcast_ref::<CachedParquetMetaData>();
                    parquet.map(|p| p.parquet_metadata().clone())
                });
            if let Some(metadata) = cached {
                return Ok(metadata);
            }
            let bytes = self.whole_file().await?;
            // The page index too, so that the cached entry serves every later scan.
            let metadata = Arc::new(
                ParquetMetaDataReader::new()
                    .with_page_index_policy(PageIndexPolicy::Optional)
                    .parse_and_finish(&bytes)?,
            );
            let meta = self.file.object_meta.clone();
            self.metadata_cache.put(
                &meta.location,
                CachedFileMetadataEntry::new(
                    meta.clone(),
                    Arc::new(CachedParquetMetaData::new(metadata.clone())),
                ),
            );
            Ok(metadata)
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::execution::cache::{CacheAccessor, DefaultFilesMetadataCache};
    use datafusion::object_store::memory::InMemory;
    use datafusion::object_store::path::Path;
    use datafusion::object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
        PutMultipartOptions, PutOptions, PutPayload, PutResult, Result as StoreResult,
    };
    use datafusion::parquet::arrow::ArrowWriter;
    use futures::stream::BoxStream;

    use super::*;

    /// An in-memory store that counts the reads it serves.
    #[derive(Debug, Default)]
    struct CountingStore {
        inner: InMemory,
        reads: AtomicUsize,
    }

    impl std::fmt::Display for CountingStore {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "CountingStore")
        }
    }

    #[async_trait]
    impl ObjectStore for CountingStore {
        async fn put_opts(&self, p: &Path, d: PutPayload, o: PutOptions) -> StoreResult<PutResult> {
            self.inner.put_opts(p, d, o).await
        }
        async fn put_multipart_opts(
            &self,
            p: &Path,
            o: PutMultipartOptions,
        ) -> StoreResult<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(p, o).await
        }
        async fn get_opts(&self, p: &Path, o: GetOptions) -> StoreResult<GetResult> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.get_opts(p, o).await
        }
        fn delete_stream(
            &self,
            paths: BoxStream<'static, StoreResult<Path>>,
        ) -> BoxStream<'static, StoreResult<Path>> {
            self.inner.delete_stream(paths)
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, StoreResult<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> StoreResult<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, from: &Path, to: &Path, o: CopyOptions) -> StoreResult<()> {
            self.inner.copy_opts(from, to, o).await
        }
    }

    /// Stores a one-column Parquet file of `rows` rows; returns it as a scan would list it.
    async fn parquet_file(store: &CountingStore, name: &str, rows: i64) -> PartitionedFile {
        let batch = RecordBatch::try_from_iter([(
            "n",
            Arc::new(Int64Array::from_iter_values(0..rows)) as _,
        )])
        .unwrap();
        let mut buffer = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let size = buffer.len() as u64;
        store.put(&Path::from(name), buffer.into()).await.unwrap();
        PartitionedFile::new(name, size)
    }

    /// Reads the footer and every column chunk of `file`, as the Parquet opener does.
    async fn read_all(factory: &DataFileReaderFactory, file: PartitionedFile, hint: usize) {
        let metrics = ExecutionPlanMetricsSet::new();
        let mut reader = factory
            .create_reader(0, file, Some(hint), &metrics)
            .unwrap();
        let metadata = reader.get_metadata(None).await.unwrap();
        let ranges = metadata
            .row_groups()
            .iter()
            .flat_map(|group| group.columns().iter().map(|c| c.byte_range()))
            .map(|(start, length)| start..start + length)
            .collect();
        let chunks = reader.get_byte_ranges(ranges).await.unwrap();
        assert!(chunks.iter().all(|chunk| !chunk.is_empty()));
    }

    #[tokio::test]
    async fn a_small_file_is_read_in_one_request_and_its_footer_is_cached() {
        let store = Arc::new(CountingStore::default());
        let file = parquet_file(&store, "small.parquet", 10).await;
        let cache = Arc::new(DefaultFilesMetadataCache::new(1 << 20));
        let factory = DataFileReaderFactory::new(store.clone(), cache.clone());

        read_all(&factory, file.clone(), 512 * 1024).await;
        assert_eq!(store.reads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.len(), 1);
        // Again, with the footer cached: only the pages are fetched, still in one request.
        read_all(&factory, file, 512 * 1024).await;
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_file_larger_than_the_hint_is_read_range_by_range() {
        let store = Arc::new(CountingStore::default());
        let file = parquet_file(&store, "large.parquet", 100_000).await;
        let cache = Arc::new(DefaultFilesMetadataCache::new(1 << 20));
        let factory = DataFileReaderFactory::new(store.clone(), cache.clone());

        read_all(&factory, file, 1024).await;
        // The footer (with the 1 KiB prefetch) and then the column chunk.
        assert_eq!(store.reads.load(Ordering::SeqCst), 2);
        assert_eq!(cache.len(), 1);
    }
}
