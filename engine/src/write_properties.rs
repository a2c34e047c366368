//! Parquet writer settings from an Iceberg table's `write.parquet.*` properties, plus
//! Floe's per-column codec (`floe.write.parquet.compression-codec.column.<col>`, with an
//! optional `floe.write.parquet.compression-level.column.<col>`).
//!
//! Statistics are never truncated: a truncated min/max would make the bounds Iceberg
//! records for pruning wrong.

use std::collections::HashMap;
use std::str::FromStr;

use datafusion::parquet::basic::{Compression, GzipLevel, ZstdLevel};
use datafusion::parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use datafusion::parquet::schema::types::ColumnPath;

use crate::error::{FloeError, Result};

const CODEC: &str = "write.parquet.compression-codec";
const CODEC_LEVEL: &str = "write.parquet.compression-level";
const ROW_GROUP_ROWS: &str = "write.parquet.row-group-limit";
const PAGE_ROWS: &str = "write.parquet.page-row-limit";
const PAGE_BYTES: &str = "write.parquet.page-size-bytes";
const BLOOM_ENABLED: &str = "write.parquet.bloom-filter-enabled.column.";
const BLOOM_FPP: &str = "write.parquet.bloom-filter-fpp.column.";
const BLOOM_NDV: &str = "write.parquet.bloom-filter-ndv.column.";
pub const COLUMN_CODEC: &str = "floe.write.parquet.compression-codec.column.";
const COLUMN_CODEC_LEVEL: &str = "floe.write.parquet.compression-level.column.";

pub fn writer_properties(properties: &HashMap<String, String>) -> Result<WriterProperties> {
    let mut builder = WriterProperties::builder()
        .set_compression(compression(properties, CODEC, CODEC_LEVEL)?)
        .set_statistics_truncate_length(None)
        .set_column_index_truncate_length(None);
    if let Some(rows) = number::<usize>(properties, ROW_GROUP_ROWS)? {
        builder = builder.set_max_row_group_row_count(Some(rows.max(1)));
    }
    if let Some(rows) = number::<usize>(properties, PAGE_ROWS)? {
        // The writer checks the page limit between write batches, so small pages need
        // batches no larger than a page.
        builder = builder
            .set_data_page_row_count_limit(rows.max(1))
            .set_write_batch_size(rows.clamp(1, 1024));
    }
    if let Some(bytes) = number::<usize>(properties, PAGE_BYTES)? {
        builder = builder.set_data_page_size_limit(bytes.max(1));
    }
    builder = bloom_filters(builder, properties)?;
    for key in properties.keys() {
        if let Some(column) = key.strip_prefix(COLUMN_CODEC) {
            let codec = compression(properties, key, &format!("{COLUMN_CODEC_LEVEL}{column}"))?;
            builder = builder.set_column_compression(column_path(column), codec);
        }
    }
    Ok(builder.build())
}

fn column_path(column: &str) -> ColumnPath {
    ColumnPath::from(column.split('.').map(str::to_string).collect::<Vec<_>>())
}

/// The codec named by property `codec_key` (zstd when absent) at the level `level_key`
/// gives. zstd's default level is 1, as in Arrow's Parquet writers (and so pyiceberg's):
/// level 3 (parquet-mr's) spent about 5% more of a load's CPU for files 2% smaller.
fn compression(
    properties: &HashMap<String, String>,
    codec_key: &str,
    level_key: &str,
) -> Result<Compression> {
    let codec = properties
        .get(codec_key)
        .map(|c| c.to_ascii_lowercase())
        .unwrap_or_else(|| "zstd".to_string());
    let level = number::<i32>(properties, level_key)?;
    let invalid = |e: datafusion::parquet::errors::ParquetError| FloeError::invalid(e.to_string());
    Ok(match codec.as_str() {
        "zstd" => Compression::ZSTD(match level {
            Some(l) => ZstdLevel::try_new(l).map_err(invalid)?,
            None => ZstdLevel::default(),
        }),
        "gzip" => Compression::GZIP(match level {
            Some(l) => GzipLevel::try_new(l as u32).map_err(invalid)?,
            None => GzipLevel::default(),
        }),
        "snappy" => Compression::SNAPPY,
        "lz4" => Compression::LZ4_RAW,
        "uncompressed" | "none" => Compression::UNCOMPRESSED,
        other => {
            return Err(FloeError::invalid(format!(
                "unknown {codec_key} {other}; use zstd, gzip, snappy, lz4 or uncompressed"
            )));
        }
    })
}

