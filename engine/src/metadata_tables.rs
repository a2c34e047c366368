//! Iceberg metadata tables: `"t$snapshots"`, `"t$history"`, `"t$files"`, `"t$manifests"`,
//! `"t$partitions"`, `"t$refs"` and `"t$properties"`, with Iceberg's standard column names.
//! Each is a `TableProvider` whose rows are built from the table's metadata when a query
//! scans it; projection, filters and aggregates are then ordinary DataFusion work.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, BooleanBuilder, Int32Array, Int64Array, Int64Builder, ListBuilder,
    MapBuilder, RecordBatch, StringArray, StringBuilder, StructBuilder, TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use iceberg::spec::{
    Datum, ManifestContentType, ManifestFile, PrimitiveLiteral, PrimitiveType, SnapshotRetention,
};
use iceberg::table::Table;

use crate::commit::is_ancestor_of_current;
use crate::error::{Result, to_datafusion};
use crate::partition_values::{partition_fields, partition_scalar};
use crate::snapshot_files;

/// Which metadata table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataKind {
    Snapshots,
    History,
    Files,
    Manifests,
    Partitions,
    Refs,
    Properties,
}

impl MetadataKind {
    /// The kind named by the suffix after `$` (`snapshots`, `files`, ...).
    pub fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix.to_ascii_lowercase().as_str() {
            "snapshots" => Self::Snapshots,
            "history" => Self::History,
            "files" => Self::Files,
            "manifests" => Self::Manifests,
            "partitions" => Self::Partitions,
            "refs" => Self::Refs,
            "properties" => Self::Properties,
            _ => return None,
        })
    }
}

/// One metadata table of one Iceberg table, as loaded when the statement looked it up.
#[derive(Debug)]
pub struct MetadataTable {
    kind: MetadataKind,
    table: Table,
    schema: SchemaRef,
}

impl MetadataTable {
    pub fn new(kind: MetadataKind, table: Table) -> Self {
        let schema = schema_of(kind, &table);
        Self {
            kind,
            table,
            schema,
        }
    }

    async fn rows(&self) -> Result<RecordBatch> {
        let columns = match self.kind {
            MetadataKind::Snapshots => snapshots(&self.table)?,
            MetadataKind::History => history(&self.table),
            MetadataKind::Files => files(&self.table).await?,
            MetadataKind::Manifests => manifests(&self.table).await?,
            MetadataKind::Partitions => partitions(&self.table).await?,
            MetadataKind::Refs => refs(&self.table)?,
            MetadataKind::Properties => properties(&self.table),
        };
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()))
}

fn map_type(key: DataType, value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(
                vec![
                    Field::new("keys", key, false),
                    Field::new("values", value, true),
                ]
                .into(),
            ),
            false,
        )),
        false,
    )
}

