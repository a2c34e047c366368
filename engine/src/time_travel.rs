//! Time travel: `FROM t FOR VERSION AS OF <snapshot id>` and `FROM t FOR TIMESTAMP AS OF
//! '<timestamp>'` (also spelled `FOR SYSTEM_VERSION` / `FOR SYSTEM_TIME`).
//!
//! DataFusion's planner does not take a table version, so before parsing, the clause is
//! rewritten into a table name the catalog resolves: `t FOR VERSION AS OF 42` becomes
//! `"t$version=42" AS "t"` (the alias keeps `t.col` working), and a timestamp becomes
//! `"t$timestamp_ms=<millis>"`. The catalog then serves the table as of that snapshot.

use datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};
use iceberg::table::Table;

use crate::error::{FloeError, Result};

/// Rewrites every time-travel clause of `sql` (see the module documentation). Text
/// without one comes back unchanged.
pub fn rewrite(sql: &str) -> Result<String> {
    let upper = sql.to_ascii_uppercase();
    if !upper.contains(" AS OF") && !upper.contains("\nAS OF") {
        return Ok(sql.to_string());
    }
    let Ok(mut tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        // Let the parser report the error with its position.
        return Ok(sql.to_string());
    };
    let mut i = 0;
    while i < tokens.len() {
        if let Some((end, suffix)) = clause_at(&tokens, i)? {
            let Some(name_at) = previous_word(&tokens, i) else {
                return Err(FloeError::syntax("FOR ... AS OF must follow a table name"));
            };
            let Token::Word(name) = tokens[name_at].clone() else {
                unreachable!("previous_word finds words")
            };
            let has_alias = match next_significant(&tokens, end) {
                Some(Token::Word(w)) => w.keyword == Keyword::AS || w.keyword == Keyword::NoKeyword,
                _ => false,
            };
            let mut replacement = vec![Token::Word(quoted(format!("{}${suffix}", name.value)))];
            if !has_alias {
                replacement.extend([
                    Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space),
                    Token::make_keyword("AS"),
                    Token::Whitespace(datafusion::sql::sqlparser::tokenizer::Whitespace::Space),
                    Token::Word(quoted(name.value.clone())),
                ]);
            }
            let added = replacement.len();
            tokens.splice(name_at..end, replacement);
            i = name_at + added;
        } else {
            i += 1;
        }
    }
    Ok(tokens.iter().map(|t| t.to_string()).collect())
}

fn quoted(value: String) -> Word {
    Word {
        value,
        quote_style: Some('"'),
        keyword: Keyword::NoKeyword,
    }
}

/// If a clause `FOR VERSION|TIMESTAMP AS OF <literal>` starts at `i`: the index just past
/// it and the table-name suffix it stands for.
fn clause_at(tokens: &[Token], i: usize) -> Result<Option<(usize, String)>> {
    let is_word =
        |t: &Token, text: &str| matches!(t, Token::Word(w) if w.value.eq_ignore_ascii_case(text));
    if !is_word(&tokens[i], "FOR") {
        return Ok(None);
    }
    let mut at = i + 1;
    let mut significant = Vec::new();
    while significant.len() < 4 && at < tokens.len() {
        if !matches!(tokens[at], Token::Whitespace(_)) {
            significant.push(at);
        }
        at += 1;
    }
    if significant.len() < 4 {
        return Ok(None);
    }
    let kind = match &tokens[significant[0]] {
        Token::Word(w) => w.value.to_ascii_uppercase(),
        _ => return Ok(None),
    };
    let by_version = matches!(kind.as_str(), "VERSION" | "SYSTEM_VERSION");
    let by_time = matches!(kind.as_str(), "TIMESTAMP" | "SYSTEM_TIME");
    if !(by_version || by_time)
        || !is_word(&tokens[significant[1]], "AS")
        || !is_word(&tokens[significant[2]], "OF")
    {
        return Ok(None);
    }
    let end = significant[3] + 1;
    let suffix = match (&tokens[significant[3]], by_version) {
        (Token::Number(n, _), true) => {
            let id: i64 = n
                .parse()
                .map_err(|_| FloeError::syntax(format!("snapshot id {n} is not a number")))?;
            format!("version={id}")
        }
        (Token::SingleQuotedString(text), false) => {
            let nanos = string_to_timestamp_nanos(text).map_err(|_| {
                FloeError::new(
                    crate::error::sqlstate::INVALID_TEXT_REPRESENTATION,
                    format!("invalid timestamp '{text}' in FOR TIMESTAMP AS OF"),
                )
            })?;
            format!("timestamp_ms={}", nanos.div_euclid(1_000_000))
        }
        (other, true) => {
            return Err(FloeError::syntax(format!(
                "FOR VERSION AS OF takes a snapshot id, not {other}"
            )));
        }
        (other, false) => {
            return Err(FloeError::syntax(format!(
                "FOR TIMESTAMP AS OF takes a quoted timestamp, not {other}"
            )));
        }
    };
    Ok(Some((end, suffix)))
}

