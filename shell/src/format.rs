//! Output formats: how result batches and command tags are written to a terminal or file.

use std::io::Write;

use floe_engine::arrow::array::RecordBatch;
use floe_engine::arrow::datatypes::SchemaRef;
use floe_engine::arrow::util::display::{ArrayFormatter, FormatOptions};

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

/// Text shown for SQL NULL in the aligned formats, so it differs from an empty string.
const NULL_TEXT: &str = "NULL";

fn cell_texts(batch: &RecordBatch, null: &'static str) -> std::io::Result<Vec<Vec<String>>> {
    let options = FormatOptions::default().with_null(null);
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()
        .map_err(std::io::Error::other)?;
    Ok((0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect()
        })
        .collect())
}

impl Format {
    /// Writes a whole result set.
    pub fn write_rows(
        &self,
        out: &mut dyn Write,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> std::io::Result<()> {
        let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        match self {
            Format::Table => write_table(out, &header, batches),
            Format::Markdown => write_markdown(out, &header, batches),
            Format::Csv => write_delimited(out, &header, batches, b','),
            Format::Tsv => write_delimited(out, &header, batches, b'\t'),
            Format::Json => {
                let mut writer = floe_engine::arrow::json::ArrayWriter::new(&mut *out);
                for batch in batches {
                    writer.write(batch).map_err(std::io::Error::other)?;
                }
                writer.finish().map_err(std::io::Error::other)?;
                drop(writer);
                writeln!(out)
            }
            Format::Ndjson => {
                let mut writer = floe_engine::arrow::json::LineDelimitedWriter::new(&mut *out);
                for batch in batches {
                    writer.write(batch).map_err(std::io::Error::other)?;
                }
                writer.finish().map_err(std::io::Error::other)
            }
        }
    }

    /// Writes the outcome of a statement that returns no rows, e.g. `INSERT 0 3`.
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
}

fn write_table(
    out: &mut dyn Write,
    header: &[String],
    batches: &[RecordBatch],
) -> std::io::Result<()> {
    let mut rows = Vec::new();
    for batch in batches {
        rows.extend(cell_texts(batch, NULL_TEXT)?);
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!(" {cell:<width$} "))
            .collect();
        padded.join("|").trim_end().to_string()
    };
    writeln!(out, "{}", line(header))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    writeln!(out, "{}", rule.join("+"))?;
    for row in &rows {
        writeln!(out, "{}", line(row))?;
    }
    let count = rows.len();
    writeln!(out, "({count} row{})", if count == 1 { "" } else { "s" })
}

fn write_markdown(
    out: &mut dyn Write,
    header: &[String],
    batches: &[RecordBatch],
) -> std::io::Result<()> {
    let escape = |s: &str| s.replace('|', "\\|");
    writeln!(
        out,
        "| {} |",
        header
            .iter()
            .map(|h| escape(h))
            .collect::<Vec<_>>()
            .join(" | ")
    )?;
    writeln!(out, "|{}", "---|".repeat(header.len()))?;
    for batch in batches {
        for row in cell_texts(batch, NULL_TEXT)? {
            writeln!(
                out,
                "| {} |",
                row.iter()
                    .map(|c| escape(c))
                    .collect::<Vec<_>>()
                    .join(" | ")
            )?;
        }
    }
    Ok(())
}

fn write_delimited(
    out: &mut dyn Write,
    header: &[String],
    batches: &[RecordBatch],
    delimiter: u8,
) -> std::io::Result<()> {
    let quote = |field: &str| -> String {
        let needs = field
            .bytes()
            .any(|b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r');
        if needs {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field.to_string()
        }
    };
    let separator = (delimiter as char).to_string();
    writeln!(
        out,
        "{}",
        header
            .iter()
            .map(|h| quote(h))
            .collect::<Vec<_>>()
            .join(&separator)
    )?;
    for batch in batches {
        // NULL is an empty field, as PostgreSQL's COPY ... CSV writes it.
        for row in cell_texts(batch, "")? {
            writeln!(
                out,
                "{}",
                row.iter()
                    .map(|c| quote(c))
                    .collect::<Vec<_>>()
                    .join(&separator)
            )?;
        }
    }
    Ok(())
}
