//! Loaded tables kept between statements. A table's metadata file never changes once
//! written, so a cached table is valid exactly as long as the catalog still points at its
//! metadata location; the catalog pointer is read on every lookup, so commits by other
//! processes are seen at once. It saves reading and parsing the metadata file; manifests
//! are kept by `manifest_cache.rs`.

use std::collections::HashMap;
use std::sync::Mutex;

use iceberg::TableIdent;
use iceberg::table::Table;

/// How many tables stay cached; the least recently used beyond that are dropped.
const CAPACITY: usize = 64;

#[derive(Debug, Default)]
pub struct TableCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    tables: HashMap<TableIdent, (u64, Table)>,
    clock: u64,
}

impl TableCache {
    /// The cached table, if it is the one whose metadata lives at `metadata_location`.
    pub fn get(&self, ident: &TableIdent, metadata_location: &str) -> Option<Table> {
        let mut entries = self.entries.lock().expect("table cache lock");
        entries.clock += 1;
        let now = entries.clock;
        let (used, table) = entries.tables.get_mut(ident)?;
        if table.metadata_location() != Some(metadata_location) {
            return None;
        }
        *used = now;
        Some(table.clone())
    }

    pub fn put(&self, table: Table) {
        let mut entries = self.entries.lock().expect("table cache lock");
        entries.clock += 1;
        let now = entries.clock;
        entries
            .tables
            .insert(table.identifier().clone(), (now, table));
        if entries.tables.len() > CAPACITY {
            let oldest = entries
                .tables
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(ident, _)| ident.clone());
            if let Some(oldest) = oldest {
                entries.tables.remove(&oldest);
            }
        }
    }

    pub fn forget(&self, ident: &TableIdent) {
        self.entries
            .lock()
            .expect("table cache lock")
            .tables
            .remove(ident);
    }
}
