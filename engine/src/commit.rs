//! The one commit path: every change to a table (append, replace, rollback, expire) is
//! turned into new metadata built on the current metadata, written, and published by a
//! compare-and-swap of the catalog pointer. When another writer wins the race, the change
//! is rebuilt on the newer metadata and validated again: an append always re-applies, a
//! replace fails with SQLSTATE 40001 only if a file it removes is no longer live.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iceberg::spec::{
    DataContentType, DataFile, FormatVersion, MAIN_BRANCH, ManifestContentType, ManifestFile,
    ManifestListWriter, ManifestWriter, ManifestWriterBuilder, Operation, Snapshot,
    SnapshotReference, SnapshotRetention, SnapshotSummaryCollector, Summary, TableMetadata,
    TableMetadataBuilder,
};
use iceberg::table::Table;
use iceberg::{Catalog, ErrorKind, TableIdent};

use crate::catalog::FloeCatalog;
use crate::error::{FloeError, Result, sqlstate};
use crate::manifest_cache::ManifestCache;
use crate::manifest_merge::manifests_to_merge;

/// How long a change keeps being rebuilt on newer metadata before giving up. Losing a race
/// costs one rebuild; only a table under a storm of commits from many writers takes long.
const COMMIT_PATIENCE: Duration = Duration::from_secs(120);

/// One kind of change to a table.
#[derive(Debug, Clone)]
pub enum Change {
    /// New data files, added beside the live ones (`append` snapshot). `arrow_bytes` is
    /// the size the rows had in memory before encoding, when the writer knows it: the
    /// summary then records it and the compression ratio.
    Append {
        files: Vec<DataFile>,
        arrow_bytes: Option<u64>,
    },
    /// Live data files swapped for new files holding the same rows (`replace` snapshot,
    /// as compaction writes it). `remove` holds data file paths.
    Replace {
        remove: HashSet<String>,
        add: Vec<DataFile>,
    },
    /// Row-level delete files (position or equality deletes) written elsewhere, added
    /// beside the live files (`delete` snapshot, as a row delta without new data).
    /// Floe itself writes no delete files; tests commit those of iceberg's writers.
    #[cfg_attr(not(test), allow(dead_code))]
    AddDeletes(Vec<DataFile>),
    /// Points the main branch at an ancestor snapshot again.
    Rollback { snapshot_id: i64 },
    /// Drops snapshots from the metadata (their files are deleted by VACUUM afterwards).
    ExpireSnapshots { snapshot_ids: Vec<i64> },
}

/// Commits `change` to table `ident`, rebuilding it on newer metadata after a lost race.
pub async fn commit(catalog: &FloeCatalog, ident: &TableIdent, change: &Change) -> Result<Table> {
    let started = std::time::Instant::now();
    let mut pause_limit_ms: u64 = 20;
    loop {
        let base = catalog.load_table(ident).await?;
        let base_location = base.metadata_location_result()?.to_string();
        let mut written = Vec::new();
        let staged = match stage(&base, change, catalog.manifests(), &mut written).await {
            Ok(metadata) => metadata,
            Err(err) => {
                remove_files(&base, &written).await;
                return Err(err);
            }
        };
        match catalog
            .publish_metadata(&base, &base_location, staged)
            .await
        {
            Ok(table) => return Ok(table),
            Err(err) if err.kind() == ErrorKind::CatalogCommitConflicts => {
                remove_files(&base, &written).await;
                if started.elapsed() > COMMIT_PATIENCE {
                    return Err(err.into());
                }
                // Random pauses keep writers from retrying in lockstep; the range grows
                // with each lost race so that many writers spread out.
                let pause = 1 + (uuid::Uuid::new_v4().as_u128() % pause_limit_ms as u128) as u64;
                tokio::time::sleep(Duration::from_millis(pause)).await;
                pause_limit_ms = (pause_limit_ms * 2).min(1000);
            }
            Err(err) => {
                remove_files(&base, &written).await;
                return Err(err.into());
            }
        }
    }
}

async fn remove_files(table: &Table, paths: &[String]) {
    for path in paths {
        let _ = table.file_io().delete(path).await;
    }
}

