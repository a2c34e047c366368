//! Statements about the session rather than the data: SET/SHOW/RESET of PostgreSQL
//! settings, transaction control and DISCARD. DataFusion's own settings
//! (`SET datafusion.x = ...`) are not among them; they go to DataFusion.
//!
//! Transactions: Floe runs every statement in autocommit mode, so each statement that
//! changes a table commits on its own. BEGIN, COMMIT and ROLLBACK are accepted so that
//! drivers which wrap work in transactions run unchanged, but ROLLBACK cannot undo a
//! statement that already committed.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::parser::{ResetStatement, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    DiscardObject, Expr, Ident, ObjectName, Reset, Set, Statement as SqlStatement,
    TransactionIsolationLevel, TransactionMode, Value,
};

use crate::error::Result;
use crate::output::Output;
use crate::settings::Settings;

#[derive(Debug, Clone, PartialEq)]
pub enum SessionStatement {
    Set {
        name: String,
        value: String,
    },
    Reset {
        name: String,
    },
    ResetAll,
    Show {
        name: String,
    },
    ShowAll,
    Begin {
        tag: &'static str,
    },
    Commit,
    Rollback,
    /// SAVEPOINT, RELEASE and ROLLBACK TO: accepted like BEGIN (autocommit mode) so that
    /// drivers nesting transactions work; nothing is undone.
    Savepoint {
        tag: &'static str,
    },
    Discard {
        tag: &'static str,
    },
}

impl SessionStatement {
    /// The session statement `statement` is, if it is one.
    pub fn recognise(statement: &DFStatement) -> Option<SessionStatement> {
        let statement = match statement {
            DFStatement::Statement(statement) => statement,
            // DataFusion parses RESET itself.
            DFStatement::Reset(ResetStatement::Variable(name)) => {
                let name = object_name(name);
                return if name.eq_ignore_ascii_case("all") {
                    Some(SessionStatement::ResetAll)
                } else if is_datafusion_name(&name) {
                    None
                } else {
                    Some(SessionStatement::Reset { name })
                };
            }
            _ => return None,
        };
        Some(match statement.as_ref() {
            SqlStatement::Set(set) => return recognise_set(set),
            SqlStatement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                match name.to_ascii_lowercase().as_str() {
                    "all" => SessionStatement::ShowAll,
                    "transaction isolation level" => SessionStatement::Show {
                        name: "transaction_isolation".to_string(),
                    },
                    "time zone" => SessionStatement::Show {
                        name: "TimeZone".to_string(),
                    },
                    _ if is_datafusion_name(&name) => return None,
                    _ => SessionStatement::Show { name },
                }
            }
            SqlStatement::Reset(reset) => match &reset.reset {
                Reset::ALL => SessionStatement::ResetAll,
                Reset::ConfigurationParameter(name) => {
                    let name = object_name(name);
                    if is_datafusion_name(&name) {
                        return None;
                    }
                    SessionStatement::Reset { name }
                }
            },
            SqlStatement::StartTransaction { begin, .. } => SessionStatement::Begin {
                tag: if *begin { "BEGIN" } else { "START TRANSACTION" },
            },
            SqlStatement::Commit { .. } => SessionStatement::Commit,
            SqlStatement::Rollback {
                savepoint: None, ..
            } => SessionStatement::Rollback,
            SqlStatement::Savepoint { .. } => SessionStatement::Savepoint { tag: "SAVEPOINT" },
            SqlStatement::ReleaseSavepoint { .. } => SessionStatement::Savepoint { tag: "RELEASE" },
            // PostgreSQL's tag is ROLLBACK; the faces tell it from the end of a transaction
            // by this longer tag.
            SqlStatement::Rollback {
                savepoint: Some(_), ..
            } => SessionStatement::Savepoint {
                tag: "ROLLBACK TO SAVEPOINT",
            },
            SqlStatement::Discard { object_type } => SessionStatement::Discard {
                tag: match object_type {
                    DiscardObject::ALL => "DISCARD ALL",
                    DiscardObject::PLANS => "DISCARD PLANS",
                    DiscardObject::SEQUENCES => "DISCARD SEQUENCES",
                    DiscardObject::TEMP => "DISCARD TEMP",
                },
            },
            _ => return None,
        })
    }

    /// The result columns, for statements that return rows.
    pub fn describe(&self) -> Option<SchemaRef> {
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        match self {
            SessionStatement::Show { name } => {
                Some(Arc::new(Schema::new(vec![text(&shown_name(name))])))
            }
            SessionStatement::ShowAll => Some(Arc::new(Schema::new(vec![
                text("name"),
                text("setting"),
                text("description"),
            ]))),
            _ => None,
        }
    }

    pub fn execute(self, settings: &mut Settings) -> Result<Output> {
        match self {
            SessionStatement::Set { name, value } => {
                settings.set(&name, &value)?;
                Ok(Output::command("SET"))
            }
            SessionStatement::Reset { name } => {
                settings.reset(&name)?;
                Ok(Output::command("RESET"))
            }
            SessionStatement::ResetAll => {
                settings.reset_all();
                Ok(Output::command("RESET"))
            }
            SessionStatement::Show { name } => {
                let value = settings.get(&name)?;
                Output::text_table(&[&shown_name(&name)], vec![vec![Some(value)]])
            }
            SessionStatement::ShowAll => Output::text_table(
                &["name", "setting", "description"],
                settings
                    .all()
                    .into_iter()
                    .map(|(name, value, description)| {
                        vec![
                            Some(name.to_string()),
                            Some(value),
                            Some(description.to_string()),
                        ]
                    })
                    .collect(),
            ),
            SessionStatement::Begin { tag } => Ok(Output::command(tag)),
            SessionStatement::Commit => Ok(Output::command("COMMIT")),
            SessionStatement::Rollback => Ok(Output::command("ROLLBACK")),
            SessionStatement::Savepoint { tag } => Ok(Output::command(tag)),
            SessionStatement::Discard { tag } => {
                if tag == "DISCARD ALL" {
                    settings.reset_all();
                }
                Ok(Output::command(tag))
            }
        }
    }
}

