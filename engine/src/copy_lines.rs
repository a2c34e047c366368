//! The lines COPY writes in text and CSV format, to a client (`TO STDOUT`) or to a file.
//! Each value's text is escaped as PostgreSQL's COPY writes it: backslash escapes and `\N`
//! for NULL in text; quoting where needed and an empty unquoted field for NULL in CSV, so
//! that a NULL and an empty string read back as they were written.

use crate::error::{FloeError, sqlstate};
use crate::parser::{CopyFormat, CopyOptions};

/// How values are written into COPY lines.
#[derive(Debug, Clone)]
pub struct CopyLines {
    csv: bool,
    delimiter: u8,
    null: Vec<u8>,
    quote: u8,
    escape: u8,
}

impl CopyLines {
    /// The line format of a text or CSV COPY with `options`; 0A000 for a delimiter, quote
    /// or escape that is not one single-byte character, as PostgreSQL requires.
    pub fn new(options: &CopyOptions) -> Result<Self, FloeError> {
        let csv = options.format == Some(CopyFormat::Csv);
        let one_byte = |character: char, what: &str| {
            u8::try_from(character)
                .ok()
                .filter(u8::is_ascii)
                .ok_or_else(|| {
                    FloeError::new(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!("COPY {what} must be a single one-byte character"),
                    )
                })
        };
        let delimiter = one_byte(
            options.delimiter.unwrap_or(if csv { ',' } else { '\t' }),
            "delimiter",
        )?;
        let quote = one_byte(options.quote.unwrap_or('"'), "quote")?;
        let escape = match options.escape {
            Some(escape) => one_byte(escape, "escape")?,
            None => quote,
        };
        let null = options
            .null
            .clone()
            .unwrap_or_else(|| if csv { "" } else { "\\N" }.to_string())
            .into_bytes();
        Ok(Self {
            csv,
            delimiter,
            null,
            quote,
            escape,
        })
    }

