//! Floe's SQL: the statements Floe executes itself (schemas, Iceberg tables, SHOW/DESCRIBE),
//! recognised ahead of DataFusion's parser, which parses everything else.

use datafusion::sql::parser::{DFParser, DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{ColumnDef, ObjectName, Query, Value};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::Token;

use std::time::Duration;

use crate::error::{FloeError, Result};

/// One parsed statement.
#[derive(Debug, Clone)]
pub enum Statement {
    CreateSchema {
        name: ObjectName,
        if_not_exists: bool,
    },
    DropSchema {
        name: ObjectName,
        if_exists: bool,
        cascade: bool,
    },
    ShowSchemas,
    ShowTables {
        schema: Option<ObjectName>,
    },
    CreateTable(Box<CreateTable>),
    DropTable {
        name: ObjectName,
        if_exists: bool,
    },
    Describe {
        table: ObjectName,
    },
    ShowCreateTable {
        table: ObjectName,
    },
    /// `OPTIMIZE t [WHERE ...] [SORT BY (...) | ZORDER BY (...)]` or
    /// `ALTER TABLE t EXECUTE optimize(...)`.
    Optimize {
        table: ObjectName,
        /// The predicate on partition columns, as SQL text.
        filter: Option<String>,
        file_size_threshold: Option<u64>,
        order: RewriteOrder,
    },
    /// `VACUUM t [RETAIN n HOURS|DAYS] [DRY RUN]`.
    Vacuum {
        table: ObjectName,
        retain: Option<Duration>,
        dry_run: bool,
    },
    /// `ALTER TABLE t EXECUTE expire_snapshots(retention_threshold => '7d')`.
    ExpireSnapshots {
        table: ObjectName,
        retention: Option<Duration>,
    },
    /// `ALTER TABLE t EXECUTE remove_orphan_files(retention_threshold => '7d')`.
    RemoveOrphanFiles {
        table: ObjectName,
        retention: Option<Duration>,
    },
    /// `ALTER TABLE t EXECUTE rollback_to_snapshot(<id>)` or
    /// `ROLLBACK TABLE t TO SNAPSHOT <id>`.
    RollbackToSnapshot {
        table: ObjectName,
        snapshot_id: i64,
    },
    /// `COPY t FROM 'path' | STDIN [WITH] (options)`: loads rows into an Iceberg table.
    CopyFrom {
        table: ObjectName,
        /// `None`: STDIN, the rows a client sends (the server's part).
        source: Option<String>,
        options: CopyOptions,
    },
    /// `COPY (query) | t TO 'path' | STDOUT [WITH] (options)`: exports rows.
    CopyTo {
        query: Box<Query>,
        /// `None`: STDOUT, the client (the server's part).
        target: Option<String>,
        options: CopyOptions,
    },
    /// `SET floe.<name> = <value>`: a Floe session setting.
    SetFloeOption {
        name: String,
        value: String,
    },
    /// Anything else: planned and executed by DataFusion over Floe's catalog.
    DataFusion(Box<DFStatement>),
}

#[derive(Debug, Clone)]
pub struct CreateTable {
    pub name: ObjectName,
    pub if_not_exists: bool,
    /// Empty for `CREATE TABLE ... AS SELECT` without a column list.
    pub columns: Vec<ColumnDef>,
    pub partition_by: Vec<PartitionField>,
    /// `ORDER BY (...)`: the table's sort order, which writes sort each file by.
    pub order_by: Vec<SortKey>,
    pub properties: Vec<(String, String)>,
    pub query: Option<Box<Query>>,
}

/// The options of a COPY, PostgreSQL style: `(FORMAT csv, HEADER, DELIMITER ';', NULL 'x')`
/// or the older bare words `CSV HEADER DELIMITER ';'`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyOptions {
    /// `None`: from the file's extension.
    pub format: Option<CopyFormat>,
    pub header: bool,
    pub delimiter: Option<char>,
    pub null: Option<String>,
    pub quote: Option<char>,
    pub escape: Option<char>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// PostgreSQL's text format: tab-separated, `\N` for NULL, no quoting.
    Text,
    Csv,
    Parquet,
    /// Newline-delimited JSON, one object per row.
    Json,
    /// PostgreSQL's binary COPY stream, which only the wire protocol carries (the server
    /// decodes and encodes it; files use the other formats).
    Binary,
}

/// One entry of a table's `ORDER BY (...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub column: String,
    pub descending: bool,
    /// `None`: the default for the direction.
    pub nulls_first: Option<bool>,
}

/// How OPTIMIZE orders the rows of the files it writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RewriteOrder {
    /// By the table's sort order, if it has one.
    #[default]
    TableSortOrder,
    /// `SORT BY (column [ASC|DESC] [NULLS FIRST|LAST], ...)`.
    SortBy(Vec<SortKey>),
    /// `ZORDER BY (column, ...)`: clustered on all the columns at once.
    ZOrderBy(Vec<String>),
}

