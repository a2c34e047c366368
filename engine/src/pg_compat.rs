//! What PostgreSQL clients expect to find besides the user's tables: the `pg_catalog`
//! schema (tables built from the live catalog by `datafusion-pg-catalog`), PostgreSQL's
//! catalog functions, a PostgreSQL-shaped `version()`, and rewrites of the PostgreSQL
//! idioms in client queries (`::regclass`, `OPERATOR(pg_catalog.~)`, `pg_catalog.` names)
//! into SQL DataFusion plans.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, BinaryOperator, DataType as SqlDataType, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Query, Select, SelectItem,
    SetExpr, Statement as SqlStatement, Subscript, TableFactor, Value, VisitMut, VisitorMut,
    visit_expressions, visit_expressions_mut,
};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_pg_catalog::sql::rules::{self, SqlStatementRewriteRule};

use crate::error::{FloeError, Result};
use crate::session_user::{self, Roles};
use crate::settings::version_string;
use crate::warehouse::CATALOG_NAME;

static COMPATIBILITY: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// The compatibility parser's rewrite rules, in its order, without
/// `RemoveSubqueryFromProjection`: that rule turns every correlated scalar subquery in a
/// SELECT list into NULL, a wrong answer where DataFusion can plan the subquery (and
/// `aggregate_scalar_subqueries` makes catalog queries' subqueries plannable).
static RULES: LazyLock<Vec<Box<dyn SqlStatementRewriteRule>>> = LazyLock::new(|| {
    vec![
        Box::new(rules::AliasDuplicatedProjectionRewrite),
        Box::new(rules::ResolveUnqualifiedIdentifer),
        Box::new(rules::RewriteArrayAnyAllOperation),
        Box::new(rules::PrependUnqualifiedPgTableName),
        Box::new(rules::RemoveQualifier),
        Box::new(rules::RewriteRegclassCastToSubquery::new()),
        Box::new(rules::RemoveUnsupportedTypes::new()),
        Box::new(rules::FixArrayLiteral),
        Box::new(rules::CurrentUserVariableToSessionUserFunctionCall),
        Box::new(rules::FixCollate),
        Box::new(rules::FixVersionColumnName),
    ]
});

fn apply_rules(statement: SqlStatement) -> SqlStatement {
    RULES
        .iter()
        .fold(statement, |statement, rule| rule.rewrite(statement))
}

/// Registers `pg_catalog` in Floe's catalog and the PostgreSQL functions in `ctx`.
pub fn install(ctx: &SessionContext, roles: Roles) -> Result<()> {
    datafusion_pg_catalog::setup_pg_catalog(ctx, CATALOG_NAME, roles)
        .map_err(|err| FloeError::from(*err))?;
    if let Some(catalog) = ctx.catalog(CATALOG_NAME) {
        crate::pg_attribute::install(&catalog)?;
    }
    crate::pg_functions::install(ctx);
    ctx.register_udf(ScalarUDF::new_from_impl(
        crate::expand_array::ExpandArray::new(),
    ));
    let version = create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version_string(),
            ))))
        }),
    );
    ctx.register_udf(version);
    for (name, arguments) in [
        ("col_description", 2),
        ("obj_description", 1),
        ("obj_description", 2),
        ("shobj_description", 2),
        ("pg_get_indexdef", 1),
        ("pg_get_indexdef", 3),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(NothingToDescribe::new(
            name, arguments,
        )));
    }
    Ok(())
}

/// PostgreSQL's comment and index-definition lookups. Floe keeps no comments on tables
/// or columns and its tables have no indexes, so there is never a description: the
/// functions return NULL, as PostgreSQL does for an object without a comment and for an
/// oid that is no index.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NothingToDescribe {
    name: &'static str,
    signature: Signature,
}

