//! Manifest lists and manifests kept between statements. Both are immutable once written,
//! so an entry keyed by its file path never goes stale; a new snapshot has a new manifest
//! list but mostly reuses the manifests of its parent, which stay cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::try_join_all;
use iceberg::Result;
use iceberg::spec::{Manifest, ManifestFile, ManifestList, SnapshotRef};
use iceberg::table::Table;

/// Past this many cached files of either kind, the cache starts afresh: it only saves reads.
const CAPACITY: usize = 4096;

/// One snapshot's manifests, each with its entry in the manifest list.
pub type SnapshotManifests = Vec<(ManifestFile, Arc<Manifest>)>;

#[derive(Debug, Default)]
pub struct ManifestCache {
    lists: Mutex<HashMap<String, Arc<Vec<ManifestFile>>>>,
    manifests: Mutex<HashMap<String, Arc<Manifest>>>,
}

impl ManifestCache {
    /// The manifests of one of the table's snapshots (none for no snapshot).
    pub async fn of_snapshot(
        &self,
        table: &Table,
        snapshot: Option<&SnapshotRef>,
    ) -> Result<SnapshotManifests> {
        let Some(snapshot) = snapshot else {
            return Ok(Vec::new());
        };
        let list = match cached(&self.lists, snapshot.manifest_list()) {
            Some(list) => list,
            None => {
                let bytes = table
                    .file_io()
                    .new_input(snapshot.manifest_list())?
                    .read()
                    .await?;
                let list =
                    ManifestList::parse_with_version(&bytes, table.metadata().format_version())?;
                let list = Arc::new(list.consume_entries().into_iter().collect::<Vec<_>>());
                remember(&self.lists, snapshot.manifest_list(), list.clone());
                list
            }
        };
        try_join_all(list.iter().map(|file| async move {
            let manifest = match cached(&self.manifests, &file.manifest_path) {
                Some(manifest) => manifest,
                None => {
                    let manifest = Arc::new(file.load_manifest(table.file_io()).await?);
                    remember(&self.manifests, &file.manifest_path, manifest.clone());
                    manifest
                }
            };
            Ok((file.clone(), manifest))
        }))
        .await
    }
}

fn cached<T>(map: &Mutex<HashMap<String, Arc<T>>>, path: &str) -> Option<Arc<T>> {
    map.lock().expect("manifest cache lock").get(path).cloned()
}

fn remember<T>(map: &Mutex<HashMap<String, Arc<T>>>, path: &str, value: Arc<T>) {
    let mut map = map.lock().expect("manifest cache lock");
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(path.to_string(), value);
}
