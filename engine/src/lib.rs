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
mod names;
pub mod output;
pub mod parser;
mod predicate;
mod scan;
mod sink;
mod table;
mod table_cache;
mod types;
pub mod warehouse;

pub use datafusion::arrow;
pub use engine::Engine;
pub use error::{FloeError, Result};
pub use output::Output;
pub use parser::Statement;
pub use warehouse::Warehouse;
