//! Manifest lists and manifests kept between statements. Both are immutable once written,
//! so an entry keyed by its file path never goes stale; a new snapshot has a new manifest
//! list but mostly reuses the manifests of its parent, which stay cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::common::runtime::SpawnedTask;
use futures::{StreamExt, TryStreamExt};
use iceberg::spec::{Manifest, ManifestFile, ManifestList, SnapshotRef};
use iceberg::table::Table;
use iceberg::{Error, ErrorKind, Result};

/// Past this many cached files of either kind, the cache starts afresh: it only saves reads.
const CAPACITY: usize = 4096;

/// How many manifests are read and decoded at once.
const MANIFESTS_LOADED_AT_ONCE: usize = 32;

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
        let list = self.list(table, snapshot).await?;
        self.load(table, list.iter()).await
    }

    /// The manifest list of one of the table's snapshots.
    pub async fn list(
        &self,
        table: &Table,
        snapshot: &SnapshotRef,
    ) -> Result<Arc<Vec<ManifestFile>>> {
        if let Some(list) = cached(&self.lists, snapshot.manifest_list()) {
            return Ok(list);
        }
        let bytes = table
            .file_io()
            .new_input(snapshot.manifest_list())?
            .read()
            .await?;
        let list = ManifestList::parse_with_version(&bytes, table.metadata().format_version())?;
        let list = Arc::new(list.consume_entries().into_iter().collect::<Vec<_>>());
        remember(&self.lists, snapshot.manifest_list(), list.clone());
        Ok(list)
    }

    /// The given manifests of the table, in their order.
    pub async fn load(
        &self,
        table: &Table,
        files: impl Iterator<Item = &ManifestFile>,
    ) -> Result<SnapshotManifests> {
        // Decoding a manifest costs far more than reading it, so the manifests missing from
        // the cache are decoded by spawned tasks, on all cores.
        let loads: Vec<_> = files
            .map(|file| {
                let cached = cached(&self.manifests, &file.manifest_path);
                let file_io = table.file_io().clone();
                let to_load = file.clone();
                async move {
                    if let Some(manifest) = cached {
                        return Ok((to_load, manifest));
                    }
                    let path = to_load.manifest_path.clone();
                    let manifest = SpawnedTask::spawn(async move {
                        to_load
                            .load_manifest(&file_io)
                            .await
                            .map(|manifest| (to_load, Arc::new(manifest)))
                    })
                    .join()
                    .await
                    .map_err(|err| {
                        Error::new(
                            ErrorKind::Unexpected,
                            format!("reading manifest {path} failed: {err}"),
                        )
                    })??;
                    remember(&self.manifests, &path, manifest.1.clone());
                    Ok(manifest)
                }
            })
            .collect();
        futures::stream::iter(loads)
            .buffered(MANIFESTS_LOADED_AT_ONCE)
            .try_collect()
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
