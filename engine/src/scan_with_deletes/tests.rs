//! Scans of tables whose rows other tools deleted (merge-on-read) and of data files written
//! without their identity partition column. The delete files are real: equality deletes
//! from iceberg's `EqualityDeleteFileWriter`, position deletes from its Parquet writer in
//! the spec's layout (iceberg-rust has no position delete writer), all committed as
//! snapshots through Floe's commit path.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::parquet::file::properties::WriterProperties;
use futures::StreamExt;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{
    DataContentType, DataFile, DataFileFormat, Literal, NestedField, PrimitiveType, Schema, Struct,
    Type,
};
use iceberg::table::Table;
use iceberg::writer::base_writer::equality_delete_writer::{
    EqualityDeleteFileWriterBuilder, EqualityDeleteWriterConfig,
};
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::{FileWriter, FileWriterBuilder, ParquetWriterBuilder};
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, TableIdent};

use crate::commit::{Change, commit};
use crate::engine::Engine;
use crate::output::Output;
use crate::snapshot_files;

/// The rows of a query, each cell as text (`NULL` for null).
async fn rows(engine: &Engine, sql: &str) -> Vec<Vec<String>> {
    let Output::Rows(mut stream) = engine.execute_sql(sql).await.expect(sql) else {
        panic!("{sql} returned no rows");
    };
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.expect(sql);
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

/// One column of a query's rows.
async fn column(engine: &Engine, sql: &str) -> Vec<String> {
    rows(engine, sql)
        .await
        .into_iter()
        .map(|mut row| row.remove(0))
        .collect()
}

fn texts(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

async fn load(engine: &Engine, name: &str) -> Table {
    engine
        .warehouse()
        .catalog
        .load_table(&TableIdent::from_strs(["public", name]).unwrap())
        .await
        .unwrap()
}

/// The live data files of the table's current snapshot, in the order given by `key`.
async fn data_files(table: &Table) -> Vec<DataFile> {
    let snapshot = table.metadata().current_snapshot().unwrap();
    snapshot_files::entries(table, snapshot, true)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, entry)| entry.data_file().clone())
        .filter(|file| file.content_type() == DataContentType::Data)
        .collect()
}

async fn commit_to(engine: &Engine, name: &str, change: Change) {
    let ident = TableIdent::from_strs(["public", name]).unwrap();
    commit(&engine.warehouse().catalog, &ident, &change)
        .await
        .unwrap();
}

/// A position delete file (the spec's `file_path`, `pos` columns) deleting `positions` of
/// `data_file`, in the data file's partition.
async fn position_deletes(table: &Table, data_file: &DataFile, positions: &[i64]) -> DataFile {
    let schema = Arc::new(
        Schema::builder()
            .with_fields(vec![
                NestedField::required(
                    2147483546,
                    "file_path",
                    Type::Primitive(PrimitiveType::String),
                )
                .into(),
                NestedField::required(2147483545, "pos", Type::Primitive(PrimitiveType::Long))
                    .into(),
            ])
            .build()
            .unwrap(),
    );
    let arrow_schema = Arc::new(schema_to_arrow_schema(&schema).unwrap());
    let batch = RecordBatch::try_new(
        arrow_schema,
        vec![
            Arc::new(StringArray::from(vec![
                data_file.file_path();
                positions.len()
            ])) as ArrayRef,
            Arc::new(Int64Array::from(positions.to_vec())),
        ],
    )
    .unwrap();
    let path = format!(
        "{}/data/pos-deletes-{}.parquet",
        table.metadata().location(),
        uuid::Uuid::new_v4()
    );
    let mut writer = ParquetWriterBuilder::new(WriterProperties::default(), schema)
        .build(table.file_io().new_output(&path).unwrap())
        .await
        .unwrap();
    writer.write(&batch).await.unwrap();
    let mut builder = writer.close().await.unwrap().remove(0);
    builder
        .content(DataContentType::PositionDeletes)
        .partition(data_file.partition().clone())
        .partition_spec_id(table.metadata().default_partition_spec_id())
        .referenced_data_file(Some(data_file.file_path().to_string()));
    builder.build().unwrap()
}

/// An equality delete file over the columns `field_ids`, deleting the rows of `batch`
/// (a batch of the whole table schema; only the equality columns are written).
async fn equality_deletes(table: &Table, field_ids: Vec<i32>, batch: RecordBatch) -> DataFile {
    let schema = table.metadata().current_schema().clone();
    let config = EqualityDeleteWriterConfig::new(field_ids, schema).unwrap();
    let projected = Arc::new(
        iceberg::arrow::arrow_schema_to_schema(config.projected_arrow_schema_ref()).unwrap(),
    );
    let files = RollingFileWriterBuilder::new_with_default_file_size(
        ParquetWriterBuilder::new(WriterProperties::default(), projected),
        table.file_io().clone(),
        DefaultLocationGenerator::new(table.metadata()).unwrap(),
        DefaultFileNameGenerator::new(
            format!("eq-deletes-{}", uuid::Uuid::new_v4()),
            None,
            DataFileFormat::Parquet,
        ),
    );
    let mut writer = EqualityDeleteFileWriterBuilder::new(files, config)
        .build(None)
        .await
        .unwrap();
    writer.write(batch).await.unwrap();
    writer.close().await.unwrap().remove(0)
}

