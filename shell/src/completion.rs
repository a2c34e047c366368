//! Tab completion: what may come at the cursor, from the statement typed so far and the
//! live catalog. Keywords, schemas, tables (current schema and qualified), the columns of the
//! tables the statement names (also after `alias.`), Iceberg metadata-table suffixes inside
//! quotes (`"orders$snapshots"`), meta-commands and their arguments, and file paths inside
//! string literals (`COPY ... TO '...'`).

use std::collections::BTreeSet;

use floe_engine::quote_ident;

use crate::command::COMMANDS;
use crate::input::in_string_literal;

/// The catalog as completion sees it. Implementations read it live, so a table created a
/// moment ago completes.
pub trait CatalogNames {
    fn current_schema(&self) -> String;
    fn schemas(&self) -> Vec<String>;
    fn tables(&self, schema: &str) -> Vec<String>;
    /// Columns of `table`, written as in SQL (`orders`, `shop.orders`, `"t$files"`).
    fn columns(&self, table: &str) -> Vec<String>;
}

/// Suffixes naming an Iceberg table's metadata tables.
pub const METADATA_SUFFIXES: &[&str] = &[
    "snapshots",
    "files",
    "history",
    "manifests",
    "partitions",
    "refs",
    "properties",
];

/// SQL keywords offered by completion: the statements and clauses Floe runs.
const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "AND",
    "ANALYZE",
    "AS",
    "ASC",
    "BETWEEN",
    "BIGINT",
    "BOOLEAN",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "COPY",
    "COUNT",
    "CREATE",
    "CROSS",
    "DATE",
    "DECIMAL",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "DOUBLE",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "EXPLAIN",
    "EXTERNAL",
    "FALSE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INT",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOCATION",
    "NOT",
    "NULL",
    "NULLS",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "PARTITIONED",
    "RIGHT",
    "SCHEMA",
    "SCHEMAS",
    "SELECT",
    "SET",
    "SHOW",
    "STORED",
    "TABLE",
    "TABLES",
    "TEXT",
    "THEN",
    "TIMESTAMP",
    "TO",
    "TRUE",
    "UNION",
    "UPDATE",
    "USING",
    "VALUES",
    "VARCHAR",
    "VIEW",
    "WHEN",
    "WHERE",
    "WITH",
];

/// Keywords after which a table name comes.
const TABLE_KEYWORDS: &[&str] = &[
    "FROM", "JOIN", "INTO", "UPDATE", "TABLE", "DESCRIBE", "EXISTS",
];

/// Words that end a table reference rather than being its alias.
const NOT_ALIASES: &[&str] = &[
    "WHERE",
    "JOIN",
    "ON",
    "GROUP",
    "ORDER",
    "LIMIT",
    "LEFT",
    "RIGHT",
    "INNER",
    "OUTER",
    "FULL",
    "CROSS",
    "UNION",
    "HAVING",
    "USING",
    "SET",
    "VALUES",
    "SELECT",
    "AS",
    "NATURAL",
    "OFFSET",
    "EXCEPT",
    "INTERSECT",
    "PARTITIONED",
    "WITH",
    "TO",
    "DEFAULT",
];

