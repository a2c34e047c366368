//! PostgreSQL's CSV tells NULL from the empty string by quoting: an unquoted field equal
//! to the NULL string (empty by default) is NULL, a quoted one is text, so `""` is the
//! empty string. DataFusion's CSV reader forgets the quotes and makes every empty field
//! NULL (its scan ignores `null_regex`). So before a load reads a CSV file, its fields are
//! marked: an unquoted NULL string becomes an empty field (NULL to the reader), and any
//! other empty value becomes [`EMPTY`], which the load turns back into ''.
//!
//! PostgreSQL's text format has the same need without quotes: an empty field is the empty
//! string and `\N` is NULL. Its files are marked the same way, with no quote character.

/// Stands for the empty string in marked CSV files: a NUL character, which PostgreSQL text
/// never holds.
pub const EMPTY: &str = "\0";

/// Stands for the empty string in marked text-format files, which are read with NUL as
/// their (never seen) quote: a lone backslash, which no text field is (a backslash
/// always escapes the character after it).
pub const EMPTY_IN_TEXT: &str = "\\";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a record: a line end here is an empty line, passed on.
    RecordStart,
    FieldStart,
    Unquoted,
    Quoted,
    /// Inside quotes, just after the escape character (when it is not the quote).
    Escaped,
    /// Inside quotes, just after a quote: the closing one, or the first of a doubled one.
    QuoteSeen,
    /// After the closing quote, before the delimiter.
    AfterQuoted,
}

/// Marks the fields of a CSV stream fed to it in pieces (see the module documentation).
pub struct FieldMarker {
    delimiter: u8,
    quote: u8,
    escape: u8,
    null: Vec<u8>,
    empty: &'static str,
    state: State,
    /// The current field as written, quotes included.
    raw: Vec<u8>,
    quoted: bool,
    has_content: bool,
}

impl FieldMarker {
    /// A marker of fields that end at `delimiter`s and line ends, quoted with `quote` (CSV)
    /// or never (text: a NUL quote), whose NULL is `null`, writing `empty` for ''.
    pub fn new(delimiter: u8, quote: u8, escape: u8, null: &str, empty: &'static str) -> Self {
        Self {
            delimiter,
            quote,
            escape,
            null: null.as_bytes().to_vec(),
            empty,
            state: State::RecordStart,
            raw: Vec::new(),
            quoted: false,
            has_content: false,
        }
    }

    /// Appends the marked form of `input` (the next bytes of the stream) to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            self.push_byte(byte, out);
        }
    }

    /// Appends what is left at the end of the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state != State::RecordStart {
            self.end_field(out);
        }
        self.state = State::RecordStart;
    }

    fn push_byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        let line_end = byte == b'\n' || byte == b'\r';
        match self.state {
            State::RecordStart if line_end => out.push(byte),
            State::RecordStart | State::FieldStart => {
                self.raw.clear();
                self.quoted = false;
                self.has_content = false;
                if byte == self.quote {
                    self.quoted = true;
                    self.raw.push(byte);
                    self.state = State::Quoted;
                } else {
                    self.state = State::Unquoted;
                    self.unquoted_byte(byte, out);
                }
            }
            State::Unquoted => self.unquoted_byte(byte, out),
            State::Quoted => {
                self.raw.push(byte);
                if byte == self.escape && self.escape != self.quote {
                    self.state = State::Escaped;
                } else if byte == self.quote {
                    self.state = State::QuoteSeen;
                } else {
                    self.has_content = true;
                }
            }
            State::Escaped => {
                self.raw.push(byte);
                self.has_content = true;
                self.state = State::Quoted;
            }
            State::QuoteSeen if byte == self.quote && self.escape == self.quote => {
                self.raw.push(byte);
                self.has_content = true;
                self.state = State::Quoted;
            }
            State::QuoteSeen | State::AfterQuoted => {
                self.state = State::AfterQuoted;
                self.unquoted_byte(byte, out);
            }
        }
    }

    /// A byte outside quotes: the end of the field, or more of it.
    fn unquoted_byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        if byte == self.delimiter {
            self.end_field(out);
            out.push(byte);
            self.state = State::FieldStart;
        } else if byte == b'\n' || byte == b'\r' {
            self.end_field(out);
            out.push(byte);
            // `\r\n`: the `\n` then comes at a record start and is passed on.
            self.state = State::RecordStart;
        } else {
            self.raw.push(byte);
            self.has_content = true;
        }
    }

    fn end_field(&mut self, out: &mut Vec<u8>) {
        if !self.quoted && self.raw == self.null {
            // NULL: an empty field, which the reader makes NULL.
        } else if !self.has_content {
            out.extend_from_slice(self.empty.as_bytes());
        } else {
            out.extend_from_slice(&self.raw);
        }
        self.raw.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(input: &str, null: &str) -> String {
        let mut marker = FieldMarker::new(b',', b'"', b'"', null, EMPTY);
        let mut out = Vec::new();
        // Byte by byte, as pieces of a stream may split anywhere.
        for byte in input.as_bytes() {
            marker.push(&[*byte], &mut out);
        }
        marker.finish(&mut out);
        String::from_utf8(out).unwrap().replace('\0', "<empty>")
    }

    #[test]
    fn unquoted_null_strings_are_empty_and_other_empty_values_marked() {
        assert_eq!(marked("1,,\"\"\n", ""), "1,,<empty>\n");
        assert_eq!(
            marked("1,x,\"x\",\r\n2,\"a\"\"b\",\"\"", "x"),
            "1,,\"x\",<empty>\r\n2,\"a\"\"b\",<empty>"
        );
        assert_eq!(
            marked("\"a,\nb\",\n\n3,\"\"\"\"", ""),
            "\"a,\nb\",\n\n3,\"\"\"\""
        );
        assert_eq!(marked("", ""), "");
    }
}
