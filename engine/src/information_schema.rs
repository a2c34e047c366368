//! `information_schema`: DataFusion's tables (schemata, tables, views, columns, ...) and
//! the key tables PostgreSQL clients also read: `key_column_usage`, listing each Iceberg
//! table's identifier fields as the columns of its key, and `referential_constraints`,
//! empty because Iceberg has no foreign keys. DataFusion serves only its own tables under
//! that name, so Floe registers the schema itself (with DataFusion's option off) and
//! passes DataFusion's tables through.

use std::any::Any;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::information_schema::{INFORMATION_SCHEMA, InformationSchemaProvider};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, SchemaProvider, Session, TableProvider,
};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::table::IcebergTable;
use crate::warehouse::CATALOG_NAME;

const KEY_COLUMN_USAGE: &str = "key_column_usage";
const REFERENTIAL_CONSTRAINTS: &str = "referential_constraints";

/// Registers `information_schema` in Floe's catalog of `ctx`, whose config must have
/// DataFusion's own information_schema off.
pub fn install(ctx: &SessionContext) -> DFResult<()> {
    let Some(catalog) = ctx.catalog(CATALOG_NAME) else {
        return Err(DataFusionError::Plan(format!("no catalog {CATALOG_NAME}")));
    };
    let schema = InformationSchema {
        catalogs: Arc::downgrade(ctx.state().catalog_list()),
        catalog: Arc::downgrade(&catalog),
    };
    catalog.register_schema(INFORMATION_SCHEMA, Arc::new(schema))?;
    Ok(())
}

/// Weak references: the catalog holds this schema, which must not keep it alive.
#[derive(Debug)]
struct InformationSchema {
    catalogs: Weak<dyn CatalogProviderList>,
    catalog: Weak<dyn CatalogProvider>,
}

impl InformationSchema {
    fn datafusion_tables(&self) -> Option<InformationSchemaProvider> {
        Some(InformationSchemaProvider::new(self.catalogs.upgrade()?))
    }
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names = self
            .datafusion_tables()
            .map(|tables| tables.table_names())
            .unwrap_or_default();
        names.extend([
            KEY_COLUMN_USAGE.to_string(),
            REFERENTIAL_CONSTRAINTS.to_string(),
        ]);
        names
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let name = name.to_ascii_lowercase();
        if name == KEY_COLUMN_USAGE || name == REFERENTIAL_CONSTRAINTS {
            return Ok(Some(Arc::new(KeyTable {
                referential: name == REFERENTIAL_CONSTRAINTS,
                catalog: self.catalog.clone(),
            })));
        }
        match self.datafusion_tables() {
            Some(tables) => tables.table(&name).await,
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        name == KEY_COLUMN_USAGE
            || name == REFERENTIAL_CONSTRAINTS
            || self
                .datafusion_tables()
                .is_some_and(|tables| tables.table_exist(&name))
    }
}

/// `key_column_usage` or `referential_constraints`, read from the live catalog when scanned.
#[derive(Debug)]
struct KeyTable {
    referential: bool,
    catalog: Weak<dyn CatalogProvider>,
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn key_column_usage_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("constraint_catalog"),
        text("constraint_schema"),
        text("constraint_name"),
        text("table_catalog"),
        text("table_schema"),
        text("table_name"),
        text("column_name"),
        Field::new("ordinal_position", DataType::Int32, true),
        Field::new("position_in_unique_constraint", DataType::Int32, true),
    ]))
}

fn referential_constraints_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        text("constraint_catalog"),
        text("constraint_schema"),
        text("constraint_name"),
        text("unique_constraint_catalog"),
        text("unique_constraint_schema"),
        text("unique_constraint_name"),
        text("match_option"),
        text("update_rule"),
        text("delete_rule"),
    ]))
}

