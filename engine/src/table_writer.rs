//! Writing a stream of rows into new data files of one table.
//!
//! Each table partition has at most one open file, rolled once it reaches the table's
//! target file size. A file's row group ends at the row-group limits of the table's
//! properties, or earlier when the write buffers of all open files together would exceed
//! the write budget or what DataFusion's memory pool grants: the largest row group in
//! progress is then written out first. Memory is therefore bounded by the budget whatever
//! the number of partitions; only when even empty buffers do not fit does the write fail.
//!
//! Rows reach a partition in small pieces (a batch of a load spread over many partitions
//! has a few rows for each). A piece is staged until its partition has gathered
//! [`STAGED_ROWS`] rows, which are then written to the file at once: the Parquet writer
//! and the bounds kept per column have a cost per call that would otherwise dominate.

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::memory_pool::MemoryReservation;
use datafusion::parquet::file::properties::WriterProperties;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, DataFileFormat, PartitionKey, SchemaRef as IcebergSchemaRef, Struct, TableProperties,
};
use iceberg::table::Table;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator, FileNameGenerator, LocationGenerator,
};

use crate::dictionary_choice::{MIN_SAMPLE_ROWS, without_useless_dictionaries};
use crate::error::{FloeError, Result, sqlstate};
use crate::parquet_file::{ParquetDataFile, Placement};
use crate::progress;
use crate::write_properties::{number, writer_properties};

/// Iceberg's property for the encoded size at which a row group ends.
const ROW_GROUP_BYTES: &str = "write.parquet.row-group-size-bytes";
const ROW_GROUP_BYTES_DEFAULT: usize = 128 * 1024 * 1024;
/// The rows a partition gathers before they are written to its file.
const STAGED_ROWS: usize = 2048;
/// Floe's property for the memory all open files of one write may buffer together.
pub const WRITE_BUFFER_BYTES: &str = "floe.write.buffer-size-bytes";
const WRITE_BUFFER_BYTES_DEFAULT: usize = 128 * 1024 * 1024;

/// What a write produced, for the commit and the write metrics.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub files: Vec<DataFile>,
    pub rows: u64,
    pub bytes: u64,
    pub uncompressed_bytes: u64,
}

impl Written {
    /// Adds what another writer of the same statement wrote.
    pub fn add(&mut self, other: Written) {
        self.files.extend(other.files);
        self.rows += other.rows;
        self.bytes += other.bytes;
        self.uncompressed_bytes += other.uncompressed_bytes;
    }
}

pub struct TableWriter {
    table: Table,
    schema: IcebergSchemaRef,
    /// The Arrow form of `schema`, with field ids, that batches arrive in.
    arrow_schema: SchemaRef,
    spec_id: i32,
    sort_order_id: Option<i32>,
    /// The Parquet properties the table's properties ask for.
    properties: WriterProperties,
    /// `properties` tuned to the statement's first batch, for files whose own first rows
    /// are too few to judge by.
    sampled_properties: Option<WriterProperties>,
    target_file_size: usize,
    row_group_bytes: usize,
    buffer_budget: usize,
    locations: DefaultLocationGenerator,
    names: DefaultFileNameGenerator,
    open: HashMap<Struct, OpenFile>,
    /// The sum of the open files' buffered bytes, kept up to date on every write.
    buffered: usize,
    /// Every file begun, so that a failed write can remove them all.
    started: Vec<String>,
    written: Written,
    reservation: MemoryReservation,
}

/// A partition's file, the rows staged for it and the memory both held after its last
/// write. The file itself is created with the first rows written to it, which choose its
/// encodings.
struct OpenFile {
    partition: Option<PartitionKey>,
    file: Option<ParquetDataFile>,
    staged: Vec<RecordBatch>,
    staged_rows: usize,
    staged_bytes: usize,
    buffered: usize,
}

impl OpenFile {
    fn new(partition: Option<&PartitionKey>) -> Self {
        Self {
            partition: partition.cloned(),
            file: None,
            staged: Vec::new(),
            staged_rows: 0,
            staged_bytes: 0,
            buffered: 0,
        }
    }

    fn stage(&mut self, rows: &RecordBatch) -> Result<()> {
        self.staged_rows += rows.num_rows();
        // A piece is a slice of its batch: it counts its share, not the batch's buffers.
        for column in rows.columns() {
            self.staged_bytes += column.to_data().get_slice_memory_size()?;
        }
        self.staged.push(rows.clone());
        Ok(())
    }

