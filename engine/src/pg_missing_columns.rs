//! Columns of PostgreSQL's catalog tables that datafusion-pg-catalog's tables lack and
//! clients select: `pg_class.reloptions` (SQLAlchemy's index reflection). Floe's
//! relations have no storage options, so the column is NULL, as in PostgreSQL for a
//! relation without options.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::pg_attribute::read_all;

/// `table` (named `name`) with the columns it lacks added; `None` when it lacks none.
pub fn completed(name: &str, table: &Arc<dyn TableProvider>) -> Option<Arc<dyn TableProvider>> {
    let missing: Vec<Field> = missing_columns(name)
        .into_iter()
        .filter(|field| table.schema().field_with_name(field.name()).is_err())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(missing);
    Some(Arc::new(WithMissingColumns {
        table: table.clone(),
        schema: Arc::new(Schema::new(fields)),
    }))
}

fn missing_columns(table: &str) -> Vec<Field> {
    match table.to_ascii_lowercase().as_str() {
        "pg_class" => vec![Field::new(
            "reloptions",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        )],
        _ => vec![],
    }
}

#[derive(Debug)]
struct WithMissingColumns {
    table: Arc<dyn TableProvider>,
    schema: SchemaRef,
}

#[async_trait]
impl TableProvider for WithMissingColumns {
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
        let mut completed = Vec::new();
        for batch in read_all(state, &self.table).await? {
            let mut columns = batch.columns().to_vec();
            for field in &self.schema.fields()[columns.len()..] {
                columns.push(new_null_array(field.data_type(), batch.num_rows()));
            }
            completed.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        }
        MemTable::try_new(self.schema.clone(), vec![completed])?
            .scan(state, projection, filters, limit)
            .await
    }
}
