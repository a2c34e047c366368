//! Deciding when typed or scripted text holds a complete statement: a `;` outside quotes,
//! comments and dollar-quoted strings.

/// Splits `text` into complete statements (each ending with its `;`) and the unfinished
/// remainder, which may be empty.
pub fn split_statements(text: &str) -> (Vec<String>, String) {
    let mut statements = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => i = skip_quoted(bytes, i),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |p| i + 2 + p + 2);
            }
            b'$' => i = skip_dollar_quoted(text, i),
            b';' => {
                statements.push(text[start..=i].trim().to_string());
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    (statements, text[start..].to_string())
}

/// Index just past the quoted string starting at `open` (a doubled quote is an escape).
fn skip_quoted(bytes: &[u8], open: usize) -> usize {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
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
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let (done, rest) =
            split_statements("select ';'; -- a; comment\nselect $$a;b$$; select 'it''s;' ;select");
        assert_eq!(
            done,
            vec![
                "select ';';",
                "-- a; comment\nselect $$a;b$$;",
                "select 'it''s;' ;"
            ]
        );
        assert_eq!(rest, "select");
    }

    #[test]
    fn unfinished_quotes_keep_waiting() {
        let (done, rest) = split_statements("select 'abc;\n");
        assert!(done.is_empty());
        assert_eq!(rest, "select 'abc;\n");
        let (done, _) = split_statements("/* ; */ select 1;");
        assert_eq!(done.len(), 1);
        assert_eq!(split_statements("select $1;").0.len(), 1);
    }
}