/// PostgreSQL names SHOW's column after the setting as the user wrote it, in lower case.
fn shown_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn is_datafusion_name(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with("datafusion.")
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => ident.value.clone(),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn recognise_set(set: &Set) -> Option<SessionStatement> {
    let (name, value) = match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = object_name(variable);
            if is_datafusion_name(&name) {
                return None;
            }
            if let [Expr::Identifier(Ident { value, .. })] = values.as_slice()
                && value.eq_ignore_ascii_case("default")
            {
                return Some(SessionStatement::Reset { name });
            }
            let value = values.iter().map(value_text).collect::<Vec<_>>().join(", ");
            (name, value)
        }
        Set::SetTimeZone { value, .. } => ("TimeZone".to_string(), value_text(value)),
        Set::SetNames { charset_name, .. } => {
            ("client_encoding".to_string(), charset_name.value.clone())
        }
        Set::SetTransaction { modes, session, .. } => {
            let level = modes.iter().find_map(|mode| match mode {
                TransactionMode::IsolationLevel(level) => Some(level),
                TransactionMode::AccessMode(_) => None,
            })?;
            let name = if *session {
                "default_transaction_isolation"
            } else {
                "transaction_isolation"
            };
            (name.to_string(), isolation_text(level))
        }
        _ => return None,
    };
    Some(SessionStatement::Set { name, value })
}

/// A SET value as PostgreSQL reads it: the text of a string, number or bare word.
fn value_text(expr: &Expr) -> String {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.to_string(),
            other => other.to_string(),
        },
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::UnaryOp { op, expr } => format!("{op}{}", value_text(expr)),
        other => other.to_string(),
    }
}

fn isolation_text(level: &TransactionIsolationLevel) -> String {
    match level {
        TransactionIsolationLevel::ReadUncommitted => "read uncommitted",
        TransactionIsolationLevel::ReadCommitted => "read committed",
        TransactionIsolationLevel::RepeatableRead => "repeatable read",
        TransactionIsolationLevel::Serializable => "serializable",
        TransactionIsolationLevel::Snapshot => "snapshot",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{Statement, parse_sql};

    fn recognise(sql: &str) -> Option<SessionStatement> {
        match parse_sql(sql).unwrap().remove(0) {
            Statement::DataFusion(df) => SessionStatement::recognise(&df),
            _ => None,
        }
    }

    #[test]
    fn recognises_postgres_session_statements() {
        assert_eq!(
            recognise("SET search_path TO sales, public"),
            Some(SessionStatement::Set {
                name: "search_path".into(),
                value: "sales, public".into()
            })
        );
        assert_eq!(
            recognise("SET TIME ZONE 'Europe/Paris'"),
            Some(SessionStatement::Set {
                name: "TimeZone".into(),
                value: "Europe/Paris".into()
            })
        );
        assert_eq!(
            recognise("SET extra_float_digits = 3"),
            Some(SessionStatement::Set {
                name: "extra_float_digits".into(),
                value: "3".into()
            })
        );
        assert_eq!(
            recognise("SHOW TRANSACTION ISOLATION LEVEL"),
            Some(SessionStatement::Show {
                name: "transaction_isolation".into()
            })
        );
        assert_eq!(
            recognise("BEGIN"),
            Some(SessionStatement::Begin { tag: "BEGIN" })
        );
        assert_eq!(recognise("ROLLBACK"), Some(SessionStatement::Rollback));
        for (sql, tag) in [
            ("SAVEPOINT a", "SAVEPOINT"),
            ("RELEASE SAVEPOINT a", "RELEASE"),
            ("ROLLBACK TO SAVEPOINT a", "ROLLBACK TO SAVEPOINT"),
        ] {
            assert_eq!(
                recognise(sql),
                Some(SessionStatement::Savepoint { tag }),
                "{sql}"
            );
        }
        assert_eq!(
            recognise("RESET TimeZone"),
            Some(SessionStatement::Reset {
                name: "TimeZone".into()
            })
        );
        assert_eq!(recognise("RESET ALL"), Some(SessionStatement::ResetAll));
        assert_eq!(
            recognise("DISCARD ALL"),
            Some(SessionStatement::Discard { tag: "DISCARD ALL" })
        );
        assert_eq!(recognise("SET datafusion.execution.batch_size = 10"), None);
        assert_eq!(recognise("SELECT 1"), None);
    }
}
