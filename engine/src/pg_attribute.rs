//! `pg_attribute` with what Iceberg knows and datafusion-pg-catalog's table cannot:
//! NOT NULL (`attnotnull`, from Iceberg's required columns; DataFusion sees every column as
//! nullable, so that the writer names the column a NULL breaks) and the type modifier of
//! decimal columns (`atttypmod`), so that `format_type` says `numeric(15,2)` and psql's
//! `\d` and drivers' column listings show both; and the column's type as the server
//! sends it (arrow-pg's mapping, uuid for Iceberg's uuid), where datafusion-pg-catalog
//! falls back to `text` (timestamptz, uuid, arrays).

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use arrow_pg::datatypes::field_into_pg_type;
use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int16Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{Field, SchemaRef};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::{ExecutionPlan, collect};
use iceberg::spec::{PrimitiveType, Type};

use crate::table::IcebergTable;

/// Puts the corrected `pg_attribute` in front of the `pg_catalog` schema registered in
/// `catalog`.
pub fn install(catalog: &Arc<dyn CatalogProvider>) -> DFResult<()> {
    let Some(inner) = catalog.schema("pg_catalog") else {
        return Err(DataFusionError::Plan("pg_catalog is not registered".into()));
    };
    let schema = PgCatalog {
        inner,
        catalog: catalog.clone(),
    };
    catalog.register_schema("pg_catalog", Arc::new(schema))?;
    Ok(())
}

/// datafusion-pg-catalog's `pg_catalog`, with its `pg_attribute` corrected, stable schema
/// oids in `pg_namespace` and `pg_class` (`pg_namespace_oids`), and `pg_index` and
/// `pg_constraint` empty (`pg_constraints`).
#[derive(Debug)]
struct PgCatalog {
    inner: Arc<dyn SchemaProvider>,
    /// Where the tables the attributes describe are looked up.
    catalog: Arc<dyn CatalogProvider>,
}

#[async_trait]
impl SchemaProvider for PgCatalog {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        let Some(table) = self.inner.table(name).await? else {
            return Ok(None);
        };
        if let Some(empty) = crate::pg_constraints::empty_table(name, &table) {
            return empty.map(Some);
        }
        if let Some(stable) = crate::pg_namespace_oids::stable(name, &table, &self.inner) {
            return Ok(Some(stable));
        }
        if name.eq_ignore_ascii_case("pg_attribute") {
            return Ok(Some(Arc::new(PgAttribute {
                attributes: table,
                pg_catalog: self.inner.clone(),
                catalog: self.catalog.clone(),
            })));
        }
        Ok(Some(table))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Debug)]
struct PgAttribute {
    attributes: Arc<dyn TableProvider>,
    pg_catalog: Arc<dyn SchemaProvider>,
    catalog: Arc<dyn CatalogProvider>,
}

#[async_trait]
impl TableProvider for PgAttribute {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.attributes.schema()
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
        let attributes = read_all(state, &self.attributes).await?;
        let tables = self.tables_by_oid(state).await?;
        let mut columns: HashMap<i32, Option<Vec<Column>>> = HashMap::new();
        let mut corrected = Vec::with_capacity(attributes.len());
        for batch in attributes {
            corrected.push(self.correct(batch, &tables, &mut columns).await?);
        }
        MemTable::try_new(self.schema(), vec![corrected])?
            .scan(state, projection, filters, limit)
            .await
    }
}

/// What `pg_attribute` needs to know of one Iceberg column.
#[derive(Debug, Clone, Copy)]
struct Column {
    required: bool,
    type_modifier: i32,
    /// The type the server describes the column with; `None` if it has no PostgreSQL
    /// type (the catalog's entry is kept).
    pg_type: Option<StoredType>,
}

/// A PostgreSQL type as `pg_attribute` records it: oid, length, by value, alignment,
/// storage, and dimensions (1 for an array).
#[derive(Debug, Clone, Copy, PartialEq)]
struct StoredType {
    oid: i32,
    len: i16,
    by_value: bool,
    align: &'static str,
    storage: &'static str,
    dims: i32,
}

/// The PostgreSQL type of a column of `field`, as the server sends its values: arrow-pg's
/// mapping, and uuid for a column marked `arrow.uuid` (Floe's Iceberg uuid columns).
fn stored_type(field: &Field) -> Option<StoredType> {
    const UUID: u32 = 2950;
    let (oid, is_array) = if field.extension_type_name() == Some("arrow.uuid") {
        (UUID, false)
    } else {
        let pg_type = field_into_pg_type(&Arc::new(field.clone())).ok()?;
        // PostgreSQL names each array type after its element, with a leading underscore.
        (pg_type.oid(), pg_type.name().starts_with('_'))
    };
    let stored = |len, by_value, align, storage| StoredType {
        oid: i32::try_from(oid).unwrap_or(0),
        len,
        by_value,
        align,
        storage,
        dims: i32::from(is_array),
    };
    Some(match oid {
        _ if is_array => stored(-1, false, "i", "x"),
        // bool, "char"
        16 | 18 => stored(1, true, "c", "p"),
        // int2
        21 => stored(2, true, "s", "p"),
        // int4, float4, date
        23 | 700 | 1082 => stored(4, true, "i", "p"),
        // int8, float8, time, timestamp, timestamptz
        20 | 701 | 1083 | 1114 | 1184 => stored(8, true, "d", "p"),
        // interval
        1186 => stored(16, false, "d", "p"),
        UUID => stored(16, false, "c", "p"),
        // numeric
        1700 => stored(-1, false, "i", "m"),
        _ => stored(-1, false, "i", "x"),
    })
}

