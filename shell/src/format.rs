//! Output formats: how a result stream and command tags are written to a terminal or file.
//! Every format except the aligned table streams batch by batch; the table needs its rows
//! to size its columns, so it reads at most `max_rows` of them and then stops the query.

use std::io::Write;

use datafusion::execution::SendableRecordBatchStream;
use floe_engine::FloeError;
use floe_engine::arrow::array::RecordBatch;
use floe_engine::arrow::json::WriterBuilder;
use floe_engine::arrow::json::writer::{JsonArray, LineDelimited};
use floe_engine::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;

use crate::settings::Settings;
use crate::table::{Cells, write_aligned};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header and a row count, like psql.
    Table,
    Csv,
    Tsv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    Markdown,
}

/// Where output goes, which decides width limits and styling.
#[derive(Debug, Clone, Copy, Default)]
pub struct Destination {
    /// Terminal width, when writing to a terminal.
    pub width: Option<u16>,
    /// Whether ANSI styling (dim NULLs) may be used.
    pub styled: bool,
}

impl Format {
    pub const ALL: [Format; 6] = [
        Format::Table,
        Format::Csv,
        Format::Tsv,
        Format::Json,
        Format::Ndjson,
        Format::Markdown,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Markdown => "markdown",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// Writes a result set as it arrives. `before_output` runs once, just before the first
    /// byte is written (to clear a progress spinner).
    pub async fn write_stream(
        &self,
        mut stream: SendableRecordBatchStream,
        settings: &Settings,
        destination: Destination,
        out: &mut dyn Write,
        before_output: &mut dyn FnMut(),
    ) -> Result<(), FloeError> {
        let schema = stream.schema();
        match self {
            Format::Table => {
                let mut cells = Cells::new(&schema);
                let mut more = false;
                'read: while let Some(batch) = stream.next().await {
                    for row in cell_texts(&batch?, true)? {
                        if settings.max_rows > 0 && cells.rows.len() == settings.max_rows {
                            more = true;
                            break 'read;
                        }
                        cells.rows.push(row);
                    }
                }
                // Dropping the stream stops the query: nothing past the cap is computed.
                drop(stream);
                before_output();
                write_aligned(out, &cells, settings, destination)?;
                write_footer(out, cells.rows.len(), more)?;
            }
            Format::Json | Format::Ndjson => {
                before_output();
                if *self == Format::Json {
                    let mut writer = WriterBuilder::new()
                        .with_explicit_nulls(true)
                        .build::<_, JsonArray>(&mut *out);
                    while let Some(batch) = stream.next().await {
                        writer.write(&batch?)?;
                    }
                    writer.finish()?;
                    drop(writer);
                    writeln!(out)?;
                } else {
                    let mut writer = WriterBuilder::new()
                        .with_explicit_nulls(true)
                        .build::<_, LineDelimited>(&mut *out);
                    while let Some(batch) = stream.next().await {
                        writer.write(&batch?)?;
                    }
                    writer.finish()?;
                }
            }
            Format::Csv | Format::Tsv | Format::Markdown => {
                before_output();
                let header: Vec<String> =
                    schema.fields().iter().map(|f| f.name().clone()).collect();
                let line = |cells: Vec<String>| match self {
                    Format::Markdown => markdown_line(&cells),
                    Format::Tsv => delimited_line(&cells, b'\t'),
                    _ => delimited_line(&cells, b','),
                };
                writeln!(out, "{}", line(header.clone()))?;
                if *self == Format::Markdown {
                    writeln!(out, "|{}", "---|".repeat(header.len()))?;
                }
                // NULL is an empty field in CSV/TSV, as PostgreSQL's COPY ... CSV writes it.
                let null = if *self == Format::Markdown {
                    settings.null.as_str()
                } else {
                    ""
                };
                let readable = *self == Format::Markdown;
                while let Some(batch) = stream.next().await {
                    for row in cell_texts(&batch?, readable)? {
                        let row = row
                            .into_iter()
                            .map(|c| c.unwrap_or_else(|| null.to_string()))
                            .collect();
                        writeln!(out, "{}", line(row))?;
                    }
                    out.flush()?;
                }
            }
        }
        Ok(())
    }

    /// Writes the outcome of a statement that returns no rows, e.g. `INSERT 0 3`. Only the
    /// table format shows them; the data formats stay parseable.
    pub fn write_command(
        &self,
        out: &mut dyn Write,
        tag: &str,
        rows: Option<u64>,
    ) -> std::io::Result<()> {
        if *self != Format::Table {
            return Ok(());
        }
        match (tag, rows) {
            ("INSERT", Some(n)) => writeln!(out, "INSERT 0 {n}"),
            (tag, Some(n)) => writeln!(out, "{tag} {n}"),
            (tag, None) => writeln!(out, "{tag}"),
        }
    }

    /// A line about the statement after its tag (what a write stored), for people only.
    pub fn write_note(&self, out: &mut dyn Write, note: &str) -> std::io::Result<()> {
        if *self != Format::Table {
            return Ok(());
        }
        writeln!(out, "{note}")
    }
}

/// The text of every cell of `batch`, row by row; `None` for NULL. For people (`readable`)
/// timestamps are spelled as SQL writes them, with a space; data formats keep ISO 8601.
pub fn cell_texts(
    batch: &RecordBatch,
    readable: bool,
) -> Result<Vec<Vec<Option<String>>>, FloeError> {
    let options = if readable {
        FormatOptions::default()
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
            .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"))
    } else {
        FormatOptions::default()
    };
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .zip(batch.columns())
                .map(|(f, column)| (!column.is_null(row)).then(|| f.value(row).to_string()))
                .collect()
        })
        .collect())
}

fn write_footer(out: &mut dyn Write, shown: usize, more: bool) -> std::io::Result<()> {
    if more {
        writeln!(
            out,
            "(first {shown} rows shown; the result has more. \\pset maxrows N or --max-rows N \
             changes the limit, 0 shows all)"
        )
    } else {
        writeln!(out, "({shown} row{})", if shown == 1 { "" } else { "s" })
    }
}

fn markdown_line(cells: &[String]) -> String {
    let escaped: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    format!("| {} |", escaped.join(" | "))
}

fn delimited_line(cells: &[String], delimiter: u8) -> String {
    let quote = |field: &String| -> String {
        let needs = field
            .bytes()
            .any(|b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r');
        if needs {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field.clone()
        }
    };
    cells
        .iter()
        .map(quote)
        .collect::<Vec<_>>()
        .join(&(delimiter as char).to_string())
}