/// One entry of `PARTITIONED BY (...)`: a transform applied to a source column.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionField {
    pub transform: PartitionTransform,
    pub column: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PartitionTransform {
    Identity,
    Year,
    Month,
    Day,
    Hour,
    Bucket(u32),
    Truncate(u32),
}

/// Splits `sql` into statements. Empty statements (stray semicolons) are skipped.
pub fn parse_sql(sql: &str) -> Result<Vec<Statement>> {
    let sql = crate::time_travel::rewrite(sql)?;
    let mut parser = DFParserBuilder::new(sql.as_str()).build()?;
    let mut statements = Vec::new();
    let mut expecting_delimiter = false;
    loop {
        while parser.parser.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        if parser.parser.peek_token() == Token::EOF {
            break;
        }
        if expecting_delimiter {
            let found = parser.parser.peek_token();
            return Err(FloeError::syntax(format!(
                "expected end of statement, found: {found} at {}",
                found.span.start
            )));
        }
        statements.push(parse_statement(&mut parser)?);
        expecting_delimiter = true;
    }
    Ok(statements)
}

fn parse_statement(df: &mut DFParser) -> Result<Statement> {
    let p = &mut df.parser;
    // Start at the statement's first token rather than the whitespace before it:
    // rewinding (`prev_token` skips whitespace) then lands exactly on it.
    p.next_token();
    p.prev_token();
    let start = p.index();
    let statement = if p.parse_keyword(Keyword::CREATE) {
        if p.parse_one_of_keywords(&[Keyword::SCHEMA, Keyword::DATABASE])
            .is_some()
        {
            let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
            let name = p.parse_object_name(false).map_err(syntax)?;
            Some(Statement::CreateSchema {
                name,
                if_not_exists,
            })
        } else if p.parse_keyword(Keyword::TABLE) {
            Some(Statement::CreateTable(Box::new(parse_create_table(df)?)))
        } else if p.parse_keywords(&[Keyword::OR, Keyword::REPLACE, Keyword::TABLE]) {
            return Err(FloeError::unsupported(
                "CREATE OR REPLACE TABLE is not available; DROP TABLE and CREATE TABLE instead",
            ));
        } else {
            None
        }
    } else if p.parse_keyword(Keyword::DROP) {
        if p.parse_one_of_keywords(&[Keyword::SCHEMA, Keyword::DATABASE])
            .is_some()
        {
            let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let name = p.parse_object_name(false).map_err(syntax)?;
            let cascade = p.parse_keyword(Keyword::CASCADE);
            if !cascade {
                let _ = p.parse_keyword(Keyword::RESTRICT);
            }
            Some(Statement::DropSchema {
                name,
                if_exists,
                cascade,
            })
        } else if p.parse_keyword(Keyword::TABLE) {
            let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
            let name = p.parse_object_name(false).map_err(syntax)?;
            Some(Statement::DropTable { name, if_exists })
        } else {
            None
        }
    } else if p.parse_keyword(Keyword::SHOW) {
        if p.parse_one_of_keywords(&[Keyword::SCHEMAS, Keyword::DATABASES])
            .is_some()
        {
            Some(Statement::ShowSchemas)
        } else if p.parse_keyword(Keyword::TABLES) {
            let schema = if p
                .parse_one_of_keywords(&[Keyword::FROM, Keyword::IN])
                .is_some()
            {
                Some(p.parse_object_name(false).map_err(syntax)?)
            } else {
                None
            };
            Some(Statement::ShowTables { schema })
        } else if p.parse_keywords(&[Keyword::CREATE, Keyword::TABLE]) {
            let table = p.parse_object_name(false).map_err(syntax)?;
            Some(Statement::ShowCreateTable { table })
        } else {
            None
        }
    } else if p
        .parse_one_of_keywords(&[Keyword::DESCRIBE, Keyword::DESC])
        .is_some()
    {
        // DESCRIBE <query> stays DataFusion's; DESCRIBE [TABLE] <name> is Floe's.
        let _ = p.parse_keyword(Keyword::TABLE);
        if matches!(p.peek_token().token, Token::Word(ref w) if w.keyword == Keyword::SELECT || w.keyword == Keyword::WITH)
        {
            None
        } else {
            let table = p.parse_object_name(false).map_err(syntax)?;
            Some(Statement::Describe { table })
        }
    } else if p.parse_keyword(Keyword::COPY) {
        parse_copy(df)?
    } else if p.parse_keyword(Keyword::OPTIMIZE) {
        let _ = p.parse_keyword(Keyword::TABLE);
        let table = p.parse_object_name(false).map_err(syntax)?;
        let filter = if p.parse_keyword(Keyword::WHERE) {
            Some(p.parse_expr().map_err(syntax)?.to_string())
        } else {
            None
        };
        let order = parse_rewrite_order(p)?;
        Some(Statement::Optimize {
            table,
            filter,
            file_size_threshold: None,
            order,
        })
    } else if p.parse_keyword(Keyword::VACUUM) {
        let _ = p.parse_keyword(Keyword::TABLE);
        let table = p.parse_object_name(false).map_err(syntax)?;
        let retain = if p.parse_keyword(Keyword::RETAIN) {
            let amount = p.parse_literal_uint().map_err(syntax)?;
            let unit = match p.parse_one_of_keywords(&[Keyword::HOURS, Keyword::DAYS]) {
                Some(Keyword::HOURS) => 3600,
                Some(_) => 86_400,
                None => return Err(FloeError::syntax("expected HOURS or DAYS after RETAIN n")),
            };
            Some(Duration::from_secs(amount.saturating_mul(unit)))
        } else {
            None
        };
        let dry_run = p.parse_keywords(&[Keyword::DRY, Keyword::RUN]);
        Some(Statement::Vacuum {
            table,
            retain,
            dry_run,
        })
    } else if p.parse_keywords(&[Keyword::ROLLBACK, Keyword::TABLE]) {
        // `ROLLBACK` alone ends a transaction; with TABLE it is the rollback of a table.
        let table = p.parse_object_name(false).map_err(syntax)?;
        p.expect_keywords(&[Keyword::TO, Keyword::SNAPSHOT])
            .map_err(syntax)?;
        let negative = p.consume_token(&Token::Minus);
        let id = p.parse_literal_uint().map_err(syntax)?;
        let snapshot_id = i64::try_from(id)
            .map(|id| if negative { -id } else { id })
            .map_err(|_| FloeError::syntax(format!("snapshot id {id} is out of range")))?;
        Some(Statement::RollbackToSnapshot { table, snapshot_id })
    } else if p.parse_keywords(&[Keyword::ALTER, Keyword::TABLE]) {
        let table = p.parse_object_name(false).map_err(syntax)?;
        if p.parse_keyword(Keyword::EXECUTE) {
            Some(parse_table_procedure(p, table)?)
        } else {
            None
        }
    } else if p.parse_keyword(Keyword::SET)
        && matches!(p.peek_token().token, Token::Word(ref w) if w.value.eq_ignore_ascii_case("floe"))
    {
        let name = p.parse_object_name(false).map_err(syntax)?.to_string();
        if !p.consume_token(&Token::Eq) {
            p.expect_keyword(Keyword::TO).map_err(syntax)?;
        }
        let value = match p.parse_value().map_err(syntax)?.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s,
            other => other.to_string(),
        };
        Some(Statement::SetFloeOption {
            name: name.to_ascii_lowercase(),
            value,
        })
    } else {
        None
    };
    match statement {
        Some(statement) => Ok(statement),
        None => {
            // Not one of Floe's: rewind and let DataFusion parse it.
            while df.parser.index() > start {
                df.parser.prev_token();
            }
            Ok(Statement::DataFusion(Box::new(df.parse_statement()?)))
        }
    }
}