/// Candidates for the word ending at `pos` in `line`. `earlier` holds the statement's
/// previous lines (multi-line entry), `after` is not needed: the whole line is read for
/// table references. Returns the byte offset in `line` where the replaced word starts.
pub fn complete(
    earlier: &str,
    line: &str,
    pos: usize,
    catalog: &dyn CatalogNames,
) -> (usize, Vec<String>) {
    let before = &line[..pos];
    if earlier.trim().is_empty() && before.trim_start().starts_with('\\') {
        return complete_meta(before, catalog);
    }
    let statement_before = format!("{earlier}{before}");
    if in_string_literal(&statement_before) {
        let typed = &before[before.rfind('\'').map_or(0, |q| q + 1)..];
        return (pos - typed.len(), file_paths(typed));
    }
    let start = word_start(before);
    let word = &before[start..];
    let statement = format!("{earlier}{line}");
    let references = table_references(&statement);

    let (qualifier, part, part_start) = match split_qualifier(word) {
        Some((qualifier, part)) => (Some(qualifier), part, pos - part.len()),
        None => (None, word, start),
    };
    let mut candidates: Vec<String> = Vec::new();
    if part.starts_with('"') {
        let schema = qualifier
            .map(unquote)
            .unwrap_or_else(|| catalog.current_schema());
        candidates = metadata_tables(part, &catalog.tables(&schema));
    } else if let Some(qualifier) = qualifier {
        let name = unquote(qualifier);
        if catalog.schemas().contains(&name) {
            candidates.extend(catalog.tables(&name).into_iter().map(|t| quote_ident(&t)));
        }
        let table = references
            .iter()
            .find(|r| r.alias.as_deref() == Some(name.as_str()))
            .map(|r| r.name.clone())
            .unwrap_or_else(|| qualifier.to_string());
        candidates.extend(catalog.columns(&table).into_iter().map(|c| quote_ident(&c)));
    } else if previous_word(&before[..start]).is_some_and(|w| is_one_of(&w, TABLE_KEYWORDS)) {
        candidates.extend(
            catalog
                .tables(&catalog.current_schema())
                .into_iter()
                .map(|t| quote_ident(&t)),
        );
        candidates.extend(
            catalog
                .schemas()
                .into_iter()
                .map(|s| format!("{}.", quote_ident(&s))),
        );
    } else {
        let mut seen = BTreeSet::new();
        for reference in &references {
            for column in catalog.columns(&reference.name) {
                if seen.insert(column.clone()) {
                    candidates.push(quote_ident(&column));
                }
            }
        }
        let lower = part.chars().any(|c| c.is_ascii_lowercase()) || part.is_empty();
        candidates.extend(KEYWORDS.iter().map(|k| {
            if lower {
                k.to_ascii_lowercase()
            } else {
                k.to_string()
            }
        }));
    }
    let typed = part.to_ascii_lowercase();
    let mut matching: Vec<String> = candidates
        .into_iter()
        .filter(|c| {
            // `"Total"` matches a typed `T` as well as a typed `"T`.
            let c = c.to_ascii_lowercase();
            c.starts_with(&typed) || c.trim_start_matches('"').starts_with(&typed)
        })
        .collect();
    let mut seen = BTreeSet::new();
    matching.retain(|c| seen.insert(c.clone()));
    (part_start, matching)
}

/// Meta-command names, then their arguments: tables for `\d`/`\dt`, files for `\i`/`\o`,
/// and the values of `\x`, `\timing` and `\pset`.
fn complete_meta(before: &str, catalog: &dyn CatalogNames) -> (usize, Vec<String>) {
    let trimmed = before.trim_start();
    let offset = before.len() - trimmed.len();
    let Some((name, args)) = trimmed.split_once(char::is_whitespace) else {
        let names = COMMANDS
            .iter()
            .map(|(name, _, _)| name.to_string())
            .filter(|name| name.starts_with(trimmed))
            .collect();
        return (offset, names);
    };
    let args = args.trim_start();
    let arg_start = before.len() - args.len();
    let word_at = arg_start + args.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let word = &before[word_at..];
    let options: Vec<String> = match name {
        "\\d" | "\\dt" => {
            let mut names: Vec<String> = catalog
                .tables(&catalog.current_schema())
                .into_iter()
                .map(|t| quote_ident(&t))
                .collect();
            if let Some((schema, _)) = word.split_once('.') {
                names.extend(
                    catalog
                        .tables(&unquote(schema))
                        .into_iter()
                        .map(|t| format!("{schema}.{}", quote_ident(&t))),
                );
            } else {
                names.extend(
                    catalog
                        .schemas()
                        .into_iter()
                        .map(|s| format!("{}.", quote_ident(&s))),
                );
            }
            names
        }
        "\\i" | "\\o" => return (word_at, file_paths(word)),
        "\\x" => vec!["on".into(), "off".into(), "auto".into()],
        "\\timing" => vec!["on".into(), "off".into()],
        "\\pset" if word_at == arg_start => {
            vec!["format".into(), "maxrows".into(), "null".into()]
        }
        "\\pset" if args.starts_with("format") => crate::format::Format::ALL
            .iter()
            .map(|f| f.name().to_string())
            .collect(),
        _ => Vec::new(),
    };
    let matching = options
        .into_iter()
        .filter(|o| o.starts_with(word))
        .collect();
    (word_at, matching)
}

