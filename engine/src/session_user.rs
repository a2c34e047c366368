//! Who is connected. PostgreSQL's `current_user`, `session_user` and `user` (keywords
//! without parentheses; `current_user()` is accepted too) return the user the session
//! logged in as: the login name over the wire, the operating-system user in the shell.
//! `pg_roles` lists the users that have logged in, each a superuser that can log in
//! (Floe has no privileges), so psql's `\du` shows them.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, Ident, SelectItem, Statement, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};
use std::ops::ControlFlow;

use crate::settings::Settings;

/// The user a session runs as until a face names one: the operating-system user, or
/// `floe` when the environment names none.
pub fn default_user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|user| !user.is_empty()))
        .unwrap_or_else(|| "floe".to_string())
}

/// The users that have logged in to any session of one engine, for `pg_roles`.
#[derive(Debug, Clone, Default)]
pub struct Roles(Arc<Mutex<BTreeSet<String>>>);

impl Roles {
    pub fn add(&self, user: &str) {
        self.0.lock().expect("roles lock").insert(user.to_string());
    }
}

#[async_trait]
impl PgCatalogContextProvider for Roles {
    async fn roles(&self) -> Vec<String> {
        let roles = self.0.lock().expect("roles lock");
        if roles.is_empty() {
            return vec![default_user()];
        }
        roles.iter().cloned().collect()
    }

    async fn role(&self, name: &str) -> Option<Role> {
        Some(Role {
            name: name.to_string(),
            is_superuser: true,
            can_login: true,
            can_create_db: true,
            can_create_role: true,
            can_create_user: true,
            can_replication: false,
            grants: vec![],
            inherited_roles: vec![],
        })
    }
}

/// The keywords that name the session's user.
const USER_FUNCTIONS: [&str; 3] = ["current_user", "session_user", "user"];

/// Registers the user functions in `ctx`, reading the session's user from `settings`.
pub fn install(ctx: &SessionContext, settings: Arc<Mutex<Settings>>) {
    for name in USER_FUNCTIONS {
        let settings = settings.clone();
        ctx.register_udf(create_udf(
            name,
            vec![],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_args: &[ColumnarValue]| {
                let user = settings.lock().expect("settings lock").user();
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(user))))
            }),
        ));
    }
}

/// `sql` with `current_user()`, `session_user()` and `user()` spelled as the keywords
/// the parser takes (PostgreSQL itself only takes the keywords).
pub fn keyword_calls(sql: &str) -> String {
    if !sql.to_ascii_lowercase().contains("user") {
        return sql.to_string();
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        // Let the parser report the error with its position.
        return sql.to_string();
    };
    let significant = |at: usize| {
        tokens[at..]
            .iter()
            .position(|token| !matches!(token, Token::Whitespace(_)))
            .map(|offset| at + offset)
    };
    let mut kept = Vec::with_capacity(tokens.len());
    let mut changed = false;
    let mut i = 0;
    while i < tokens.len() {
        kept.push(&tokens[i]);
        let is_user_keyword = matches!(&tokens[i], Token::Word(word)
            if word.quote_style.is_none()
                && matches!(word.keyword, Keyword::CURRENT_USER | Keyword::SESSION_USER | Keyword::USER));
        if is_user_keyword
            && let Some(open) = significant(i + 1)
            && tokens[open] == Token::LParen
            && let Some(close) = significant(open + 1)
            && tokens[close] == Token::RParen
        {
            i = close + 1;
            changed = true;
        } else {
            i += 1;
        }
    }
    if !changed {
        return sql.to_string();
    }
    kept.iter().map(|token| token.to_string()).collect()
}

/// Names a select-list item that is only a user keyword after it, as PostgreSQL does
/// (`SELECT current_user` gives a column `current_user`).
pub fn name_columns(statement: &mut Statement) {
    struct Namer;
    impl VisitorMut for Namer {
        type Break = ();
        fn pre_visit_query(
            &mut self,
            query: &mut datafusion::sql::sqlparser::ast::Query,
        ) -> ControlFlow<()> {
            if let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = query.body.as_mut() {
                for item in &mut select.projection {
                    if let SelectItem::UnnamedExpr(Expr::Function(function)) = item
                        && matches!(function.args, FunctionArguments::None)
                        && let [name] = function.name.0.as_slice()
                        && let Some(name) = name.as_ident()
                        && name.quote_style.is_none()
                        && USER_FUNCTIONS.contains(&name.value.to_lowercase().as_str())
                    {
                        let alias = Ident::new(name.value.to_lowercase());
                        let expr = Expr::Function(function.clone());
                        *item = SelectItem::ExprWithAlias { expr, alias };
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Namer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_parentheses_after_user_keywords_are_dropped() {
        assert_eq!(
            keyword_calls("SELECT current_user(), SESSION_USER ( ), user"),
            "SELECT current_user, SESSION_USER, user"
        );
        // Quoted names and other calls are left alone.
        assert_eq!(
            keyword_calls("SELECT \"user\"(), upper('user()')"),
            "SELECT \"user\"(), upper('user()')"
        );
    }
}
