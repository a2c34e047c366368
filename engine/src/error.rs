//! The engine's error type: every failure is a value with a message a person can act on
//! and the PostgreSQL SQLSTATE code that the wire face reports.

use datafusion::error::DataFusionError;

/// An error from executing a statement.
#[derive(Debug)]
pub struct FloeError {
    /// Five-character SQLSTATE code (PostgreSQL's codes, e.g. `42P01` for an unknown table).
    pub sqlstate: &'static str,
    pub message: String,
    /// Where in the statement's text the error is, when the parser or planner knows.
    pub position: Option<Position>,
}

/// A place in a statement's text: 1-based line, and 1-based column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The `Line: L, Column: C` that the SQL parser's messages end with.
    pub fn from_parser_message(message: &str) -> Option<Self> {
        let at = message.rfind("Line: ")?;
        let rest = &message[at + "Line: ".len()..];
        let (line, rest) = rest.split_once(", Column: ")?;
        let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let position = Position {
            line: line.trim().parse().ok()?,
            column: column.parse().ok()?,
        };
        (position.line > 0 && position.column > 0).then_some(position)
    }

    /// Where DataFusion's diagnostic points; `None` for its "unknown" (0, 0) location.
    fn from_diagnostic(diagnostic: &datafusion::common::Diagnostic) -> Option<Self> {
        let start = diagnostic.span?.start;
        let position = Position {
            line: usize::try_from(start.line).ok()?,
            column: usize::try_from(start.column).ok()?,
        };
        (position.line > 0 && position.column > 0).then_some(position)
    }
}

pub type Result<T, E = FloeError> = std::result::Result<T, E>;

/// SQLSTATE codes Floe reports. Named after PostgreSQL's condition names.
pub mod sqlstate {
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_SCHEMA: &str = "3F000";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const CANT_CHANGE_RUNTIME_PARAM: &str = "55P02";
    pub const QUERY_CANCELED: &str = "57014";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const DUPLICATE_TABLE: &str = "42P07";
    pub const DUPLICATE_SCHEMA: &str = "42P06";
    pub const DUPLICATE_COLUMN: &str = "42701";
    pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const STRING_DATA_LENGTH_MISMATCH: &str = "22026";
    pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
    pub const NOT_NULL_VIOLATION: &str = "23502";
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const IO_ERROR: &str = "58030";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const INVALID_DATETIME_FORMAT: &str = "22007";
    pub const DATETIME_FIELD_OVERFLOW: &str = "22008";
    pub const INVALID_BINARY_REPRESENTATION: &str = "22P03";
    pub const BAD_COPY_FILE_FORMAT: &str = "22P04";
    pub const UNDEFINED_FILE: &str = "58P01";
    pub const INTERNAL_ERROR: &str = "XX000";
}

