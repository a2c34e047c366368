//! `pg_index` and `pg_constraint`. Iceberg tables have no indexes and no constraints
//! besides NOT NULL (which `pg_attribute` shows), so both are empty; datafusion-pg-catalog's
//! copies hold a PostgreSQL database's own system indexes and constraints instead, with
//! their column lists as text. Clients that reflect a table (SQLAlchemy's
//! `Table(..., autoload_with=engine)`) `unnest` those lists, so here they have PostgreSQL's
//! array types: `int2vector` and `smallint[]` as arrays of Int16, `oidvector` and `oid[]`
//! as arrays of Int32 (the catalog's oids).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::Result as DFResult;

/// The empty table to serve for `name`, given datafusion-pg-catalog's `table`; `None` for
/// other tables.
pub fn empty_table(
    name: &str,
    table: &Arc<dyn TableProvider>,
) -> Option<DFResult<Arc<dyn TableProvider>>> {
    let array_type = array_columns(name)?;
    let fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|field| match array_type(field.name()) {
            Some(element) => Field::new(
                field.name(),
                DataType::List(Arc::new(Field::new_list_field(element, true))),
                true,
            ),
            None => field.as_ref().clone(),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    Some(
        MemTable::try_new(schema, vec![vec![]])
            .map(|table| Arc::new(table) as Arc<dyn TableProvider>),
    )
}

type ArrayColumns = fn(&str) -> Option<DataType>;

/// The element type of each array column of `table`.
fn array_columns(table: &str) -> Option<ArrayColumns> {
    match table.to_ascii_lowercase().as_str() {
        "pg_index" => Some(|column| match column {
            "indkey" | "indoption" => Some(DataType::Int16),
            "indcollation" | "indclass" => Some(DataType::Int32),
            _ => None,
        }),
        "pg_constraint" => Some(|column| match column {
            "conkey" | "confkey" | "confdelsetcols" => Some(DataType::Int16),
            "conpfeqop" | "conppeqop" | "conffeqop" | "conexclop" => Some(DataType::Int32),
            _ => None,
        }),
        _ => None,
    }
}