/// Builds the metadata that results from applying `change` to `base`, writing any manifests
/// and manifest list it needs (their paths are pushed to `written`).
async fn stage(
    base: &Table,
    change: &Change,
    cache: &ManifestCache,
    written: &mut Vec<String>,
) -> Result<TableMetadata> {
    let metadata = base.metadata();
    let builder = metadata
        .clone()
        .into_builder(base.metadata_location().map(str::to_string));
    let builder = match change {
        Change::Append { files, .. } | Change::Replace { add: files, .. }
            if files
                .iter()
                .any(|f| f.content_type() != DataContentType::Data) =>
        {
            return Err(FloeError::internal("only data files can be appended"));
        }
        Change::AddDeletes(files)
            if files
                .iter()
                .any(|f| f.content_type() == DataContentType::Data) =>
        {
            return Err(FloeError::internal(
                "a delete snapshot adds only delete files",
            ));
        }
        Change::Append { files, arrow_bytes } => {
            add_data_snapshot(
                base,
                cache,
                builder,
                Operation::Append,
                &HashSet::new(),
                files,
                &compression_summary(files, *arrow_bytes),
                written,
            )
            .await?
        }
        Change::Replace { remove, add } => {
            add_data_snapshot(
                base,
                cache,
                builder,
                Operation::Replace,
                remove,
                add,
                &[],
                written,
            )
            .await?
        }
        Change::AddDeletes(files) => {
            if metadata.format_version() == FormatVersion::V1 {
                return Err(FloeError::invalid(format!(
                    "table {} has format version 1, which has no row-level deletes",
                    base.identifier()
                )));
            }
            add_data_snapshot(
                base,
                cache,
                builder,
                Operation::Delete,
                &HashSet::new(),
                files,
                &[],
                written,
            )
            .await?
        }
        Change::Rollback { snapshot_id } => {
            if !is_ancestor_of_current(metadata, *snapshot_id) {
                return Err(FloeError::invalid(format!(
                    "snapshot {snapshot_id} is not an ancestor of the current snapshot of table {}",
                    base.identifier()
                )));
            }
            builder.set_ref(MAIN_BRANCH, main_branch(*snapshot_id))?
        }
        Change::ExpireSnapshots { snapshot_ids } => {
            let current = metadata.current_snapshot_id();
            if snapshot_ids.iter().any(|id| Some(*id) == current) {
                return Err(FloeError::invalid("the current snapshot cannot be expired"));
            }
            builder.remove_snapshots(snapshot_ids)
        }
    };
    Ok(builder.build()?.metadata)
}

fn main_branch(snapshot_id: i64) -> SnapshotReference {
    SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None))
}

/// Whether `snapshot_id` is the current snapshot or one of its parents.
pub fn is_ancestor_of_current(metadata: &TableMetadata, snapshot_id: i64) -> bool {
    let mut next = metadata.current_snapshot_id();
    while let Some(id) = next {
        if id == snapshot_id {
            return true;
        }
        next = metadata
            .snapshot_by_id(id)
            .and_then(|s| s.parent_snapshot_id());
    }
    false
}

/// Floe's snapshot summary entries for an append of `files`, whose rows took `arrow_bytes`
/// in memory: that size, and the compression ratio it gives over the files' size.
fn compression_summary(files: &[DataFile], arrow_bytes: Option<u64>) -> Vec<(String, String)> {
    let stored: u64 = files.iter().map(DataFile::file_size_in_bytes).sum();
    match arrow_bytes {
        Some(arrow_bytes) if stored > 0 => vec![
            (SUMMARY_ARROW_BYTES.to_string(), arrow_bytes.to_string()),
            (
                SUMMARY_COMPRESSION_RATIO.to_string(),
                format!("{:.2}", arrow_bytes as f64 / stored as f64),
            ),
        ],
        _ => Vec::new(),
    }
}

/// Summary entry: the in-memory (Arrow) size of the rows an append wrote.
pub const SUMMARY_ARROW_BYTES: &str = "floe.added-arrow-bytes";
/// Summary entry: that size divided by the size of the files written.
pub const SUMMARY_COMPRESSION_RATIO: &str = "floe.compression-ratio";