#[async_trait]
impl TableProvider for KeyTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        if self.referential {
            referential_constraints_schema()
        } else {
            key_column_usage_schema()
        }
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
        let batch = if self.referential {
            RecordBatch::new_empty(self.schema())
        } else {
            self.key_columns().await?
        };
        MemTable::try_new(self.schema(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// One column of a table's key: the table's schema and name, the column, its place.
type KeyColumn = (String, String, String, i32);

impl KeyTable {
    async fn key_columns(&self) -> DFResult<RecordBatch> {
        let mut keys: Vec<KeyColumn> = Vec::new();
        if let Some(catalog) = self.catalog.upgrade() {
            let mut schemas = catalog.schema_names();
            schemas.sort();
            for schema_name in schemas {
                if schema_name == INFORMATION_SCHEMA || schema_name == "pg_catalog" {
                    continue;
                }
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                let mut tables = schema.table_names();
                tables.sort();
                for table_name in tables {
                    // A table dropped since it was listed has no key to show.
                    let Ok(Some(table)) = schema.table(&table_name).await else {
                        continue;
                    };
                    if let Some(iceberg) = table.as_any().downcast_ref::<IcebergTable>() {
                        keys.extend(identifier_columns(
                            &schema_name,
                            &table_name,
                            iceberg.iceberg_schema(),
                        ));
                    }
                }
            }
        }
        key_column_usage(&keys)
    }
}

/// The identifier fields of an Iceberg table, by field id (Iceberg keeps them as a set),
/// as key columns.
fn identifier_columns(
    schema: &str,
    table: &str,
    iceberg: &iceberg::spec::Schema,
) -> Vec<KeyColumn> {
    let mut ids: Vec<i32> = iceberg.identifier_field_ids().collect();
    ids.sort_unstable();
    ids.into_iter()
        .filter_map(|id| iceberg.name_by_field_id(id))
        .enumerate()
        .map(|(index, column)| {
            (
                schema.to_string(),
                table.to_string(),
                column.to_string(),
                index as i32 + 1,
            )
        })
        .collect()
}

fn key_column_usage(keys: &[KeyColumn]) -> DFResult<RecordBatch> {
    let strings = |values: Vec<String>| Arc::new(StringArray::from(values));
    let catalog = vec![CATALOG_NAME.to_string(); keys.len()];
    let schemas: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
    let tables: Vec<String> = keys.iter().map(|k| k.1.clone()).collect();
    // PostgreSQL names a table's primary key `<table>_pkey`.
    let names: Vec<String> = keys.iter().map(|k| format!("{}_pkey", k.1)).collect();
    Ok(RecordBatch::try_new(
        key_column_usage_schema(),
        vec![
            strings(catalog.clone()),
            strings(schemas.clone()),
            strings(names),
            strings(catalog),
            strings(schemas),
            strings(tables),
            strings(keys.iter().map(|k| k.2.clone()).collect()),
            Arc::new(Int32Array::from(
                keys.iter().map(|k| k.3).collect::<Vec<_>>(),
            )),
            Arc::new(Int32Array::from(vec![None::<i32>; keys.len()])),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use iceberg::spec::{NestedField, PrimitiveType, Type};

    use super::*;

    #[test]
    fn identifier_fields_are_the_key_columns() {
        let schema = iceberg::spec::Schema::builder()
            .with_fields(vec![
                Arc::new(NestedField::required(
                    1,
                    "region",
                    Type::Primitive(PrimitiveType::String),
                )),
                Arc::new(NestedField::required(
                    2,
                    "id",
                    Type::Primitive(PrimitiveType::Long),
                )),
                Arc::new(NestedField::optional(
                    3,
                    "note",
                    Type::Primitive(PrimitiveType::String),
                )),
            ])
            .with_identifier_field_ids(vec![2, 1])
            .build()
            .unwrap();
        let keys = identifier_columns("public", "orders", &schema);
        let columns: Vec<_> = keys.iter().map(|k| (k.2.as_str(), k.3)).collect();
        assert_eq!(columns, [("region", 1), ("id", 2)]);
        let batch = key_column_usage(&keys).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let names = batch
            .column(2)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(names.value(0), "orders_pkey");
    }
}