impl FloeError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        Self {
            sqlstate,
            message: message.into(),
            position: None,
        }
    }

    /// A syntax error, at the position its message ends with (the parser's way of saying it).
    pub fn syntax(message: impl Into<String>) -> Self {
        let message = message.into();
        let position = Position::from_parser_message(&message);
        Self {
            position,
            ..Self::new(sqlstate::SYNTAX_ERROR, message)
        }
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(sqlstate::FEATURE_NOT_SUPPORTED, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(sqlstate::INVALID_PARAMETER_VALUE, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(sqlstate::INTERNAL_ERROR, message)
    }
}

impl std::fmt::Display for FloeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FloeError {}

impl From<DataFusionError> for FloeError {
    fn from(err: DataFusionError) -> Self {
        classify_datafusion(err)
    }
}

impl From<datafusion::arrow::error::ArrowError> for FloeError {
    fn from(err: datafusion::arrow::error::ArrowError) -> Self {
        classify_datafusion(DataFusionError::from(err))
    }
}

impl From<datafusion::parquet::errors::ParquetError> for FloeError {
    fn from(err: datafusion::parquet::errors::ParquetError) -> Self {
        classify_datafusion(DataFusionError::from(err))
    }
}

impl From<iceberg::Error> for FloeError {
    fn from(err: iceberg::Error) -> Self {
        classify_iceberg(&err)
    }
}

impl From<sqlx::Error> for FloeError {
    fn from(err: sqlx::Error) -> Self {
        FloeError::new(sqlstate::IO_ERROR, format!("catalog database: {err}"))
    }
}

impl From<std::io::Error> for FloeError {
    fn from(err: std::io::Error) -> Self {
        FloeError::new(sqlstate::IO_ERROR, err.to_string())
    }
}

fn classify_iceberg(err: &iceberg::Error) -> FloeError {
    use iceberg::ErrorKind;
    let code = match err.kind() {
        ErrorKind::TableNotFound => sqlstate::UNDEFINED_TABLE,
        ErrorKind::NamespaceNotFound => sqlstate::UNDEFINED_SCHEMA,
        ErrorKind::TableAlreadyExists => sqlstate::DUPLICATE_TABLE,
        ErrorKind::NamespaceAlreadyExists => sqlstate::DUPLICATE_SCHEMA,
        ErrorKind::CatalogCommitConflicts => sqlstate::SERIALIZATION_FAILURE,
        ErrorKind::FeatureUnsupported => sqlstate::FEATURE_NOT_SUPPORTED,
        ErrorKind::DataInvalid => sqlstate::INVALID_PARAMETER_VALUE,
        _ => sqlstate::INTERNAL_ERROR,
    };
    // iceberg's Display appends context and backtraces; the first line is what a person needs.
    let message = err.message().to_string();
    FloeError::new(code, message)
}

/// Maps DataFusion's error into a SQLSTATE by its kind and, where DataFusion only has
/// text, by the stable phrases of its messages.
fn classify_datafusion(err: DataFusionError) -> FloeError {
    // A memory pool that ran out, however deep inside stream and Arrow errors.
    if let DataFusionError::ResourcesExhausted(text) = err.find_root() {
        return FloeError::new(
            sqlstate::OUT_OF_MEMORY,
            format!("out of memory: the statement needs more than its memory limit: {text}"),
        );
    }
    match err {
        DataFusionError::External(inner) => match inner.downcast::<FloeError>() {
            Ok(floe) => *floe,
            Err(inner) => match inner.downcast::<iceberg::Error>() {
                Ok(ice) => classify_iceberg(&ice),
                Err(inner) => FloeError::new(sqlstate::INTERNAL_ERROR, inner.to_string()),
            },
        },
        DataFusionError::Context(context, inner) => {
            let mut floe = classify_datafusion(*inner);
            // Which optimizer rule hit a bad value is noise to the person who wrote it.
            if !context.starts_with("Optimizer rule") {
                floe.message = format!("{context}: {}", floe.message);
            }
            floe
        }
        DataFusionError::Diagnostic(diagnostic, inner) => {
            let mut floe = classify_datafusion(*inner);
            floe.position = floe.position.or(Position::from_diagnostic(&diagnostic));
            floe
        }
        DataFusionError::Collection(mut errors) if !errors.is_empty() => {
            classify_datafusion(errors.swap_remove(0))
        }
        DataFusionError::SchemaError(err, _) => {
            let text = err.to_string();
            let code = code_from_text(&text);
            FloeError::new(code, text)
        }
        DataFusionError::Plan(text) | DataFusionError::Execution(text) => {
            let code = code_from_text(&text);
            FloeError::new(code, text)
        }
        DataFusionError::Shared(inner) => {
            classify_datafusion(DataFusionError::External(Box::new(SharedError(inner))))
        }
        DataFusionError::SQL(err, _) => FloeError::syntax(err.to_string()),
        DataFusionError::ArrowError(arrow_err, _) => bad_value(&arrow_err).unwrap_or_else(|| {
            let text = arrow_err.to_string();
            let code = arrow_code(&arrow_err);
            FloeError::new(code, text)
        }),
        DataFusionError::NotImplemented(text) => FloeError::unsupported(text),
        DataFusionError::IoError(io) => FloeError::new(sqlstate::IO_ERROR, io.to_string()),
        other => {
            let text = other.message().to_string();
            let code = code_from_text(&text);
            FloeError::new(code, text)
        }
    }
}

/// Arrow's conversion failures in PostgreSQL's words and codes: `invalid input syntax for
/// type date: "abc"` (22007), `value 3000000000 is out of range for type integer` (22003).
fn bad_value(err: &datafusion::arrow::error::ArrowError) -> Option<FloeError> {
    use datafusion::arrow::error::ArrowError;
    let text = match err {
        ArrowError::CastError(text) | ArrowError::ParseError(text) => text.as_str(),
        _ => return None,
    };
    // Floe's own readers of text (uuid, bytea) already speak PostgreSQL's words.
    if text.starts_with("invalid ") {
        return Some(FloeError::new(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            text.to_string(),
        ));
    }
    let between = |start: &str, end: &str| {
        let rest = &text[text.find(start)? + start.len()..];
        Some(&rest[..rest.find(end)?])
    };
    if let Some(value) = between("Cannot cast string '", "' to value of Date") {
        return Some(FloeError::new(
            sqlstate::INVALID_DATETIME_FORMAT,
            format!("invalid input syntax for type date: \"{value}\""),
        ));
    }
    if let Some(value) = between("Error parsing timestamp from '", "'") {
        let reason = text.rsplit(": ").next().unwrap_or_default();
        return Some(FloeError::new(
            sqlstate::INVALID_DATETIME_FORMAT,
            format!("invalid input syntax for type timestamp: \"{value}\" ({reason})"),
        ));
    }
    if let (Some(value), Some(ty)) = (
        between("Can't cast value ", " to type"),
        text.rsplit(" to type ").next(),
    ) {
        let ty = match ty {
            "Int16" => "smallint",
            "Int32" => "integer",
            "Int64" => "bigint",
            other => other,
        };
        return Some(FloeError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("value {value} is out of range for type {ty}"),
        ));
    }
    None
}