impl PgAttribute {
    /// `pg_class` oids with the schema and name of their relation.
    async fn tables_by_oid(&self, state: &dyn Session) -> DFResult<HashMap<i32, (String, String)>> {
        let schemas: HashMap<i32, String> = match self.pg_catalog.table("pg_namespace").await? {
            Some(namespaces) => {
                let mut names = HashMap::new();
                for batch in read_all(state, &namespaces).await? {
                    let oids = typed::<Int32Array>(&batch, "oid")?;
                    let nspnames = typed::<StringArray>(&batch, "nspname")?;
                    for row in 0..batch.num_rows() {
                        names.insert(oids.value(row), nspnames.value(row).to_string());
                    }
                }
                names
            }
            None => HashMap::new(),
        };
        let mut tables = HashMap::new();
        if let Some(classes) = self.pg_catalog.table("pg_class").await? {
            for batch in read_all(state, &classes).await? {
                let oids = typed::<Int32Array>(&batch, "oid")?;
                let relnames = typed::<StringArray>(&batch, "relname")?;
                let namespaces = typed::<Int32Array>(&batch, "relnamespace")?;
                for row in 0..batch.num_rows() {
                    if let Some(schema) = schemas.get(&namespaces.value(row)) {
                        tables.insert(
                            oids.value(row),
                            (schema.clone(), relnames.value(row).to_string()),
                        );
                    }
                }
            }
        }
        Ok(tables)
    }

    /// The columns of the Iceberg table `oid` names; `None` for any other relation.
    async fn iceberg_columns(
        &self,
        tables: &HashMap<i32, (String, String)>,
        oid: i32,
    ) -> DFResult<Option<Vec<Column>>> {
        let Some((schema, name)) = tables.get(&oid) else {
            return Ok(None);
        };
        let Some(schema) = self.catalog.schema(schema) else {
            return Ok(None);
        };
        // A table dropped since pg_class was read is simply not corrected.
        let Ok(Some(table)) = schema.table(name).await else {
            return Ok(None);
        };
        let Some(iceberg) = table.as_any().downcast_ref::<IcebergTable>() else {
            return Ok(None);
        };
        let arrow_schema = table.schema();
        Ok(Some(
            iceberg
                .iceberg_schema()
                .as_struct()
                .fields()
                .iter()
                .zip(arrow_schema.fields())
                .map(|(field, arrow_field)| Column {
                    required: field.required,
                    type_modifier: type_modifier(&field.field_type),
                    pg_type: stored_type(arrow_field),
                })
                .collect(),
        ))
    }

    async fn correct(
        &self,
        batch: RecordBatch,
        tables: &HashMap<i32, (String, String)>,
        known: &mut HashMap<i32, Option<Vec<Column>>>,
    ) -> DFResult<RecordBatch> {
        let relids = typed::<Int32Array>(&batch, "attrelid")?;
        let attnums = typed::<Int16Array>(&batch, "attnum")?;
        let notnull = typed::<BooleanArray>(&batch, "attnotnull")?;
        let typmods = typed::<Int32Array>(&batch, "atttypmod")?;
        let old_types = StoredTypes::of(&batch)?;
        let mut new_notnull = Vec::with_capacity(batch.num_rows());
        let mut new_typmods = Vec::with_capacity(batch.num_rows());
        let mut new_types = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let oid = relids.value(row);
            if let std::collections::hash_map::Entry::Vacant(entry) = known.entry(oid) {
                entry.insert(self.iceberg_columns(tables, oid).await?);
            }
            let column = known
                .get(&oid)
                .and_then(Option::as_ref)
                .and_then(|columns| columns.get(usize::try_from(attnums.value(row) - 1).ok()?));
            match column {
                Some(column) => {
                    new_notnull.push(column.required);
                    new_typmods.push(column.type_modifier);
                    new_types.push(column.pg_type.unwrap_or_else(|| old_types.get(row)));
                }
                None => {
                    new_notnull.push(notnull.value(row));
                    new_typmods.push(typmods.value(row));
                    new_types.push(old_types.get(row));
                }
            }
        }
        let schema = batch.schema();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns[schema.index_of("attnotnull")?] = Arc::new(BooleanArray::from(new_notnull));
        columns[schema.index_of("atttypmod")?] = Arc::new(Int32Array::from(new_typmods));
        let types = |pick: fn(&StoredType) -> i32| {
            Arc::new(Int32Array::from_iter_values(new_types.iter().map(pick))) as ArrayRef
        };
        columns[schema.index_of("atttypid")?] = types(|t| t.oid);
        columns[schema.index_of("attndims")?] = types(|t| t.dims);
        columns[schema.index_of("attlen")?] = Arc::new(Int16Array::from_iter_values(
            new_types.iter().map(|t| t.len),
        ));
        columns[schema.index_of("attbyval")?] = Arc::new(BooleanArray::from_iter(
            new_types.iter().map(|t| Some(t.by_value)),
        ));
        columns[schema.index_of("attalign")?] = Arc::new(StringArray::from_iter_values(
            new_types.iter().map(|t| t.align),
        ));
        columns[schema.index_of("attstorage")?] = Arc::new(StringArray::from_iter_values(
            new_types.iter().map(|t| t.storage),
        ));
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// The type columns of a `pg_attribute` batch as datafusion-pg-catalog filled them.
struct StoredTypes<'a> {
    oids: &'a Int32Array,
    lens: &'a Int16Array,
    by_values: &'a BooleanArray,
    aligns: &'a StringArray,
    storages: &'a StringArray,
    dims: &'a Int32Array,
}

