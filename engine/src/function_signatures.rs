//! The functions psql's `\df` calls on `pg_proc` rows: `pg_function_is_visible`,
//! `pg_get_function_result`, `pg_get_function_arguments` and
//! `pg_get_function_sqlbody`. Every function in `pg_proc` is one of PostgreSQL's
//! built-ins in `pg_catalog` (Floe has no user-defined functions), which is always on
//! the search path. The signatures are read from `pg_proc` and `pg_type` once, the first
//! time a statement calls these functions (the functions themselves cannot run queries).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, AsArray, BooleanArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::common::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};

use crate::error::Result;

/// What `pg_get_function_result` and `pg_get_function_arguments` say of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    result: String,
    arguments: String,
}

/// The signatures of the functions in `pg_proc` by oid, loaded once and shared by every
/// session of an engine.
#[derive(Debug, Clone, Default)]
pub struct FunctionSignatures(Arc<OnceLock<HashMap<i32, Signature>>>);

const FUNCTIONS: [&str; 4] = [
    "pg_function_is_visible",
    "pg_get_function_result",
    "pg_get_function_arguments",
    "pg_get_function_sqlbody",
];

impl FunctionSignatures {
    /// Whether `sql` calls one of the functions, so that the signatures must be loaded.
    pub fn needed_by(&self, sql: &str) -> bool {
        self.0.get().is_none() && {
            let lower = sql.to_ascii_lowercase();
            FUNCTIONS.iter().any(|name| lower.contains(name))
        }
    }

    /// Reads the signatures from `ctx`'s pg_catalog, unless done before.
    pub async fn load(&self, ctx: &SessionContext) -> Result<()> {
        if self.0.get().is_some() {
            return Ok(());
        }
        let mut type_names: HashMap<i32, String> = HashMap::new();
        let types = ctx
            .sql("SELECT oid, format_type(oid, NULL), typname FROM pg_catalog.pg_type")
            .await?
            .collect()
            .await?;
        for batch in &types {
            let oids = cast(batch.column(0), &DataType::Int32)?;
            let oids = oids.as_primitive::<Int32Type>();
            let formatted = cast(batch.column(1), &DataType::Utf8)?;
            let names = cast(batch.column(2), &DataType::Utf8)?;
            for row in 0..batch.num_rows() {
                // format_type knows the common types; the others go by their pg_type name
                // (PostgreSQL's own spelling for them: cstring, record, anyelement ...).
                let name = match formatted.as_string::<i32>().value(row) {
                    name if !name.starts_with("oid(") && !name.is_empty() => name,
                    _ => names.as_string::<i32>().value(row),
                };
                type_names.insert(oids.value(row), name.to_string());
            }
        }
        let type_name = |oid: &str| {
            oid.parse::<i32>()
                .ok()
                .and_then(|oid| type_names.get(&oid).cloned())
                .unwrap_or_else(|| "-".to_string())
        };
        let mut signatures = HashMap::new();
        let functions = ctx
            .sql("SELECT oid, prorettype, proretset, proargtypes FROM pg_catalog.pg_proc")
            .await?
            .collect()
            .await?;
        for batch in &functions {
            let oids = cast(batch.column(0), &DataType::Int32)?;
            let results = cast(batch.column(1), &DataType::Utf8)?;
            let sets = cast(batch.column(2), &DataType::Boolean)?;
            let arguments = cast(batch.column(3), &DataType::Utf8)?;
            let (results, sets, arguments) = (
                results.as_string::<i32>(),
                sets.as_boolean(),
                arguments.as_string::<i32>(),
            );
            for row in 0..batch.num_rows() {
                let result = type_name(results.value(row));
                let result = match sets.is_valid(row) && sets.value(row) {
                    true => format!("SETOF {result}"),
                    false => result,
                };
                let arguments = arguments
                    .value(row)
                    .split_whitespace()
                    .map(type_name)
                    .collect::<Vec<_>>()
                    .join(", ");
                let oid = oids.as_primitive::<Int32Type>().value(row);
                signatures.insert(oid, Signature { result, arguments });
            }
        }
        let _ = self.0.set(signatures);
        Ok(())
    }

    /// Registers the functions in `ctx`; they answer NULL for an oid that names no
    /// function, as PostgreSQL does.
    pub fn install(&self, ctx: &SessionContext) {
        for name in FUNCTIONS {
            let signatures = self.clone();
            let return_type = match name {
                "pg_function_is_visible" => DataType::Boolean,
                _ => DataType::Utf8,
            };
            ctx.register_udf(create_udf(
                name,
                // Oids are int32 in pg_catalog; int64 takes those and integer literals.
                vec![DataType::Int64],
                return_type,
                Volatility::Stable,
                Arc::new(move |args: &[ColumnarValue]| signatures.answer(name, args)),
            ));
        }
    }

    fn answer(
        &self,
        name: &str,
        args: &[ColumnarValue],
    ) -> datafusion::error::Result<ColumnarValue> {
        let oids = ColumnarValue::values_to_arrays(args)?;
        let oids = cast(&oids[0], &DataType::Int32)?;
        let oids = oids.as_primitive::<Int32Type>();
        let signatures = self.0.get().ok_or_else(|| {
            DataFusionError::Execution(format!("{name}: function signatures are not loaded"))
        })?;
        let found = |row: usize| {
            oids.is_valid(row)
                .then(|| signatures.get(&oids.value(row)))
                .flatten()
        };
        let rows = 0..oids.len();
        Ok(ColumnarValue::Array(match name {
            "pg_function_is_visible" => Arc::new(
                rows.map(|row| found(row).map(|_| true))
                    .collect::<BooleanArray>(),
            ),
            "pg_get_function_result" => Arc::new(
                rows.map(|row| found(row).map(|s| s.result.clone()))
                    .collect::<StringArray>(),
            ),
            "pg_get_function_arguments" => Arc::new(
                rows.map(|row| found(row).map(|s| s.arguments.clone()))
                    .collect::<StringArray>(),
            ),
            // Built-in functions have no SQL body (PostgreSQL: NULL; \df+ shows prosrc).
            _ => Arc::new(rows.map(|_| None::<String>).collect::<StringArray>()),
        }))
    }
}
