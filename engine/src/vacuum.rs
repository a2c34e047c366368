//! VACUUM and its parts: expiring old snapshots, deleting the files only they reached, and
//! removing orphan files (written by statements that never committed, or left behind by a
//! crash). A file is kept while anything live reaches it: the current metadata file, the
//! metadata log, and every retained snapshot's manifest list, manifests and live data files.
//! Orphans younger than the retention are kept too, because they may belong to a commit
//! still in flight; that is why a retention below the safety floor is refused.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iceberg::spec::TableMetadata;
use iceberg::table::Table;
use iceberg::{Catalog, TableIdent};

use crate::catalog::FloeCatalog;
use crate::commit::{Change, commit};
use crate::error::{FloeError, Result};
use crate::snapshot_files;

/// The default retention and safety floor: 7 days, as Delta and Trino use.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// Table property: how many of the newest snapshots expiry always keeps.
const MIN_SNAPSHOTS_TO_KEEP: &str = "history.expire.min-snapshots-to-keep";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VacuumScope {
    /// `VACUUM`: expire snapshots, delete what they alone reached, remove orphans.
    Full,
    /// `expire_snapshots`: expire snapshots and delete what they alone reached.
    ExpireSnapshots,
    /// `remove_orphan_files`: only remove files nothing reaches.
    RemoveOrphans,
}

#[derive(Debug, Clone)]
pub struct VacuumRequest {
    pub scope: VacuumScope,
    /// Snapshots and orphan files younger than this are kept; default [`DEFAULT_RETENTION`].
    pub retention: Option<Duration>,
    /// List what would be deleted, change nothing.
    pub dry_run: bool,
}

#[derive(Debug, Default)]
pub struct VacuumReport {
    pub expired_snapshots: Vec<i64>,
    /// `(kind, path)` of every file deleted (or, in a dry run, that would be).
    pub files: Vec<(String, String)>,
}

/// Runs `request` on table `ident`. `min_retention` is the session's safety floor.
pub async fn vacuum(
    catalog: &FloeCatalog,
    ident: &TableIdent,
    request: &VacuumRequest,
    min_retention: Duration,
) -> Result<VacuumReport> {
    let retention = request.retention.unwrap_or(DEFAULT_RETENTION);
    if retention < min_retention {
        return Err(FloeError::invalid(format!(
            "retention {} is shorter than the minimum {} (floe.vacuum.min_retention); files of \
             commits still in flight could be deleted. To allow it anyway: \
             SET floe.vacuum.min_retention = '0s'",
            describe(retention),
            describe(min_retention)
        )));
    }
    let cutoff_ms = now_ms().saturating_sub(retention.as_millis() as i64);
    let mut report = VacuumReport::default();
    let mut table = catalog.load_table(ident).await?;

    if request.scope != VacuumScope::RemoveOrphans {
        let expired = snapshots_to_expire(table.metadata(), cutoff_ms)?;
        if !expired.is_empty() {
            // What the expired snapshots reached, before they go from the metadata.
            let mut candidates = HashSet::new();
            for id in &expired {
                if let Some(snapshot) = table.metadata().snapshot_by_id(*id) {
                    candidates.insert(normalize(snapshot.manifest_list()));
                    for (manifest, entry) in snapshot_files::entries(&table, snapshot, true).await?
                    {
                        candidates.insert(normalize(&manifest.manifest_path));
                        candidates.insert(normalize(entry.file_path()));
                    }
                    // Manifests without live entries are still reached by the list.
                    for manifest in snapshot_files::manifests(&table, snapshot).await? {
                        candidates.insert(normalize(&manifest.manifest_path));
                    }
                }
            }
            let retained: Vec<i64> = table
                .metadata()
                .snapshots()
                .map(|s| s.snapshot_id())
                .filter(|id| !expired.contains(id))
                .collect();
            if !request.dry_run {
                table = commit(
                    catalog,
                    ident,
                    &Change::ExpireSnapshots {
                        snapshot_ids: expired.clone(),
                    },
                )
                .await?;
            }
            let reachable = if request.dry_run {
                reachable_files(&table, Some(&retained)).await?
            } else {
                reachable_files(&table, None).await?
            };
            let mut unreachable: Vec<String> = candidates
                .into_iter()
                .filter(|path| !reachable.contains(path))
                .collect();
            unreachable.sort();
            for path in unreachable {
                if !request.dry_run {
                    delete(&table, &path).await?;
                }
                report.files.push((kind_of(&path).to_string(), path));
            }
            report.expired_snapshots = expired;
        }
    }

    if request.scope != VacuumScope::ExpireSnapshots {
        let reachable = reachable_files(&table, None).await?;
        let already: HashSet<String> = report.files.iter().map(|(_, p)| p.clone()).collect();
        let root = local_path(table.metadata().location()).ok_or_else(|| {
            FloeError::unsupported(format!(
                "removing orphan files needs a table on the local file system; {} is at {}",
                table.identifier(),
                table.metadata().location()
            ))
        })?;
        let mut orphans = Vec::new();
        list_files(&root, &mut orphans)?;
        orphans.sort();
        for (path, modified_ms) in orphans {
            let path = path.to_string_lossy().to_string();
            if reachable.contains(&path) || already.contains(&path) || modified_ms >= cutoff_ms {
                continue;
            }
            if !request.dry_run {
                delete(&table, &path).await?;
            }
            report.files.push((kind_of(&path).to_string(), path));
        }
    }
    Ok(report)
}

