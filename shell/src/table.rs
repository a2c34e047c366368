//! The aligned table, psql-style, and its expanded (`\x`) form. On a terminal the table is
//! fitted to the terminal width: long one-line cells are cut with `…` rather than wrapped, so
//! such a row stays one line; a cell with line breaks of its own (an EXPLAIN plan) is shown
//! whole.

use std::io::Write;

use comfy_table::{Attribute, Cell, CellAlignment, ContentArrangement, Table};
use floe_engine::arrow::datatypes::Schema;
use unicode_width::UnicodeWidthStr;

use crate::format::Destination;
use crate::settings::{Expanded, Settings};

/// Vertical lines between columns and a `-+-` rule under the header, nothing else.
const PSQL_STYLE: &str = "     -+ |          ";

/// A result's header and rows as text; `None` is NULL.
pub struct Cells {
    pub header: Vec<String>,
    /// Which columns are numbers, to align them right.
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Cells {
    pub fn new(schema: &Schema) -> Self {
        Self {
            header: schema.fields().iter().map(|f| f.name().clone()).collect(),
            numeric: schema
                .fields()
                .iter()
                .map(|f| f.data_type().is_numeric())
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Width of the table drawn without limits.
    fn natural_width(&self, null: &str) -> usize {
        let widths = self.header.iter().enumerate().map(|(i, name)| {
            self.rows
                .iter()
                .map(|row| row[i].as_deref().unwrap_or(null).width())
                .fold(name.width(), usize::max)
        });
        widths.map(|w| w + 3).sum::<usize>().saturating_sub(1)
    }
}

/// Writes `cells` as an aligned table, or expanded when `\x` says so.
pub fn write_aligned(
    out: &mut dyn Write,
    cells: &Cells,
    settings: &Settings,
    destination: Destination,
) -> std::io::Result<()> {
    let expanded = match settings.expanded {
        Expanded::On => true,
        Expanded::Off => false,
        Expanded::Auto => destination
            .width
            .is_some_and(|w| cells.natural_width(&settings.null) > w as usize),
    };
    if expanded {
        return write_expanded(out, cells, settings, destination);
    }
    let mut table = Table::new();
    table.force_no_tty().load_preset(PSQL_STYLE);
    if destination.styled {
        table.enforce_styling();
    }
    if let Some(width) = destination.width {
        table
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width)
            .set_truncation_indicator("…");
    }
    // Headers stay left-aligned over right-aligned numbers, as psql draws them.
    table.set_header(
        cells
            .header
            .iter()
            .map(|h| Cell::new(h).set_alignment(CellAlignment::Left)),
    );
    for row in &cells.rows {
        table.add_row(row.iter().map(|cell| match cell {
            Some(text) => Cell::new(text),
            None if destination.styled => Cell::new(&settings.null).add_attribute(Attribute::Dim),
            None => Cell::new(&settings.null),
        }));
        // A row of one-line values stays one line; a value with line breaks of its own
        // (an EXPLAIN plan) is shown whole, wrapped to the width.
        let multi_line = row.iter().flatten().any(|text| text.contains('\n'));
        if destination.width.is_some()
            && !multi_line
            && let Some(last) = table.row_mut(table.row_count() - 1)
        {
            last.max_height(1);
        }
    }
    for (i, numeric) in cells.numeric.iter().enumerate() {
        if *numeric && let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    for line in table.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// One block per row: `-[ RECORD n ]` then a `column | value` line per field.
fn write_expanded(
    out: &mut dyn Write,
    cells: &Cells,
    settings: &Settings,
    destination: Destination,
) -> std::io::Result<()> {
    let name_width = cells.header.iter().map(|h| h.width()).max().unwrap_or(0);
    let value_room = destination
        .width
        .map(|w| (w as usize).saturating_sub(name_width + 3).max(8));
    let records: Vec<Vec<String>> = cells
        .rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| {
                    let text = cell.as_deref().unwrap_or(&settings.null);
                    // A value spanning lines is shown on one, with its breaks visible.
                    let text = text.replace('\n', "\\n");
                    match value_room {
                        Some(room) => truncate(&text, room),
                        None => text,
                    }
                })
                .collect()
        })
        .collect();
    let value_width = records
        .iter()
        .flatten()
        .map(|v| v.width())
        .max()
        .unwrap_or(0);
    for (n, values) in records.into_iter().enumerate() {
        let title = format!("-[ RECORD {} ]", n + 1);
        let rule = (name_width + 3 + value_width).saturating_sub(title.width());
        writeln!(out, "{title}{}", "-".repeat(rule))?;
        for (name, value) in cells.header.iter().zip(values) {
            let pad = name_width - name.width();
            writeln!(out, "{name}{} | {value}", " ".repeat(pad))?;
        }
    }
    Ok(())
}

/// `text` cut to at most `room` columns, ending in `…` when cut.
fn truncate(text: &str, room: usize) -> String {
    if text.width() <= room {
        return text.to_string();
    }
    let mut kept = String::new();
    let mut width = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if width + w + 1 > room {
            break;
        }
        kept.push(c);
        width += w;
    }
    kept.push('…');
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells() -> Cells {
        Cells {
            header: vec!["id".into(), "name".into()],
            numeric: vec![true, false],
            rows: vec![
                vec![Some("1".into()), Some("ada lovelace".into())],
                vec![Some("22".into()), None],
            ],
        }
    }

    fn render(settings: &Settings, destination: Destination) -> String {
        let mut out = Vec::new();
        write_aligned(&mut out, &cells(), settings, destination).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn aligned_like_psql_with_numbers_right() {
        let text = render(&Settings::default(), Destination::default());
        assert_eq!(
            text,
            " id | name\n----+--------------\n  1 | ada lovelace\n 22 | NULL\n"
        );
    }

    #[test]
    fn fits_the_terminal_by_cutting_cells() {
        let destination = Destination {
            width: Some(14),
            styled: false,
        };
        let text = render(&Settings::default(), destination);
        assert!(text.lines().all(|l| l.width() <= 14), "{text}");
        assert!(text.contains('…'), "{text}");
        assert_eq!(text.lines().count(), 4, "{text}");
    }

    #[test]
    fn shows_every_line_of_a_multi_line_cell_on_a_terminal() {
        let plan = Cells {
            header: vec!["plan".into()],
            numeric: vec![false],
            rows: vec![vec![Some(
                "FilterExec\n  IcebergScanExec\n    DataSourceExec".into(),
            )]],
        };
        let mut out = Vec::new();
        let destination = Destination {
            width: Some(40),
            styled: false,
        };
        write_aligned(&mut out, &plan, &Settings::default(), destination).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in ["FilterExec", "IcebergScanExec", "DataSourceExec"] {
            assert!(text.contains(line), "{text}");
        }
    }

    #[test]
    fn expanded_shows_one_field_per_line() {
        let settings = Settings {
            expanded: Expanded::On,
            ..Settings::default()
        };
        let text = render(&settings, Destination::default());
        assert_eq!(
            text,
            "-[ RECORD 1 ]------\nid   | 1\nname | ada lovelace\n-[ RECORD 2 ]------\nid   | 22\nname | NULL\n"
        );
        let auto = Settings {
            expanded: Expanded::Auto,
            ..Settings::default()
        };
        let narrow = Destination {
            width: Some(10),
            styled: false,
        };
        assert!(render(&auto, narrow).starts_with("-[ RECORD 1 ]"));
        assert!(render(&auto, Destination::default()).starts_with(" id | name"));
    }
}