/// Adds a snapshot whose live files are the base's, minus the data files `remove`, plus
/// `add` (data and delete files); `extra_summary` goes into its summary as it is.
#[allow(clippy::too_many_arguments)]
async fn add_data_snapshot(
    base: &Table,
    cache: &ManifestCache,
    builder: TableMetadataBuilder,
    operation: Operation,
    remove: &HashSet<String>,
    add: &[DataFile],
    extra_summary: &[(String, String)],
    written: &mut Vec<String>,
) -> Result<TableMetadataBuilder> {
    let metadata = base.metadata();
    let snapshot_id = new_snapshot_id(metadata);
    let sequence_number = metadata.next_sequence_number();
    let commit_id = uuid::Uuid::new_v4();
    let mut summary = SnapshotSummaryCollector::default();
    let schema = metadata.current_schema().clone();
    let spec = metadata.default_partition_spec().clone();

    let mut manifests = Vec::new();
    let mut still_to_remove: HashSet<&str> = remove.iter().map(String::as_str).collect();
    if let Some(current) = metadata.current_snapshot() {
        let list = cache.list(base, current).await?;
        let merging = match operation {
            Operation::Append => manifests_to_merge(metadata.properties(), &list, spec.spec_id())?,
            _ => HashMap::new(),
        };
        let needs_rewrite = |manifest: &ManifestFile| {
            merging.contains_key(&manifest.manifest_path)
                || (!remove.is_empty() && manifest.content == ManifestContentType::Data)
        };
        manifests.extend(list.iter().filter(|m| !needs_rewrite(m)).cloned());
        // Through the cache: a compaction's commit reads the manifests its planning read.
        let loaded = cache
            .load(base, list.iter().filter(|m| needs_rewrite(m)))
            .await?;
        // Manifests holding a removed file are rewritten: removed files become `deleted`
        // entries of this snapshot, the others stay as `existing` entries with their
        // history. All those of one partition spec go into one new manifest, so compacting
        // a thousand single-file appends writes one manifest, not a thousand. Manifests
        // being merged go into the manifest of their group.
        let mut rewritten: BTreeMap<(i32, usize), ManifestWriter> = BTreeMap::new();
        for (manifest, loaded) in loaded {
            let group = merging.get(&manifest.manifest_path).copied();
            let touched = loaded
                .entries()
                .iter()
                .any(|e| e.is_alive() && still_to_remove.contains(e.file_path()));
            if !touched && group.is_none() {
                manifests.push(manifest);
                continue;
            }
            let file_spec = metadata
                .partition_spec_by_id(manifest.partition_spec_id)
                .ok_or_else(|| {
                    FloeError::internal("manifest refers to an unknown partition spec")
                })?;
            let key = (manifest.partition_spec_id, group.unwrap_or(usize::MAX));
            let writer = match rewritten.entry(key) {
                Entry::Occupied(writer) => writer.into_mut(),
                Entry::Vacant(slot) => slot.insert(manifest_writer(
                    base,
                    &commit_id,
                    written,
                    snapshot_id,
                    file_spec.as_ref().clone(),
                    ManifestContentType::Data,
                )?),
            };
            for entry in loaded.entries() {
                if !entry.is_alive() {
                    continue;
                }
                let sequence = entry.sequence_number.unwrap_or(0);
                let file_sequence = entry.file_sequence_number.or(Some(sequence));
                if still_to_remove.remove(entry.file_path()) {
                    summary.remove_file(entry.data_file(), schema.clone(), file_spec.clone());
                    writer.add_delete_file(entry.data_file().clone(), sequence, file_sequence)?;
                } else {
                    writer.add_existing_file(
                        entry.data_file().clone(),
                        entry.snapshot_id.unwrap_or(manifest.added_snapshot_id),
                        sequence,
                        file_sequence,
                    )?;
                }
            }
        }
        for writer in rewritten.into_values() {
            manifests.push(writer.write_manifest_file().await?);
        }
    }
    if let Some(missing) = still_to_remove.iter().next() {
        return Err(FloeError::new(
            sqlstate::SERIALIZATION_FAILURE,
            format!(
                "table {} was changed concurrently: data file {missing} is no longer part of it",
                base.identifier()
            ),
        ));
    }
    let (added_data, added_deletes): (Vec<&DataFile>, Vec<&DataFile>) = add
        .iter()
        .partition(|file| file.content_type() == DataContentType::Data);
    // New manifests go first, as readers expect the newest files first.
    for (files, content) in [
        (added_deletes, ManifestContentType::Deletes),
        (added_data, ManifestContentType::Data),
    ] {
        if files.is_empty() {
            continue;
        }
        let mut writer = manifest_writer(
            base,
            &commit_id,
            written,
            snapshot_id,
            spec.as_ref().clone(),
            content,
        )?;
        for file in files {
            summary.add_file(file, schema.clone(), spec.clone());
            // A negative sequence number leaves it to be inherited from the manifest list.
            writer.add_file(file.clone(), -1)?;
        }
        manifests.insert(0, writer.write_manifest_file().await?);
    }

    let list_path = format!(
        "{}/metadata/snap-{snapshot_id}-0-{commit_id}.avro",
        metadata.location()
    );
    let output = base.file_io().new_output(&list_path)?.writer().await?;
    written.push(list_path.clone());
    let parent = metadata.current_snapshot_id();
    let first_row_id = metadata.next_row_id();
    let mut list = match metadata.format_version() {
        FormatVersion::V1 => ManifestListWriter::v1(output, snapshot_id, parent),
        FormatVersion::V2 => ManifestListWriter::v2(output, snapshot_id, parent, sequence_number),
        FormatVersion::V3 => ManifestListWriter::v3(
            output,
            snapshot_id,
            parent,
            sequence_number,
            Some(first_row_id),
        ),
    };
    list.add_manifests(manifests.into_iter())?;
    let next_row_id = list.next_row_id();
    list.close().await?;

    let mut properties = with_totals(
        summary.build(),
        metadata.current_snapshot().map(|s| s.summary()),
    );
    properties.extend(extra_summary.iter().cloned());
    let summary = Summary {
        operation,
        additional_properties: properties,
    };
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent)
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(now_ms().max(metadata.last_updated_ms()))
        .with_manifest_list(list_path)
        .with_summary(summary)
        .with_schema_id(metadata.current_schema_id());
    let snapshot = match next_row_id {
        Some(next) => snapshot
            .with_row_range(first_row_id, next - first_row_id)
            .build(),
        None => snapshot.build(),
    };
    Ok(builder
        .add_snapshot(snapshot)?
        .set_ref(MAIN_BRANCH, main_branch(snapshot_id))?)
}

