//! Floe's engine: SQL over Apache Iceberg tables on DataFusion. It knows nothing of
//! sockets or terminals; the shell and the Postgres-wire server are faces over [`Engine`].

mod catalog;
mod catalog_db;
mod commit;
mod ddl;
mod engine;
pub mod error;
mod field_ids;
mod live_catalog;
mod maintenance;
mod metadata_tables;
mod names;
mod optimize;
pub mod output;
pub mod parser;
mod partition_values;
mod predicate;
mod scan;
mod sink;
mod snapshot_files;
mod table;
mod table_cache;
mod time_travel;
mod types;
mod vacuum;
pub mod warehouse;

pub use datafusion::arrow;
pub use engine::Engine;
pub use error::{FloeError, Result};
pub use output::Output;
pub use parser::Statement;
pub use warehouse::Warehouse;