fn arrow_code(err: &datafusion::arrow::error::ArrowError) -> &'static str {
    use datafusion::arrow::error::ArrowError;
    match err {
        ArrowError::CastError(_) | ArrowError::ParseError(_) => {
            sqlstate::INVALID_TEXT_REPRESENTATION
        }
        ArrowError::DivideByZero => sqlstate::DIVISION_BY_ZERO,
        ArrowError::ComputeError(text) if text.contains("overflow") => {
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        }
        ArrowError::InvalidArgumentError(text) if text.contains("too large to store") => {
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
        }
        ArrowError::ArithmeticOverflow(_) => sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
        _ => sqlstate::INTERNAL_ERROR,
    }
}

fn code_from_text(text: &str) -> &'static str {
    let lower = text.to_ascii_lowercase();
    if lower.contains("inconsistent data length across values list")
        || lower.contains("column count doesn't match")
    {
        sqlstate::SYNTAX_ERROR
    } else if lower.contains("table")
        && (lower.contains("not found") || lower.contains("doesn't exist"))
    {
        sqlstate::UNDEFINED_TABLE
    } else if lower.contains("no field named")
        || lower.contains("column") && lower.contains("not found")
    {
        sqlstate::UNDEFINED_COLUMN
    } else if lower.contains("non-nullable") || lower.contains("not null") {
        sqlstate::NOT_NULL_VIOLATION
    } else if lower.contains("cannot cast") || lower.contains("can't cast") {
        sqlstate::INVALID_TEXT_REPRESENTATION
    } else if lower.contains("overflow") || lower.contains("out of range") {
        sqlstate::NUMERIC_VALUE_OUT_OF_RANGE
    } else if lower.contains("divide by zero") {
        sqlstate::DIVISION_BY_ZERO
    } else if lower.contains("type") && (lower.contains("mismatch") || lower.contains("coerc")) {
        sqlstate::DATATYPE_MISMATCH
    } else if lower.contains("schema") && lower.contains("not found") {
        sqlstate::UNDEFINED_SCHEMA
    } else {
        sqlstate::INTERNAL_ERROR
    }
}

