//! Writing rows into an Iceberg table: Parquet data files through iceberg's writer stack
//! (one open file per table partition, rolled at the target size), then one append
//! snapshot per statement. A statement that fails before its commit deletes what it wrote,
//! so the table is left exactly as it was.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::sink::DataSink;
use datafusion::error::Result as DFResult;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::StreamExt;
use iceberg::arrow::record_batch_partition_splitter::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, DataFileFormat, TableProperties};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};

use crate::catalog::FloeCatalog;
use crate::commit::{Change, commit};
use crate::error::{FloeError, Result, sqlstate, to_datafusion};
use crate::write_properties::writer_properties;

/// The `DataSink` behind `INSERT INTO <iceberg table>`.
pub struct IcebergSink {
    catalog: Arc<FloeCatalog>,
    table: Table,
    /// The Arrow schema DataFusion delivers rows in (the table's columns, in order).
    input_schema: SchemaRef,
    /// The same columns carrying Iceberg field ids, as the Parquet writer needs them.
    file_schema: SchemaRef,
}

impl IcebergSink {
    pub fn new(
        catalog: Arc<FloeCatalog>,
        table: Table,
        input_schema: SchemaRef,
        file_schema: SchemaRef,
    ) -> Self {
        Self {
            catalog,
            table,
            input_schema,
            file_schema,
        }
    }

    /// Writes `data` into new data files of the table (not yet committed), returning them
    /// and the number of rows.
    pub(crate) async fn write_files(
        &self,
        mut data: SendableRecordBatchStream,
    ) -> Result<(Vec<DataFile>, u64)> {
        let metadata = self.table.metadata();
        let schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().clone();
        let properties = metadata.properties();
        let target_file_size = properties
            .get(TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES)
            .map(|v| {
                v.parse::<usize>().map_err(|_| {
                    FloeError::invalid(format!(
                        "table property {} must be a number of bytes, not {v}",
                        TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES
                    ))
                })
            })
            .transpose()?
            .unwrap_or(TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT);
        let parquet = ParquetWriterBuilder::new(writer_properties(properties)?, schema.clone());
        let data_files = DataFileWriterBuilder::new(RollingFileWriterBuilder::new(
            parquet,
            target_file_size,
            self.table.file_io().clone(),
            DefaultLocationGenerator::new(metadata)?,
            DefaultFileNameGenerator::new(
                format!("floe-{}", uuid::Uuid::new_v4()),
                None,
                DataFileFormat::Parquet,
            ),
        ));

        let mut rows = 0u64;
        if spec.is_unpartitioned() {
            let mut writer = data_files.build(None).await?;
            while let Some(batch) = data.next().await {
                let batch = self.to_file_schema(batch?)?;
                rows += batch.num_rows() as u64;
                writer.write(batch).await?;
            }
            Ok((writer.close().await?, rows))
        } else {
            let splitter =
                RecordBatchPartitionSplitter::try_new_with_computed_values(schema, spec)?;
            let mut writer = FanoutWriter::new(data_files);
            while let Some(batch) = data.next().await {
                let batch = self.to_file_schema(batch?)?;
                rows += batch.num_rows() as u64;
                for (key, part) in splitter.split(&batch)? {
                    writer.write(key, part).await?;
                }
            }
            Ok((writer.close().await?, rows))
        }
    }

    /// Checks NOT NULL columns, then relabels the batch with the field-id schema (the
    /// columns are already the table's, in order and type).
    fn to_file_schema(&self, batch: RecordBatch) -> Result<RecordBatch> {
        for (field, column) in self.file_schema.fields().iter().zip(batch.columns()) {
            if !field.is_nullable() && column.logical_null_count() > 0 {
                return Err(FloeError::new(
                    sqlstate::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" of table {} violates not-null constraint",
                        field.name(),
                        self.table.identifier()
                    ),
                ));
            }
        }
        Ok(RecordBatch::try_new(
            self.file_schema.clone(),
            batch.columns().to_vec(),
        )?)
    }

    /// Appends `files` as one snapshot through the engine's one commit path.
    async fn commit(&self, files: Vec<DataFile>) -> Result<()> {
        commit(
            self.catalog.as_ref(),
            self.table.identifier(),
            &Change::Append(files),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn remove_files(&self, files: &[DataFile]) {
        for file in files {
            let _ = self.table.file_io().delete(file.file_path()).await;
        }
    }
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

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DFResult<u64> {
        let (files, rows) = self.write_files(data).await.map_err(to_datafusion)?;
        if files.is_empty() {
            return Ok(0);
        }
        if let Err(err) = self.commit(files.clone()).await {
            self.remove_files(&files).await;
            return Err(to_datafusion(err));
        }
        Ok(rows)
    }
}