    /// The staged rows as one batch, no longer staged.
    fn take_staged(&mut self) -> Result<Option<RecordBatch>> {
        let rows = match self.staged.len() {
            0 => return Ok(None),
            1 => self.staged.pop().expect("one staged piece"),
            _ => concat_batches(&self.staged[0].schema(), &self.staged)?,
        };
        self.staged.clear();
        self.staged_rows = 0;
        self.staged_bytes = 0;
        Ok(Some(rows))
    }

    fn size_so_far(&self) -> usize {
        self.file.as_ref().map_or(0, ParquetDataFile::size_so_far)
    }

    fn row_group_bytes(&self) -> usize {
        self.file
            .as_ref()
            .map_or(0, ParquetDataFile::row_group_bytes)
    }

    /// The encoded size of the row group in progress and the staged rows.
    fn pending_bytes(&self) -> usize {
        self.row_group_bytes() + self.staged_bytes
    }

    async fn flush_row_group(&mut self) -> Result<()> {
        match &mut self.file {
            Some(file) => file.flush_row_group().await,
            None => Ok(()),
        }
    }

    fn update_buffered(&mut self) {
        let file_bytes = self
            .file
            .as_ref()
            .map_or(0, ParquetDataFile::buffered_bytes);
        self.buffered = file_bytes + self.staged_bytes;
    }
}

impl TableWriter {
    /// A writer for `table` taking batches in `arrow_schema`, which arrive sorted by sort
    /// order `sort_order_id` if one is given.
    pub fn new(
        table: &Table,
        arrow_schema: SchemaRef,
        sort_order_id: Option<i32>,
        reservation: MemoryReservation,
    ) -> Result<Self> {
        let metadata = table.metadata();
        let table_properties = metadata.properties();
        Ok(Self {
            table: table.clone(),
            schema: metadata.current_schema().clone(),
            arrow_schema,
            spec_id: metadata.default_partition_spec_id(),
            sort_order_id,
            properties: writer_properties(table_properties)?,
            sampled_properties: None,
            target_file_size: number(
                table_properties,
                TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES,
            )?
            .unwrap_or(TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT),
            row_group_bytes: number(table_properties, ROW_GROUP_BYTES)?
                .unwrap_or(ROW_GROUP_BYTES_DEFAULT),
            buffer_budget: number(table_properties, WRITE_BUFFER_BYTES)?
                .unwrap_or(WRITE_BUFFER_BYTES_DEFAULT),
            locations: DefaultLocationGenerator::new(metadata)?,
            names: DefaultFileNameGenerator::new(
                format!("floe-{}", uuid::Uuid::new_v4()),
                None,
                DataFileFormat::Parquet,
            ),
            open: HashMap::new(),
            buffered: 0,
            started: Vec::new(),
            written: Written::default(),
            reservation,
        })
    }

    /// Chooses encodings from the statement's first batch, for files whose own first rows
    /// are too few to choose by (see [`TableWriter::open_file`]).
    pub fn sample(&mut self, batch: &RecordBatch) {
        self.sampled_properties =
            Some(without_useless_dictionaries(self.properties.clone(), batch));
    }

    /// Makes this writer one of `writers` that share the write buffer budget.
    pub fn share_budget(mut self, writers: usize) -> Self {
        self.buffer_budget /= writers.max(1);
        self
    }

    /// Writes `batch`, all of whose rows belong to `partition` (`None`: unpartitioned).
    pub async fn write(
        &mut self,
        partition: Option<&PartitionKey>,
        batch: &RecordBatch,
    ) -> Result<()> {
        let key = partition.map_or_else(Struct::empty, |p| p.data().clone());
        let mut open = self
            .open
            .remove(&key)
            .unwrap_or_else(|| OpenFile::new(partition));
        self.written.rows += batch.num_rows() as u64;
        self.buffered -= open.buffered;
        open.stage(batch)?;
        if open.staged_rows >= STAGED_ROWS {
            self.write_staged(&mut open).await?;
            if open.size_so_far() >= self.target_file_size {
                return self.close_file(open).await;
            }
            if open.row_group_bytes() >= self.row_group_bytes {
                open.flush_row_group().await?;
            }
        }
        open.update_buffered();
        self.buffered += open.buffered;
        self.open.insert(key, open);
        self.fit_buffers().await
    }

