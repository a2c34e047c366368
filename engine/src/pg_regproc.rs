//! PostgreSQL's `regproc` in Floe's catalog: a function's oid that prints as its name.
//! Floe's `pg_type` keeps the name (`typinput`, `typreceive`, ... are text, which is how
//! clients that select them read them), so the two ways clients use such a column as an
//! oid are rewritten to use the name:
//!
//! - a join with `pg_proc` on its oid (Npgsql's type loading: `LEFT JOIN pg_proc AS proc
//!   ON proc.oid = typ.typreceive`) compares the function's name instead, the same test
//!   because PostgreSQL prints a `regproc` as a bare name only when that name is unique;
//! - a literal cast to `regproc` (pgJDBC: `typinput = 'pg_catalog.array_in'::regproc`)
//!   is the bare name, as the column holds it.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Ident, Query, SetExpr, Statement, TableFactor, Value, VisitMut,
    VisitorMut, visit_expressions_mut,
};

/// `pg_type`'s columns of type `regproc`.
const REGPROC_COLUMNS: [&str; 8] = [
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
    "typsubscript",
];

/// Rewrites the `regproc` idioms of `statement` (see the module's documentation).
pub fn rewrite(statement: &mut Statement) {
    bare_regproc_literals(statement);
    let _ = statement.visit(&mut ProcJoins);
}

fn bare_regproc_literals(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            data_type,
            expr: inner,
            ..
        } = expr
            && matches!(
                data_type
                    .to_string()
                    .to_ascii_lowercase()
                    .trim_start_matches("pg_catalog."),
                "regproc" | "regprocedure"
            )
            && let Expr::Value(value) = inner.as_mut()
            && let Value::SingleQuotedString(name) = &mut value.value
            && let Some(bare) = name.strip_prefix("pg_catalog.")
        {
            *name = bare.to_string();
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Visits every query (subqueries included) and rewrites, in each SELECT, comparisons of
/// the oid of a `pg_proc` in its FROM with a `regproc` column.
struct ProcJoins;

impl VisitorMut for ProcJoins {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        rewrite_set_expr(&mut query.body);
        ControlFlow::Continue(())
    }
}

fn rewrite_set_expr(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            let procs: Vec<String> = select
                .from
                .iter()
                .flat_map(|from| {
                    std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation))
                })
                .filter_map(proc_relation_name)
                .collect();
            if !procs.is_empty() {
                let _ = visit_expressions_mut(select.as_mut(), |expr| {
                    compare_names(expr, &procs);
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left);
            rewrite_set_expr(right);
        }
        _ => {}
    }
}

/// The name a `pg_proc` in FROM is referred to by; `None` for other relations.
fn proc_relation_name(relation: &TableFactor) -> Option<String> {
    let TableFactor::Table { name, alias, .. } = relation else {
        return None;
    };
    let table = name.0.last()?.to_string().to_ascii_lowercase();
    if table != "pg_proc" {
        return None;
    }
    Some(match alias {
        Some(alias) => alias.name.value.to_ascii_lowercase(),
        None => table,
    })
}

/// `proc.oid = t.typreceive` (either way round) becomes `proc.proname = t.typreceive`.
fn compare_names(expr: &mut Expr, procs: &[String]) {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = expr
    else {
        return;
    };
    if is_regproc_column(right) {
        name_the_function(left, procs);
    } else if is_regproc_column(left) {
        name_the_function(right, procs);
    }
}

/// `proc.oid` of a `pg_proc` in `procs` becomes `proc.proname`.
fn name_the_function(expr: &mut Expr, procs: &[String]) {
    if let Expr::CompoundIdentifier(parts) = expr
        && let [relation, column] = parts.as_mut_slice()
        && procs.contains(&relation.value.to_ascii_lowercase())
        && column.value.eq_ignore_ascii_case("oid")
    {
        *column = Ident::new("proname");
    }
}

fn is_regproc_column(expr: &Expr) -> bool {
    let name = match expr {
        Expr::Identifier(name) => name,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(last) => last,
            None => return false,
        },
        _ => return false,
    };
    REGPROC_COLUMNS.contains(&name.value.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parses")
            .remove(0);
        rewrite(&mut statement);
        statement.to_string()
    }

    #[test]
    fn joins_on_a_functions_oid_compare_its_name() {
        assert_eq!(
            rewritten(
                "SELECT t.typname FROM pg_type AS t \
                 LEFT JOIN pg_catalog.pg_proc AS proc ON proc.oid = t.typreceive"
            ),
            "SELECT t.typname FROM pg_type AS t \
             LEFT JOIN pg_catalog.pg_proc AS proc ON proc.proname = t.typreceive"
        );
        assert_eq!(
            rewritten("SELECT 1 FROM pg_type t, pg_proc WHERE t.typinput = pg_proc.oid"),
            "SELECT 1 FROM pg_type t, pg_proc WHERE t.typinput = pg_proc.proname"
        );
    }

    #[test]
    fn other_oid_comparisons_are_kept() {
        let sql = "SELECT 1 FROM pg_type AS t JOIN pg_class AS c ON c.oid = t.typrelid \
                   JOIN pg_proc AS p ON p.oid = t.typelem";
        assert_eq!(rewritten(sql), sql);
    }

    #[test]
    fn regproc_literals_are_bare_names() {
        assert_eq!(
            rewritten("SELECT typinput = 'pg_catalog.array_in'::regproc FROM pg_type"),
            "SELECT typinput = 'array_in'::regproc FROM pg_type"
        );
    }
}