    /// The header line: the column names, escaped as values are.
    pub fn header<'a>(&self, names: impl ExactSizeIterator<Item = &'a str>) -> Vec<u8> {
        let single = names.len() == 1;
        let mut line = Vec::new();
        for (index, name) in names.enumerate() {
            if index > 0 {
                line.push(self.delimiter);
            }
            self.push_value(&mut line, name.as_bytes(), single);
        }
        line.push(b'\n');
        line
    }

    /// Appends the line of a row: each cell's text, `None` for NULL.
    pub fn push_row<'a>(
        &self,
        line: &mut Vec<u8>,
        cells: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
    ) {
        let single = cells.len() == 1;
        for (index, cell) in cells.enumerate() {
            if index > 0 {
                line.push(self.delimiter);
            }
            match cell {
                Some(value) => self.push_value(line, value, single),
                None => line.extend_from_slice(&self.null),
            }
        }
        line.push(b'\n');
    }

    fn push_value(&self, line: &mut Vec<u8>, value: &[u8], single_column: bool) {
        if self.csv {
            self.push_csv(line, value, single_column);
        } else {
            self.push_text(line, value);
        }
    }

    /// PostgreSQL's text format: control characters as `\n`-style escapes, the backslash
    /// behind a backslash, and the delimiter as its octal escape (`\174` for `|`), which
    /// PostgreSQL reads back as it does `\|`, and which a reader that splits a line at its
    /// delimiters before decoding fields (Floe's own) never takes for one.
    fn push_text(&self, line: &mut Vec<u8>, value: &[u8]) {
        for &byte in value {
            let escaped = match byte {
                0x08 => Some(b'b'),
                0x0c => Some(b'f'),
                b'\n' => Some(b'n'),
                b'\r' => Some(b'r'),
                b'\t' => Some(b't'),
                0x0b => Some(b'v'),
                b'\\' => Some(b'\\'),
                _ => None,
            };
            match escaped {
                Some(escaped) => line.extend_from_slice(&[b'\\', escaped]),
                None if byte == self.delimiter => {
                    line.extend_from_slice(format!("\\{byte:03o}").as_bytes())
                }
                None => line.push(byte),
            }
        }
    }

    /// CSV: a value is quoted when it holds the delimiter, the quote or a line break, when
    /// it reads as NULL (the empty string by default), or when it is `\.` alone on a
    /// line (the end-of-data marker); quotes and escapes inside are escaped.
    fn push_csv(&self, line: &mut Vec<u8>, value: &[u8], single_column: bool) {
        let quoted = value == self.null.as_slice()
            || (single_column && value == b"\\.")
            || value.iter().any(|&byte| {
                byte == self.delimiter || byte == self.quote || byte == b'\n' || byte == b'\r'
            });
        if !quoted {
            line.extend_from_slice(value);
            return;
        }
        line.push(self.quote);
        for &byte in value {
            if byte == self.quote || byte == self.escape {
                line.push(self.escape);
            }
            line.push(byte);
        }
        line.push(self.quote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(options: CopyOptions, cells: &[Option<&str>]) -> String {
        let mut line = Vec::new();
        CopyLines::new(&options)
            .unwrap()
            .push_row(&mut line, cells.iter().map(|cell| cell.map(str::as_bytes)));
        String::from_utf8(line).unwrap()
    }

    fn options(format: CopyFormat) -> CopyOptions {
        CopyOptions {
            format: Some(format),
            header: false,
            delimiter: None,
            null: None,
            quote: None,
            escape: None,
        }
    }

    #[test]
    fn text_escapes_backslashes_delimiters_and_control_characters() {
        assert_eq!(
            line(
                options(CopyFormat::Text),
                &[
                    Some("\\xdead"),
                    None,
                    Some("a\tb\nc\rd\\e\u{8}\u{b}\u{c}"),
                    Some("")
                ]
            ),
            "\\\\xdead\t\\N\ta\\tb\\nc\\rd\\\\e\\b\\v\\f\t\n"
        );
        let mut piped = options(CopyFormat::Text);
        piped.delimiter = Some('|');
        piped.null = Some("".into());
        assert_eq!(line(piped, &[Some("a|b"), None]), "a\\174b|\n");
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(
            line(
                options(CopyFormat::Csv),
                &[
                    Some("plain"),
                    None,
                    Some(""),
                    Some("a,b"),
                    Some("say \"hi\""),
                    Some("two\nlines")
                ]
            ),
            "plain,,\"\",\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
        );
        assert_eq!(line(options(CopyFormat::Csv), &[Some("\\.")]), "\"\\.\"\n");
        let mut escaped = options(CopyFormat::Csv);
        escaped.escape = Some('\\');
        escaped.null = Some("NULL".into());
        assert_eq!(
            line(escaped, &[Some("a\"b\\c"), None, Some("NULL")]),
            "\"a\\\"b\\\\c\",NULL,\"NULL\"\n"
        );
    }

    #[test]
    fn text_fields_decode_to_what_was_written() {
        for value in [
            "plain",
            "tab\there",
            "line\nbreak\r",
            "back\\slash",
            "a|b",
            "ünï",
            "",
        ] {
            let mut piped = options(CopyFormat::Text);
            piped.delimiter = Some('|');
            let line = line(piped, &[Some(value), None]);
            let (field, null) = line.trim_end_matches('\n').split_once('|').unwrap();
            assert!(!field.contains(['\t', '\n', '\r']), "{field}");
            assert_eq!(crate::pg_text::decode(field).unwrap(), value);
            assert_eq!(null, "\\N");
        }
    }

    #[test]
    fn headers_are_escaped_like_values() {
        let lines = CopyLines::new(&options(CopyFormat::Csv)).unwrap();
        assert_eq!(lines.header(["id", "a,b"].into_iter()), b"id,\"a,b\"\n");
        let mut wide = options(CopyFormat::Text);
        wide.delimiter = Some('é');
        assert_eq!(CopyLines::new(&wide).unwrap_err().sqlstate, "0A000");
    }
}
