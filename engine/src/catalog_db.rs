//! Direct access to the SQLite file behind the Iceberg SQL catalog (`catalog.db`).
//!
//! iceberg-catalog-sql reads this file well, but its writes ignore the outcome of their own
//! database transaction and give up on "database is locked". Floe therefore moves table
//! pointers itself: one atomic compare-and-swap statement whose result is checked, retried
//! while SQLite is busy, and confirmed by reading the pointer back when the outcome is unclear.

use std::str::FromStr;
use std::time::Duration;

use iceberg::TableIdent;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::error::{FloeError, Result, sqlstate};

/// Tables of the Iceberg SQL catalog layout shared with pyiceberg and Java's JdbcCatalog.
const TABLES: &str = "iceberg_tables";
const NAMESPACE_PROPERTIES: &str = "iceberg_namespace_properties";

/// How long one statement waits for another process's lock before SQLite reports busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Further attempts after SQLite still reports busy once its own wait has run out.
const BUSY_RETRIES: u32 = 5;

/// What became of a compare-and-swap of a table's metadata pointer.
#[derive(Debug, PartialEq, Eq)]
pub enum SwapOutcome {
    Swapped,
    /// Another writer moved the pointer first; the caller should rebase and try again.
    Conflict,
}

#[derive(Debug, Clone)]
pub struct CatalogDb {
    pool: SqlitePool,
    catalog_name: String,
}

impl CatalogDb {
    /// Opens (creating if missing) the catalog database and brings its layout up to what
    /// both iceberg-rust and pyiceberg expect.
    pub async fn open(uri: &str, catalog_name: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(uri)?
            .create_if_missing(true)
            // WAL lets readers in other processes (pyiceberg, a second floe) proceed while a
            // commit writes, and makes a commit's durability independent of them.
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?;
        let db = Self {
            pool,
            catalog_name: catalog_name.to_string(),
        };
        db.create_layout().await?;
        Ok(db)
    }

    async fn create_layout(&self) -> Result<()> {
        // The same columns iceberg-catalog-sql and pyiceberg create, so whichever tool
        // opens a new warehouse first, the others can use it.
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLES} (
                catalog_name VARCHAR(255) NOT NULL,
                table_namespace VARCHAR(255) NOT NULL,
                table_name VARCHAR(255) NOT NULL,
                metadata_location VARCHAR(1000),
                previous_metadata_location VARCHAR(1000),
                iceberg_type VARCHAR(5),
                PRIMARY KEY (catalog_name, table_namespace, table_name))"
        ))
        .execute(&self.pool)
        .await?;
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {NAMESPACE_PROPERTIES} (
                catalog_name VARCHAR(255) NOT NULL,
                namespace VARCHAR(255) NOT NULL,
                property_key VARCHAR(255),
                property_value VARCHAR(1000),
                PRIMARY KEY (catalog_name, namespace, property_key))"
        ))
        .execute(&self.pool)
        .await?;
        // Catalogs created by older pyiceberg lack `iceberg_type`, which iceberg-catalog-sql
        // filters on (apache/iceberg-rust#2068). A NULL value there means "table" to both.
        let columns = sqlx::query(&format!("PRAGMA table_info({TABLES})"))
            .fetch_all(&self.pool)
            .await?;
        let has_type = columns
            .iter()
            .any(|row| row.get::<String, _>("name") == "iceberg_type");
        if !has_type {
            sqlx::query(&format!(
                "ALTER TABLE {TABLES} ADD COLUMN iceberg_type VARCHAR(5)"
            ))
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// The current metadata file of a table, or `None` if the catalog has no such table.
    pub async fn metadata_location(&self, table: &TableIdent) -> Result<Option<String>> {
        let row = sqlx::query(&format!(
            "SELECT metadata_location FROM {TABLES}
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)"
        ))
        .bind(&self.catalog_name)
        .bind(table.namespace().join("."))
        .bind(table.name())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| row.get::<String, _>(0)))
    }

    /// Points `table` at `new_location` if, and only if, it still points at `expected`.
    pub async fn swap_metadata_location(
        &self,
        table: &TableIdent,
        expected: &str,
        new_location: &str,
    ) -> Result<SwapOutcome> {
        let statement = format!(
            "UPDATE {TABLES} SET metadata_location = ?, previous_metadata_location = ?
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?
               AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)
               AND metadata_location = ?"
        );
        let mut attempt = 0;
        loop {
            // A single UPDATE in autocommit mode is atomic: when it returns Ok, it committed.
            let result = sqlx::query(&statement)
                .bind(new_location)
                .bind(expected)
                .bind(&self.catalog_name)
                .bind(table.namespace().join("."))
                .bind(table.name())
                .bind(expected)
                .execute(&self.pool)
                .await;
            match result {
                Ok(done) if done.rows_affected() == 1 => return Ok(SwapOutcome::Swapped),
                Ok(_) => return self.settle_without_swap(table, new_location).await,
                Err(err) if is_busy(&err) && attempt < BUSY_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                Err(err) => {
                    // The outcome is unknown (for example an I/O error while committing):
                    // the pointer itself says whether the swap happened.
                    return match self.metadata_location(table).await {
                        Ok(Some(current)) if current == new_location => Ok(SwapOutcome::Swapped),
                        _ => Err(FloeError::new(
                            sqlstate::IO_ERROR,
                            format!("commit to {table} failed; the table is unchanged: {err}"),
                        )),
                    };
                }
            }
        }
    }

    async fn settle_without_swap(
        &self,
        table: &TableIdent,
        new_location: &str,
    ) -> Result<SwapOutcome> {
        match self.metadata_location(table).await? {
            None => Err(FloeError::new(
                sqlstate::UNDEFINED_TABLE,
                format!("table {table} was dropped while the statement ran; nothing was committed"),
            )),
            Some(current) if current == new_location => Ok(SwapOutcome::Swapped),
            Some(_) => Ok(SwapOutcome::Conflict),
        }
    }
}

fn is_busy(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            // SQLITE_BUSY (5) and SQLITE_LOCKED (6), plain or extended.
            let code = db.code();
            let primary = code
                .as_deref()
                .and_then(|c| c.parse::<i32>().ok())
                .map(|c| c & 0xff);
            matches!(primary, Some(5) | Some(6)) || db.message().contains("locked")
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}
