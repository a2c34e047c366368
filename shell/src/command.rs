//! Backslash meta-commands (psql-flavoured): parsed from a line of text into a [`Command`],
//! then executed against a [`Session`]. Catalog listings come from the engine's
//! `catalog_info` views and are printed in the session's output format.

use std::path::PathBuf;

use floe_engine::warehouse::CATALOG_NAME;
use floe_engine::{FloeError, Output, TableDetails};

use crate::format::Format;
use crate::session::{Flow, Session};
use crate::settings::Expanded;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Quit,
    ListSchemas,
    /// `\dt [pattern]`: `*` and `?` wildcards, optionally `schema.table`.
    ListTables(Option<String>),
    /// `\d <table>`; without a table it lists tables like `\dt`.
    Describe(Option<String>),
    /// `\timing [on|off]`; no argument toggles.
    Timing(Option<bool>),
    /// `\x [on|off|auto]`; no argument toggles between on and off.
    Expanded(Option<Expanded>),
    Pset(Pset),
    /// `\o [file]`: results to a file, or back to standard output.
    Output(Option<PathBuf>),
    /// `\i file`: run a script.
    Include(PathBuf),
    ConnInfo,
    History,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Pset {
    /// `\pset` alone shows every setting.
    Show,
    Format(Option<Format>),
    MaxRows(Option<usize>),
    Null(Option<String>),
}

/// Every meta-command: name, arguments, description (for `\?`, completion and hints).
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("\\?", "", "show this help"),
    ("\\q", "", "quit"),
    ("\\dn", "", "list schemas"),
    (
        "\\dt",
        "[PATTERN]",
        "list tables (PATTERN like 'ord*' or 'shop.*')",
    ),
    (
        "\\d",
        "TABLE",
        "describe a table: columns, partitioning, sort order, properties, snapshots, files",
    ),
    ("\\timing", "[on|off]", "show how long each statement takes"),
    (
        "\\x",
        "[on|off|auto]",
        "expanded display: one line per column",
    ),
    (
        "\\pset",
        "[format|maxrows|null] [VALUE]",
        "format table|csv|tsv|json|ndjson|markdown, rows shown by the table (0 = all), NULL text",
    ),
    (
        "\\o",
        "[FILE]",
        "send results to FILE, or back to the terminal",
    ),
    ("\\i", "FILE", "run the statements in FILE"),
    ("\\conninfo", "", "show the warehouse and catalog"),
    ("\\history", "", "show the statements entered so far"),
];

impl Command {
    /// Parses a meta-command line such as `\dt shop.*`.
    pub fn parse(text: &str) -> Result<Command, String> {
        let text = text.trim();
        let (name, args) = match text.find(char::is_whitespace) {
            Some(at) => (&text[..at], text[at..].trim()),
            None => (text, ""),
        };
        let arg = (!args.is_empty()).then(|| unquote(args));
        let no_args = |command: Command| match &arg {
            None => Ok(command),
            Some(_) => Err(format!("{name} takes no argument")),
        };
        match name {
            "\\?" | "\\h" | "\\help" => no_args(Command::Help),
            "\\q" | "\\quit" => no_args(Command::Quit),
            "\\dn" => no_args(Command::ListSchemas),
            "\\dt" => Ok(Command::ListTables(arg)),
            "\\d" => Ok(Command::Describe(arg)),
            "\\timing" => Ok(Command::Timing(arg.map(|a| on_off(&a)).transpose()?)),
            "\\x" => Ok(Command::Expanded(match arg.as_deref() {
                None => None,
                Some("auto") => Some(Expanded::Auto),
                Some(other) => Some(if on_off(other)? {
                    Expanded::On
                } else {
                    Expanded::Off
                }),
            })),
            "\\pset" => parse_pset(args).map(Command::Pset),
            "\\o" | "\\out" => Ok(Command::Output(arg.map(PathBuf::from))),
            "\\i" | "\\include" => arg
                .map(|a| Command::Include(PathBuf::from(a)))
                .ok_or_else(|| "\\i needs a file name: \\i FILE".to_string()),
            "\\conninfo" => no_args(Command::ConnInfo),
            "\\history" | "\\s" => no_args(Command::History),
            unknown => Err(unknown_command(unknown)),
        }
    }

