//! What a statement gives back to a face: rows to render, or a command tag.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::memory::MemoryStream;

use crate::error::Result;

pub enum Output {
    /// A result set, streamed batch by batch.
    Rows(SendableRecordBatchStream),
    /// A statement that changes something. `tag` is PostgreSQL's command tag word(s)
    /// (`CREATE TABLE`, `INSERT`, ...); `rows` the number of rows it affected, if it counts.
    Command {
        tag: &'static str,
        rows: Option<u64>,
    },
}

impl Output {
    pub fn command(tag: &'static str) -> Self {
        Output::Command { tag, rows: None }
    }

    pub fn schema(&self) -> Option<SchemaRef> {
        match self {
            Output::Rows(stream) => Some(stream.schema()),
            Output::Command { .. } => None,
        }
    }

    /// A result set of one batch.
    pub fn batch(batch: RecordBatch) -> Result<Self> {
        let schema = batch.schema();
        Ok(Output::Rows(Box::pin(MemoryStream::try_new(
            vec![batch],
            schema,
            None,
        )?)))
    }

    /// A small result set of text columns, for SHOW and DESCRIBE.
    pub fn text_table(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> Result<Self> {
        let schema: SchemaRef = Arc::new(Schema::new(
            columns
                .iter()
                .map(|name| Field::new(*name, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let arrays: Vec<ArrayRef> = (0..columns.len())
            .map(|i| {
                Arc::new(
                    rows.iter()
                        .map(|row| row[i].clone())
                        .collect::<StringArray>(),
                ) as ArrayRef
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Output::Rows(Box::pin(MemoryStream::try_new(
            vec![batch],
            schema,
            None,
        )?)))
    }
}
