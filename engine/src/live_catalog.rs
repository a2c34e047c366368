//! Floe's catalog as DataFusion sees it: Iceberg namespaces are SQL schemas and Iceberg
//! tables are looked up in the catalog at every statement, so tables created or changed by
//! other processes are visible to the next statement.
//!
//! DataFusion asks for table *names* synchronously (information_schema), so the engine calls
//! [`LiveCatalog::refresh`] before planning each statement; table *lookups* are async and go
//! to the Iceberg catalog directly. Session-scoped tables that DataFusion registers itself
//! (`CREATE EXTERNAL TABLE`, `CREATE VIEW`) live beside the Iceberg tables in memory.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result as DFResult};
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableIdent};

use crate::catalog::FloeCatalog;
use crate::error::{Result, iceberg_to_datafusion, to_datafusion};
use crate::metadata_tables::{MetadataKind, MetadataTable};
use crate::table::IcebergTable;

type SessionTables = HashMap<(String, String), Arc<dyn TableProvider>>;

#[derive(Debug)]
pub struct LiveCatalog {
    catalog: Arc<FloeCatalog>,
    /// Schema name -> Iceberg table names, as of the last refresh.
    listing: Arc<RwLock<BTreeMap<String, Vec<String>>>>,
    session_tables: Arc<RwLock<SessionTables>>,
    /// Schemas the engine serves itself rather than Iceberg (`pg_catalog`).
    system_schemas: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl LiveCatalog {
    pub fn new(catalog: Arc<FloeCatalog>) -> Self {
        Self {
            catalog,
            listing: Default::default(),
            session_tables: Default::default(),
            system_schemas: Default::default(),
        }
    }

    /// Re-reads the schema and table names from the Iceberg catalog.
    pub async fn refresh(&self) -> Result<()> {
        let mut listing = BTreeMap::new();
        for namespace in self.catalog.list_namespaces(None).await? {
            let mut names: Vec<String> = match self.catalog.list_tables(&namespace).await {
                Ok(tables) => tables.into_iter().map(|t| t.name).collect(),
                // Dropped by another process between the two calls.
                Err(err) if err.kind() == ErrorKind::NamespaceNotFound => continue,
                Err(err) => return Err(err.into()),
            };
            names.sort();
            listing.insert(namespace.join("."), names);
        }
        *self.listing.write().expect("listing lock") = listing;
        Ok(())
    }

    /// The session-scoped (non-Iceberg) table registered under `schema.name`, if any.
    pub fn session_table(&self, schema: &str, name: &str) -> Option<Arc<dyn TableProvider>> {
        let tables = self.session_tables.read().expect("session tables lock");
        tables.get(&(schema.to_string(), name.to_string())).cloned()
    }

    pub fn drop_session_table(&self, schema: &str, name: &str) -> bool {
        let mut tables = self.session_tables.write().expect("session tables lock");
        tables
            .remove(&(schema.to_string(), name.to_string()))
            .is_some()
    }

    /// Session-scoped table names in `schema`.
    pub fn session_table_names(&self, schema: &str) -> Vec<String> {
        let tables = self.session_tables.read().expect("session tables lock");
        let mut names: Vec<String> = tables
            .keys()
            .filter(|(s, _)| s == schema)
            .map(|(_, n)| n.clone())
            .collect();
        names.sort();
        names
    }
}

impl CatalogProvider for LiveCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .listing
            .read()
            .expect("listing lock")
            .keys()
            .cloned()
            .collect();
        let system = self.system_schemas.read().expect("system schemas lock");
        names.extend(system.keys().cloned());
        names
    }

    /// Only system schemas are registered this way; Iceberg namespaces are made with
    /// CREATE SCHEMA, which goes to the Iceberg catalog.
    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DFResult<Option<Arc<dyn SchemaProvider>>> {
        let mut system = self.system_schemas.write().expect("system schemas lock");
        Ok(system.insert(name.to_string(), schema))
    }

    /// Any name resolves: whether the schema exists is settled by the async table lookup,
    /// which reads the catalog as it is now rather than as of the last refresh.
    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(system) = self
            .system_schemas
            .read()
            .expect("system schemas lock")
            .get(name)
        {
            return Some(system.clone());
        }
        Some(Arc::new(LiveSchema {
            name: name.to_string(),
            catalog: self.catalog.clone(),
            listing: self.listing.clone(),
            session_tables: self.session_tables.clone(),
        }))
    }
}

#[derive(Debug)]
struct LiveSchema {
    name: String,
    catalog: Arc<FloeCatalog>,
    listing: Arc<RwLock<BTreeMap<String, Vec<String>>>>,
    session_tables: Arc<RwLock<SessionTables>>,
}

impl LiveSchema {
    fn key(&self, table: &str) -> (String, String) {
        (self.name.clone(), table.to_string())
    }

    /// `t$<metadata table>` (`t$snapshots`, ...) and `t$version=<id>` / `t$timestamp_ms=<ms>`
    /// (time travel, see [`crate::time_travel`]); `None` for any other name.
    async fn table_view(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let Some((base, suffix)) = name.rsplit_once('$') else {
            return Ok(None);
        };
        let kind = MetadataKind::from_suffix(suffix);
        let time_travel = suffix.starts_with("version=") || suffix.starts_with("timestamp_ms=");
        if kind.is_none() && !time_travel {
            return Ok(None);
        }
        let ident = TableIdent::new(NamespaceIdent::new(self.name.clone()), base.to_string());
        let table = match self.catalog.load_table(&ident).await {
            Ok(table) => table,
            Err(err) if err.kind() == ErrorKind::TableNotFound => return Ok(None),
            Err(err) => return Err(iceberg_to_datafusion(err)),
        };
        if let Some(kind) = kind {
            return Ok(Some(Arc::new(MetadataTable::new(kind, table))));
        }
        match crate::time_travel::snapshot_for_suffix(&table, suffix).map_err(to_datafusion)? {
            Some(id) => Ok(Some(Arc::new(
                IcebergTable::new(self.catalog.clone(), table)?.at_snapshot(id),
            ))),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl SchemaProvider for LiveSchema {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        let mut names = self
            .listing
            .read()
            .expect("listing lock")
            .get(&self.name)
            .cloned()
            .unwrap_or_default();
        let session = self.session_tables.read().expect("session tables lock");
        names.extend(
            session
                .keys()
                .filter(|(schema, _)| *schema == self.name)
                .map(|(_, name)| name.clone()),
        );
        names
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self
            .session_tables
            .read()
            .expect("session tables lock")
            .get(&self.key(name))
        {
            return Ok(Some(table.clone()));
        }
        if let Some(provider) = self.table_view(name).await? {
            return Ok(Some(provider));
        }
        let ident = TableIdent::new(NamespaceIdent::new(self.name.clone()), name.to_string());
        match self.catalog.load_table(&ident).await {
            Ok(table) => Ok(Some(Arc::new(IcebergTable::new(
                self.catalog.clone(),
                table,
            )?))),
            Err(err) if err.kind() == ErrorKind::TableNotFound => Ok(None),
            Err(err) => Err(iceberg_to_datafusion(err)),
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if self.table_exist(&name) {
            return Err(DataFusionError::Plan(format!(
                "table {}.{name} already exists",
                self.name
            )));
        }
        let mut session = self.session_tables.write().expect("session tables lock");
        Ok(session.insert(self.key(&name), table))
    }

    fn deregister_table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let mut session = self.session_tables.write().expect("session tables lock");
        Ok(session.remove(&self.key(name)))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.table_names().iter().any(|n| n == name)
    }
}