fn previous_word(tokens: &[Token], before: usize) -> Option<usize> {
    let at = (0..before)
        .rev()
        .find(|&j| !matches!(tokens[j], Token::Whitespace(_)))?;
    matches!(tokens[at], Token::Word(_)).then_some(at)
}

fn next_significant(tokens: &[Token], from: usize) -> Option<&Token> {
    tokens[from..]
        .iter()
        .find(|t| !matches!(t, Token::Whitespace(_)))
}

/// The snapshot a time-travel table-name suffix (`version=42`, `timestamp_ms=...`) names.
/// `None` if `suffix` is not a time-travel suffix.
pub fn snapshot_for_suffix(table: &Table, suffix: &str) -> Result<Option<i64>> {
    let metadata = table.metadata();
    if let Some(id) = suffix.strip_prefix("version=") {
        let id: i64 = id
            .parse()
            .map_err(|_| FloeError::syntax(format!("snapshot id {id} is not a number")))?;
        if metadata.snapshot_by_id(id).is_none() {
            return Err(FloeError::invalid(format!(
                "table {} has no snapshot {id}",
                table.identifier()
            )));
        }
        return Ok(Some(id));
    }
    if let Some(ms) = suffix.strip_prefix("timestamp_ms=") {
        let ms: i64 = ms
            .parse()
            .map_err(|_| FloeError::syntax(format!("timestamp {ms} is not a number")))?;
        // The snapshot that was current at that moment: the last one made current before it.
        let current = metadata
            .history()
            .iter()
            .filter(|entry| entry.timestamp_ms <= ms)
            .max_by_key(|entry| entry.timestamp_ms)
            .map(|entry| entry.snapshot_id);
        return match current {
            Some(id) => Ok(Some(id)),
            None => Err(FloeError::invalid(format!(
                "table {} has no snapshot at or before that timestamp",
                table.identifier()
            ))),
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_become_table_names() {
        assert_eq!(
            rewrite("SELECT * FROM t FOR VERSION AS OF 42 WHERE a = 1").unwrap(),
            "SELECT * FROM \"t$version=42\" AS \"t\" WHERE a = 1"
        );
        assert_eq!(
            rewrite("select count(*) from s.t for system_version as of 7 x").unwrap(),
            "select count(*) from s.\"t$version=7\" x"
        );
        assert_eq!(
            rewrite("SELECT * FROM t FOR TIMESTAMP AS OF '1970-01-01 00:00:01'").unwrap(),
            "SELECT * FROM \"t$timestamp_ms=1000\" AS \"t\""
        );
        assert_eq!(
            rewrite("SELECT 'for version as of 1'").unwrap(),
            "SELECT 'for version as of 1'"
        );
        assert!(rewrite("SELECT * FROM t FOR TIMESTAMP AS OF 'never'").is_err());
        assert!(rewrite("SELECT * FROM t FOR VERSION AS OF 'x'").is_err());
    }
}
