//! Reading Parquet columns by Iceberg field id rather than by name.
//!
//! Iceberg identifies columns by id: after `RENAME COLUMN` the old files still carry the old
//! name, and after dropping and re-adding a name the old files carry a different column
//! under it. DataFusion adapts each file to the table schema by name, so this adapter first
//! relabels the file's columns with the table's current names for their ids (and hides
//! columns whose id the table no longer has) and then lets DataFusion's default adapter do
//! the rest: casts, missing columns as NULL, predicate rewriting for pruning.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result as DFResult;
use datafusion::parquet::arrow::PARQUET_FIELD_ID_META_KEY;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};

#[derive(Debug)]
pub struct FieldIdAdapterFactory {
    /// The table's current column name for each top-level field id.
    names_by_id: HashMap<i32, String>,
}

impl FieldIdAdapterFactory {
    pub fn new(schema: &iceberg::spec::Schema) -> Self {
        let names_by_id = schema
            .as_struct()
            .fields()
            .iter()
            .map(|field| (field.id, field.name.clone()))
            .collect();
        Self { names_by_id }
    }

    /// The file's schema with each column named as the table names its field id now.
    /// Files written without field ids keep their names.
    fn relabel(&self, file_schema: &Schema) -> Schema {
        let fields: Vec<Field> = file_schema
            .fields()
            .iter()
            .map(|field| {
                let id = field
                    .metadata()
                    .get(PARQUET_FIELD_ID_META_KEY)
                    .and_then(|id| id.parse::<i32>().ok());
                match id {
                    Some(id) => match self.names_by_id.get(&id) {
                        Some(name) => field.as_ref().clone().with_name(name),
                        None => field
                            .as_ref()
                            .clone()
                            .with_name(format!("__floe_dropped_field_{id}")),
                    },
                    None => field.as_ref().clone(),
                }
            })
            .collect();
        Schema::new_with_metadata(fields, file_schema.metadata().clone())
    }
}

impl PhysicalExprAdapterFactory for FieldIdAdapterFactory {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> DFResult<Arc<dyn PhysicalExprAdapter>> {
        let relabeled = Arc::new(self.relabel(&physical_file_schema));
        Ok(Arc::new(FieldIdAdapter {
            by_relabeled_name: DefaultPhysicalExprAdapterFactory
                .create(logical_file_schema, relabeled)?,
            physical_file_schema,
        }))
    }
}

/// Rewrites against the relabeled schema, then names each column reference as the file
/// does, since the Parquet reader resolves the columns it decodes by their names.
#[derive(Debug)]
struct FieldIdAdapter {
    by_relabeled_name: Arc<dyn PhysicalExprAdapter>,
    physical_file_schema: SchemaRef,
}

impl PhysicalExprAdapter for FieldIdAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> DFResult<Arc<dyn PhysicalExpr>> {
        let rewritten = self.by_relabeled_name.rewrite(expr)?;
        rewritten
            .transform(|node| {
                let Some(column) = node.as_any().downcast_ref::<Column>() else {
                    return Ok(Transformed::no(node));
                };
                let physical_name = self.physical_file_schema.field(column.index()).name();
                if physical_name == column.name() {
                    return Ok(Transformed::no(node));
                }
                let renamed: Arc<dyn PhysicalExpr> =
                    Arc::new(Column::new(physical_name, column.index()));
                Ok(Transformed::yes(renamed))
            })
            .map(|t| t.data)
    }
}