/// Snapshots older than the cutoff that no branch or tag needs, keeping the current
/// snapshot and its newest ancestors up to `history.expire.min-snapshots-to-keep`.
fn snapshots_to_expire(metadata: &TableMetadata, cutoff_ms: i64) -> Result<Vec<i64>> {
    let keep_count = metadata
        .properties()
        .get(MIN_SNAPSHOTS_TO_KEEP)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let mut keep = HashSet::new();
    let mut next = metadata.current_snapshot_id();
    while let Some(id) = next {
        if keep.len() >= keep_count {
            break;
        }
        keep.insert(id);
        next = metadata
            .snapshot_by_id(id)
            .and_then(|s| s.parent_snapshot_id());
    }
    for (_, reference) in snapshot_files::refs(metadata)? {
        keep.insert(reference.snapshot_id);
    }
    let mut expired: Vec<i64> = metadata
        .snapshots()
        .filter(|s| !keep.contains(&s.snapshot_id()) && s.timestamp_ms() < cutoff_ms)
        .map(|s| s.snapshot_id())
        .collect();
    expired.sort();
    Ok(expired)
}

/// Every file the table's metadata reaches: the current metadata file and its log, and the
/// manifest lists, manifests and live data files of the snapshots (all, or `only` these).
async fn reachable_files(table: &Table, only: Option<&[i64]>) -> Result<HashSet<String>> {
    let metadata = table.metadata();
    let mut reachable = HashSet::new();
    if let Some(location) = table.metadata_location() {
        reachable.insert(normalize(location));
    }
    for entry in metadata.metadata_log() {
        reachable.insert(normalize(&entry.metadata_file));
    }
    for snapshot in metadata.snapshots() {
        if only.is_some_and(|ids| !ids.contains(&snapshot.snapshot_id())) {
            continue;
        }
        reachable.insert(normalize(snapshot.manifest_list()));
        for manifest in snapshot_files::manifests(table, snapshot).await? {
            reachable.insert(normalize(&manifest.manifest_path));
        }
        for (_, entry) in snapshot_files::entries(table, snapshot, true).await? {
            reachable.insert(normalize(entry.file_path()));
        }
    }
    Ok(reachable)
}

async fn delete(table: &Table, path: &str) -> Result<()> {
    match table.file_io().delete(path).await {
        Ok(()) => Ok(()),
        // Already gone (a concurrent VACUUM): the goal is reached.
        Err(_) if !Path::new(path).exists() => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// The local file system path of a location (`file:///a/b` or `/a/b`), if it is local.
fn local_path(location: &str) -> Option<PathBuf> {
    let path = location.strip_prefix("file://").unwrap_or(location);
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// Locations compare as local paths, whichever spelling the writer used.
fn normalize(location: &str) -> String {
    match local_path(location) {
        Some(path) => path.to_string_lossy().to_string(),
        None => location.to_string(),
    }
}

fn list_files(dir: &Path, out: &mut Vec<(PathBuf, i64)>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    for entry in entries {
        let entry = entry?;
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            list_files(&entry.path(), out)?;
        } else if file_type.is_file() {
            let modified = entry
                .metadata()?
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as i64);
            out.push((entry.path(), modified));
        }
    }
    Ok(())
}

fn kind_of(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.ends_with(".metadata.json") {
        "metadata"
    } else if name.starts_with("snap-") && name.ends_with(".avro") {
        "manifest_list"
    } else if name.ends_with(".avro") {
        "manifest"
    } else if name.ends_with(".parquet") {
        "data"
    } else {
        "other"
    }
}

fn describe(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs.is_multiple_of(86_400) && secs > 0 {
        format!("{}d", secs / 86_400)
    } else if secs.is_multiple_of(3600) && secs > 0 {
        format!("{}h", secs / 3600)
    } else {
        format!("{secs}s")
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_kinds_and_paths() {
        assert_eq!(kind_of("/w/t/metadata/00001-x.metadata.json"), "metadata");
        assert_eq!(kind_of("/w/t/metadata/snap-1-0-x.avro"), "manifest_list");
        assert_eq!(kind_of("/w/t/metadata/x-m0.avro"), "manifest");
        assert_eq!(kind_of("/w/t/data/a=1/x.parquet"), "data");
        assert_eq!(normalize("file:///w/t/x"), "/w/t/x");
        assert_eq!(normalize("/w/t/x"), "/w/t/x");
        assert_eq!(describe(DEFAULT_RETENTION), "7d");
    }
}
