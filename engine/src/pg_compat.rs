//! What PostgreSQL clients expect to find besides the user's tables: the `pg_catalog`
//! schema (tables built from the live catalog by `datafusion-pg-catalog`), PostgreSQL's
//! catalog functions, a PostgreSQL-shaped `version()`, and rewrites of the PostgreSQL
//! idioms in client queries (`::regclass`, `OPERATOR(pg_catalog.~)`, `pg_catalog.` names)
//! into SQL DataFusion plans.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use crate::error::{FloeError, Result};
use crate::settings::version_string;
use crate::warehouse::CATALOG_NAME;

static COMPATIBILITY: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// Registers `pg_catalog` in Floe's catalog and the PostgreSQL functions in `ctx`.
pub fn install(ctx: &SessionContext) -> Result<()> {
    datafusion_pg_catalog::setup_pg_catalog(ctx, CATALOG_NAME, EmptyContextProvider)
        .map_err(|err| FloeError::from(*err))?;
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
    Ok(())
}

/// Rewrites PostgreSQL idioms DataFusion does not plan into equivalents it does.
pub fn rewrite(statement: SqlStatement) -> SqlStatement {
    COMPATIBILITY.rewrite(statement)
}

/// Catalog queries from clients (psql's `\d`, drivers' introspection) are parsed with the
/// PostgreSQL dialect and the compatibility parser, which also swaps a few known client
/// queries for equivalents. `None` when `sql` is not such a query; the caller then parses
/// it the ordinary way.
pub fn parse_catalog_query(sql: &str) -> Option<Vec<SqlStatement>> {
    if !sql.to_ascii_lowercase().contains("pg_") {
        return None;
    }
    let statements = COMPATIBILITY.parse(sql).ok()?;
    let all_queries = !statements.is_empty()
        && statements
            .iter()
            .all(|s| matches!(s, SqlStatement::Query(_)));
    all_queries.then_some(statements)
}
