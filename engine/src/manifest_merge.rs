//! Manifest merging on append, as Iceberg's merge-append does (and with its property
//! names): without it every INSERT adds a manifest, and a table of a thousand small
//! INSERTs makes every query and every compaction read a thousand manifests.
//!
//! When an append would leave at least `commit.manifest.min-count-to-merge` (default 100)
//! data manifests of the table's partition spec below `commit.manifest.target-size-bytes`
//! (default 8 MiB), those small manifests are packed, newest first, into groups of about
//! the target size, and each group of two or more is rewritten as one manifest.
//! `commit.manifest-merge.enabled = false` turns this off.

use std::collections::HashMap;

use iceberg::spec::{ManifestContentType, ManifestFile};

use crate::error::{FloeError, Result};

const ENABLED: &str = "commit.manifest-merge.enabled";
const MIN_COUNT: &str = "commit.manifest.min-count-to-merge";
const TARGET_SIZE: &str = "commit.manifest.target-size-bytes";
const MIN_COUNT_DEFAULT: usize = 100;
const TARGET_SIZE_DEFAULT: u64 = 8 * 1024 * 1024;

/// The manifests an append to a table with `properties` folds, each with the number of the
/// group it goes into. `manifests` are the current snapshot's, newest first; `spec_id` is
/// the partition spec the append writes with (only its manifests are folded together).
pub fn manifests_to_merge(
    properties: &HashMap<String, String>,
    manifests: &[ManifestFile],
    spec_id: i32,
) -> Result<HashMap<String, usize>> {
    if !setting(properties, ENABLED, true)? {
        return Ok(HashMap::new());
    }
    let min_count: usize = setting(properties, MIN_COUNT, MIN_COUNT_DEFAULT)?;
    let target_size: u64 = setting(properties, TARGET_SIZE, TARGET_SIZE_DEFAULT)?;
    let small: Vec<&ManifestFile> = manifests
        .iter()
        .filter(|m| {
            m.content == ManifestContentType::Data
                && m.partition_spec_id == spec_id
                && (m.manifest_length as u64) < target_size
        })
        .collect();
    // The append's own new manifest counts too.
    if small.len() + 1 < min_count.max(2) {
        return Ok(HashMap::new());
    }
    let mut groups: Vec<(u64, Vec<&ManifestFile>)> = vec![(0, Vec::new())];
    for manifest in small {
        let size = manifest.manifest_length as u64;
        let (group_size, members) = groups.last_mut().expect("one group at least");
        if !members.is_empty() && *group_size + size > target_size {
            groups.push((size, vec![manifest]));
        } else {
            *group_size += size;
            members.push(manifest);
        }
    }
    Ok(groups
        .into_iter()
        .filter(|(_, members)| members.len() >= 2)
        .enumerate()
        .flat_map(|(group, (_, members))| {
            members
                .into_iter()
                .map(move |m| (m.manifest_path.clone(), group))
        })
        .collect())
}

fn setting<T: std::str::FromStr>(
    properties: &HashMap<String, String>,
    key: &str,
    default: T,
) -> Result<T> {
    match properties.get(key) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| {
            FloeError::invalid(format!(
                "table property {key} has an invalid value: {value}"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, length: i64, spec_id: i32) -> ManifestFile {
        ManifestFile {
            manifest_path: name.to_string(),
            manifest_length: length,
            partition_spec_id: spec_id,
            content: ManifestContentType::Data,
            sequence_number: 1,
            min_sequence_number: 1,
            added_snapshot_id: 1,
            added_files_count: Some(1),
            existing_files_count: Some(0),
            deleted_files_count: Some(0),
            added_rows_count: Some(1),
            existing_rows_count: Some(0),
            deleted_rows_count: Some(0),
            partitions: None,
            key_metadata: None,
            first_row_id: None,
        }
    }

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn many(count: usize, length: i64) -> Vec<ManifestFile> {
        (0..count)
            .map(|n| manifest(&format!("m{n}"), length, 0))
            .collect()
    }

    #[test]
    fn merges_once_the_append_reaches_the_minimum_count() {
        assert!(
            manifests_to_merge(&props(&[]), &many(98, 100), 0)
                .unwrap()
                .is_empty()
        );
        let merged = manifests_to_merge(&props(&[]), &many(99, 100), 0).unwrap();
        assert_eq!(merged.len(), 99);
        assert!(merged.values().all(|group| *group == 0));
    }

    #[test]
    fn packs_groups_up_to_the_target_size_and_leaves_big_and_foreign_manifests() {
        let mut manifests = many(5, 40);
        manifests.push(manifest("big", 1000, 0));
        manifests.push(manifest("other-spec", 10, 1));
        let properties = props(&[(MIN_COUNT, "3"), (TARGET_SIZE, "100")]);
        let merged = manifests_to_merge(&properties, &manifests, 0).unwrap();
        // 40 + 40 fit in 100, a third would not: groups {m0, m1}, {m2, m3}; m4 is alone.
        let mut groups: Vec<(&str, usize)> = merged.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        groups.sort();
        assert_eq!(groups, vec![("m0", 0), ("m1", 0), ("m2", 1), ("m3", 1)]);
    }

    #[test]
    fn can_be_turned_off_and_rejects_bad_values() {
        let off = props(&[(ENABLED, "false")]);
        assert!(
            manifests_to_merge(&off, &many(500, 10), 0)
                .unwrap()
                .is_empty()
        );
        let bad = props(&[(MIN_COUNT, "lots")]);
        let err = manifests_to_merge(&bad, &many(5, 10), 0).unwrap_err();
        assert!(err.message.contains(MIN_COUNT), "{}", err.message);
    }
}