    pub async fn execute(self, session: &mut Session<'_>) -> Result<Flow, FloeError> {
        match self {
            Command::Help => say(session, &help_text()),
            Command::Quit => return Ok(Flow::Quit),
            Command::ListSchemas => list_schemas(session).await?,
            Command::ListTables(pattern) | Command::Describe(pattern @ None) => {
                list_tables(session, pattern.as_deref()).await?
            }
            Command::Describe(Some(table)) => {
                let details = session.engine.table_details(&table).await?;
                describe(session, details).await?;
            }
            Command::Timing(value) => {
                session.settings.timing = value.unwrap_or(!session.settings.timing);
                let state = if session.settings.timing { "on" } else { "off" };
                say(session, &format!("Timing is {state}."));
            }
            Command::Expanded(value) => {
                let settings = &mut session.settings;
                settings.expanded = value.unwrap_or(match settings.expanded {
                    Expanded::Off => Expanded::On,
                    _ => Expanded::Off,
                });
                let message = match settings.expanded {
                    Expanded::Auto => "Expanded display is used automatically.".to_string(),
                    other => format!("Expanded display is {other}."),
                };
                say(session, &message);
            }
            Command::Pset(pset) => {
                let settings = &mut session.settings;
                match &pset {
                    Pset::Format(Some(format)) => settings.format = *format,
                    Pset::MaxRows(Some(rows)) => settings.max_rows = *rows,
                    Pset::Null(Some(text)) => settings.null = text.clone(),
                    _ => {}
                }
                let format = format!("Output format is {}.", settings.format.name());
                let rows = match settings.max_rows {
                    0 => "Row limit is off: the table shows every row.".to_string(),
                    n => format!("Row limit is {n}."),
                };
                let null = format!("Null display is \"{}\".", settings.null);
                let message = match &pset {
                    Pset::Show => format!("{format}\n{rows}\n{null}"),
                    Pset::Format(_) => format,
                    Pset::MaxRows(_) => rows,
                    Pset::Null(_) => null,
                };
                say(session, &message);
            }
            Command::Output(path) => session.set_output(path)?,
            Command::Include(path) => return session.include(&path).await,
            Command::ConnInfo => {
                let warehouse = session.engine.warehouse();
                let message = format!(
                    "Warehouse {}\nCatalog {CATALOG_NAME}: Iceberg SQL catalog in {}\nCurrent schema {}",
                    warehouse.root.display(),
                    warehouse.catalog_path().display(),
                    session.engine.current_schema()
                );
                say(session, &message);
            }
            Command::History => {
                let lines: Vec<String> = session
                    .history
                    .iter()
                    .enumerate()
                    .map(|(i, entry)| format!("{:>5}  {}", i + 1, entry.replace('\n', "\n       ")))
                    .collect();
                say(session, &lines.join("\n"));
            }
        }
        Ok(Flow::Continue)
    }
}

/// Prints a message about the shell itself on the terminal (not into a `\o` file).
fn say(session: &mut Session<'_>, message: &str) {
    let _ = session.flush();
    if !message.is_empty() {
        println!("{message}");
    }
}

fn unquote(text: &str) -> String {
    for quote in ['\'', '"'] {
        if text.len() >= 2 && text.starts_with(quote) && text.ends_with(quote) {
            return text[1..text.len() - 1].to_string();
        }
    }
    text.to_string()
}

fn on_off(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        other => Err(format!("expected on or off, not {other}")),
    }
}

fn parse_pset(args: &str) -> Result<Pset, String> {
    let mut words = args.splitn(2, char::is_whitespace);
    let option = words.next().unwrap_or("");
    let value = words.next().map(|v| unquote(v.trim()));
    match option {
        "" => Ok(Pset::Show),
        "format" => match value {
            None => Ok(Pset::Format(None)),
            Some(name) => Format::from_name(&name)
                .map(|f| Pset::Format(Some(f)))
                .ok_or_else(|| {
                    format!(
                        "unknown format {name}; choose one of {}",
                        Format::ALL.map(|f| f.name()).join(", ")
                    )
                }),
        },
        "maxrows" => match value {
            None => Ok(Pset::MaxRows(None)),
            Some(n) => n
                .parse()
                .map(|n| Pset::MaxRows(Some(n)))
                .map_err(|_| format!("maxrows must be a number of rows (0 shows all), not {n}")),
        },
        "null" => Ok(Pset::Null(value)),
        other => Err(format!(
            "unknown \\pset option {other}; use format, maxrows or null"
        )),
    }
}

fn unknown_command(name: &str) -> String {
    let similar: Vec<&str> = COMMANDS
        .iter()
        .map(|(command, _, _)| *command)
        .filter(|command| {
            let letter = name.chars().nth(1);
            letter.is_some() && command.chars().nth(1) == letter
        })
        .collect();
    let hint = if similar.is_empty() {
        String::new()
    } else {
        format!(" Did you mean {}?", similar.join(" or "))
    };
    format!("invalid command {name}.{hint} Try \\? for help.")
}

fn help_text() -> String {
    let width = COMMANDS
        .iter()
        .map(|(name, args, _)| name.len() + args.len() + 1)
        .max()
        .unwrap_or(0);
    let mut text = String::from(
        "SQL statements end with ';' and may span lines. Ctrl-C cancels, Ctrl-D quits.\n\n",
    );
    for (name, args, description) in COMMANDS {
        let usage = format!("{name} {args}");
        text.push_str(&format!("  {usage:<width$}  {description}\n"));
    }
    text.trim_end().to_string()
}

/// `*` matches any run of characters and `?` one; everything else matches itself.
fn matches_pattern(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) => a == b && go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

async fn list_schemas(session: &mut Session<'_>) -> Result<(), FloeError> {
    let mut rows = Vec::new();
    for schema in session.engine.schema_names().await? {
        let tables = session.engine.table_names(&schema).await?.len();
        rows.push(vec![Some(schema), Some(tables.to_string())]);
    }
    let output = Output::text_table(&["schema", "tables"], rows)?;
    session.print(output, &mut || {}).await
}