fn parse_create_table(df: &mut DFParser) -> Result<CreateTable> {
    let p = &mut df.parser;
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = p.parse_object_name(false).map_err(syntax)?;
    let mut columns = Vec::new();
    if p.consume_token(&Token::LParen) {
        columns = p
            .parse_comma_separated(|p| p.parse_column_def())
            .map_err(syntax)?;
        p.expect_token(&Token::RParen).map_err(syntax)?;
    }
    let mut table = CreateTable {
        name,
        if_not_exists,
        columns,
        partition_by: Vec::new(),
        order_by: Vec::new(),
        properties: Vec::new(),
        query: None,
    };
    loop {
        let p = &mut df.parser;
        if p.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
            p.expect_token(&Token::LParen).map_err(syntax)?;
            table.partition_by = p
                .parse_comma_separated(parse_partition_field)
                .map_err(syntax)?;
            p.expect_token(&Token::RParen).map_err(syntax)?;
        } else if p.parse_keywords(&[Keyword::ORDER, Keyword::BY]) {
            let parenthesized = p.consume_token(&Token::LParen);
            table.order_by = p.parse_comma_separated(parse_sort_key).map_err(syntax)?;
            if parenthesized {
                p.expect_token(&Token::RParen).map_err(syntax)?;
            }
        } else if p.parse_keyword(Keyword::WITH) {
            table.properties = parse_properties(df)?;
        } else if p.parse_keyword(Keyword::AS) {
            table.query = Some(p.parse_query().map_err(syntax)?);
            break;
        } else {
            break;
        }
    }
    if table.columns.is_empty() && table.query.is_none() {
        return Err(FloeError::syntax(format!(
            "CREATE TABLE {} needs a column list or AS SELECT",
            table.name
        )));
    }
    Ok(table)
}