impl<'a> StoredTypes<'a> {
    fn of(batch: &'a RecordBatch) -> DFResult<Self> {
        Ok(Self {
            oids: typed(batch, "atttypid")?,
            lens: typed(batch, "attlen")?,
            by_values: typed(batch, "attbyval")?,
            aligns: typed(batch, "attalign")?,
            storages: typed(batch, "attstorage")?,
            dims: typed(batch, "attndims")?,
        })
    }

    fn get(&self, row: usize) -> StoredType {
        // The catalog's alignment and storage are one of PostgreSQL's few codes.
        let code = |value: &str| -> &'static str {
            match value {
                "c" => "c",
                "s" => "s",
                "d" => "d",
                "p" => "p",
                "m" => "m",
                "e" => "e",
                "x" => "x",
                _ => "i",
            }
        };
        StoredType {
            oid: self.oids.value(row),
            len: self.lens.value(row),
            by_value: self.by_values.value(row),
            align: code(self.aligns.value(row)),
            storage: code(self.storages.value(row)),
            dims: self.dims.value(row),
        }
    }
}

/// PostgreSQL's type modifier: `((precision << 16) | scale) + 4` for numeric(p, s), -1 for
/// types without one (Iceberg keeps no varchar length).
fn type_modifier(field_type: &Type) -> i32 {
    match field_type {
        Type::Primitive(PrimitiveType::Decimal { precision, scale }) => {
            ((*precision as i32) << 16 | *scale as i32) + 4
        }
        _ => -1,
    }
}

pub(crate) async fn read_all(
    state: &dyn Session,
    table: &Arc<dyn TableProvider>,
) -> DFResult<Vec<RecordBatch>> {
    let plan = table.scan(state, None, &[], None).await?;
    collect(plan, state.task_ctx()).await
}

/// The column `name` of `batch` as the array type `A` the catalog table gives it.
pub(crate) fn typed<'a, A: 'static>(batch: &'a RecordBatch, name: &str) -> DFResult<&'a A> {
    batch
        .column(batch.schema().index_of(name)?)
        .as_any()
        .downcast_ref::<A>()
        .ok_or_else(|| {
            DataFusionError::Internal(format!("pg_catalog column {name} has another type"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_modifiers_are_postgres_numeric_typmods() {
        let decimal = Type::Primitive(PrimitiveType::Decimal {
            precision: 15,
            scale: 2,
        });
        // PostgreSQL stores numeric(15,2) as 983046.
        assert_eq!(type_modifier(&decimal), 983_046);
        assert_eq!(type_modifier(&Type::Primitive(PrimitiveType::String)), -1);
    }

    #[test]
    fn stored_types_are_the_types_the_server_sends() {
        use datafusion::arrow::datatypes::{DataType, TimeUnit};
        let timestamptz = Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            true,
        );
        let stored = stored_type(&timestamptz).expect("timestamptz");
        assert_eq!((stored.oid, stored.len, stored.by_value), (1184, 8, true));
        let uuid = Field::new("id", DataType::FixedSizeBinary(16), true)
            .with_metadata([("ARROW:extension:name".to_string(), "arrow.uuid".to_string())].into());
        assert_eq!(stored_type(&uuid).map(|t| t.oid), Some(2950));
        let ints = Field::new_list("ns", Field::new_list_field(DataType::Int32, true), true);
        let stored = stored_type(&ints).expect("int4[]");
        assert_eq!((stored.oid, stored.dims, stored.len), (1007, 1, -1));
    }
}
