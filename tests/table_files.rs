//! What Floe leaves on disk: data files where the partition spec routes rows, and nothing
//! at all once a table is dropped.

use floe_engine::Engine;

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.to_string_lossy().to_string());
            }
        }
    }
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_insert_writes_one_file_per_partition_and_drop_removes_them() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    engine
        .execute_sql(
            "CREATE SCHEMA s; CREATE TABLE s.t (k VARCHAR, d DATE, v INT) PARTITIONED BY (k, month(d));
             INSERT INTO s.t VALUES ('a', '2024-01-05', 1), ('a', '2024-01-20', 2),
                                    ('a', '2024-02-01', 3), ('b', '2024-01-01', 4), (NULL, NULL, 5);",
        )
        .await
        .unwrap();
    let table_dir = warehouse.path().join("s").join("t");
    let data: Vec<String> = files_under(&table_dir.join("data"))
        .into_iter()
        .map(|path| {
            let relative = path.split("/data/").nth(1).unwrap().to_string();
            relative.rsplit_once('/').unwrap().0.to_string()
        })
        .collect();
    // iceberg-rust names month directories by their ordinal: 648 is 2024-01.
    assert_eq!(
        data,
        vec![
            "k=a/d_month=648",
            "k=a/d_month=649",
            "k=b/d_month=648",
            "k=null/d_month=null",
        ]
    );
    assert!(
        files_under(&table_dir.join("metadata"))
            .iter()
            .any(|f| f.ends_with(".metadata.json"))
    );

    engine.execute_sql("DROP TABLE s.t").await.unwrap();
    assert_eq!(files_under(&table_dir), Vec::<String>::new());
    assert!(!table_dir.exists(), "the table directory itself is removed");
}

/// Whether each Parquet file under `dir` dictionary-encodes `column`.
fn dictionary_encoded(dir: &std::path::Path, column: &str) -> Vec<bool> {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    files_under(dir)
        .iter()
        .filter(|path| path.ends_with(".parquet"))
        .map(|path| {
            let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
            let metadata = reader.metadata();
            let index = metadata
                .file_metadata()
                .schema_descr()
                .columns()
                .iter()
                .position(|c| c.name() == column)
                .unwrap();
            metadata
                .row_group(0)
                .column(index)
                .dictionary_page_offset()
                .is_some()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_file_chooses_its_dictionaries_from_its_own_rows() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    // In a batch every `k` repeats 4 times, but the 4 rows go to 4 partitions: within a
    // file `k` is all distinct. `tag` repeats within every file.
    engine
        .execute_sql(
            "CREATE TABLE spread (k BIGINT, tag BIGINT, part INT) PARTITIONED BY (part);
             INSERT INTO spread SELECT value / 4, value % 3, CAST(value % 4 AS INT)
             FROM generate_series(0, 39999);",
        )
        .await
        .unwrap();
    let data = warehouse.path().join("public").join("spread").join("data");
    assert_eq!(dictionary_encoded(&data, "k"), vec![false; 4]);
    assert_eq!(dictionary_encoded(&data, "tag"), vec![true; 4]);
}