fn parse_partition_field(
    p: &mut datafusion::sql::sqlparser::parser::Parser,
) -> Result<PartitionField, ParserError> {
    let name = p.parse_identifier()?;
    if !p.consume_token(&Token::LParen) {
        return Ok(PartitionField {
            transform: PartitionTransform::Identity,
            column: name.value,
        });
    }
    let transform_name = name.value.to_ascii_lowercase();
    let width = match transform_name.as_str() {
        "bucket" | "truncate" => {
            let n = p.parse_literal_uint()?;
            p.expect_token(&Token::Comma)?;
            Some(u32::try_from(n).map_err(|_| {
                ParserError::ParserError(format!("{transform_name} width {n} is too large"))
            })?)
        }
        _ => None,
    };
    let column = p.parse_identifier()?.value;
    p.expect_token(&Token::RParen)?;
    let transform = match (transform_name.as_str(), width) {
        ("identity", None) => PartitionTransform::Identity,
        ("year" | "years", None) => PartitionTransform::Year,
        ("month" | "months", None) => PartitionTransform::Month,
        ("day" | "days", None) => PartitionTransform::Day,
        ("hour" | "hours", None) => PartitionTransform::Hour,
        ("bucket", Some(n)) if n > 0 => PartitionTransform::Bucket(n),
        ("truncate", Some(w)) if w > 0 => PartitionTransform::Truncate(w),
        ("bucket" | "truncate", Some(_)) => {
            return Err(ParserError::ParserError(format!(
                "{transform_name} width must be positive"
            )));
        }
        _ => {
            return Err(ParserError::ParserError(format!(
                "unknown partition transform {transform_name}; expected identity, year, month, \
                 day, hour, bucket(N, col) or truncate(W, col)"
            )));
        }
    };
    Ok(PartitionField { transform, column })
}

/// The rest of a COPY after its keyword. `None` leaves it to DataFusion (its own
/// `COPY ... TO 'path' STORED AS ... OPTIONS (...)` form).
fn parse_copy(df: &mut DFParser) -> Result<Option<Statement>> {
    let p = &mut df.parser;
    let (query, table) = if p.consume_token(&Token::LParen) {
        let query = p.parse_query().map_err(syntax)?;
        p.expect_token(&Token::RParen).map_err(syntax)?;
        (Some(query), None)
    } else {
        (None, Some(p.parse_object_name(false).map_err(syntax)?))
    };
    if p.parse_keyword(Keyword::FROM) {
        let Some(table) = table else {
            return Err(FloeError::syntax(
                "COPY (query) FROM is not valid; COPY a table FROM a file",
            ));
        };
        let source = if p.parse_keyword(Keyword::STDIN) {
            None
        } else {
            Some(p.parse_literal_string().map_err(syntax)?)
        };
        let options = parse_copy_options(df)?;
        return Ok(Some(Statement::CopyFrom {
            table,
            source,
            options,
        }));
    }
    p.expect_keyword(Keyword::TO).map_err(syntax)?;
    let target = if p.parse_keyword(Keyword::STDOUT) {
        None
    } else {
        Some(p.parse_literal_string().map_err(syntax)?)
    };
    if matches!(p.peek_token().token, Token::Word(ref w) if matches!(w.keyword, Keyword::STORED | Keyword::OPTIONS | Keyword::PARTITIONED))
    {
        return Ok(None);
    }
    let options = parse_copy_options(df)?;
    let query = match (query, table) {
        (Some(query), _) => query,
        (None, Some(table)) => {
            let sql = format!("SELECT * FROM {table}");
            let mut parser = DFParserBuilder::new(sql.as_str()).build()?;
            parser.parser.parse_query().map_err(syntax)?
        }
        (None, None) => unreachable!("COPY has a query or a table"),
    };
    Ok(Some(Statement::CopyTo {
        query,
        target,
        options,
    }))
}

fn parse_copy_options(df: &mut DFParser) -> Result<CopyOptions> {
    let p = &mut df.parser;
    let _ = p.parse_keyword(Keyword::WITH);
    let mut options = CopyOptions::default();
    let parenthesized = p.consume_token(&Token::LParen);
    loop {
        let token = p.peek_token().token;
        let Token::Word(word) = token else {
            break;
        };
        let name = word.value.to_ascii_lowercase();
        let known = [
            "format",
            "header",
            "delimiter",
            "null",
            "quote",
            "escape",
            "csv",
            "binary",
            "text",
            "parquet",
            "json",
        ];
        if !known.contains(&name.as_str()) {
            if parenthesized {
                return Err(FloeError::syntax(format!(
                    "unknown COPY option {name}; expected FORMAT, HEADER, DELIMITER, NULL, QUOTE \
                     or ESCAPE"
                )));
            }
            break;
        }
        p.next_token();
        let _ = p.parse_keyword(Keyword::AS);
        match name.as_str() {
            "format" => {
                let format = p.parse_identifier().map_err(syntax)?.value;
                options.format = Some(copy_format(&format)?);
            }
            "csv" | "text" | "parquet" | "json" | "binary" => {
                options.format = Some(copy_format(&name)?);
            }
            "header" => {
                options.header = match p.peek_token().token {
                    Token::Word(w)
                        if w.keyword == Keyword::FALSE || w.value.eq_ignore_ascii_case("off") =>
                    {
                        p.next_token();
                        false
                    }
                    Token::Word(w)
                        if w.keyword == Keyword::TRUE || w.value.eq_ignore_ascii_case("on") =>
                    {
                        p.next_token();
                        true
                    }
                    _ => true,
                };
            }
            "null" => options.null = Some(p.parse_literal_string().map_err(syntax)?),
            _ => {
                let text = p.parse_literal_string().map_err(syntax)?;
                let mut chars = text.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    return Err(FloeError::syntax(format!(
                        "COPY {} must be a single character, not '{text}'",
                        name.to_ascii_uppercase()
                    )));
                };
                match name.as_str() {
                    "delimiter" => options.delimiter = Some(c),
                    "quote" => options.quote = Some(c),
                    _ => options.escape = Some(c),
                }
            }
        }
        if parenthesized && !p.consume_token(&Token::Comma) {
            break;
        }
    }
    if parenthesized {
        p.expect_token(&Token::RParen).map_err(syntax)?;
    }
    Ok(options)
}