fn schema_of(kind: MetadataKind, table: &Table) -> SchemaRef {
    let partition_type = table.metadata().default_partition_type();
    let partition = Field::new(
        "partition",
        DataType::Struct(partition_fields(partition_type)),
        true,
    );
    let int_map = |name: &str| Field::new(name, map_type(DataType::Int32, DataType::Int64), true);
    let text_map = |name: &str| Field::new(name, map_type(DataType::Int32, DataType::Utf8), true);
    let fields = match kind {
        MetadataKind::Snapshots => vec![
            Field::new("committed_at", timestamp_type(), false),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("parent_id", DataType::Int64, true),
            Field::new("operation", DataType::Utf8, true),
            Field::new("manifest_list", DataType::Utf8, false),
            Field::new("summary", map_type(DataType::Utf8, DataType::Utf8), true),
        ],
        MetadataKind::History => vec![
            Field::new("made_current_at", timestamp_type(), false),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("parent_id", DataType::Int64, true),
            Field::new("is_current_ancestor", DataType::Boolean, false),
        ],
        MetadataKind::Files => vec![
            Field::new("content", DataType::Int32, false),
            Field::new("file_path", DataType::Utf8, false),
            Field::new("file_format", DataType::Utf8, false),
            Field::new("spec_id", DataType::Int32, false),
            partition,
            Field::new("record_count", DataType::Int64, false),
            Field::new("file_size_in_bytes", DataType::Int64, false),
            int_map("column_sizes"),
            int_map("value_counts"),
            int_map("null_value_counts"),
            int_map("nan_value_counts"),
            text_map("lower_bounds"),
            text_map("upper_bounds"),
            Field::new("sort_order_id", DataType::Int32, true),
        ],
        MetadataKind::Manifests => vec![
            Field::new("content", DataType::Int32, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("length", DataType::Int64, false),
            Field::new("partition_spec_id", DataType::Int32, false),
            Field::new("added_snapshot_id", DataType::Int64, false),
            Field::new("added_data_files_count", DataType::Int32, true),
            Field::new("existing_data_files_count", DataType::Int32, true),
            Field::new("deleted_data_files_count", DataType::Int32, true),
            Field::new("added_delete_files_count", DataType::Int32, true),
            Field::new("existing_delete_files_count", DataType::Int32, true),
            Field::new("deleted_delete_files_count", DataType::Int32, true),
            Field::new(
                "partition_summaries",
                DataType::List(Arc::new(Field::new(
                    "item",
                    DataType::Struct(partition_summary_fields()),
                    true,
                ))),
                true,
            ),
        ],
        MetadataKind::Partitions => {
            let mut fields = Vec::new();
            if !partition_type.fields().is_empty() {
                fields.push(partition);
                fields.push(Field::new("spec_id", DataType::Int32, false));
            }
            fields.extend([
                Field::new("record_count", DataType::Int64, false),
                Field::new("file_count", DataType::Int32, false),
                Field::new("total_data_file_size_in_bytes", DataType::Int64, false),
            ]);
            fields
        }
        MetadataKind::Refs => vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("type", DataType::Utf8, false),
            Field::new("snapshot_id", DataType::Int64, false),
            Field::new("max_reference_age_in_ms", DataType::Int64, true),
            Field::new("min_snapshots_to_keep", DataType::Int32, true),
            Field::new("max_snapshot_age_in_ms", DataType::Int64, true),
        ],
        MetadataKind::Properties => vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, false),
        ],
    };
    Arc::new(Schema::new(fields))
}

fn snapshots(table: &Table) -> Result<Vec<ArrayRef>> {
    let mut snapshots: Vec<_> = table.metadata().snapshots().collect();
    snapshots.sort_by_key(|s| (s.timestamp_ms(), s.sequence_number()));
    let mut summary = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for snapshot in &snapshots {
        let sorted: BTreeMap<_, _> = snapshot.summary().additional_properties.iter().collect();
        for (key, value) in sorted {
            summary.keys().append_value(key);
            summary.values().append_value(value);
        }
        summary.append(true)?;
    }
    Ok(vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(snapshots.iter().map(|s| s.timestamp_ms()))
                .with_timezone("+00:00"),
        ),
        Arc::new(Int64Array::from_iter_values(
            snapshots.iter().map(|s| s.snapshot_id()),
        )),
        Arc::new(Int64Array::from_iter(
            snapshots.iter().map(|s| s.parent_snapshot_id()),
        )),
        Arc::new(StringArray::from_iter(
            snapshots
                .iter()
                .map(|s| Some(s.summary().operation.as_str())),
        )),
        Arc::new(StringArray::from_iter_values(
            snapshots.iter().map(|s| s.manifest_list()),
        )),
        Arc::new(summary.finish()),
    ])
}

fn history(table: &Table) -> Vec<ArrayRef> {
    let metadata = table.metadata();
    let log = metadata.history();
    let parent = |id: i64| {
        metadata
            .snapshot_by_id(id)
            .and_then(|s| s.parent_snapshot_id())
    };
    vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(log.iter().map(|e| e.timestamp_ms))
                .with_timezone("+00:00"),
        ),
        Arc::new(Int64Array::from_iter_values(
            log.iter().map(|e| e.snapshot_id),
        )),
        Arc::new(Int64Array::from_iter(
            log.iter().map(|e| parent(e.snapshot_id)),
        )),
        Arc::new(BooleanArray::from_iter(
            log.iter()
                .map(|e| Some(is_ancestor_of_current(metadata, e.snapshot_id))),
        )),
    ]
}

