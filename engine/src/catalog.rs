//! `FloeCatalog`: the Iceberg catalog Floe talks to.
//!
//! Reads and namespace changes go through iceberg-catalog-sql's `SqlCatalog`; every change
//! to a table's metadata pointer goes through [`CatalogDb`], whose compare-and-swap reports
//! exactly what happened. Creates and drops, which the library performs without checking
//! its own transaction, are confirmed by reading the catalog back.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use iceberg::io::FileIO;
use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use iceberg::{
    Catalog, Error, ErrorKind, MetadataLocation, Namespace, NamespaceIdent, Result, Runtime,
    TableCommit, TableCreation, TableIdent,
};
use iceberg_catalog_sql::SqlCatalog;

use crate::auto_compact::AutoCompaction;
use crate::catalog_db::{CatalogDb, SwapOutcome};
use crate::manifest_cache::ManifestCache;
use crate::table_cache::TableCache;

#[derive(Debug)]
pub struct FloeCatalog {
    sql: SqlCatalog,
    db: CatalogDb,
    file_io: FileIO,
    runtime: Runtime,
    tables: TableCache,
    manifests: ManifestCache,
    auto_compaction: AutoCompaction,
}

impl FloeCatalog {
    pub fn new(sql: SqlCatalog, db: CatalogDb, file_io: FileIO, runtime: Runtime) -> Self {
        Self {
            sql,
            db,
            file_io,
            runtime,
            tables: TableCache::default(),
            manifests: ManifestCache::default(),
            auto_compaction: AutoCompaction::default(),
        }
    }

    pub fn file_io(&self) -> &FileIO {
        &self.file_io
    }

    /// Manifests read by earlier scans, shared by every table of the catalog.
    pub fn manifests(&self) -> &ManifestCache {
        &self.manifests
    }

    /// The background compactions of this catalog's tables.
    pub fn auto_compaction(&self) -> &AutoCompaction {
        &self.auto_compaction
    }

    /// Makes `staged` (built on top of the metadata at `base_location`) the table's current
    /// metadata: writes its metadata file, then swaps the catalog pointer. On a conflict the
    /// error is retryable, and the orphaned metadata file is removed.
    pub async fn publish(&self, base_location: &str, staged: Table) -> Result<Table> {
        let ident = staged.identifier().clone();
        let staged_location = staged.metadata_location_result()?.to_string();
        staged
            .metadata()
            .write_to(
                staged.file_io(),
                &MetadataLocation::from_str(&staged_location)?,
            )
            .await?;
        let outcome = self
            .db
            .swap_metadata_location(&ident, base_location, &staged_location)
            .await;
        match outcome {
            Ok(SwapOutcome::Swapped) => {
                self.tables.put(staged.clone());
                Ok(staged)
            }
            Ok(SwapOutcome::Conflict) => {
                let _ = self.file_io.delete(&staged_location).await;
                Err(Error::new(
                    ErrorKind::CatalogCommitConflicts,
                    format!("table {ident} was changed by another writer during the commit"),
                )
                .with_retryable(true))
            }
            Err(err) => {
                let _ = self.file_io.delete(&staged_location).await;
                Err(Error::new(ErrorKind::Unexpected, err.message))
            }
        }
    }

    /// Publishes `metadata`, built on `base` (whose metadata lives at `base_location`), as
    /// the table's next metadata version. See [`FloeCatalog::publish`].
    pub async fn publish_metadata(
        &self,
        base: &Table,
        base_location: &str,
        metadata: TableMetadata,
    ) -> Result<Table> {
        let location = MetadataLocation::from_str(base_location)?
            .with_next_version()
            .with_new_metadata(&metadata)
            .to_string();
        let staged = Table::builder()
            .file_io(self.file_io.clone())
            .identifier(base.identifier().clone())
            .metadata_location(location)
            .metadata(metadata)
            .runtime(self.runtime.clone())
            .build()?;
        self.publish(base_location, staged).await
    }