fn copy_format(name: &str) -> Result<CopyFormat> {
    match name.to_ascii_lowercase().as_str() {
        "csv" => Ok(CopyFormat::Csv),
        "text" => Ok(CopyFormat::Text),
        "parquet" => Ok(CopyFormat::Parquet),
        "json" | "ndjson" => Ok(CopyFormat::Json),
        "binary" => Ok(CopyFormat::Binary),
        other => Err(FloeError::syntax(format!(
            "unknown COPY format {other}; expected csv, text, parquet, json or binary"
        ))),
    }
}

/// `[SORT BY (key, ...) | ZORDER BY (column, ...)]` after `OPTIMIZE t [WHERE ...]`.
fn parse_rewrite_order(p: &mut datafusion::sql::sqlparser::parser::Parser) -> Result<RewriteOrder> {
    if p.parse_keywords(&[Keyword::ZORDER, Keyword::BY]) {
        p.expect_token(&Token::LParen).map_err(syntax)?;
        let columns = p
            .parse_comma_separated(|p| p.parse_identifier())
            .map_err(syntax)?;
        p.expect_token(&Token::RParen).map_err(syntax)?;
        return Ok(RewriteOrder::ZOrderBy(
            columns.into_iter().map(|c| c.value).collect(),
        ));
    }
    if p.parse_keywords(&[Keyword::SORT, Keyword::BY]) {
        p.expect_token(&Token::LParen).map_err(syntax)?;
        let keys = p.parse_comma_separated(parse_sort_key).map_err(syntax)?;
        p.expect_token(&Token::RParen).map_err(syntax)?;
        return Ok(RewriteOrder::SortBy(keys));
    }
    Ok(RewriteOrder::TableSortOrder)
}

/// `column [ASC|DESC] [NULLS FIRST|LAST]`.
fn parse_sort_key(
    p: &mut datafusion::sql::sqlparser::parser::Parser,
) -> Result<SortKey, ParserError> {
    let column = p.parse_identifier()?.value;
    let descending = if p.parse_keyword(Keyword::DESC) {
        true
    } else {
        let _ = p.parse_keyword(Keyword::ASC);
        false
    };
    let nulls_first = if p.parse_keywords(&[Keyword::NULLS, Keyword::FIRST]) {
        Some(true)
    } else if p.parse_keywords(&[Keyword::NULLS, Keyword::LAST]) {
        Some(false)
    } else {
        None
    };
    Ok(SortKey {
        column,
        descending,
        nulls_first,
    })
}

/// `('key' = 'value', ...)`: keys may be quoted or dotted words, values any literal.
fn parse_properties(df: &mut DFParser) -> Result<Vec<(String, String)>> {
    df.parser.expect_token(&Token::LParen).map_err(syntax)?;
    let mut properties = Vec::new();
    loop {
        let key = df.parse_option_key()?;
        let _ = df.parser.consume_token(&Token::Eq);
        let value = match df.parse_option_value()? {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s,
            Value::EscapedStringLiteral(s) => s,
            Value::Number(n, _) => n.to_string(),
            other => other.to_string(),
        };
        properties.push((key, value));
        if !df.parser.consume_token(&Token::Comma) {
            break;
        }
    }
    df.parser.expect_token(&Token::RParen).map_err(syntax)?;
    Ok(properties)
}