fn int_map<'a>(
    maps: impl Iterator<Item = &'a std::collections::HashMap<i32, u64>>,
) -> Result<ArrayRef> {
    let mut builder = MapBuilder::new(
        None,
        datafusion::arrow::array::Int32Builder::new(),
        Int64Builder::new(),
    );
    for map in maps {
        let sorted: BTreeMap<_, _> = map.iter().collect();
        for (key, value) in sorted {
            builder.keys().append_value(*key);
            builder.values().append_value(*value as i64);
        }
        builder.append(true)?;
    }
    Ok(Arc::new(builder.finish()))
}

fn bounds_map<'a>(
    maps: impl Iterator<Item = &'a std::collections::HashMap<i32, iceberg::spec::Datum>>,
) -> Result<ArrayRef> {
    let mut builder = MapBuilder::new(
        None,
        datafusion::arrow::array::Int32Builder::new(),
        StringBuilder::new(),
    );
    for map in maps {
        let sorted: BTreeMap<_, _> = map.iter().collect();
        for (key, value) in sorted {
            builder.keys().append_value(*key);
            builder.values().append_value(value.to_string());
        }
        builder.append(true)?;
    }
    Ok(Arc::new(builder.finish()))
}

/// The live files of the current snapshot, with the spec they were written with.
async fn live_files(table: &Table) -> Result<Vec<(i32, iceberg::spec::DataFile)>> {
    let Some(snapshot) = table.metadata().current_snapshot() else {
        return Ok(Vec::new());
    };
    Ok(snapshot_files::entries(table, snapshot, true)
        .await?
        .into_iter()
        .map(|(manifest, entry)| (manifest.partition_spec_id, entry.data_file().clone()))
        .collect())
}

/// The partition column value of a file; null for files of an older partition spec.
fn partition_value(table: &Table, spec_id: i32, file: &iceberg::spec::DataFile) -> ScalarValue {
    let metadata = table.metadata();
    let partition_type = metadata.default_partition_type();
    if spec_id == metadata.default_partition_spec_id() {
        partition_scalar(file.partition(), partition_type)
    } else {
        let empty = iceberg::spec::Struct::from_iter(
            partition_type
                .fields()
                .iter()
                .map(|_| None::<iceberg::spec::Literal>),
        );
        partition_scalar(&empty, partition_type)
    }
}

fn struct_column(values: Vec<ScalarValue>, table: &Table) -> Result<ArrayRef> {
    if values.is_empty() {
        let fields = partition_fields(table.metadata().default_partition_type());
        return Ok(datafusion::arrow::array::new_empty_array(
            &DataType::Struct(fields),
        ));
    }
    Ok(ScalarValue::iter_to_array(values)?)
}

async fn files(table: &Table) -> Result<Vec<ArrayRef>> {
    let files = live_files(table).await?;
    let data = || files.iter().map(|(_, f)| f);
    let content_code = |f: &iceberg::spec::DataFile| f.content_type() as i32;
    Ok(vec![
        Arc::new(Int32Array::from_iter_values(data().map(content_code))),
        Arc::new(StringArray::from_iter_values(data().map(|f| f.file_path()))),
        Arc::new(StringArray::from_iter_values(
            data().map(|f| f.file_format().to_string().to_ascii_uppercase()),
        )),
        Arc::new(Int32Array::from_iter_values(files.iter().map(|(s, _)| *s))),
        struct_column(
            files
                .iter()
                .map(|(spec, f)| partition_value(table, *spec, f))
                .collect(),
            table,
        )?,
        Arc::new(Int64Array::from_iter_values(
            data().map(|f| f.record_count() as i64),
        )),
        Arc::new(Int64Array::from_iter_values(
            data().map(|f| f.file_size_in_bytes() as i64),
        )),
        int_map(data().map(|f| f.column_sizes()))?,
        int_map(data().map(|f| f.value_counts()))?,
        int_map(data().map(|f| f.null_value_counts()))?,
        int_map(data().map(|f| f.nan_value_counts()))?,
        bounds_map(data().map(|f| f.lower_bounds()))?,
        bounds_map(data().map(|f| f.upper_bounds()))?,
        Arc::new(Int32Array::from_iter(data().map(|f| f.sort_order_id()))),
    ])
}

