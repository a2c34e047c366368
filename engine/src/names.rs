//! Resolving SQL object names to Iceberg identifiers, the way DataFusion resolves them:
//! unquoted identifiers are case-folded to lower case, quoted ones are kept as written.

use datafusion::sql::sqlparser::ast::{Ident, ObjectName};
use iceberg::{NamespaceIdent, TableIdent};

use crate::error::{FloeError, Result};
use crate::warehouse::CATALOG_NAME;

pub fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn parts(name: &ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|part| {
            part.as_ident()
                .map(normalize)
                .ok_or_else(|| FloeError::syntax(format!("{name} is not a valid name")))
        })
        .collect()
}

/// `schema` or `floe.schema`.
pub fn schema_name(name: &ObjectName) -> Result<NamespaceIdent> {
    match parts(name)?.as_slice() {
        [schema] => Ok(NamespaceIdent::new(schema.clone())),
        [catalog, schema] if catalog == CATALOG_NAME => Ok(NamespaceIdent::new(schema.clone())),
        _ => Err(FloeError::syntax(format!(
            "{name} is not a schema name; use <schema> or {CATALOG_NAME}.<schema>"
        ))),
    }
}

/// `table`, `schema.table` or `floe.schema.table`; unqualified names are in `default_schema`.
pub fn table_name(name: &ObjectName, default_schema: &str) -> Result<TableIdent> {
    let (schema, table) = match parts(name)?.as_slice() {
        [table] => (default_schema.to_string(), table.clone()),
        [schema, table] => (schema.clone(), table.clone()),
        [catalog, schema, table] if catalog == CATALOG_NAME => (schema.clone(), table.clone()),
        _ => {
            return Err(FloeError::syntax(format!(
                "{name} is not a table name; use <table>, <schema>.<table> or \
                 {CATALOG_NAME}.<schema>.<table>"
            )));
        }
    };
    Ok(TableIdent::new(NamespaceIdent::new(schema), table))
}

/// How a table identifier is written back in SQL: `schema.table`, quoting where needed.
pub fn display_table(ident: &TableIdent) -> String {
    format!(
        "{}.{}",
        quote(&ident.namespace().join(".")),
        quote(ident.name())
    )
}

/// Quotes an identifier unless it reads back unchanged without quotes.
pub fn quote(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}