/// `name(arg, key => 'value', ...)` after `ALTER TABLE t EXECUTE`.
fn parse_table_procedure(
    p: &mut datafusion::sql::sqlparser::parser::Parser,
    table: ObjectName,
) -> Result<Statement> {
    let procedure = p
        .parse_identifier()
        .map_err(syntax)?
        .value
        .to_ascii_lowercase();
    let mut named: Vec<(String, String)> = Vec::new();
    let mut positional: Vec<String> = Vec::new();
    if p.consume_token(&Token::LParen) && !p.consume_token(&Token::RParen) {
        loop {
            let is_named = matches!(p.peek_token().token, Token::Word(_))
                && p.peek_nth_token(1).token == Token::RArrow;
            let key = if is_named {
                let key = p
                    .parse_identifier()
                    .map_err(syntax)?
                    .value
                    .to_ascii_lowercase();
                p.expect_token(&Token::RArrow).map_err(syntax)?;
                Some(key)
            } else {
                None
            };
            let negative = p.consume_token(&Token::Minus);
            let value = match p.parse_value().map_err(syntax)?.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s,
                Value::Number(n, _) if negative => format!("-{n}"),
                other => other.to_string(),
            };
            match key {
                Some(key) => named.push((key, value)),
                None => positional.push(value),
            }
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen).map_err(syntax)?;
    }
    let mut args = ProcedureArgs {
        procedure: procedure.clone(),
        named,
        positional,
    };
    let statement = match procedure.as_str() {
        "optimize" => {
            let threshold = args.take("file_size_threshold")?;
            Statement::Optimize {
                table,
                filter: None,
                file_size_threshold: threshold.as_deref().map(parse_size).transpose()?,
                order: RewriteOrder::TableSortOrder,
            }
        }
        "expire_snapshots" => Statement::ExpireSnapshots {
            table,
            retention: args
                .take("retention_threshold")?
                .as_deref()
                .map(parse_duration)
                .transpose()?,
        },
        "remove_orphan_files" => Statement::RemoveOrphanFiles {
            table,
            retention: args
                .take("retention_threshold")?
                .as_deref()
                .map(parse_duration)
                .transpose()?,
        },
        "rollback_to_snapshot" => {
            let id = args
                .take("snapshot_id")?
                .ok_or_else(|| FloeError::syntax("rollback_to_snapshot needs a snapshot id"))?;
            Statement::RollbackToSnapshot {
                table,
                snapshot_id: id
                    .parse()
                    .map_err(|_| FloeError::syntax(format!("snapshot id {id} is not a number")))?,
            }
        }
        other => {
            return Err(FloeError::syntax(format!(
                "unknown table procedure {other}; expected optimize, expire_snapshots, \
                 remove_orphan_files or rollback_to_snapshot"
            )));
        }
    };
    args.finish()?;
    Ok(statement)
}

/// The arguments of a table procedure: each parameter may be given by name or position.
struct ProcedureArgs {
    procedure: String,
    named: Vec<(String, String)>,
    positional: Vec<String>,
}

impl ProcedureArgs {
    fn take(&mut self, name: &str) -> Result<Option<String>> {
        if let Some(i) = self.named.iter().position(|(k, _)| k == name) {
            return Ok(Some(self.named.remove(i).1));
        }
        Ok((!self.positional.is_empty()).then(|| self.positional.remove(0)))
    }

    fn finish(self) -> Result<()> {
        if let Some((key, _)) = self.named.first() {
            return Err(FloeError::syntax(format!(
                "{} has no parameter {key}",
                self.procedure
            )));
        }
        if !self.positional.is_empty() {
            return Err(FloeError::syntax(format!(
                "too many arguments for {}",
                self.procedure
            )));
        }
        Ok(())
    }
}

/// A byte size such as `128MB`, `1GB`, `512kB` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let (number, unit) = split_number(text);
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        _ => {
            return Err(FloeError::invalid(format!(
                "invalid size '{text}'; use e.g. '128MB'"
            )));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| FloeError::invalid(format!("invalid size '{text}'; use e.g. '128MB'")))
}

/// A duration such as `7d`, `12h`, `30m`, `10s`, `0s` or `7 days`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let (number, unit) = split_number(text);
    let seconds: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => 0,
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => {
            return Err(FloeError::invalid(format!(
                "invalid duration '{text}'; use e.g. '7d', '12h', '30m' or '0s'"
            )));
        }
    };
    let n: u64 = number.parse().map_err(|_| {
        FloeError::invalid(format!(
            "invalid duration '{text}'; use e.g. '7d', '12h', '30m' or '0s'"
        ))
    })?;
    Ok(if unit.trim().eq_ignore_ascii_case("ms") {
        Duration::from_millis(n)
    } else {
        Duration::from_secs(n.saturating_mul(seconds))
    })
}

fn split_number(text: &str) -> (&str, &str) {
    let text = text.trim();
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim())
}

