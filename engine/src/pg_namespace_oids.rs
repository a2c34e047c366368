//! Schema oids that stay the same from one catalog scan to the next.
//!
//! datafusion-pg-catalog numbers schemas as its live tables are scanned, and a scan of its
//! `pg_attribute` forgets those numbers, so the next scan of `pg_namespace` or `pg_class`
//! numbers the schemas anew: within one query (asyncpg's type introspection scans
//! `pg_namespace` at each step of a recursive CTE, between scans of `pg_attribute`), rows
//! read at different moments would not join. Its copied tables (`pg_type`, `pg_proc`,
//! `pg_collation`) use PostgreSQL's own oids for `pg_catalog` and `information_schema`.
//!
//! So Floe gives each schema one oid for the life of the process: PostgreSQL's for
//! `pg_catalog`, `public` and `information_schema` (which the copied rows then match),
//! and the next free number for any other, and serves `pg_namespace` and `pg_class` with
//! them. `pg_class` also gets PostgreSQL's `reloptions` column, which clients select
//! (SQLAlchemy's reflection); Floe's relations have no storage options, so it is NULL.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::pg_attribute::{read_all, typed};

/// PostgreSQL's oids of the schemas every database has.
const POSTGRES_SCHEMAS: [(&str, i32); 3] = [
    ("pg_catalog", 11),
    ("public", 2200),
    ("information_schema", 13283),
];

/// Where the oids of other schemas start: above PostgreSQL's fixed oids, apart from the
/// relation oids datafusion-pg-catalog hands out from 16384 up.
const FIRST_SCHEMA_OID: i32 = 1_000_000;

static SCHEMA_OIDS: LazyLock<Mutex<HashMap<String, i32>>> = LazyLock::new(|| {
    Mutex::new(
        POSTGRES_SCHEMAS
            .iter()
            .map(|(name, oid)| (name.to_string(), *oid))
            .collect(),
    )
});

/// The oid of the schema `name`, the same for the life of the process.
pub fn schema_oid(name: &str) -> i32 {
    let mut oids = SCHEMA_OIDS.lock().unwrap_or_else(|e| e.into_inner());
    let next = FIRST_SCHEMA_OID
        + oids
            .values()
            .filter(|oid| **oid >= FIRST_SCHEMA_OID)
            .count() as i32;
    *oids.entry(name.to_string()).or_insert(next)
}

/// The table to serve for `name` of datafusion-pg-catalog's `table`; `None` for tables
/// that need no change.
pub fn stable(
    name: &str,
    table: &Arc<dyn TableProvider>,
    pg_catalog: &Arc<dyn SchemaProvider>,
) -> Option<Arc<dyn TableProvider>> {
    let (column, added) = match name.to_ascii_lowercase().as_str() {
        "pg_namespace" => ("oid", vec![]),
        "pg_class" => (
            "relnamespace",
            vec![Field::new(
                "reloptions",
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                true,
            )],
        ),
        _ => return None,
    };
    let mut fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(
        added
            .into_iter()
            .filter(|f| table.schema().field_with_name(f.name()).is_err()),
    );
    Some(Arc::new(StableNamespaces {
        table: table.clone(),
        column,
        schema: Arc::new(Schema::new(fields)),
        pg_catalog: pg_catalog.clone(),
    }))
}

/// A live catalog table whose `column` holds schema oids, given Floe's stable ones.
#[derive(Debug)]
struct StableNamespaces {
    table: Arc<dyn TableProvider>,
    column: &'static str,
    schema: SchemaRef,
    pg_catalog: Arc<dyn SchemaProvider>,
}

#[async_trait]
impl TableProvider for StableNamespaces {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        // The rows and the schema names of the same moment: pg_namespace read right after.
        let rows = read_all(state, &self.table).await?;
        let names = self.schema_names(state).await?;
        let mut stable = Vec::with_capacity(rows.len());
        for batch in rows {
            let oids = typed::<Int32Array>(&batch, self.column)?;
            let new_oids: Int32Array = oids
                .iter()
                .map(|oid| {
                    oid.map(|oid| match names.get(&oid) {
                        Some(name) => schema_oid(name),
                        None => oid,
                    })
                })
                .collect();
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns[batch.schema().index_of(self.column)?] = Arc::new(new_oids);
            for field in &self.schema.fields()[columns.len()..] {
                columns.push(new_null_array(field.data_type(), batch.num_rows()));
            }
            stable.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        }
        MemTable::try_new(self.schema.clone(), vec![stable])?
            .scan(state, projection, filters, limit)
            .await
    }
}

impl StableNamespaces {
    /// datafusion-pg-catalog's current schema oids, with the schemas' names.
    async fn schema_names(&self, state: &dyn Session) -> DFResult<HashMap<i32, String>> {
        let mut names = HashMap::new();
        if let Some(namespaces) = self.pg_catalog.table("pg_namespace").await? {
            for batch in read_all(state, &namespaces).await? {
                let oids = typed::<Int32Array>(&batch, "oid")?;
                let nspnames = typed::<StringArray>(&batch, "nspname")?;
                for row in 0..batch.num_rows() {
                    names.insert(oids.value(row), nspnames.value(row).to_string());
                }
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_keep_their_oids() {
        assert_eq!(schema_oid("pg_catalog"), 11);
        assert_eq!(schema_oid("public"), 2200);
        let sales = schema_oid("sales_for_oid_test");
        assert!(sales >= FIRST_SCHEMA_OID);
        assert_eq!(schema_oid("sales_for_oid_test"), sales);
        assert_ne!(schema_oid("other_for_oid_test"), sales);
    }
}