/// Bloom filters for the columns named by `write.parquet.bloom-filter-enabled.column.<c>`,
/// sized by the optional per-column false-positive rate and expected distinct values.
fn bloom_filters(
    mut builder: WriterPropertiesBuilder,
    properties: &HashMap<String, String>,
) -> Result<WriterPropertiesBuilder> {
    for (key, value) in properties {
        let Some(column) = key.strip_prefix(BLOOM_ENABLED) else {
            continue;
        };
        if !value.eq_ignore_ascii_case("true") {
            continue;
        }
        let path = column_path(column);
        builder = builder.set_column_bloom_filter_enabled(path.clone(), true);
        if let Some(fpp) = number::<f64>(properties, &format!("{BLOOM_FPP}{column}"))? {
            if !(fpp > 0.0 && fpp < 1.0) {
                return Err(FloeError::invalid(format!(
                    "{BLOOM_FPP}{column} must be between 0 and 1, not {fpp}"
                )));
            }
            builder = builder.set_column_bloom_filter_fpp(path.clone(), fpp);
        }
        if let Some(ndv) = number::<u64>(properties, &format!("{BLOOM_NDV}{column}"))? {
            builder = builder.set_column_bloom_filter_ndv(path, ndv);
        }
    }
    Ok(builder)
}

pub fn number<T: FromStr>(properties: &HashMap<String, String>, key: &str) -> Result<Option<T>> {
    properties
        .get(key)
        .map(|v| {
            v.trim().parse::<T>().map_err(|_| {
                FloeError::invalid(format!("table property {key} must be a number, not {v}"))
            })
        })
        .transpose()
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
    fn defaults_to_zstd_without_truncated_statistics() {
        let p = writer_properties(&HashMap::new()).unwrap();
        let column = ColumnPath::from("c");
        assert_eq!(
            p.compression(&column),
            Compression::ZSTD(ZstdLevel::try_new(1).unwrap())
        );
        assert_eq!(p.statistics_truncate_length(), None);
        assert!(p.bloom_filter_properties(&column).is_none());
    }

    #[test]
    fn reads_row_group_page_and_bloom_filter_settings() {
        let p = writer_properties(&props(&[
            (ROW_GROUP_ROWS, "1000"),
            (PAGE_ROWS, "100"),
            ("write.parquet.bloom-filter-enabled.column.id", "true"),
            ("write.parquet.bloom-filter-fpp.column.id", "0.01"),
            ("write.parquet.bloom-filter-ndv.column.id", "5000"),
        ]))
        .unwrap();
        assert_eq!(p.max_row_group_row_count(), Some(1000));
        assert_eq!(p.data_page_row_count_limit(), 100);
        let bloom = p.bloom_filter_properties(&ColumnPath::from("id")).unwrap();
        assert_eq!((bloom.fpp, bloom.ndv), (0.01, 5000));
        assert!(
            p.bloom_filter_properties(&ColumnPath::from("other"))
                .is_none()
        );
    }

    #[test]
    fn rejects_bad_values_naming_the_property() {
        let err = writer_properties(&props(&[(ROW_GROUP_ROWS, "many")])).unwrap_err();
        assert!(err.to_string().contains(ROW_GROUP_ROWS), "{err}");
        let err = writer_properties(&props(&[
            ("write.parquet.bloom-filter-enabled.column.id", "true"),
            ("write.parquet.bloom-filter-fpp.column.id", "2"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("fpp"), "{err}");
        assert!(writer_properties(&props(&[(CODEC, "brotli9")])).is_err());
        let err = writer_properties(&props(&[(
            "floe.write.parquet.compression-codec.column.id",
            "lzma",
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("column.id"), "{err}");
    }

    #[test]
    fn a_column_can_have_its_own_codec() {
        let p = writer_properties(&props(&[
            (CODEC, "snappy"),
            (
                "floe.write.parquet.compression-codec.column.payload",
                "zstd",
            ),
            ("floe.write.parquet.compression-level.column.payload", "9"),
            (
                "floe.write.parquet.compression-codec.column.id",
                "uncompressed",
            ),
        ]))
        .unwrap();
        assert_eq!(
            p.compression(&ColumnPath::from("payload")),
            Compression::ZSTD(ZstdLevel::try_new(9).unwrap())
        );
        assert_eq!(
            p.compression(&ColumnPath::from("id")),
            Compression::UNCOMPRESSED
        );
        assert_eq!(
            p.compression(&ColumnPath::from("other")),
            Compression::SNAPPY
        );
    }
}
