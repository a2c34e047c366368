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
    /// (`CREATE TABLE`, `INSERT`, ...); `rows` the number of rows it affected, if it counts;
    /// `written` what a write put into the table's storage.
    Command {
        tag: &'static str,
        rows: Option<u64>,
        written: Option<WriteSummary>,
    },
}

/// What a write (INSERT, COPY FROM, CREATE TABLE AS) added to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSummary {
    pub rows: u64,
    pub files: u64,
    /// The data files' size on storage.
    pub bytes: u64,
    /// The rows' size in memory, before encoding and compression.
    pub uncompressed_bytes: u64,
}

impl WriteSummary {
    /// How many times smaller the files are than the data they hold.
    pub fn compression_ratio(&self) -> Option<f64> {
        (self.bytes > 0).then(|| self.uncompressed_bytes as f64 / self.bytes as f64)
    }

    /// One line for people: `wrote 1000 rows in 2 files, 1.2 MiB (compression 3.4x)`. The
    /// ratio is left out for small writes, whose size is mostly the files' footers.
    pub fn describe(&self) -> String {
        let files = if self.files == 1 { "file" } else { "files" };
        let mut text = format!(
            "wrote {} rows in {} {files}, {}",
            self.rows,
            self.files,
            crate::table_writer::human_bytes(self.bytes)
        );
        if let Some(ratio) = self.compression_ratio().filter(|_| self.bytes >= 64 * 1024) {
            text.push_str(&format!(" (compression {ratio:.1}x)"));
        }
        text
    }
}

impl Output {
    pub fn command(tag: &'static str) -> Self {
        Output::Command {
            tag,
            rows: None,
            written: None,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_summary_reads_as_one_line() {
        let summary = WriteSummary {
            rows: 1000,
            files: 2,
            bytes: 2 << 20,
            uncompressed_bytes: 7 << 20,
        };
        assert_eq!(
            summary.describe(),
            "wrote 1000 rows in 2 files, 2.0 MiB (compression 3.5x)"
        );
        let small = WriteSummary {
            bytes: 900,
            uncompressed_bytes: 20,
            ..summary
        };
        assert_eq!(small.describe(), "wrote 1000 rows in 2 files, 900 bytes");
        let empty = WriteSummary {
            rows: 0,
            files: 0,
            bytes: 0,
            uncompressed_bytes: 0,
        };
        assert_eq!(empty.describe(), "wrote 0 rows in 0 files, 0 bytes");
    }
}
