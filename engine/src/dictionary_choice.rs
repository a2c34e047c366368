//! Which columns of a write skip Parquet's dictionary encoding.
//!
//! Dictionary encoding pays when values repeat. For a column whose values are nearly all
//! distinct (comments, prices, keys) the dictionary grows as large as the data and the
//! writer spends its time hashing every value, until Parquet gives up on the dictionary
//! after a megabyte of it. A writer therefore looks at the first rows of each file it
//! writes: columns whose values are nearly all distinct there are written with plain
//! encoding from the start.

use datafusion::arrow::array::RecordBatch;
use datafusion::common::hash_utils::create_hashes;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use std::collections::HashSet;

/// A first batch smaller than this says too little about repetition to act on.
pub const MIN_SAMPLE_ROWS: usize = 1024;
/// The share of distinct values above which a column counts as nearly all distinct.
const DISTINCT_SHARE: f64 = 0.9;

/// `properties` with dictionary encoding turned off for the columns whose values in
/// `sample` are nearly all distinct. Columns whose dictionary is already off stay so.
pub fn without_useless_dictionaries(
    properties: WriterProperties,
    sample: &RecordBatch,
) -> WriterProperties {
    if sample.num_rows() < MIN_SAMPLE_ROWS {
        return properties;
    }
    let nearly_distinct: Vec<ColumnPath> = sample
        .schema()
        .fields()
        .iter()
        .zip(sample.columns())
        .filter(|(field, _)| !field.data_type().is_nested())
        .filter(|(field, column)| {
            properties.dictionary_enabled(&ColumnPath::from(field.name().as_str()))
                && distinct_share(column) > DISTINCT_SHARE
        })
        .map(|(field, _)| ColumnPath::from(field.name().as_str()))
        .collect();
    if nearly_distinct.is_empty() {
        return properties;
    }
    nearly_distinct
        .into_iter()
        .fold(properties.into_builder(), |builder, column| {
            builder.set_column_dictionary_enabled(column, false)
        })
        .build()
}

/// The share of `column`'s non-null values that are distinct (by hash, which is close
/// enough to decide an encoding).
fn distinct_share(column: &datafusion::arrow::array::ArrayRef) -> f64 {
    let values = column.len() - column.null_count();
    if values == 0 {
        return 0.0;
    }
    let mut hashes = vec![0u64; column.len()];
    let state = ahash::RandomState::with_seeds(0, 0, 0, 0);
    if create_hashes([column], &state, &mut hashes).is_err() {
        return 0.0;
    }
    let distinct: HashSet<u64> = hashes
        .iter()
        .enumerate()
        .filter(|(row, _)| column.is_valid(*row))
        .map(|(_, hash)| *hash)
        .collect();
    distinct.len() as f64 / values as f64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn sample(rows: i64) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("kind", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["a", "b", "c"][(i % 3) as usize]),
                )),
            ],
        )
        .unwrap()
    }

    #[test]
    fn turns_dictionaries_off_only_for_nearly_distinct_columns() {
        let chosen = without_useless_dictionaries(WriterProperties::default(), &sample(5000));
        assert!(!chosen.dictionary_enabled(&ColumnPath::from("id")));
        assert!(chosen.dictionary_enabled(&ColumnPath::from("kind")));
    }

    #[test]
    fn a_small_sample_changes_nothing() {
        let chosen = without_useless_dictionaries(WriterProperties::default(), &sample(100));
        assert!(chosen.dictionary_enabled(&ColumnPath::from("id")));
    }
}