    /// Closes every open file and returns what was written (nothing is committed yet).
    pub async fn finish(&mut self) -> Result<Written> {
        for (_, open) in std::mem::take(&mut self.open) {
            self.close_file(open).await?;
        }
        self.buffered = 0;
        self.reservation.free();
        Ok(std::mem::take(&mut self.written))
    }

    /// Removes every file this writer began, after a failure.
    pub async fn abort(&mut self) {
        self.open.clear();
        self.reservation.free();
        for path in self.started.drain(..) {
            let _ = self.table.file_io().delete(&path).await;
        }
    }

    /// Writes the rows staged for `open` to its file, creating the file first if need be.
    async fn write_staged(&mut self, open: &mut OpenFile) -> Result<()> {
        let Some(rows) = open.take_staged()? else {
            return Ok(());
        };
        let file = match &mut open.file {
            Some(file) => file,
            None => open
                .file
                .insert(self.open_file(open.partition.as_ref(), &rows).await?),
        };
        let size_before = file.size_so_far();
        file.write(&rows).await?;
        // Running totals for a face's progress display while the statement runs.
        let size_after = file.size_so_far();
        progress::add_written(rows.num_rows(), size_after.saturating_sub(size_before));
        Ok(())
    }

    /// Creates the file for `partition` that `first_rows` go into first. Its columns whose
    /// values are nearly all distinct there skip dictionary encoding: deciding per file
    /// matters when a batch's rows spread over many partitions, as an order key whose
    /// values repeat within a batch rarely repeats within one month's file.
    async fn open_file(
        &mut self,
        partition: Option<&PartitionKey>,
        first_rows: &RecordBatch,
    ) -> Result<ParquetDataFile> {
        let properties = match &self.sampled_properties {
            Some(sampled) if first_rows.num_rows() < MIN_SAMPLE_ROWS => sampled.clone(),
            _ => without_useless_dictionaries(self.properties.clone(), first_rows),
        };
        let key = partition.map_or_else(Struct::empty, |p| p.data().clone());
        let name = self.names.generate_file_name();
        let path = self.locations.generate_location(partition, &name);
        self.started.push(path.clone());
        let output = file_output(self.table.file_io(), &path).await?;
        ParquetDataFile::create(
            path,
            output,
            &self.schema,
            self.arrow_schema.clone(),
            properties,
            Placement {
                partition: key,
                spec_id: self.spec_id,
                sort_order_id: self.sort_order_id,
            },
        )
        .await
    }

    async fn close_file(&mut self, mut open: OpenFile) -> Result<()> {
        self.write_staged(&mut open).await?;
        let Some(file) = open.file else {
            return Ok(());
        };
        let (data_file, sizes) = file.close().await?;
        self.written.bytes += sizes.bytes;
        self.written.uncompressed_bytes += sizes.uncompressed_bytes;
        self.written.files.push(data_file);
        Ok(())
    }

    /// Keeps the open files' buffers within the budget and the memory pool's grant by
    /// writing out the largest row groups in progress (with their staged rows).
    async fn fit_buffers(&mut self) -> Result<()> {
        loop {
            if self.buffered <= self.buffer_budget
                && self.reservation.try_resize(self.buffered).is_ok()
            {
                return Ok(());
            }
            let largest = self
                .open
                .iter()
                .filter(|(_, open)| open.pending_bytes() > 0)
                .max_by_key(|(_, open)| open.pending_bytes())
                .map(|(key, _)| key.clone());
            match largest.and_then(|key| self.open.remove_entry(&key)) {
                Some((key, mut open)) => {
                    self.write_staged(&mut open).await?;
                    open.flush_row_group().await?;
                    self.buffered -= open.buffered;
                    open.update_buffered();
                    self.buffered += open.buffered;
                    self.open.insert(key, open);
                }
                None => {
                    return Err(FloeError::new(
                        sqlstate::OUT_OF_MEMORY,
                        format!(
                            "writing into {} needs {} of write buffers for {} open partition \
                             files, more than the memory limit grants; write fewer partitions \
                             per statement or raise the memory limit",
                            self.table.identifier(),
                            human_bytes(self.buffered as u64),
                            self.open.len()
                        ),
                    ));
                }
            }
        }
    }
}

async fn file_output(file_io: &FileIO, path: &str) -> Result<Box<dyn iceberg::io::FileWrite>> {
    Ok(file_io.new_output(path)?.writer().await?)
}

/// `1.5 MiB`-style sizes for messages.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