fn syntax(err: ParserError) -> FloeError {
    let text = match err {
        ParserError::ParserError(text) | ParserError::TokenizerError(text) => text,
        ParserError::RecursionLimitExceeded => "statement nests too deeply".to_string(),
    };
    FloeError::syntax(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Statement {
        let mut statements = parse_sql(sql).unwrap();
        assert_eq!(statements.len(), 1, "{sql}");
        statements.pop().unwrap()
    }

    /// A statement Floe looks at but leaves to DataFusion (SET, DROP VIEW) is parsed from
    /// its own first token, also when another statement and a space come before it.
    #[test]
    fn statements_left_to_datafusion_follow_others() {
        let statements =
            parse_sql("SELECT 1; SET application_name = 'x';  DROP VIEW IF EXISTS v").unwrap();
        assert_eq!(statements.len(), 3);
        assert!(
            statements
                .iter()
                .all(|s| matches!(s, Statement::DataFusion(_)))
        );
    }

    #[test]
    fn create_table_with_partitions_and_properties() {
        let Statement::CreateTable(table) = one(
            "CREATE TABLE IF NOT EXISTS s.t (id BIGINT NOT NULL, ts TIMESTAMP, name TEXT) \
             PARTITIONED BY (day(ts), bucket(16, id), truncate(4, name), name) \
             WITH ('write.parquet.compression-codec' = 'zstd', format_version = 2)",
        ) else {
            panic!("not a CREATE TABLE")
        };
        assert!(table.if_not_exists);
        assert_eq!(table.name.to_string(), "s.t");
        assert_eq!(table.columns.len(), 3);
        let transforms: Vec<_> = table.partition_by.iter().map(|f| f.transform).collect();
        assert_eq!(
            transforms,
            vec![
                PartitionTransform::Day,
                PartitionTransform::Bucket(16),
                PartitionTransform::Truncate(4),
                PartitionTransform::Identity
            ]
        );
        assert_eq!(
            table.properties,
            vec![
                (
                    "write.parquet.compression-codec".to_string(),
                    "zstd".to_string()
                ),
                ("format_version".to_string(), "2".to_string())
            ]
        );
    }

    #[test]
    fn create_table_with_a_sort_order() {
        let Statement::CreateTable(table) =
            one("CREATE TABLE t (a INT, b TEXT, c DATE) PARTITIONED BY (a) \
             ORDER BY (b DESC, c NULLS LAST, a ASC NULLS FIRST) WITH ('k' = 'v')")
        else {
            panic!("not a CREATE TABLE")
        };
        let key = |column: &str, descending, nulls_first| SortKey {
            column: column.to_string(),
            descending,
            nulls_first,
        };
        assert_eq!(
            table.order_by,
            vec![
                key("b", true, None),
                key("c", false, Some(false)),
                key("a", false, Some(true))
            ]
        );
        assert_eq!(table.properties.len(), 1);
        assert!(parse_sql("CREATE TABLE t (a INT) ORDER BY (a SIDEWAYS)").is_err());
    }

    #[test]
    fn copy_in_both_directions_and_both_option_styles() {
        let Statement::CopyFrom {
            table,
            source,
            options,
        } = one("COPY s.t FROM '/data/*.csv' WITH (FORMAT csv, HEADER, DELIMITER ';', NULL 'NA')")
        else {
            panic!("not a COPY FROM")
        };
        assert_eq!(
            (table.to_string(), source.as_deref()),
            ("s.t".to_string(), Some("/data/*.csv"))
        );
        assert_eq!(
            options,
            CopyOptions {
                format: Some(CopyFormat::Csv),
                header: true,
                delimiter: Some(';'),
                null: Some("NA".to_string()),
                ..CopyOptions::default()
            }
        );
        for binary in [
            "COPY t FROM STDIN (FORMAT binary)",
            "COPY t FROM STDIN WITH BINARY",
        ] {
            let Statement::CopyFrom { options, .. } = one(binary) else {
                panic!("not a COPY FROM")
            };
            assert_eq!(options.format, Some(CopyFormat::Binary), "{binary}");
        }
        let Statement::CopyFrom { options, .. } = one("COPY t FROM 'f' CSV HEADER false") else {
            panic!("not a COPY FROM")
        };
        assert_eq!(
            (options.format, options.header),
            (Some(CopyFormat::Csv), false)
        );
        let Statement::CopyTo {
            query,
            target,
            options,
        } = one("COPY (SELECT a FROM t WHERE a > 1) TO '/tmp/out.parquet' (FORMAT parquet)")
        else {
            panic!("not a COPY TO")
        };
        assert_eq!(query.to_string(), "SELECT a FROM t WHERE a > 1");
        assert_eq!(
            (target.as_deref(), options.format),
            (Some("/tmp/out.parquet"), Some(CopyFormat::Parquet))
        );
        let Statement::CopyTo { query, .. } = one("COPY t TO 'x.csv'") else {
            panic!("not a COPY TO")
        };
        assert_eq!(query.to_string(), "SELECT * FROM t");
        let Statement::CopyTo {
            target, options, ..
        } = one("COPY t TO STDOUT WITH CSV HEADER")
        else {
            panic!("not a COPY TO")
        };
        assert_eq!((target, options.header), (None, true));
        // DataFusion's own form stays DataFusion's.
        assert!(matches!(
            one("COPY t TO 'x' STORED AS CSV"),
            Statement::DataFusion(_)
        ));
        assert!(parse_sql("COPY t FROM 'f' (FORMAT xml)").is_err());
        assert!(parse_sql("COPY t FROM 'f' (DELIMITER ';;')").is_err());
        let Statement::CopyFrom {
            source, options, ..
        } = one("COPY t FROM STDIN (FORMAT csv)")
        else {
            panic!("not a COPY FROM")
        };
        assert_eq!((source, options.format), (None, Some(CopyFormat::Csv)));
    }

    #[test]
    fn create_table_as_select() {
        let Statement::CreateTable(table) =
            one("CREATE TABLE t PARTITIONED BY (k) AS SELECT 1 AS k")
        else {
            panic!("not a CREATE TABLE")
        };
        assert!(table.columns.is_empty());
        assert!(table.query.is_some());
    }

    #[test]
    fn maintenance_statements() {
        assert!(matches!(
            one("OPTIMIZE s.t WHERE day = DATE '2024-01-01'"),
            Statement::Optimize { filter: Some(f), file_size_threshold: None, .. } if f.contains("day =")
        ));
        assert!(matches!(
            one("ALTER TABLE t EXECUTE optimize(file_size_threshold => '128MB')"),
            Statement::Optimize {
                file_size_threshold: Some(134_217_728),
                filter: None,
                ..
            }
        ));
        assert!(matches!(
            one("VACUUM t RETAIN 2 HOURS DRY RUN"),
            Statement::Vacuum { retain: Some(d), dry_run: true, .. } if d.as_secs() == 7200
        ));
        assert!(matches!(
            one("ALTER TABLE t EXECUTE expire_snapshots(retention_threshold => '0s')"),
            Statement::ExpireSnapshots { retention: Some(d), .. } if d.is_zero()
        ));
        assert!(matches!(
            one("ALTER TABLE t EXECUTE rollback_to_snapshot(42)"),
            Statement::RollbackToSnapshot {
                snapshot_id: 42,
                ..
            }
        ));
        assert!(matches!(
            one("ROLLBACK TABLE s.t TO SNAPSHOT 42"),
            Statement::RollbackToSnapshot {
                snapshot_id: 42,
                ..
            }
        ));
        // A transaction's ROLLBACK stays a session statement.
        assert!(matches!(one("ROLLBACK"), Statement::DataFusion(_)));
        assert!(parse_sql("ROLLBACK TABLE t TO 42").is_err());
        assert!(parse_sql("ROLLBACK TABLE t TO SNAPSHOT").is_err());
        assert!(matches!(
            one("OPTIMIZE t WHERE day = 1 ZORDER BY (a, b)"),
            Statement::Optimize { filter: Some(_), order: RewriteOrder::ZOrderBy(c), .. } if c == ["a", "b"]
        ));
        let Statement::Optimize { order, filter, .. } =
            one("OPTIMIZE t SORT BY (a DESC, b NULLS LAST)")
        else {
            panic!("not an OPTIMIZE")
        };
        assert!(filter.is_none());
        assert_eq!(
            order,
            RewriteOrder::SortBy(vec![
                SortKey {
                    column: "a".to_string(),
                    descending: true,
                    nulls_first: None
                },
                SortKey {
                    column: "b".to_string(),
                    descending: false,
                    nulls_first: Some(false)
                },
            ])
        );
        assert!(matches!(
            one("OPTIMIZE t"),
            Statement::Optimize {
                order: RewriteOrder::TableSortOrder,
                ..
            }
        ));
        assert!(parse_sql("OPTIMIZE t ZORDER BY ()").is_err());
        assert!(parse_sql("OPTIMIZE t SORT BY a").is_err());
        assert!(matches!(
            one("SET floe.vacuum.min_retention = '0s'"),
            Statement::SetFloeOption { name, value } if name == "floe.vacuum.min_retention" && value == "0s"
        ));
        assert!(matches!(
            one("SET datafusion.execution.batch_size = 10"),
            Statement::DataFusion(_)
        ));
        assert!(matches!(
            one("ALTER TABLE t ADD COLUMN c INT"),
            Statement::DataFusion(_)
        ));
        assert!(parse_sql("ALTER TABLE t EXECUTE optimize(bogus => 1)").is_err());
        assert!(parse_sql("ALTER TABLE t EXECUTE optimize(file_size_threshold => 'big')").is_err());
        assert!(parse_sql("ALTER TABLE t EXECUTE wibble()").is_err());
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 604_800);
        assert_eq!(parse_duration("7 days").unwrap().as_secs(), 604_800);
    }

    #[test]
    fn other_statements_go_to_datafusion() {
        assert!(matches!(one("SELECT 1"), Statement::DataFusion(_)));
        assert!(matches!(one("DESCRIBE SELECT 1"), Statement::DataFusion(_)));
        assert!(matches!(
            one("CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/tmp/x.csv'"),
            Statement::DataFusion(_)
        ));
    }

    #[test]
    fn several_statements_and_errors() {
        let statements = parse_sql("SHOW SCHEMAS; ; DROP SCHEMA IF EXISTS s CASCADE;").unwrap();
        assert!(matches!(statements[0], Statement::ShowSchemas));
        assert!(matches!(
            statements[1],
            Statement::DropSchema {
                if_exists: true,
                cascade: true,
                ..
            }
        ));
        assert!(parse_sql("CREATE TABLE t (a INT) PARTITIONED BY (wibble(a))").is_err());
        assert!(parse_sql("CREATE TABLE t").is_err());
        assert!(parse_sql("SELECT 1 SELECT 2").is_err());
    }
}