impl NothingToDescribe {
    fn new(name: &'static str, arguments: usize) -> Self {
        Self {
            name,
            signature: Signature::any(arguments, Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for NothingToDescribe {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        _args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))
    }
}

/// Rewrites PostgreSQL idioms DataFusion does not plan into equivalents it does.
pub fn rewrite(mut statement: SqlStatement) -> SqlStatement {
    session_user::name_columns(&mut statement);
    let mut statement = apply_rules(statement);
    rewrite_functions(&mut statement);
    crate::array_subquery::rewrite(&mut statement);
    let _ = visit_expressions_mut(&mut statement, |expr| {
        crate::uuid_text::rewrite_cast(expr);
        crate::bytea_text::rewrite_cast(expr);
        ControlFlow::<()>::Continue(())
    });
    statement
}

/// Rewrites of expressions DataFusion cannot plan as they are: `LIKE ... ESCAPE 'c'` with
/// an escape character other than backslash (SQLAlchemy's schema listing),
/// `to_regtype(name)` (psycopg's type lookup) and `generate_subscripts(array, 1)`.
fn rewrite_functions(statement: &mut SqlStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        match expr {
            Expr::Like {
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                pattern,
                escape_char,
                ..
            } => {
                if let Some(escape) = escape_char.as_ref().and_then(escape_text)
                    && escape != "\\"
                    && let Some(rewritten) = parse_expr(&format!(
                        "replace(replace({pattern}, '\\', '\\\\'), '{}', '\\')",
                        escape.replace('\'', "''")
                    ))
                {
                    // The escape character becomes a backslash (existing backslashes are
                    // escaped first); a doubled escape character is not special-cased.
                    **pattern = rewritten;
                    *escape_char = None;
                }
            }
            Expr::Function(function)
                if function.name.to_string().eq_ignore_ascii_case("to_regtype")
                    || function
                        .name
                        .to_string()
                        .eq_ignore_ascii_case("pg_catalog.to_regtype") =>
            {
                if let FunctionArguments::List(list) = &function.args
                    && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(name))] =
                        list.args.as_slice()
                    && let Some(lookup) = parse_expr(&format!(
                        "(SELECT max(oid) FROM pg_catalog.pg_type WHERE typname = {name})"
                    ))
                {
                    // max(): one row (NULL) when the name is no type, where a plain
                    // scalar subquery over no rows would drop the outer row.
                    *expr = lookup;
                }
            }
            // A parameter passed to a catalog function takes the type of PostgreSQL's
            // argument (DataFusion infers no types for function arguments).
            Expr::Function(function) if catalog_argument_types(function).is_some() => {
                let types = catalog_argument_types(function).unwrap_or_default();
                if let FunctionArguments::List(list) = &mut function.args {
                    for (argument, ty) in list.args.iter_mut().zip(types) {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(value)) = argument
                            && matches!(value, Expr::Value(v) if matches!(v.value, Value::Placeholder(_)))
                            && let Some(typed) = parse_expr(&format!("CAST({value} AS {ty})"))
                        {
                            *value = typed;
                        }
                    }
                }
            }
            // `(composite).field`, PostgreSQL's field of a row value, is DataFusion's
            // `struct['field']`.
            Expr::CompoundFieldAccess { access_chain, .. } => {
                for access in access_chain {
                    if let AccessExpr::Dot(Expr::Identifier(field)) = access {
                        *access = AccessExpr::Subscript(Subscript::Index {
                            index: Expr::Value(
                                Value::SingleQuotedString(field.value.clone()).into(),
                            ),
                        });
                    }
                }
            }
            // A set-returning function: its rows come from unnest.
            Expr::Function(function) if crate::expand_array::is_expand_array(function) => {
                if let Some(unnested) = crate::expand_array::unnested(function) {
                    *expr = unnested;
                }
            }
            // Access privileges (`proacl`, `relacl`, ...) are aclitem[] in PostgreSQL but
            // text in datafusion-pg-catalog's tables (NULL: the default privileges), so
            // psql's `array_to_string(p.proacl, E'\n')` (\df+) is the text itself.
            Expr::Function(function) if names_function(function, "array_to_string") => {
                if let FunctionArguments::List(list) = &function.args
                    && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(column)), ..] =
                        list.args.as_slice()
                    && is_acl_column(column)
                {
                    *expr = column.clone();
                }
            }
            // PostgreSQL's subscripts of an array, a set-returning function DataFusion
            // lacks: as an unnest of 1..n it pairs row by row with an unnest of the same
            // array in the same SELECT list (SQLAlchemy's key-column reflection).
            Expr::Function(function) if names_function(function, "generate_subscripts") => {
                if let FunctionArguments::List(list) = &function.args
                    && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array)), ..] =
                        list.args.as_slice()
                    && let Some(subscripts) = parse_expr(&format!(
                        "unnest(range(1, CAST(cardinality({array}) AS BIGINT) + 1))"
                    ))
                {
                    *expr = subscripts;
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}

