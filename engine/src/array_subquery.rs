//! PostgreSQL's `ARRAY(SELECT x FROM ...)`: the subquery's values as one array, `{}`
//! when it has no rows (psql's `\du` lists each role's memberships so). DataFusion has
//! no such constructor, so a subquery of one column, not grouped, becomes the aggregate
//! `coalesce((SELECT array_agg(x ORDER BY ...) FROM ...), [])`, which DataFusion plans
//! correlated or not.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, GroupByExpr, SelectItem, SetExpr, Statement, visit_expressions_mut,
};

use crate::pg_compat::parse_expr;

/// Rewrites every `ARRAY(subquery)` of `statement` that has one column; others are left
/// for the planner to reject.
pub fn rewrite(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && let [name] = function.name.0.as_slice()
            && name.as_ident().is_some_and(|name| {
                name.quote_style.is_none() && name.value.eq_ignore_ascii_case("array")
            })
            && let FunctionArguments::Subquery(query) = &function.args
            && let Some(aggregated) = aggregated(query)
        {
            *expr = aggregated;
        }
        ControlFlow::<()>::Continue(())
    });
}

fn aggregated(query: &datafusion::sql::sqlparser::ast::Query) -> Option<Expr> {
    let mut query = query.clone();
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return None;
    }
    let order_by = query.order_by.take();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let no_groups =
        matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty());
    if select.projection.len() != 1
        || !no_groups
        || select.having.is_some()
        || select.distinct.is_some()
    {
        return None;
    }
    let item = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. } => item,
        _ => return None,
    };
    let order_by = order_by
        .map(|order| format!(" {order}"))
        .unwrap_or_default();
    *item = parse_expr(&format!("array_agg({item}{order_by})"))?;
    parse_expr(&format!("coalesce(({query}), make_array())"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        rewrite(&mut statement);
        statement.to_string()
    }

    #[test]
    fn one_column_subqueries_become_aggregates() {
        assert_eq!(
            rewritten(
                "SELECT ARRAY(SELECT b.name FROM b WHERE b.id = a.id ORDER BY 1) AS names FROM a"
            ),
            "SELECT coalesce((SELECT array_agg(b.name ORDER BY 1) FROM b WHERE b.id = a.id), make_array()) AS names FROM a"
        );
        // Several columns, or a limit, stay as written.
        let two = "SELECT ARRAY(SELECT x, y FROM b)";
        assert_eq!(rewritten(two), two);
    }
}
