//! Deciding when typed or scripted text holds a complete statement: a `;` outside quotes,
//! comments and dollar-quoted strings.

/// One complete piece of input: SQL to send to the engine, or a backslash meta-command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A statement with its terminating `;`.
    Sql(String),
    /// A meta-command line such as `\d orders`, without the line break.
    Meta(String),
}

/// Splits `text` into complete pieces and the unfinished remainder, which may be empty.
/// A line starting with `\` where a statement would begin is a meta-command, complete at
/// the end of its line; SQL is complete at a `;` outside quotes, comments and dollar
/// quotes. With `at_end`, a meta-command running to the end of `text` is complete too.
pub fn split_input(text: &str, at_end: bool) -> (Vec<Piece>, String) {
    let mut pieces = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = skip_comments(rest);
        if let Some(command) = trimmed.strip_prefix('\\') {
            match command.find('\n') {
                Some(end) => {
                    pieces.push(Piece::Meta(format!("\\{}", command[..end].trim_end())));
                    rest = &command[end + 1..];
                    continue;
                }
                None if at_end => {
                    pieces.push(Piece::Meta(format!("\\{}", command.trim_end())));
                    rest = "";
                }
                None => {}
            }
            break;
        }
        match statement_end(rest) {
            Some(end) => {
                pieces.push(Piece::Sql(rest[..end].trim().to_string()));
                rest = &rest[end..];
            }
            None => break,
        }
    }
    (pieces, rest.to_string())
}

/// Whether `text` ends inside a single-quoted string literal (for completing file paths).
pub fn in_string_literal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        i = match bytes[i] {
            b'\'' => match quote_close(bytes, i) {
                Some(end) => end,
                None => return true,
            },
            b'"' => skip_quoted(bytes, i),
            b'-' if bytes.get(i + 1) == Some(&b'-') => skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => skip_block_comment(text, i),
            b'$' => skip_dollar_quoted(text, i),
            _ => i + 1,
        };
    }
    false
}

/// `text` without its leading whitespace and comments, so a comment line before a
/// meta-command does not make it part of a statement.
fn skip_comments(text: &str) -> &str {
    let mut rest = text.trim_start();
    loop {
        let bytes = rest.as_bytes();
        let skipped = if rest.starts_with("--") {
            skip_line(bytes, 0)
        } else if rest.starts_with("/*") {
            skip_block_comment(rest, 0)
        } else {
            return rest;
        };
        rest = rest[skipped..].trim_start();
    }
}

/// Byte index just past the `;` ending the first statement of `text`, if it has one.
fn statement_end(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => i = skip_quoted(bytes, i),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(text, i),
            b'$' => i = skip_dollar_quoted(text, i),
            b';' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn skip_line(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| start + p + 1)
}

fn skip_block_comment(text: &str, start: usize) -> usize {
    text[start + 2..]
        .find("*/")
        .map_or(text.len(), |p| start + 2 + p + 2)
}

/// Index just past the quoted string starting at `open` (a doubled quote is an escape),
/// or the end of `bytes` if it is not closed.
fn skip_quoted(bytes: &[u8], open: usize) -> usize {
    quote_close(bytes, open).unwrap_or(bytes.len())
}

/// Index just past the closing quote of the string starting at `open`, if it is closed.
fn quote_close(bytes: &[u8], open: usize) -> Option<usize> {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Index just past a `$tag$ ... $tag$` string starting at `open`, or `open + 1` when the
/// `$` does not open one (e.g. a `$1` parameter).
fn skip_dollar_quoted(text: &str, open: usize) -> usize {
    let rest = &text[open + 1..];
    let Some(tag_len) = rest.find('$') else {
        return open + 1;
    };
    let tag = &rest[..tag_len];
    if !tag.chars().all(|c| c.is_alphanumeric() || c == '_')
        || tag.starts_with(|c: char| c.is_ascii_digit())
    {
        return open + 1;
    }
    let delimiter = format!("${tag}$");
    let body = open + delimiter.len();
    text[body..]
        .find(&delimiter)
        .map_or(text.len(), |p| body + p + delimiter.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_commands_end_at_their_line() {
        let (pieces, rest) = split_input("\\dt\n select 1;\n  \\d t \nselect\n\\x", false);
        assert_eq!(
            pieces,
            vec![
                Piece::Meta("\\dt".into()),
                Piece::Sql("select 1;".into()),
                Piece::Meta("\\d t".into()),
            ]
        );
        // Inside a statement a backslash is just text.
        assert_eq!(rest, "select\n\\x");
        let (pieces, _) = split_input("-- first\n/* a */ \\dn\nselect 1;", false);
        assert_eq!(pieces[0], Piece::Meta("\\dn".into()));
        let (pieces, rest) = split_input("select 1;\n\\q", true);
        assert_eq!(pieces.last(), Some(&Piece::Meta("\\q".into())));
        assert_eq!(rest, "");
    }

    #[test]
    fn knows_when_the_cursor_is_in_a_string() {
        assert!(in_string_literal("copy t to '/tmp/a"));
        assert!(in_string_literal("select 'it''s"));
        assert!(!in_string_literal("select 'a' from t"));
        assert!(!in_string_literal("select \"it's\" -- don't\n"));
        assert!(in_string_literal("select '"));
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let (done, rest) = split_input(
            "select ';'; -- a; comment\nselect $$a;b$$; select 'it''s;' ;select",
            false,
        );
        assert_eq!(
            done,
            vec![
                Piece::Sql("select ';';".into()),
                Piece::Sql("-- a; comment\nselect $$a;b$$;".into()),
                Piece::Sql("select 'it''s;' ;".into())
            ]
        );
        assert_eq!(rest, "select");
    }

    #[test]
    fn unfinished_quotes_keep_waiting() {
        let (done, rest) = split_input("select 'abc;\n", false);
        assert!(done.is_empty());
        assert_eq!(rest, "select 'abc;\n");
        let (done, _) = split_input("/* ; */ select 1;", false);
        assert_eq!(done.len(), 1);
        assert_eq!(split_input("select $1;", false).0.len(), 1);
    }
}
