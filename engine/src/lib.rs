//! Floe's engine: SQL over Apache Iceberg tables on DataFusion. It knows nothing of
//! sockets or terminals; the shell and the Postgres-wire server are faces over [`Engine`].

mod array_subquery;
mod auto_compact;
mod bytea_text;
mod catalog;
mod catalog_db;
pub mod catalog_info;
mod commit;
mod copy;
mod csv_fields;
mod data_file_reader;
mod data_file_scan;
mod ddl;
mod dictionary_choice;
mod display_zone;
mod engine;
pub mod error;
mod expand_array;
mod field_ids;
mod function_signatures;
mod information_schema;
mod insert_literals;
mod live_catalog;
mod maintenance;
mod manifest_cache;
mod manifest_merge;
mod metadata_tables;
mod names;
mod optimize;
pub mod output;
mod parquet_file;
pub mod parser;
mod partition_split;
mod partition_values;
mod pg_attribute;
mod pg_compat;
mod pg_constraints;
mod pg_functions;
mod pg_namespace_oids;
mod pg_recursive;
mod pg_regproc;
pub mod pg_text;
mod predicate;
pub mod progress;
mod pruning;
mod rewrite_order;
mod scan;
mod scan_with_deletes;
mod session_statement;
mod session_user;
mod setting_functions;
pub mod settings;
mod sink;
mod snapshot_files;
mod sort_order;
mod statistics;
mod table;
mod table_cache;
mod table_writer;
mod text_literal_calls;
mod time_travel;
mod timestamp_text;
mod types;
mod uuid_text;
mod vacuum;
pub mod warehouse;
mod write_properties;
mod write_routing;
mod zorder;

pub use catalog_info::{ColumnInfo, TableDetails};
pub use datafusion::arrow;
pub use names::quote as quote_ident;

/// The SQL syntax trees statements carry, for faces that look inside them.
pub mod sql {
    pub use datafusion::sql::parser::Statement as DFStatement;
    pub use datafusion::sql::sqlparser::ast;
}
pub use datafusion::common::{ParamValues, ScalarValue};
pub use engine::{Described, Engine};
pub use error::{FloeError, Result};
pub use output::Output;
pub use parser::Statement;
pub use progress::{WriteProgress, WrittenSoFar};
pub use table_writer::human_bytes;
pub use warehouse::Warehouse;