    async fn confirm_table(&self, table: &TableIdent, should_exist: bool) -> Result<()> {
        let exists = self
            .db
            .metadata_location(table)
            .await
            .map_err(floe_to_iceberg)?;
        if exists.is_some() == should_exist {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Unexpected,
                format!("the catalog did not record the change to table {table}"),
            ))
        }
    }
}

fn floe_to_iceberg(err: crate::error::FloeError) -> Error {
    Error::new(ErrorKind::Unexpected, err.message)
}

#[async_trait]
impl Catalog for FloeCatalog {
    async fn list_namespaces(
        &self,
        parent: Option<&NamespaceIdent>,
    ) -> Result<Vec<NamespaceIdent>> {
        self.sql.list_namespaces(parent).await
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<Namespace> {
        let created = self.sql.create_namespace(namespace, properties).await?;
        if !self.sql.namespace_exists(namespace).await? {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("the catalog did not record schema {}", namespace.join(".")),
            ));
        }
        Ok(created)
    }

    async fn get_namespace(&self, namespace: &NamespaceIdent) -> Result<Namespace> {
        self.sql.get_namespace(namespace).await
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        self.sql.namespace_exists(namespace).await
    }

    async fn update_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        self.sql.update_namespace(namespace, properties).await
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        self.sql.drop_namespace(namespace).await?;
        if self.sql.namespace_exists(namespace).await? {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("the catalog did not drop schema {}", namespace.join(".")),
            ));
        }
        Ok(())
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        self.sql.list_tables(namespace).await
    }

    async fn create_table(
        &self,
        namespace: &NamespaceIdent,
        creation: TableCreation,
    ) -> Result<Table> {
        let table = self.sql.create_table(namespace, creation).await?;
        self.confirm_table(table.identifier(), true).await?;
        Ok(table)
    }

    async fn load_table(&self, table: &TableIdent) -> Result<Table> {
        let location = self
            .db
            .metadata_location(table)
            .await
            .map_err(floe_to_iceberg)?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::TableNotFound,
                    format!("table {table} does not exist"),
                )
            })?;
        if let Some(cached) = self.tables.get(table, &location) {
            return Ok(cached);
        }
        let metadata = TableMetadata::read_from(&self.file_io, &location).await?;
        let loaded = Table::builder()
            .file_io(self.file_io.clone())
            .identifier(table.clone())
            .metadata_location(location)
            .metadata(metadata)
            .runtime(self.runtime.clone())
            .build()?;
        self.tables.put(loaded.clone());
        Ok(loaded)
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<()> {
        self.tables.forget(table);
        self.sql.drop_table(table).await?;
        self.confirm_table(table, false).await
    }

    async fn purge_table(&self, table: &TableIdent) -> Result<()> {
        let loaded = self.load_table(table).await?;
        self.drop_table(table).await?;
        iceberg::drop_table_data(&loaded).await
    }

    async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        Ok(self
            .db
            .metadata_location(table)
            .await
            .map_err(floe_to_iceberg)?
            .is_some())
    }

    async fn rename_table(&self, src: &TableIdent, dest: &TableIdent) -> Result<()> {
        self.tables.forget(src);
        self.sql.rename_table(src, dest).await?;
        self.confirm_table(dest, true).await
    }

    async fn register_table(&self, table: &TableIdent, metadata_location: String) -> Result<Table> {
        let registered = self.sql.register_table(table, metadata_location).await?;
        self.confirm_table(table, true).await?;
        Ok(registered)
    }

    /// Applies `commit` to the current metadata and publishes it. A stale base surfaces as
    /// a retryable conflict, which `Transaction::commit` answers by rebasing its actions.
    async fn update_table(&self, commit: TableCommit) -> Result<Table> {
        let current = self.load_table(commit.identifier()).await?;
        let base_location = current.metadata_location_result()?.to_string();
        let staged = commit.apply(current)?;
        self.publish(&base_location, staged).await
    }
}