/// A catalog column of access privileges: `relacl`, `p.proacl`, `nspacl` ...
fn is_acl_column(expr: &Expr) -> bool {
    let name = match expr {
        Expr::Identifier(ident) => ident,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(last) => last,
            None => return false,
        },
        _ => return false,
    };
    let name = name.value.to_ascii_lowercase();
    name.len() > 3 && name.ends_with("acl")
}

/// PostgreSQL's argument types of the catalog functions clients pass parameters to.
fn catalog_argument_types(function: &Function) -> Option<&'static [&'static str]> {
    const SIGNATURES: [(&str, &[&str]); 4] = [
        ("pg_get_constraintdef", &["INT", "BOOLEAN"]),
        ("pg_get_indexdef", &["INT", "INT", "BOOLEAN"]),
        ("pg_get_expr", &["TEXT", "INT", "BOOLEAN"]),
        ("pg_get_viewdef", &["INT", "BOOLEAN"]),
    ];
    SIGNATURES
        .iter()
        .find(|(name, _)| names_function(function, name))
        .map(|(_, types)| *types)
}

fn escape_text(value: &Value) -> Option<String> {
    match value {
        Value::SingleQuotedString(text) | Value::EscapedStringLiteral(text) => Some(text.clone()),
        _ => None,
    }
}

pub(crate) fn parse_expr(sql: &str) -> Option<Expr> {
    datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
    )
    .try_with_sql(sql)
    .ok()?
    .parse_expr()
    .ok()
}

/// Catalog queries from clients (psql's `\d`, drivers' introspection) are parsed with the
/// PostgreSQL dialect and the compatibility parser, which also swaps a few known client
/// queries for equivalents. `None` when `sql` is not such a query; the caller then parses
/// it the ordinary way. `search_path` decides which tables `pg_table_is_visible` sees.
pub fn parse_catalog_query(sql: &str, search_path: &str) -> Option<Vec<SqlStatement>> {
    if !sql.to_ascii_lowercase().contains("pg_") {
        return None;
    }
    let mut statements = parse_compatible(sql)?;
    for statement in &mut statements {
        drop_toast_options(statement);
        rewrite_functions(statement);
        crate::array_subquery::rewrite(statement);
        crate::pg_regproc::rewrite(statement);
        strip_object_casts(statement);
        oid_arrays(statement);
        crate::pg_recursive::reshape(statement);
        aggregate_scalar_subqueries(statement);
        let _ = statement.visit(&mut UnplannableSubqueries);
        table_visibility(statement, search_path);
    }
    let all_queries = !statements.is_empty()
        && statements
            .iter()
            .all(|s| matches!(s, SqlStatement::Query(_)));
    all_queries.then_some(statements)
}

/// `sql` parsed as the compatibility parser does (which swaps a few known client queries
/// that DataFusion cannot plan for equivalents), but rewritten with [`RULES`]. The
/// parser applies its own rules too, so each statement is also parsed plainly: where
/// the parser's rules on the plain statement give what the parser gave, no client query
/// was swapped and Floe's rules apply to the plain statement instead.
fn parse_compatible(sql: &str) -> Option<Vec<SqlStatement>> {
    let swapped = COMPATIBILITY.parse(sql).ok()?;
    let Ok(plain) = datafusion::sql::sqlparser::parser::Parser::parse_sql(
        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
        sql,
    ) else {
        return Some(swapped);
    };
    if plain.len() != swapped.len() {
        return Some(swapped);
    }
    Some(
        plain
            .into_iter()
            .zip(swapped)
            .map(|(plain, swapped)| {
                if COMPATIBILITY.rewrite(plain.clone()).to_string() == swapped.to_string() {
                    let mut plain = plain;
                    // Before the rules, which rename current_user.
                    session_user::name_columns(&mut plain);
                    // Before the rules, which drop casts to regtype.
                    type_names(&mut plain);
                    relation_lookups(&mut plain);
                    apply_rules(plain)
                } else {
                    swapped
                }
            })
            .collect(),
    )
}

