//! Opening a warehouse: a directory holding the SQLite Iceberg SQL catalog (`catalog.db`)
//! and, beneath it, each table's data and metadata (`<schema>/<table>/...`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iceberg::io::{FileIOBuilder, LocalFsStorageFactory};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, Runtime};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};

use crate::catalog::FloeCatalog;
use crate::catalog_db::CatalogDb;
use crate::error::{FloeError, Result, sqlstate};

/// The catalog name Floe records in `catalog.db`. Other tools open the same tables by
/// using this name, e.g. pyiceberg's `SqlCatalog("floe", uri="sqlite:///.../catalog.db")`.
pub const CATALOG_NAME: &str = "floe";
/// The schema (Iceberg namespace) unqualified table names resolve in.
pub const DEFAULT_SCHEMA: &str = "public";
/// The warehouse directory used when none is given.
pub const DEFAULT_WAREHOUSE_DIR: &str = "floe-warehouse";
const CATALOG_FILE: &str = "catalog.db";

#[derive(Debug, Clone)]
pub struct Warehouse {
    /// Absolute path of the warehouse directory.
    pub root: PathBuf,
    pub catalog: Arc<FloeCatalog>,
}

impl Warehouse {
    /// Opens the warehouse in `dir`, creating the directory, the catalog and the default
    /// schema when they do not exist yet.
    pub async fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|err| {
            FloeError::new(
                sqlstate::IO_ERROR,
                format!("cannot create warehouse directory {}: {err}", dir.display()),
            )
        })?;
        let root = dir.canonicalize()?;
        let root_str = root.to_str().ok_or_else(|| {
            FloeError::invalid(format!(
                "warehouse path {} is not valid UTF-8",
                root.display()
            ))
        })?;
        let uri = format!("sqlite:{root_str}/{CATALOG_FILE}");
        let location = format!("file://{root_str}");

        let db = CatalogDb::open(&uri, CATALOG_NAME).await?;
        let storage = Arc::new(LocalFsStorageFactory);
        let sql = SqlCatalogBuilder::default()
            .uri(&uri)
            .warehouse_location(&location)
            .sql_bind_style(SqlBindStyle::QMark)
            .with_storage_factory(storage.clone())
            .load(CATALOG_NAME, HashMap::new())
            .await?;
        let file_io = FileIOBuilder::new(storage).build();
        let catalog = Arc::new(FloeCatalog::new(sql, db, file_io, Runtime::try_current()?));

        let public = NamespaceIdent::new(DEFAULT_SCHEMA.to_string());
        if !catalog.namespace_exists(&public).await? {
            // Another process opening the same new warehouse may win this race; that is fine.
            if let Err(err) = catalog.create_namespace(&public, HashMap::new()).await
                && !catalog.namespace_exists(&public).await?
            {
                return Err(err.into());
            }
        }
        Ok(Self { root, catalog })
    }

    pub fn catalog_path(&self) -> PathBuf {
        self.root.join(CATALOG_FILE)
    }
}
