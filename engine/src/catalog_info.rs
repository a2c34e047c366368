//! Read-only views of the catalog for faces: the names a shell completes and the details
//! its `\d` shows, as plain data read live from the Iceberg catalog (nothing cached, so a
//! table created a moment ago is listed).

use datafusion::sql::TableReference;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableIdent};

use crate::ddl::{self, no_such_table, partition_columns};
use crate::engine::Engine;
use crate::error::{FloeError, Result};
use crate::live_catalog::LiveCatalog;
use crate::names::{display_table, table_name};
use crate::sort_order;
use crate::types::sql_name;
use crate::warehouse::CATALOG_NAME;

/// What `\d <table>` shows about an Iceberg table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDetails {
    /// `schema.table`, quoted where SQL needs it.
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    /// Partition fields of the default spec, as SQL: `day(placed)`, `bucket(16, id)`.
    pub partitioning: Vec<String>,
    /// Sort fields of the default sort order: `id ASC NULLS FIRST`.
    pub sort_order: Vec<String>,
    /// Table properties, sorted by key.
    pub properties: Vec<(String, String)>,
    pub format_version: u8,
    pub location: String,
    pub current_snapshot_id: Option<i64>,
    pub snapshot_count: usize,
    /// Data files and rows in the current snapshot, from its summary; `None` when the writer
    /// did not record them (or there is no snapshot yet: then both are 0).
    pub data_files: Option<u64>,
    pub records: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    /// The SQL type name Floe accepts in CREATE TABLE (`BIGINT`, `DECIMAL(10,2)`, ...).
    pub data_type: String,
    pub nullable: bool,
}

impl Engine {
    /// Schema (Iceberg namespace) names, sorted.
    pub async fn schema_names(&self) -> Result<Vec<String>> {
        ddl::schema_names(&self.warehouse().catalog).await
    }

    /// Table names in `schema`, Iceberg and session-scoped ones, sorted. An unknown schema
    /// has no tables.
    pub async fn table_names(&self, schema: &str) -> Result<Vec<String>> {
        let namespace = NamespaceIdent::new(schema.to_string());
        let mut names: Vec<String> = match self.warehouse().catalog.list_tables(&namespace).await {
            Ok(tables) => tables.into_iter().map(|t| t.name).collect(),
            Err(err) if err.kind() == ErrorKind::NamespaceNotFound => Vec::new(),
            Err(err) => return Err(err.into()),
        };
        // Views and external tables live only in the session's catalog provider.
        if let Some(live) = self.session().catalog(CATALOG_NAME)
            && let Some(live) = live.as_any().downcast_ref::<LiveCatalog>()
        {
            names.extend(live.session_table_names(schema));
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Column names of the table `name` (written as in SQL), or `None` if there is no such
    /// table.
    pub async fn column_names(&self, name: &str) -> Result<Option<Vec<String>>> {
        let ident = self.resolve_table(name)?;
        let reference = TableReference::full(
            CATALOG_NAME,
            ident.namespace().join("."),
            ident.name().to_string(),
        );
        match self.session().table_provider(reference).await {
            Ok(provider) => Ok(Some(
                provider
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
            )),
            Err(_) => Ok(None),
        }
    }

    /// The details of the Iceberg table `name` (written as in SQL).
    pub async fn table_details(&self, name: &str) -> Result<TableDetails> {
        let ident = self.resolve_table(name)?;
        let table = match self.warehouse().catalog.load_table(&ident).await {
            Ok(table) => table,
            Err(err) if err.kind() == ErrorKind::TableNotFound => {
                return Err(no_such_table(&ident));
            }
            Err(err) => return Err(err.into()),
        };
        let metadata = table.metadata();
        let schema = metadata.current_schema();
        let columns = schema
            .as_struct()
            .fields()
            .iter()
            .map(|field| ColumnInfo {
                name: field.name.clone(),
                data_type: sql_name(&field.field_type),
                nullable: !field.required,
            })
            .collect();
        let sort_order = sort_order::keys_sql(metadata.default_sort_order(), schema);
        let mut properties: Vec<(String, String)> = metadata
            .properties()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        properties.sort();
        let current = metadata.current_snapshot();
        let summary_count = |key: &str| -> Option<u64> {
            match current {
                None => Some(0),
                Some(snapshot) => snapshot
                    .summary()
                    .additional_properties
                    .get(key)
                    .and_then(|v| v.parse().ok()),
            }
        };
        Ok(TableDetails {
            name: display_table(&ident),
            columns,
            partitioning: partition_columns(&table)
                .into_iter()
                .map(|(_, sql)| sql)
                .collect(),
            sort_order,
            properties,
            format_version: metadata.format_version() as u8,
            location: metadata.location().to_string(),
            current_snapshot_id: current.map(|s| s.snapshot_id()),
            snapshot_count: metadata.snapshots().len(),
            data_files: summary_count("total-data-files"),
            records: summary_count("total-records"),
        })
    }

    fn resolve_table(&self, name: &str) -> Result<TableIdent> {
        let object = Parser::new(&GenericDialect {})
            .try_with_sql(name)
            .and_then(|mut parser| parser.parse_object_name(false))
            .map_err(|err| FloeError::syntax(format!("{name} is not a table name: {err}")))?;
        table_name(&object, &self.current_schema())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_names_and_details_live() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).await.unwrap();
        assert_eq!(engine.schema_names().await.unwrap(), vec!["public"]);
        assert!(engine.table_names("public").await.unwrap().is_empty());
        engine
            .execute_sql(
                "CREATE SCHEMA shop; CREATE TABLE shop.orders (id BIGINT NOT NULL, placed \
                 TIMESTAMP, note TEXT) PARTITIONED BY (day(placed)) WITH ('owner' = 'ada')",
            )
            .await
            .unwrap();
        engine
            .execute_sql(
                "INSERT INTO shop.orders VALUES (1, '2024-05-01 10:00:00', 'x'), (2, NULL, NULL)",
            )
            .await
            .unwrap();
        assert_eq!(engine.schema_names().await.unwrap(), vec!["public", "shop"]);
        assert_eq!(engine.table_names("shop").await.unwrap(), vec!["orders"]);
        assert!(engine.table_names("nowhere").await.unwrap().is_empty());
        assert_eq!(
            engine.column_names("shop.orders").await.unwrap(),
            Some(vec!["id".into(), "placed".into(), "note".into()])
        );
        assert_eq!(engine.column_names("shop.missing").await.unwrap(), None);

        let details = engine.table_details("shop.ORDERS").await.unwrap();
        assert_eq!(details.name, "shop.orders");
        assert_eq!(
            details.columns[0],
            ColumnInfo {
                name: "id".into(),
                data_type: "BIGINT".into(),
                nullable: false
            }
        );
        assert_eq!(details.partitioning, vec!["day(placed)"]);
        assert!(details.sort_order.is_empty());
        assert!(details.properties.contains(&("owner".into(), "ada".into())));
        assert_eq!(details.snapshot_count, 1);
        assert_eq!(details.records, Some(2));
        assert_eq!(details.data_files, Some(2));
        let err = engine.table_details("shop.missing").await.unwrap_err();
        assert_eq!(err.sqlstate, "42P01");
    }
}