async fn list_tables(session: &mut Session<'_>, pattern: Option<&str>) -> Result<(), FloeError> {
    let current = session.engine.current_schema();
    let (schema_pattern, table_pattern) = match pattern {
        None => (current, "*".to_string()),
        Some(pattern) => match pattern.split_once('.') {
            Some((schema, table)) => (schema.to_string(), table.to_string()),
            None => (current, pattern.to_string()),
        },
    };
    let mut rows = Vec::new();
    for schema in session.engine.schema_names().await? {
        if !matches_pattern(&schema_pattern, &schema) {
            continue;
        }
        for table in session.engine.table_names(&schema).await? {
            if matches_pattern(&table_pattern, &table) {
                rows.push(vec![Some(schema.clone()), Some(table)]);
            }
        }
    }
    let output = Output::text_table(&["schema", "table"], rows)?;
    session.print(output, &mut || {}).await
}

async fn describe(session: &mut Session<'_>, details: TableDetails) -> Result<(), FloeError> {
    let table_format = session.settings.format == Format::Table;
    if table_format {
        writeln!(session.out(), "Table {}", details.name)?;
    }
    let rows = details
        .columns
        .iter()
        .map(|c| {
            vec![
                Some(c.name.clone()),
                Some(c.data_type.clone()),
                Some(if c.nullable { "YES" } else { "NO" }.to_string()),
            ]
        })
        .collect();
    let columns = Output::text_table(&["column", "type", "nullable"], rows)?;
    session.print(columns, &mut || {}).await?;
    if !table_format {
        return Ok(());
    }
    let none = || "none".to_string();
    let mut lines = vec![
        format!(
            "Partitioned by: {}",
            Some(details.partitioning.join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(none)
        ),
        format!(
            "Sort order: {}",
            Some(details.sort_order.join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(none)
        ),
    ];
    let properties: Vec<String> = details
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    lines.push(format!(
        "Properties: {}",
        Some(properties.join(", "))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(none)
    ));
    let current = details
        .current_snapshot_id
        .map(|id| format!(", current {id}"))
        .unwrap_or_default();
    lines.push(format!("Snapshots: {}{current}", details.snapshot_count));
    let count = |n: Option<u64>| n.map_or("unknown".to_string(), |n| n.to_string());
    lines.push(format!(
        "Data files: {}, records: {}",
        count(details.data_files),
        count(details.records)
    ));
    lines.push(format!("Format version: {}", details.format_version));
    lines.push(format!("Location: {}", details.location));
    let out = session.out();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meta_commands() {
        assert_eq!(Command::parse("\\q"), Ok(Command::Quit));
        assert_eq!(
            Command::parse("\\dt  shop.* "),
            Ok(Command::ListTables(Some("shop.*".into())))
        );
        assert_eq!(Command::parse("\\d"), Ok(Command::Describe(None)));
        assert_eq!(
            Command::parse("\\d \"My Table\""),
            Ok(Command::Describe(Some("My Table".into())))
        );
        assert_eq!(
            Command::parse("\\timing on"),
            Ok(Command::Timing(Some(true)))
        );
        assert_eq!(Command::parse("\\timing"), Ok(Command::Timing(None)));
        assert_eq!(
            Command::parse("\\x auto"),
            Ok(Command::Expanded(Some(Expanded::Auto)))
        );
        assert_eq!(
            Command::parse("\\pset format CSV"),
            Ok(Command::Pset(Pset::Format(Some(Format::Csv))))
        );
        assert_eq!(
            Command::parse("\\pset maxrows 10"),
            Ok(Command::Pset(Pset::MaxRows(Some(10))))
        );
        assert_eq!(
            Command::parse("\\o 'out file.txt'"),
            Ok(Command::Output(Some(PathBuf::from("out file.txt"))))
        );
        assert_eq!(Command::parse("\\o"), Ok(Command::Output(None)));
        assert!(Command::parse("\\i").unwrap_err().contains("needs a file"));
        assert!(Command::parse("\\timing maybe").is_err());
        assert!(
            Command::parse("\\pset format xml")
                .unwrap_err()
                .contains("markdown")
        );
        assert!(Command::parse("\\q now").is_err());
    }

    #[test]
    fn unknown_commands_suggest_and_point_to_help() {
        let message = Command::parse("\\dx").unwrap_err();
        assert_eq!(
            message,
            "invalid command \\dx. Did you mean \\dn or \\dt or \\d? Try \\? for help."
        );
        assert_eq!(
            Command::parse("\\z").unwrap_err(),
            "invalid command \\z. Try \\? for help."
        );
    }

    #[test]
    fn patterns_use_star_and_question_mark() {
        assert!(matches_pattern("*", "orders"));
        assert!(matches_pattern("ord*", "orders"));
        assert!(matches_pattern("o?ders", "orders"));
        assert!(!matches_pattern("ord", "orders"));
        assert!(matches_pattern("*s", "orders"));
    }
}
