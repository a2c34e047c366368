//! `pg_type` and `pg_proc` come from datafusion-pg-catalog as a copy of a PostgreSQL
//! database's rows, whose schema oids are PostgreSQL's (11 for `pg_catalog`, 13283 for
//! `information_schema`), while its `pg_namespace` numbers the schemas it finds in the
//! live catalog. Joined as clients join them (asyncpg's type introspection, psql's `\dT`,
//! `\df`), no type or function would have a schema: these tables give the copied rows the
//! oid that `pg_namespace` gives the schema of the same name.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::pg_attribute::{read_all, typed};

/// The schema oids of the copied rows, with the schema each names in PostgreSQL.
const POSTGRES_SCHEMAS: [(i32, &str); 2] = [(11, "pg_catalog"), (13283, "information_schema")];

/// The column holding the schema oid in a copied table, by table name.
pub fn namespace_column(table: &str) -> Option<&'static str> {
    match table.to_ascii_lowercase().as_str() {
        "pg_type" => Some("typnamespace"),
        "pg_proc" => Some("pronamespace"),
        _ => None,
    }
}

/// A copied catalog table whose `column` holds schema oids, renumbered to `pg_namespace`'s.
#[derive(Debug)]
pub struct RenumberedNamespaces {
    pub table: Arc<dyn TableProvider>,
    pub column: &'static str,
    pub pg_catalog: Arc<dyn SchemaProvider>,
}

#[async_trait]
impl TableProvider for RenumberedNamespaces {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.table.schema()
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
        let renumbering = self.renumbering(state).await?;
        let mut renumbered = Vec::new();
        for batch in read_all(state, &self.table).await? {
            let index = batch.schema().index_of(self.column)?;
            let oids = typed::<Int32Array>(&batch, self.column)?;
            let new_oids: Int32Array = oids
                .iter()
                .map(|oid| oid.map(|oid| *renumbering.get(&oid).unwrap_or(&oid)))
                .collect();
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns[index] = Arc::new(new_oids);
            renumbered.push(RecordBatch::try_new(batch.schema(), columns)?);
        }
        MemTable::try_new(self.schema(), vec![renumbered])?
            .scan(state, projection, filters, limit)
            .await
    }
}

impl RenumberedNamespaces {
    /// PostgreSQL's schema oid to `pg_namespace`'s, for the schemas it lists.
    async fn renumbering(&self, state: &dyn Session) -> DFResult<HashMap<i32, i32>> {
        let mut by_name = HashMap::new();
        if let Some(namespaces) = self.pg_catalog.table("pg_namespace").await? {
            for batch in read_all(state, &namespaces).await? {
                let oids = typed::<Int32Array>(&batch, "oid")?;
                let names = typed::<StringArray>(&batch, "nspname")?;
                for row in 0..batch.num_rows() {
                    by_name.insert(names.value(row).to_string(), oids.value(row));
                }
            }
        }
        Ok(POSTGRES_SCHEMAS
            .iter()
            .filter_map(|(postgres, name)| Some((*postgres, *by_name.get(*name)?)))
            .collect())
    }
}