/// Quoted table names with metadata suffixes: `"orders` offers `"orders"` and every
/// `"orders$suffix"`; `"orders$sn` offers `"orders$snapshots"`.
fn metadata_tables(part: &str, tables: &[String]) -> Vec<String> {
    let inner = part.trim_start_matches('"').trim_end_matches('"');
    match inner.split_once('$') {
        Some((table, _)) => METADATA_SUFFIXES
            .iter()
            .map(|suffix| format!("\"{table}${suffix}\""))
            .collect(),
        None => tables
            .iter()
            .filter(|t| t.starts_with(inner))
            .flat_map(|t| {
                std::iter::once(format!("\"{t}\"")).chain(
                    METADATA_SUFFIXES
                        .iter()
                        .map(move |s| format!("\"{t}${s}\"")),
                )
            })
            .collect(),
    }
}

/// Files and directories starting with `typed` (a path relative to the working directory
/// or absolute); directories end with `/` so completion can go on into them.
fn file_paths(typed: &str) -> Vec<String> {
    let (dir, prefix) = match typed.rfind('/') {
        Some(slash) => (&typed[..=slash], &typed[slash + 1..]),
        None => ("", typed),
    };
    let read_from = if dir.is_empty() { "." } else { dir };
    let Ok(entries) = std::fs::read_dir(read_from) else {
        return Vec::new();
    };
    let mut paths: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let slash = if entry.path().is_dir() { "/" } else { "" };
            Some(format!("{dir}{name}{slash}"))
        })
        .collect();
    paths.sort();
    paths
}

/// Start of the word ending at the end of `before`: identifier characters, dots, `$` and
/// double quotes (so `shop.orders` and `"t$files"` are one word).
fn word_start(before: &str) -> usize {
    before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.' | '$' | '"'))
        .last()
        .map_or(before.len(), |(i, _)| i)
}

/// `qualifier.part` split at the last dot outside double quotes.
fn split_qualifier(word: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    let mut last_dot = None;
    for (i, c) in word.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => last_dot = Some(i),
            _ => {}
        }
    }
    last_dot.map(|dot| (&word[..dot], &word[dot + 1..]))
}

fn previous_word(text: &str) -> Option<String> {
    let trimmed = text.trim_end();
    let start = word_start(trimmed);
    let word = &trimmed[start..];
    (!word.is_empty()).then(|| word.to_string())
}

fn is_one_of(word: &str, list: &[&str]) -> bool {
    list.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// A table the statement names, with its alias if it has one.
#[derive(Debug, PartialEq)]
struct TableReference {
    name: String,
    alias: Option<String>,
}

/// The tables named after FROM, JOIN, INTO, UPDATE, TABLE and DESCRIBE (including
/// comma-separated FROM lists), with their aliases.
fn table_references(statement: &str) -> Vec<TableReference> {
    let tokens = tokens(statement);
    let mut references = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if !is_one_of(&tokens[i], TABLE_KEYWORDS) {
            i += 1;
            continue;
        }
        let from = tokens[i].eq_ignore_ascii_case("FROM");
        i += 1;
        while let Some(name) = tokens.get(i).filter(|t| is_name(t)) {
            i += 1;
            if tokens.get(i).is_some_and(|t| t.eq_ignore_ascii_case("AS")) {
                i += 1;
            }
            let alias = tokens
                .get(i)
                .filter(|t| is_name(t) && !is_one_of(t, NOT_ALIASES))
                .map(|t| unquote(t));
            if alias.is_some() {
                i += 1;
            }
            references.push(TableReference {
                name: name.clone(),
                alias,
            });
            if from && tokens.get(i).is_some_and(|t| t == ",") {
                i += 1;
                continue;
            }
            break;
        }
    }
    references
}

/// Words (identifiers with dots and quotes) and single punctuation characters; string
/// literals and comments are skipped.
fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_alphanumeric() || matches!(c, '_' | '"' | '$') {
            let start = i;
            let mut quoted = false;
            while i < chars.len()
                && (quoted
                    || chars[i].is_alphanumeric()
                    || matches!(chars[i], '_' | '"' | '$' | '.'))
            {
                if chars[i] == '"' {
                    quoted = !quoted;
                }
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        } else if c.is_whitespace() {
            i += 1;
        } else {
            tokens.push(c.to_string());
            i += 1;
        }
    }
    tokens
}

fn is_name(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '"')
}