fn manifest_writer(
    base: &Table,
    commit_id: &uuid::Uuid,
    written: &mut Vec<String>,
    snapshot_id: i64,
    spec: iceberg::spec::PartitionSpec,
    content: ManifestContentType,
) -> Result<ManifestWriter> {
    let metadata = base.metadata();
    let path = format!(
        "{}/metadata/{commit_id}-m{}.avro",
        metadata.location(),
        written.len()
    );
    let output = base.file_io().new_output(&path)?;
    written.push(path);
    let builder = ManifestWriterBuilder::new(
        output,
        Some(snapshot_id),
        metadata.current_schema().clone(),
        spec,
    );
    Ok(match (metadata.format_version(), content) {
        (FormatVersion::V1, _) => builder.build_v1(),
        (FormatVersion::V2, ManifestContentType::Data) => builder.build_v2_data(),
        (FormatVersion::V2, ManifestContentType::Deletes) => builder.build_v2_deletes(),
        (FormatVersion::V3, ManifestContentType::Data) => builder.build_v3_data(),
        (FormatVersion::V3, ManifestContentType::Deletes) => builder.build_v3_deletes(),
    })
}

/// The `total-*` summary values: the previous snapshot's totals plus what this snapshot
/// added minus what it removed. A previous snapshot without totals leaves them unknown.
fn with_totals(
    mut properties: HashMap<String, String>,
    previous: Option<&Summary>,
) -> HashMap<String, String> {
    const TOTALS: [(&str, &str, &str); 6] = [
        ("total-data-files", "added-data-files", "deleted-data-files"),
        (
            "total-delete-files",
            "added-delete-files",
            "removed-delete-files",
        ),
        ("total-records", "added-records", "deleted-records"),
        ("total-files-size", "added-files-size", "removed-files-size"),
        (
            "total-position-deletes",
            "added-position-deletes",
            "removed-position-deletes",
        ),
        (
            "total-equality-deletes",
            "added-equality-deletes",
            "removed-equality-deletes",
        ),
    ];
    let number = |map: &HashMap<String, String>, key: &str| -> Option<u64> {
        match map.get(key) {
            Some(value) => value.parse().ok(),
            None => Some(0),
        }
    };
    for (total, added, removed) in TOTALS {
        let before = match previous {
            None => Some(0),
            Some(summary) => summary
                .additional_properties
                .get(total)
                .and_then(|v| v.parse::<u64>().ok()),
        };
        let (Some(before), Some(added), Some(removed)) = (
            before,
            number(&properties, added),
            number(&properties, removed),
        ) else {
            continue;
        };
        let value = (before + added).saturating_sub(removed);
        properties.insert(total.to_string(), value.to_string());
    }
    properties
}

fn new_snapshot_id(metadata: &TableMetadata) -> i64 {
    loop {
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((high ^ low) & (i64::MAX as u64)) as i64;
        if id != 0 && metadata.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn totals_add_and_subtract_from_the_previous_snapshot() {
        let previous = Summary {
            operation: Operation::Append,
            additional_properties: props(&[
                ("total-data-files", "5"),
                ("total-records", "50"),
                ("total-files-size", "5000"),
                ("total-delete-files", "0"),
                ("total-position-deletes", "0"),
                ("total-equality-deletes", "0"),
            ]),
        };
        let now = with_totals(
            props(&[
                ("added-data-files", "1"),
                ("deleted-data-files", "4"),
                ("added-records", "40"),
                ("deleted-records", "40"),
                ("added-files-size", "900"),
                ("removed-files-size", "4000"),
            ]),
            Some(&previous),
        );
        assert_eq!(now["total-data-files"], "2");
        assert_eq!(now["total-records"], "50");
        assert_eq!(now["total-files-size"], "1900");
        assert_eq!(now["total-delete-files"], "0");
    }

    #[test]
    fn unknown_previous_totals_stay_unknown() {
        let previous = Summary {
            operation: Operation::Append,
            additional_properties: HashMap::new(),
        };
        let now = with_totals(props(&[("added-data-files", "1")]), Some(&previous));
        assert!(!now.contains_key("total-data-files"));
        let first = with_totals(props(&[("added-data-files", "1")]), None);
        assert_eq!(first["total-data-files"], "1");
    }
}