/// A batch of `t (id INT, name VARCHAR, grp INT)` for equality delete writers.
fn table_rows(
    table: &Table,
    id: Vec<Option<i32>>,
    name: Vec<Option<&str>>,
    grp: Vec<Option<i32>>,
) -> RecordBatch {
    let schema = Arc::new(schema_to_arrow_schema(table.metadata().current_schema()).unwrap());
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int32Array::from(id)) as ArrayRef,
            Arc::new(StringArray::from(name)),
            Arc::new(Int32Array::from(grp)),
        ],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_and_equality_deletes_hide_exactly_the_rows_they_match() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    engine
        .execute_sql(
            "CREATE TABLE t (id INT, name VARCHAR, grp INT);
             INSERT INTO t VALUES (1, 'a', 10), (2, 'b', 10), (3, NULL, 20), (4, 'd', NULL),
                                  (5, 'e', 20);",
        )
        .await
        .unwrap();
    let table = load(&engine, "t").await;
    let first = data_files(&table).await.remove(0);
    assert_eq!(
        column(&engine, "SELECT count(*) FROM t").await,
        texts(&["5"])
    );

    // A position delete of the second row (id 2).
    let deletes = position_deletes(&table, &first, &[1]).await;
    commit_to(&engine, "t", Change::AddDeletes(vec![deletes])).await;
    assert_eq!(
        column(&engine, "SELECT id FROM t ORDER BY id").await,
        texts(&["1", "3", "4", "5"])
    );
    // The manifests count 5 rows; the answer must not come from them.
    assert_eq!(
        column(&engine, "SELECT count(*) FROM t").await,
        texts(&["4"])
    );

    // An equality delete of name = 'd': the row whose name is NULL stays.
    let table = load(&engine, "t").await;
    let deletes = equality_deletes(
        &table,
        vec![2],
        table_rows(&table, vec![None], vec![Some("d")], vec![None]),
    )
    .await;
    assert_eq!(deletes.content_type(), DataContentType::EqualityDeletes);
    commit_to(&engine, "t", Change::AddDeletes(vec![deletes])).await;
    assert_eq!(
        rows(&engine, "SELECT id, name FROM t ORDER BY id").await,
        vec![
            texts(&["1", "a"]),
            texts(&["3", "NULL"]),
            texts(&["5", "e"])
        ]
    );

    // Rows written after that delete are not touched by it, even when they match.
    engine
        .execute_sql("INSERT INTO t VALUES (6, 'd', 30), (7, NULL, NULL)")
        .await
        .unwrap();
    assert_eq!(
        column(&engine, "SELECT id FROM t ORDER BY id").await,
        texts(&["1", "3", "5", "6", "7"])
    );

    // An equality delete of grp IS NULL (a NULL in an equality delete matches NULL) now
    // removes row 7 of the newer file; with the position delete and the first equality
    // delete it applies to the first file too.
    let table = load(&engine, "t").await;
    let deletes = equality_deletes(
        &table,
        vec![3],
        table_rows(&table, vec![None], vec![None], vec![None]),
    )
    .await;
    commit_to(&engine, "t", Change::AddDeletes(vec![deletes])).await;
    assert_eq!(
        rows(&engine, "SELECT * FROM t ORDER BY id").await,
        vec![
            texts(&["1", "a", "10"]),
            texts(&["3", "NULL", "20"]),
            texts(&["5", "e", "20"]),
            texts(&["6", "d", "30"]),
        ]
    );
    // Projections that leave the equality columns out, filters, aggregates whose answer
    // the deleted rows would change (7 was the largest id), and counts.
    assert_eq!(
        column(&engine, "SELECT id FROM t WHERE grp = 20 ORDER BY id").await,
        texts(&["3", "5"])
    );
    assert_eq!(
        column(&engine, "SELECT max(id) FROM t").await,
        texts(&["6"])
    );
    assert_eq!(
        column(&engine, "SELECT count(*) FROM t").await,
        texts(&["4"])
    );
    assert_eq!(
        column(&engine, "SELECT count(*) FROM t WHERE name IS NULL").await,
        texts(&["1"])
    );

    // The plan names the scan that applies deletes, with the files it reads.
    let plan = rows(&engine, "EXPLAIN SELECT id FROM t").await;
    let plan = plan
        .iter()
        .map(|r| r.join(" "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        plan.contains(
            "ScanWithDeletesExec: data_files=2, position_delete_files=1, equality_delete_files=2"
        ),
        "{plan}"
    );
    // Row 4 of the first file (matched by both equality deletes) and row 7 of the second.
    let analyzed = rows(&engine, "EXPLAIN ANALYZE SELECT * FROM t").await;
    let analyzed = analyzed
        .iter()
        .map(|r| r.join(" "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        analyzed.contains("rows_deleted_by_equality_deletes=2"),
        "{analyzed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_without_their_identity_partition_column_read_it_from_the_manifest() {
    let warehouse = tempfile::tempdir().unwrap();
    let engine = Engine::open(warehouse.path()).await.unwrap();
    engine
        .execute_sql(
            "CREATE TABLE p (id INT, region VARCHAR) PARTITIONED BY (region);
             INSERT INTO p VALUES (1, 'eu'), (2, 'eu');",
        )
        .await
        .unwrap();
    let table = load(&engine, "p").await;

    // A Parquet file holding only `id`, as tools that leave identity partition columns out
    // of data files write it, added to partition region = 'us'.
    let id_only = Arc::new(
        Schema::builder()
            .with_fields(vec![
                NestedField::optional(1, "id", Type::Primitive(PrimitiveType::Int)).into(),
            ])
            .build()
            .unwrap(),
    );
    let batch = RecordBatch::try_new(
        Arc::new(schema_to_arrow_schema(&id_only).unwrap()),
        vec![Arc::new(Int32Array::from(vec![3, 4, 5])) as ArrayRef],
    )
    .unwrap();
    let path = format!(
        "{}/data/region=us/imported-{}.parquet",
        table.metadata().location(),
        uuid::Uuid::new_v4()
    );
    let mut writer = ParquetWriterBuilder::new(WriterProperties::default(), id_only)
        .build(table.file_io().new_output(&path).unwrap())
        .await
        .unwrap();
    writer.write(&batch).await.unwrap();
    let mut builder = writer.close().await.unwrap().remove(0);
    builder
        .content(DataContentType::Data)
        .partition(Struct::from_iter([Some(Literal::string("us"))]))
        .partition_spec_id(table.metadata().default_partition_spec_id());
    let imported = builder.build().unwrap();
    commit_to(
        &engine,
        "p",
        Change::Append {
            files: vec![imported.clone()],
            arrow_bytes: None,
        },
    )
    .await;

    assert_eq!(
        rows(&engine, "SELECT id, region FROM p ORDER BY id").await,
        vec![
            texts(&["1", "eu"]),
            texts(&["2", "eu"]),
            texts(&["3", "us"]),
            texts(&["4", "us"]),
            texts(&["5", "us"]),
        ]
    );
    assert_eq!(
        column(&engine, "SELECT id FROM p WHERE region = 'us' ORDER BY id").await,
        texts(&["3", "4", "5"])
    );
    assert_eq!(
        rows(
            &engine,
            "SELECT region, count(*) FROM p GROUP BY region ORDER BY region"
        )
        .await,
        vec![texts(&["eu", "2"]), texts(&["us", "3"])]
    );

    // Through the scan that applies deletes too, also when only the missing column is read.
    let table = load(&engine, "p").await;
    let deletes = position_deletes(&table, &imported, &[0]).await;
    commit_to(&engine, "p", Change::AddDeletes(vec![deletes])).await;
    assert_eq!(
        rows(&engine, "SELECT id, region FROM p ORDER BY id").await,
        vec![
            texts(&["1", "eu"]),
            texts(&["2", "eu"]),
            texts(&["4", "us"]),
            texts(&["5", "us"]),
        ]
    );
    assert_eq!(
        column(&engine, "SELECT region FROM p WHERE id > 2").await,
        texts(&["us", "us"])
    );
    assert_eq!(
        column(&engine, "SELECT region FROM p WHERE region = 'us'").await,
        texts(&["us", "us"])
    );
}

/// Leaves a table with position deletes committed through Floe's commit path in the
/// warehouse `$FLOE_DELETES_FIXTURE`, for tests/interop to check that pyiceberg reads it
/// as Floe does (pyiceberg applies position deletes, not equality deletes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by tests/interop/run.sh, which reads the warehouse it leaves"]
async fn position_deletes_fixture_for_pyiceberg() {
    let dir = std::env::var("FLOE_DELETES_FIXTURE").expect("FLOE_DELETES_FIXTURE is set");
    let engine = Engine::open(std::path::Path::new(&dir)).await.unwrap();
    engine
        .execute_sql(
            "CREATE TABLE pd (id INT, city VARCHAR) PARTITIONED BY (city);
             INSERT INTO pd VALUES (1, 'Oslo'), (2, 'Oslo'), (3, 'Oslo'), (4, 'Lima'), (5, 'Lima');",
        )
        .await
        .unwrap();
    let table = load(&engine, "pd").await;
    let mut deletes = Vec::new();
    for file in data_files(&table).await {
        // The second row of each partition's file.
        deletes.push(position_deletes(&table, &file, &[1]).await);
    }
    commit_to(&engine, "pd", Change::AddDeletes(deletes)).await;
    engine
        .execute_sql("INSERT INTO pd VALUES (6, 'Oslo')")
        .await
        .unwrap();
    assert_eq!(
        column(&engine, "SELECT id FROM pd ORDER BY id").await,
        texts(&["1", "3", "4", "6"])
    );
}
