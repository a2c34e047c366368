//! Recursive CTEs in client catalog queries, reshaped so DataFusion plans them.
//!
//! asyncpg's type introspection walks a domain's chain of base types with a recursive
//! CTE inside a scalar subquery correlated to the outer type row, and names the columns
//! of its outer recursive CTE in a column list. DataFusion plans neither: a correlated
//! subquery cannot contain a recursive CTE, and the rows a recursive term reads keep the
//! static term's own column names rather than the CTE's column list.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Ident, OrderByKind, Query, SelectItem, SetExpr, SetOperator,
    SetQuantifier, Statement, TableAliasColumnDef, TableFactor, visit_expressions_mut,
    visit_statements_mut,
};

use crate::pg_compat::{and_all, conjuncts, from_relation_names, relation_name};

/// The column that carries, through the recursion, the row each walk started from.
const START: &str = "floe_walk_start";

/// Applies both reshapings to every query in `statement`.
pub fn reshape(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Subquery(query) = expr {
            uncorrelate_walk(query);
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_statements_mut(statement, |statement| {
        if let Statement::Query(query) = statement {
            name_static_columns(query);
        }
        ControlFlow::<()>::Continue(())
    });
    // Subqueries hold queries the statement visitor does not reach.
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Subquery(query) = expr {
            name_static_columns(query);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `WITH RECURSIVE walk(a, b) AS (SELECT x, y ... UNION ALL ...)`: the static term's
/// columns take the names of the column list (`SELECT x AS a, y AS b`), so that the
/// recursive term finds them by those names.
fn name_static_columns(query: &mut Query) {
    let Some(with) = &mut query.with else {
        return;
    };
    if !with.recursive {
        return;
    }
    for cte in &mut with.cte_tables {
        if cte.alias.columns.is_empty() {
            continue;
        }
        let Some(select) = static_term(&mut cte.query.body) else {
            continue;
        };
        if select.projection.len() != cte.alias.columns.len() {
            continue;
        }
        for (item, column) in select.projection.iter_mut().zip(&cte.alias.columns) {
            let expr = match item {
                SelectItem::UnnamedExpr(expr) => expr.clone(),
                SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
                _ => return,
            };
            *item = SelectItem::ExprWithAlias {
                expr,
                alias: column.name.clone(),
            };
        }
    }
}

/// The static (first) term of a recursive CTE's `UNION [ALL]`.
fn static_term(body: &mut SetExpr) -> Option<&mut datafusion::sql::sqlparser::ast::Select> {
    match body {
        SetExpr::SetOperation {
            op: SetOperator::Union,
            left,
            ..
        } => match left.as_mut() {
            SetExpr::Select(select) => Some(select),
            _ => None,
        },
        _ => None,
    }
}

/// A scalar subquery that starts a recursive walk at the outer row and picks one row of
/// it:
///
/// ```sql
/// (WITH RECURSIVE walk(c) AS (SELECT s.c FROM s WHERE s.k = outer.k
///                             UNION ALL SELECT ... FROM s, walk w WHERE ...)
///  SELECT c FROM walk ORDER BY d DESC LIMIT 1)
/// ```
///
/// becomes an uncorrelated walk from every row of `s`, carrying the key it started from,
/// and an aggregate that picks the same row for the outer row's key:
///
/// ```sql
/// (WITH RECURSIVE walk(start, c) AS (SELECT s.k, s.c FROM s
///                                    UNION ALL SELECT w.start, ... FROM s, walk w WHERE ...)
///  SELECT first_value(c ORDER BY d DESC) FROM walk WHERE start = outer.k)
/// ```
fn uncorrelate_walk(query: &mut Query) {
    let _ = try_uncorrelate_walk(query);
}

fn try_uncorrelate_walk(query: &mut Query) -> Option<()> {
    let with = query.with.as_mut()?;
    if !with.recursive || with.cte_tables.len() != 1 {
        return None;
    }
    // The final SELECT: one column from the walk, ordered, one row.
    let one_row = matches!(
        &query.limit_clause,
        Some(datafusion::sql::sqlparser::ast::LimitClause::LimitOffset {
            limit: Some(Expr::Value(value)),
            offset: None,
            ..
        }) if value.to_string() == "1"
    );
    let order = match &query.order_by.as_ref()?.kind {
        OrderByKind::Expressions(order) if !order.is_empty() => order
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        _ => return None,
    };
    let SetExpr::Select(last) = query.body.as_ref() else {
        return None;
    };
    let cte = &with.cte_tables[0];
    let walk = cte.alias.name.value.to_ascii_lowercase();
    if !one_row
        || last.projection.len() != 1
        || last.from.len() != 1
        || !last.from[0].joins.is_empty()
        || relation_name(&last.from[0].relation)? != walk
        || last.selection.is_some()
    {
        return None;
    }
    let picked = match &last.projection[0] {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr.clone(),
        _ => return None,
    };

    // The static term: its one condition tying a relation of its own to the outer row.
    let cte = &mut with.cte_tables[0];
    let (start_term, recursive_term) = match cte.query.body.as_mut() {
        SetExpr::SetOperation {
            op: SetOperator::Union,
            set_quantifier: SetQuantifier::All,
            left,
            right,
        } => match (left.as_mut(), right.as_mut()) {
            (SetExpr::Select(start), SetExpr::Select(recursive)) => (start, recursive),
            _ => return None,
        },
        _ => return None,
    };
    let inner = from_relation_names(start_term);
    let mut conditions = conjuncts(start_term.selection.take()?);
    let tie = conditions
        .iter()
        .position(|condition| inner_and_outer(condition, &inner).is_some())?;
    let (inner_key, outer_key) = inner_and_outer(&conditions.remove(tie), &inner)?;
    start_term.selection = and_all(conditions);
    start_term.projection.insert(
        0,
        SelectItem::ExprWithAlias {
            expr: inner_key,
            alias: Ident::new(START),
        },
    );

    // The recursive term passes the start on from the walk's previous row.
    let previous = recursive_term
        .from
        .iter()
        .flat_map(|from| {
            std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation))
        })
        .find_map(|relation| match relation {
            TableFactor::Table { name, alias, .. }
                if name.to_string().to_ascii_lowercase() == walk =>
            {
                Some(
                    alias
                        .as_ref()
                        .map_or(walk.clone(), |a| a.name.value.clone()),
                )
            }
            _ => None,
        })?;
    recursive_term.projection.insert(
        0,
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(vec![
            Ident::new(previous),
            Ident::new(START),
        ])),
    );
    if !cte.alias.columns.is_empty() {
        cte.alias.columns.insert(
            0,
            TableAliasColumnDef {
                name: Ident::new(START),
                data_type: None,
            },
        );
    }

    let SetExpr::Select(last) = query.body.as_mut() else {
        return None;
    };
    last.projection = vec![SelectItem::UnnamedExpr(crate::pg_compat::parse_expr(
        &format!("first_value({picked} ORDER BY {order})"),
    )?)];
    last.selection = Some(Expr::BinaryOp {
        left: Box::new(Expr::Identifier(Ident::new(START))),
        op: BinaryOperator::Eq,
        right: Box::new(outer_key),
    });
    query.order_by = None;
    query.limit_clause = None;
    Some(())
}

/// For `a.x = b.y` where exactly one side is qualified by a relation in `inner`: that
/// side and the other (the outer row's).
fn inner_and_outer(condition: &Expr, inner: &[String]) -> Option<(Expr, Expr)> {
    let Expr::BinaryOp {
        left,
        op: BinaryOperator::Eq,
        right,
    } = condition
    else {
        return None;
    };
    let qualifier = |expr: &Expr| match expr {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            Some(parts[parts.len() - 2].value.to_ascii_lowercase())
        }
        _ => None,
    };
    let (left_qualifier, right_qualifier) = (qualifier(left)?, qualifier(right)?);
    match (
        inner.contains(&left_qualifier),
        inner.contains(&right_qualifier),
    ) {
        (true, false) => Some((left.as_ref().clone(), right.as_ref().clone())),
        (false, true) => Some((right.as_ref().clone(), left.as_ref().clone())),
        _ => None,
    }
}
