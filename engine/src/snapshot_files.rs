//! Reading what a snapshot is made of: its manifests and their entries. Shared by the
//! maintenance actions (OPTIMIZE, VACUUM) and the metadata tables.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};

use iceberg::spec::{
    MAIN_BRANCH, ManifestEntryRef, ManifestFile, SnapshotRef, SnapshotReference, SnapshotRetention,
    TableMetadata,
};
use iceberg::table::Table;

use crate::error::{FloeError, Result};

/// How many manifests are read at once.
const MANIFESTS_READ_AT_ONCE: usize = 16;

/// The manifests listed by `snapshot`'s manifest list.
pub async fn manifests(table: &Table, snapshot: &SnapshotRef) -> Result<Vec<ManifestFile>> {
    let list = table.manifest_list_reader(snapshot).load().await?;
    Ok(list.consume_entries().into_iter().collect())
}

/// Every entry of every manifest of `snapshot`, with the manifest it came from; `live_only`
/// keeps the added and existing entries (the files the snapshot reads).
pub async fn entries(
    table: &Table,
    snapshot: &SnapshotRef,
    live_only: bool,
) -> Result<Vec<(ManifestFile, ManifestEntryRef)>> {
    // Read concurrently: a table of many small appends has as many small manifests.
    let loaded: Vec<_> = futures::stream::iter(manifests(table, snapshot).await?)
        .map(|manifest| async move {
            let loaded = manifest.load_manifest(table.file_io()).await?;
            Ok::<_, FloeError>((manifest, loaded))
        })
        .buffered(MANIFESTS_READ_AT_ONCE)
        .try_collect()
        .await?;
    let mut all = Vec::new();
    for (manifest, loaded) in loaded {
        for entry in loaded.entries() {
            if !live_only || entry.is_alive() {
                all.push((manifest.clone(), entry.clone()));
            }
        }
    }
    Ok(all)
}

/// The table's branches and tags. iceberg keeps them private to its metadata type, so they
/// are read back from the metadata's own JSON form.
pub fn refs(metadata: &TableMetadata) -> Result<Vec<(String, SnapshotReference)>> {
    let json = serde_json::to_value(metadata)
        .map_err(|err| FloeError::internal(format!("table metadata as JSON: {err}")))?;
    let refs: HashMap<String, SnapshotReference> = match json.get("refs") {
        Some(refs) => serde_json::from_value(refs.clone())
            .map_err(|err| FloeError::internal(format!("table refs: {err}")))?,
        None => HashMap::new(),
    };
    let mut refs: Vec<_> = refs.into_iter().collect();
    // Format v1 metadata may list no refs; its current snapshot is still the main branch.
    if refs.is_empty()
        && let Some(id) = metadata.current_snapshot_id()
    {
        refs.push((
            MAIN_BRANCH.to_string(),
            SnapshotReference::new(id, SnapshotRetention::branch(None, None, None)),
        ));
    }
    refs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(refs)
}