/// Lets a shared DataFusion error be classified like an owned one.
#[derive(Debug)]
struct SharedError(std::sync::Arc<DataFusionError>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedError {}

/// Wraps a Floe error so it can travel through DataFusion's plumbing and come back intact.
pub fn to_datafusion(err: FloeError) -> DataFusionError {
    DataFusionError::External(Box::new(err))
}

pub fn iceberg_to_datafusion(err: iceberg::Error) -> DataFusionError {
    to_datafusion(classify_iceberg(&err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::error::ArrowError;

    fn classified(err: ArrowError) -> FloeError {
        FloeError::from(DataFusionError::ArrowError(Box::new(err), None))
    }

    #[test]
    fn bad_values_read_as_postgresql_says_them() {
        let date = classified(ArrowError::CastError(
            "Cannot cast string 'abc' to value of Date32 type".into(),
        ));
        assert_eq!(date.sqlstate, sqlstate::INVALID_DATETIME_FORMAT);
        assert_eq!(date.message, "invalid input syntax for type date: \"abc\"");
        let int = classified(ArrowError::CastError(
            "Can't cast value 3000000000 to type Int32".into(),
        ));
        assert_eq!(int.sqlstate, sqlstate::NUMERIC_VALUE_OUT_OF_RANGE);
        assert_eq!(
            int.message,
            "value 3000000000 is out of range for type integer"
        );
        let ts = classified(ArrowError::ParseError(
            "Error parsing timestamp from 'yesterday': timestamp must contain at least 10 characters"
                .into(),
        ));
        assert_eq!(ts.sqlstate, sqlstate::INVALID_DATETIME_FORMAT);
        assert!(
            ts.message
                .starts_with("invalid input syntax for type timestamp: \"yesterday\"")
        );
        let other = classified(ArrowError::CastError("Unsupported cast".into()));
        assert_eq!(other.sqlstate, sqlstate::INVALID_TEXT_REPRESENTATION);
    }

    #[test]
    fn errors_keep_the_position_the_parser_or_planner_gives() {
        use datafusion::common::{Diagnostic, Location, Span};
        let at = |line, column| Location { line, column };
        let planning = DataFusionError::Diagnostic(
            Box::new(Diagnostic::new_error(
                "unknown column",
                Some(Span::new(at(2, 8), at(2, 12))),
            )),
            Box::new(DataFusionError::Plan("No field named nope.".into())),
        );
        let err = FloeError::from(DataFusionError::Context(
            "planning".into(),
            Box::new(planning),
        ));
        assert_eq!(err.sqlstate, sqlstate::UNDEFINED_COLUMN);
        assert_eq!(err.message, "planning: No field named nope.");
        assert_eq!(err.position, Some(Position { line: 2, column: 8 }));

        // DataFusion's "unknown" location is no position.
        let unknown = DataFusionError::Diagnostic(
            Box::new(Diagnostic::new_error(
                "x",
                Some(Span::new(at(0, 0), at(0, 0))),
            )),
            Box::new(DataFusionError::Plan("x".into())),
        );
        assert_eq!(FloeError::from(unknown).position, None);

        let syntax =
            FloeError::syntax("Expected: end of statement, found: frm at Line: 3, Column: 14");
        assert_eq!(
            syntax.position,
            Some(Position {
                line: 3,
                column: 14
            })
        );
        assert_eq!(FloeError::syntax("no position").position, None);
    }
}