async fn manifests(table: &Table) -> Result<Vec<ArrayRef>> {
    let manifests = match table.metadata().current_snapshot() {
        Some(snapshot) => snapshot_files::manifests(table, snapshot).await?,
        None => Vec::new(),
    };
    let count = |is_data: bool, pick: fn(&iceberg::spec::ManifestFile) -> Option<u32>| {
        Arc::new(Int32Array::from_iter(manifests.iter().map(|m| {
            let data = m.content == ManifestContentType::Data;
            Some(if data == is_data {
                pick(m).unwrap_or(0) as i32
            } else {
                0
            })
        }))) as ArrayRef
    };
    Ok(vec![
        Arc::new(Int32Array::from_iter_values(manifests.iter().map(
            |m| match m.content {
                ManifestContentType::Data => 0,
                ManifestContentType::Deletes => 1,
            },
        ))),
        Arc::new(StringArray::from_iter_values(
            manifests.iter().map(|m| m.manifest_path.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            manifests.iter().map(|m| m.manifest_length),
        )),
        Arc::new(Int32Array::from_iter_values(
            manifests.iter().map(|m| m.partition_spec_id),
        )),
        Arc::new(Int64Array::from_iter_values(
            manifests.iter().map(|m| m.added_snapshot_id),
        )),
        count(true, |m| m.added_files_count),
        count(true, |m| m.existing_files_count),
        count(true, |m| m.deleted_files_count),
        count(false, |m| m.added_files_count),
        count(false, |m| m.existing_files_count),
        count(false, |m| m.deleted_files_count),
        partition_summaries(table, &manifests)?,
    ])
}

/// The struct of one `partition_summaries` entry (Iceberg's standard columns).
fn partition_summary_fields() -> Fields {
    vec![
        Field::new("contains_null", DataType::Boolean, false),
        Field::new("contains_nan", DataType::Boolean, true),
        Field::new("lower_bound", DataType::Utf8, true),
        Field::new("upper_bound", DataType::Utf8, true),
    ]
    .into()
}

/// Per manifest, one summary per partition field of its spec: whether any of its files'
/// partition values is NULL or NaN, and the lowest and highest value, as text.
fn partition_summaries(table: &Table, manifests: &[ManifestFile]) -> Result<ArrayRef> {
    let metadata = table.metadata();
    let mut builder = ListBuilder::new(StructBuilder::from_fields(partition_summary_fields(), 0));
    for manifest in manifests {
        let types: Vec<Option<PrimitiveType>> = match metadata
            .partition_spec_by_id(manifest.partition_spec_id)
            .map(|spec| spec.partition_type(metadata.current_schema()))
            .transpose()?
        {
            Some(struct_type) => struct_type
                .fields()
                .iter()
                .map(|f| f.field_type.as_primitive_type().cloned())
                .collect(),
            None => Vec::new(),
        };
        let text = |bytes: Option<&[u8]>, index: usize| -> Option<String> {
            let ty = types.get(index)?.clone()?;
            let datum = Datum::try_from_bytes(bytes?, ty).ok()?;
            // Iceberg shows values in their human form: strings without quotes.
            Some(match datum.literal() {
                PrimitiveLiteral::String(text) => text.clone(),
                _ => datum.to_string(),
            })
        };
        let summaries = builder.values();
        for (index, summary) in manifest.partitions.iter().flatten().enumerate() {
            summaries
                .field_builder::<BooleanBuilder>(0)
                .expect("contains_null")
                .append_value(summary.contains_null);
            summaries
                .field_builder::<BooleanBuilder>(1)
                .expect("contains_nan")
                .append_option(summary.contains_nan);
            summaries
                .field_builder::<StringBuilder>(2)
                .expect("lower_bound")
                .append_option(text(
                    summary.lower_bound.as_ref().map(|b| b.as_slice()),
                    index,
                ));
            summaries
                .field_builder::<StringBuilder>(3)
                .expect("upper_bound")
                .append_option(text(
                    summary.upper_bound.as_ref().map(|b| b.as_slice()),
                    index,
                ));
            summaries.append(true);
        }
        builder.append(manifest.partitions.is_some());
    }
    Ok(Arc::new(builder.finish()))
}

async fn partitions(table: &Table) -> Result<Vec<ArrayRef>> {
    // (spec id, partition) -> (records, files, bytes), in a stable order.
    let mut groups: BTreeMap<String, (i32, ScalarValue, i64, i32, i64)> = BTreeMap::new();
    for (spec_id, file) in live_files(table).await? {
        if file.content_type() != iceberg::spec::DataContentType::Data {
            continue;
        }
        let value = partition_value(table, spec_id, &file);
        let group = groups
            .entry(format!("{spec_id}/{value}"))
            .or_insert((spec_id, value, 0, 0, 0));
        group.2 += file.record_count() as i64;
        group.3 += 1;
        group.4 += file.file_size_in_bytes() as i64;
    }
    let groups: Vec<_> = groups.into_values().collect();
    let mut columns: Vec<ArrayRef> = Vec::new();
    if !table
        .metadata()
        .default_partition_type()
        .fields()
        .is_empty()
    {
        columns.push(struct_column(
            groups.iter().map(|g| g.1.clone()).collect(),
            table,
        )?);
        columns.push(Arc::new(Int32Array::from_iter_values(
            groups.iter().map(|g| g.0),
        )));
    }
    columns.push(Arc::new(Int64Array::from_iter_values(
        groups.iter().map(|g| g.2),
    )));
    columns.push(Arc::new(Int32Array::from_iter_values(
        groups.iter().map(|g| g.3),
    )));
    columns.push(Arc::new(Int64Array::from_iter_values(
        groups.iter().map(|g| g.4),
    )));
    Ok(columns)
}

fn refs(table: &Table) -> Result<Vec<ArrayRef>> {
    let refs = snapshot_files::refs(table.metadata())?;
    let mut kinds = Vec::new();
    let mut max_ref_age = Vec::new();
    let mut min_keep = Vec::new();
    let mut max_snapshot_age = Vec::new();
    for (_, reference) in &refs {
        match &reference.retention {
            SnapshotRetention::Branch {
                min_snapshots_to_keep,
                max_snapshot_age_ms,
                max_ref_age_ms,
            } => {
                kinds.push("BRANCH");
                max_ref_age.push(*max_ref_age_ms);
                min_keep.push(*min_snapshots_to_keep);
                max_snapshot_age.push(*max_snapshot_age_ms);
            }
            SnapshotRetention::Tag { max_ref_age_ms } => {
                kinds.push("TAG");
                max_ref_age.push(*max_ref_age_ms);
                min_keep.push(None);
                max_snapshot_age.push(None);
            }
        }
    }
    Ok(vec![
        Arc::new(StringArray::from_iter_values(refs.iter().map(|(n, _)| n))),
        Arc::new(StringArray::from_iter_values(kinds)),
        Arc::new(Int64Array::from_iter_values(
            refs.iter().map(|(_, r)| r.snapshot_id),
        )),
        Arc::new(Int64Array::from(max_ref_age)),
        Arc::new(Int32Array::from(min_keep)),
        Arc::new(Int64Array::from(max_snapshot_age)),
    ])
}

fn properties(table: &Table) -> Vec<ArrayRef> {
    let sorted: BTreeMap<_, _> = table.metadata().properties().iter().collect();
    vec![
        Arc::new(StringArray::from_iter_values(sorted.keys())),
        Arc::new(StringArray::from_iter_values(sorted.values())),
    ]
}

#[async_trait]
impl TableProvider for MetadataTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let batch = self.rows().await.map_err(to_datafusion)?;
        let memory = MemTable::try_new(self.schema.clone(), vec![vec![batch]])?;
        memory.scan(state, projection, filters, limit).await
    }
}