/// `array_agg` of an oid column (`oid`, `atttypid`, ...) is PostgreSQL's `oid[]`: the
/// catalog's Int32 oids are aggregated as unsigned 32-bit integers, which the server
/// describes as `oid[]` (asyncpg's introspection reads composite types' attribute types
/// so, and knows `oid[]` without introspecting it).
fn oid_arrays(statement: &mut SqlStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && names_function(function, "array_agg")
            && let FunctionArguments::List(list) = &mut function.args
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(argument))) =
                list.args.first_mut()
            && is_oid_column(argument)
        {
            *argument = Expr::Cast {
                kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
                expr: Box::new(argument.clone()),
                data_type: SqlDataType::IntUnsigned(None),
                array: false,
                format: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

fn is_oid_column(expr: &Expr) -> bool {
    let name = match expr {
        Expr::Identifier(name) => &name.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(last) => &last.value,
            None => return false,
        },
        _ => return false,
    };
    let name = name.to_ascii_lowercase();
    name == "oid" || name.ends_with("typid")
}

/// `CAST('schema.name' AS regclass)`, a literal or a parameter (SQLAlchemy binds
/// 'pg_catalog.pg_constraint'), is the relation's oid, looked up qualified or not.
fn relation_lookups(statement: &mut SqlStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            data_type,
            expr: inner,
            ..
        } = expr
            && data_type
                .to_string()
                .to_ascii_lowercase()
                .trim_start_matches("pg_catalog.")
                == "regclass"
            && matches!(inner.as_ref(), Expr::Value(_))
            && let Some(lookup) = parse_expr(&format!(
                "(SELECT max(c.oid) FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relname = CAST({inner} AS TEXT) \
                 OR n.nspname || '.' || c.relname = CAST({inner} AS TEXT))"
            ))
        {
            *expr = lookup;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `oid::regtype::text` is the type's name as `format_type` spells it (asyncpg names the
/// base and element types so); the casts alone would leave the number.
fn type_names(statement: &mut SqlStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            data_type: outer,
            expr: inner,
            ..
        } = expr
            && matches!(outer, SqlDataType::Text)
            && let Expr::Cast {
                data_type: regtype,
                expr: oid,
                ..
            } = inner.as_ref()
            && regtype
                .to_string()
                .to_ascii_lowercase()
                .trim_start_matches("pg_catalog.")
                == "regtype"
            && let Some(name) = parse_expr(&format!("pg_catalog.format_type({oid}, NULL)"))
        {
            *expr = name;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Casts to PostgreSQL's object-identifier types (`regclass`, `oid`, ...) that are left
/// after the compatibility rewrites, which drop only the outer one of nested casts such as
/// SQLAlchemy's `CAST(CAST(x AS REGCLASS) AS OID)`. Floe's oids are plain integers, so the
/// cast is dropped and the value kept. Expressions are visited innermost first.
///
/// An array of oids (asyncpg's `$1::oid[]`) is kept an array: of unsigned 32-bit
/// integers, PostgreSQL's oid, which the server describes as `oid[]`.
fn strip_object_casts(statement: &mut SqlStatement) {
    const OBJECT_TYPES: [&str; 6] = [
        "regclass",
        "regtype",
        "regproc",
        "regprocedure",
        "regnamespace",
        "oid",
    ];
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast {
            data_type: SqlDataType::Array(ArrayElemTypeDef::SquareBracket(element, _)),
            ..
        } = expr
            && element.to_string().eq_ignore_ascii_case("oid")
        {
            **element = SqlDataType::IntUnsigned(None);
        } else if let Expr::Cast {
            data_type,
            expr: inner,
            ..
        } = expr
        {
            let name = data_type.to_string().to_ascii_lowercase();
            let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
            if OBJECT_TYPES.contains(&name) {
                *expr = std::mem::replace(inner.as_mut(), Expr::Value(Value::Null.into()));
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// A scalar subquery of a catalog query returns at most one row (PostgreSQL fails the
/// query otherwise), but DataFusion plans a correlated one only when it is aggregated and
/// its WHERE has no condition on the outer row alone: `(SELECT x FROM t WHERE outer.c AND
/// t.k = outer.k)` becomes `CASE WHEN outer.c THEN (SELECT max(x) FROM t WHERE t.k =
/// outer.k) END`, which is the same value for zero or one row.
fn aggregate_scalar_subqueries(statement: &mut SqlStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        // An ordered subquery picks its row (ORDER BY ... LIMIT 1): max() would not.
        if let Expr::Subquery(query) = expr
            && query.order_by.is_none()
            && let SetExpr::Select(select) = query.body.as_mut()
            && select.projection.len() == 1
            && matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty())
            && select.having.is_none()
        {
            // `WHERE ... AND x = NULL` finds no row: the subquery is NULL. Floe has no
            // sequences, so pg_get_serial_sequence() is NULL (SQLAlchemy's identity lookup).
            if select
                .selection
                .clone()
                .is_some_and(|selection| conjuncts(selection).iter().any(is_equal_to_null))
            {
                *expr = Expr::Value(Value::Null.into());
                return ControlFlow::Continue(());
            }
            let item = match &mut select.projection[0] {
                SelectItem::UnnamedExpr(item) => item,
                SelectItem::ExprWithAlias { expr: item, .. } => item,
                _ => return ControlFlow::Continue(()),
            };
            if has_aggregate(item) {
                return ControlFlow::Continue(());
            }
            let Some(aggregated) = parse_expr(&format!("max({item})")) else {
                return ControlFlow::Continue(());
            };
            *item = aggregated;
            let inner = from_relation_names(select);
            let mut outer_only = Vec::new();
            if let Some(selection) = select.selection.take() {
                let mut kept = Vec::new();
                for condition in conjuncts(selection) {
                    if on_outer_row_only(&condition, &inner) {
                        outer_only.push(condition);
                    } else {
                        kept.push(condition);
                    }
                }
                select.selection = and_all(kept);
            }
            if let Some(condition) = and_all(outer_only) {
                *expr = Expr::Case {
                    case_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    end_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                    operand: None,
                    conditions: vec![datafusion::sql::sqlparser::ast::CaseWhen {
                        condition,
                        result: expr.clone(),
                    }],
                    else_result: None,
                };
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// A scalar subquery in a catalog query's SELECT list whose WHERE compares the outer row
/// with its own rows other than by equality (psql's `\d`: `a.attcollation <>
/// t.typcollation`) is one DataFusion cannot plan; it becomes NULL, as
/// datafusion-pg-catalog's `RemoveSubqueryFromProjection` makes every correlated one, so
/// that the rest of the catalog query answers. Subqueries DataFusion plans keep their
/// values.
struct UnplannableSubqueries;

impl VisitorMut for UnplannableSubqueries {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item
                    && let Expr::Subquery(subquery) = expr
                    && compares_outer_row_unequally(subquery)
                {
                    *expr = Expr::Value(Value::Null.into());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

fn compares_outer_row_unequally(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    let inner = from_relation_names(select);
    let Some(selection) = select.selection.clone() else {
        return false;
    };
    conjuncts(selection).iter().any(|condition| {
        let (mut inner_side, mut outer_side) = (false, false);
        let _ = visit_expressions(condition, |e| {
            if let Expr::CompoundIdentifier(parts) = e
                && parts.len() >= 2
            {
                let relation = parts[parts.len() - 2].value.to_ascii_lowercase();
                if inner.contains(&relation) {
                    inner_side = true;
                } else {
                    outer_side = true;
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let equality = matches!(
            condition,
            Expr::BinaryOp {
                op: BinaryOperator::Eq,
                ..
            }
        );
        inner_side && outer_side && !equality
    })
}

/// The names the relations in a SELECT's FROM (joins included) are referred to by.
pub(crate) fn from_relation_names(select: &Select) -> Vec<String> {
    select
        .from
        .iter()
        .flat_map(|from| {
            std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation))
        })
        .filter_map(relation_name)
        .collect()
}

/// The name a relation in FROM is referred to by: its alias, else its table name.
pub(crate) fn relation_name(relation: &TableFactor) -> Option<String> {
    match relation {
        TableFactor::Table { name, alias, .. } => Some(match alias {
            Some(alias) => alias.name.value.to_ascii_lowercase(),
            None => name.0.last()?.to_string().to_ascii_lowercase(),
        }),
        _ => None,
    }
}

pub(crate) fn conjuncts(expr: Expr) -> Vec<Expr> {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let mut all = conjuncts(*left);
            all.extend(conjuncts(*right));
            all
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner)
        }
        other => vec![other],
    }
}

/// Whether `function` is `name`, schema-qualified or not, in any case.
fn names_function(function: &Function, name: &str) -> bool {
    function
        .name
        .to_string()
        .to_ascii_lowercase()
        .ends_with(name)
}

fn is_equal_to_null(condition: &Expr) -> bool {
    let null = |e: &Expr| match e {
        Expr::Value(v) => v.value == Value::Null,
        Expr::Function(function) => names_function(function, "pg_get_serial_sequence"),
        _ => false,
    };
    matches!(condition, Expr::BinaryOp { left, op: BinaryOperator::Eq, right }
        if null(left) || null(right))
}

pub(crate) fn and_all(conditions: Vec<Expr>) -> Option<Expr> {
    conditions.into_iter().reduce(|left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: BinaryOperator::And,
        right: Box::new(right),
    })
}

/// Whether `condition` names only columns qualified by relations other than `inner` (so
/// it is about the outer row); an unqualified column or a subquery could be inner.
fn on_outer_row_only(condition: &Expr, inner: &[String]) -> bool {
    let mut qualified = 0;
    let outer = visit_expressions(condition, |e| match e {
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
            let relation = parts[parts.len() - 2].value.to_ascii_lowercase();
            qualified += 1;
            if inner.contains(&relation) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        }
        Expr::Identifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    outer.is_continue() && qualified > 0
}

fn has_aggregate(expr: &Expr) -> bool {
    const AGGREGATES: [&str; 14] = [
        "count",
        "first_value",
        "last_value",
        "max",
        "min",
        "sum",
        "avg",
        "array_agg",
        "string_agg",
        "bool_and",
        "bool_or",
        "every",
        "json_agg",
        "jsonb_agg",
    ];
    let mut found = false;
    let _ = visit_expressions(expr, |e| {
        if let Expr::Function(function) = e {
            let name = function.name.to_string().to_ascii_lowercase();
            let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
            if AGGREGATES.contains(&name) {
                found = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

/// psql's `\d+` reads the table's storage options, with those of its TOAST table:
/// `array_to_string(c.reloptions || array(select 'toast.' || x from
/// unnest(tc.reloptions) x), ', ')`. Floe tables have neither storage options nor a
/// TOAST table, so the value is NULL; DataFusion cannot plan `array(subquery)`, and
/// pg_class has no reloptions column, so the expression is replaced by that NULL.
fn drop_toast_options(statement: &mut SqlStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && names_function(function, "array_to_string")
            && let FunctionArguments::List(list) = &function.args
            && list.args.iter().any(|arg| {
                matches!(arg, FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::BinaryOp {
                    op: BinaryOperator::StringConcat,
                    right,
                    ..
                })) if is_toast_options(right))
            })
        {
            *expr = Expr::Value(Value::Null.into());
        }
        ControlFlow::<()>::Continue(())
    });
}

fn is_toast_options(expr: &Expr) -> bool {
    let Expr::Function(function) = expr else {
        return false;
    };
    if !function.name.to_string().eq_ignore_ascii_case("array") {
        return false;
    }
    let FunctionArguments::Subquery(query) = &function.args else {
        return false;
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return false;
    };
    select.from.iter().any(|table| {
        let relation = table.relation.to_string().to_ascii_lowercase();
        relation.contains("unnest(") && relation.contains("reloptions")
    })
}

/// `pg_table_is_visible(rel.oid)` becomes "the relation's schema is on the search path
/// (or is pg_catalog)", so that psql's `\dt` and drivers' table listings show the tables
/// an unqualified name would find, as in PostgreSQL.
fn table_visibility(statement: &mut SqlStatement, search_path: &str) {
    let schemas: Vec<String> = std::iter::once("pg_catalog".to_string())
        .chain(
            search_path
                .split(',')
                .map(|s| s.trim().trim_matches('"').to_string())
                .filter(|s| !s.is_empty() && s != "$user"),
        )
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .collect();
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && names_function(function, "pg_table_is_visible")
            && let FunctionArguments::List(list) = &function.args
            && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::CompoundIdentifier(parts)))] =
                list.args.as_slice()
            && parts
                .last()
                .is_some_and(|last| last.value.eq_ignore_ascii_case("oid"))
        {
            let relation: Vec<String> = parts[..parts.len() - 1]
                .iter()
                .map(|part| part.to_string())
                .collect();
            if let Some(visible) = parse_expr(&format!(
                "{}.relnamespace IN (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname IN ({}))",
                relation.join("."),
                schemas.join(", ")
            )) {
                *expr = Expr::Nested(Box::new(visible));
            }
        }
        ControlFlow::<()>::Continue(())
    });
}