/// An identifier as SQL resolves it: quotes removed, unquoted words lower-cased.
fn unquote(name: &str) -> String {
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => name.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;

    impl CatalogNames for Fake {
        fn current_schema(&self) -> String {
            "public".into()
        }
        fn schemas(&self) -> Vec<String> {
            vec!["public".into(), "shop".into()]
        }
        fn tables(&self, schema: &str) -> Vec<String> {
            match schema {
                "public" => vec!["events".into(), "people".into()],
                "shop" => vec!["orders".into(), "order_items".into()],
                _ => vec![],
            }
        }
        fn columns(&self, table: &str) -> Vec<String> {
            match table {
                "people" | "public.people" => vec!["person_id".into(), "name".into()],
                "shop.orders" => vec!["order_id".into(), "placed".into(), "Total".into()],
                _ => vec![],
            }
        }
    }

    fn complete_end(earlier: &str, line: &str) -> (usize, Vec<String>) {
        complete(earlier, line, line.len(), &Fake)
    }

    fn candidates(line: &str) -> Vec<String> {
        complete_end("", line).1
    }

    #[test]
    fn keywords_follow_the_case_typed() {
        assert_eq!(candidates("sel"), vec!["select"]);
        assert_eq!(candidates("SEL"), vec!["SELECT"]);
    }

    #[test]
    fn tables_after_from_and_qualified_by_schema() {
        assert_eq!(candidates("select * from pe"), vec!["people"]);
        assert_eq!(candidates("select * from sh"), vec!["shop."]);
        assert_eq!(
            complete_end("", "select * from shop.ord"),
            (19, vec!["orders".into(), "order_items".into()])
        );
        assert_eq!(candidates("insert into e"), vec!["events"]);
    }

    #[test]
    fn columns_of_tables_in_the_statement() {
        assert_eq!(
            complete("", "select per from people", 10, &Fake).1,
            vec!["person_id"]
        );
        // From an earlier line of a multi-line statement, through an alias, quoted if needed.
        assert_eq!(candidates("select o.t"), Vec::<String>::new());
        assert_eq!(
            complete_end("select x from shop.orders o\n", "where o.T").1,
            vec!["\"Total\""]
        );
        assert_eq!(
            complete_end("", "select * from people p, shop.orders where pl").1,
            vec!["placed"]
        );
    }

    #[test]
    fn metadata_table_suffixes_inside_quotes() {
        let all = candidates("select * from \"peo");
        assert_eq!(all[0], "\"people\"");
        assert!(all.contains(&"\"people$snapshots\"".to_string()));
        assert_eq!(
            candidates("select * from \"people$sn"),
            vec!["\"people$snapshots\""]
        );
        assert_eq!(
            complete_end("", "select * from shop.\"orders$f"),
            (19, vec!["\"orders$files\"".into()])
        );
    }

    #[test]
    fn meta_commands_and_their_arguments() {
        assert_eq!(candidates("\\ti"), vec!["\\timing"]);
        assert_eq!(candidates("\\d peo"), vec!["people"]);
        assert_eq!(
            candidates("\\d shop.o"),
            vec!["shop.orders", "shop.order_items"]
        );
        assert_eq!(candidates("\\x a"), vec!["auto"]);
        assert_eq!(candidates("\\pset format n"), vec!["ndjson"]);
        assert_eq!(candidates("\\pset f"), vec!["format"]);
    }

    #[test]
    fn file_paths_inside_string_literals() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.csv"), "x").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let root = dir.path().display().to_string();
        let line = format!("copy t to '{root}/d");
        let (start, found) = complete_end("", &line);
        assert_eq!(found, vec![format!("{root}/data.csv")]);
        assert_eq!(start, line.len() - root.len() - 2);
        assert_eq!(
            candidates(&format!("\\i {root}/s")),
            vec![format!("{root}/sub/")]
        );
    }

    #[test]
    fn finds_table_references_and_aliases() {
        assert_eq!(
            table_references("select * from a x join shop.b as y on x.i = y.i, c where 1"),
            vec![
                TableReference {
                    name: "a".into(),
                    alias: Some("x".into())
                },
                TableReference {
                    name: "shop.b".into(),
                    alias: Some("y".into())
                },
            ]
        );
        assert_eq!(
            table_references("select * from a, b c where 'from z'"),
            vec![
                TableReference {
                    name: "a".into(),
                    alias: None
                },
                TableReference {
                    name: "b".into(),
                    alias: Some("c".into())
                },
            ]
        );
    }
}
