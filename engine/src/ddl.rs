//! Schema and table DDL, and the SHOW / DESCRIBE statements that read the catalog.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{ColumnDef, ColumnOption};
use iceberg::spec::{
    FormatVersion, NestedField, Schema, SortOrder, Transform, UnboundPartitionSpec,
};
use iceberg::table::Table;
use iceberg::{Catalog, ErrorKind, NamespaceIdent, TableCreation, TableIdent};

use crate::catalog::FloeCatalog;
use crate::error::{FloeError, Result, sqlstate};
use crate::names::{display_table, normalize, quote};
use crate::output::Output;
use crate::parser::{PartitionField, PartitionTransform};
use crate::sort_order;
use crate::types::{iceberg_type_from_sql, sql_name};

pub async fn create_schema(
    catalog: &FloeCatalog,
    schema: &NamespaceIdent,
    if_not_exists: bool,
) -> Result<Output> {
    if catalog.namespace_exists(schema).await? {
        if if_not_exists {
            return Ok(Output::command("CREATE SCHEMA"));
        }
        return Err(FloeError::new(
            sqlstate::DUPLICATE_SCHEMA,
            format!("schema {} already exists", schema.join(".")),
        ));
    }
    catalog.create_namespace(schema, HashMap::new()).await?;
    Ok(Output::command("CREATE SCHEMA"))
}

pub async fn drop_schema(
    catalog: &FloeCatalog,
    schema: &NamespaceIdent,
    if_exists: bool,
    cascade: bool,
) -> Result<Output> {
    if !catalog.namespace_exists(schema).await? {
        if if_exists {
            return Ok(Output::command("DROP SCHEMA"));
        }
        return Err(no_such_schema(schema));
    }
    let tables = catalog.list_tables(schema).await?;
    if !tables.is_empty() && !cascade {
        return Err(FloeError::new(
            sqlstate::DEPENDENT_OBJECTS_STILL_EXIST,
            format!(
                "cannot drop schema {} because it contains {} table(s); use DROP SCHEMA ... CASCADE",
                schema.join("."),
                tables.len()
            ),
        ));
    }
    for table in &tables {
        drop_table(catalog, table, true).await?;
    }
    catalog.drop_namespace(schema).await?;
    Ok(Output::command("DROP SCHEMA"))
}

fn no_such_schema(schema: &NamespaceIdent) -> FloeError {
    FloeError::new(
        sqlstate::UNDEFINED_SCHEMA,
        format!("schema {} does not exist", schema.join(".")),
    )
}

pub fn no_such_table(table: &TableIdent) -> FloeError {
    FloeError::new(
        sqlstate::UNDEFINED_TABLE,
        format!("table {} does not exist", display_table(table)),
    )
}

/// Schema (Iceberg namespace) names, sorted.
pub async fn schema_names(catalog: &FloeCatalog) -> Result<Vec<String>> {
    let mut names: Vec<String> = catalog
        .list_namespaces(None)
        .await?
        .iter()
        .map(|ns| ns.join("."))
        .collect();
    names.sort();
    Ok(names)
}

pub async fn show_schemas(catalog: &FloeCatalog) -> Result<Output> {
    let names = schema_names(catalog).await?;
    Output::text_table(
        &["schema_name"],
        names.into_iter().map(|n| vec![Some(n)]).collect(),
    )
}

/// The Iceberg schema for a column list of CREATE TABLE. Field ids are 1..n in order.
pub fn schema_from_columns(columns: &[ColumnDef]) -> Result<Schema> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut seen = std::collections::HashSet::new();
    for (i, column) in columns.iter().enumerate() {
        let name = normalize(&column.name);
        if !seen.insert(name.clone()) {
            return Err(FloeError::new(
                sqlstate::DUPLICATE_COLUMN,
                format!("column {name} is specified more than once"),
            ));
        }
        let mut required = false;
        for option in &column.options {
            match &option.option {
                ColumnOption::NotNull | ColumnOption::PrimaryKey(_) => required = true,
                ColumnOption::Null => required = false,
                other => {
                    return Err(FloeError::unsupported(format!(
                        "column option {other} is not available for Iceberg tables"
                    )));
                }
            }
        }
        let ty = iceberg_type_from_sql(&column.data_type)?;
        fields.push(Arc::new(NestedField::new(i as i32 + 1, name, ty, required)));
    }
    Ok(Schema::builder().with_fields(fields).build()?)
}

pub fn partition_spec(fields: &[PartitionField], schema: &Schema) -> Result<UnboundPartitionSpec> {
    let mut builder = UnboundPartitionSpec::builder();
    for field in fields {
        let source = schema.field_by_name(&field.column).ok_or_else(|| {
            FloeError::new(
                sqlstate::UNDEFINED_COLUMN,
                format!(
                    "partition column {} is not a column of the table",
                    field.column
                ),
            )
        })?;
        let (transform, suffix) = match field.transform {
            PartitionTransform::Identity => (Transform::Identity, String::new()),
            PartitionTransform::Year => (Transform::Year, "_year".into()),
            PartitionTransform::Month => (Transform::Month, "_month".into()),
            PartitionTransform::Day => (Transform::Day, "_day".into()),
            PartitionTransform::Hour => (Transform::Hour, "_hour".into()),
            PartitionTransform::Bucket(n) => (Transform::Bucket(n), format!("_bucket_{n}")),
            PartitionTransform::Truncate(w) => (Transform::Truncate(w), format!("_trunc_{w}")),
        };
        if transform.result_type(&source.field_type).is_err() {
            return Err(FloeError::new(
                sqlstate::DATATYPE_MISMATCH,
                format!(
                    "partition transform {} cannot be applied to column {} of type {}",
                    transform,
                    field.column,
                    sql_name(&source.field_type)
                ),
            ));
        }
        builder = builder.add_partition_field(
            source.id,
            format!("{}{suffix}", field.column),
            transform,
        )?;
    }
    Ok(builder.build())
}

/// Creates an Iceberg table. Returns `None` when it exists and `if_not_exists` is set.
pub async fn create_table(
    catalog: &FloeCatalog,
    ident: &TableIdent,
    schema: Schema,
    spec: UnboundPartitionSpec,
    sort_order: Option<SortOrder>,
    properties: Vec<(String, String)>,
    if_not_exists: bool,
) -> Result<Option<Table>> {
    if !catalog.namespace_exists(ident.namespace()).await? {
        return Err(no_such_schema(ident.namespace()));
    }
    if catalog.table_exists(ident).await? {
        if if_not_exists {
            return Ok(None);
        }
        return Err(FloeError::new(
            sqlstate::DUPLICATE_TABLE,
            format!("table {} already exists", display_table(ident)),
        ));
    }
    let mut format_version = FormatVersion::V2;
    let mut props = HashMap::new();
    for (key, value) in properties {
        if key == "format-version" {
            format_version = match value.as_str() {
                "1" => FormatVersion::V1,
                "2" => FormatVersion::V2,
                "3" => FormatVersion::V3,
                other => {
                    return Err(FloeError::invalid(format!(
                        "format-version must be 1, 2 or 3, not {other}"
                    )));
                }
            };
        } else {
            props.insert(key, value);
        }
    }
    let creation = TableCreation::builder()
        .name(ident.name().to_string())
        .schema(schema)
        .partition_spec(spec)
        .sort_order_opt(sort_order)
        .properties(props)
        .format_version(format_version)
        .build();
    match catalog.create_table(ident.namespace(), creation).await {
        Ok(table) => Ok(Some(table)),
        // Created by a concurrent statement since the check above.
        Err(err) if err.kind() == ErrorKind::TableAlreadyExists && if_not_exists => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Drops the table from the catalog, then deletes everything under its location.
pub async fn drop_table(
    catalog: &FloeCatalog,
    ident: &TableIdent,
    if_exists: bool,
) -> Result<Output> {
    let table = match catalog.load_table(ident).await {
        Ok(table) => table,
        Err(err) if err.kind() == ErrorKind::TableNotFound && if_exists => {
            return Ok(Output::command("DROP TABLE"));
        }
        Err(err) if err.kind() == ErrorKind::TableNotFound => return Err(no_such_table(ident)),
        Err(err) => return Err(err.into()),
    };
    catalog.drop_table(ident).await?;
    // The table is gone once the catalog forgets it; the files are cleanup.
    let location = table
        .metadata()
        .location()
        .trim_end_matches('/')
        .to_string();
    catalog
        .file_io()
        .delete_prefix(format!("{location}/"))
        .await?;
    // delete_prefix removes the files; on local disk the emptied directory stays behind.
    if let Some(path) = location.strip_prefix("file://") {
        let _ = std::fs::remove_dir(path);
    }
    Ok(Output::command("DROP TABLE"))
}

fn transform_sql(transform: &Transform, column: &str) -> String {
    let column = quote(column);
    match transform {
        Transform::Identity => column,
        Transform::Bucket(n) => format!("bucket({n}, {column})"),
        Transform::Truncate(w) => format!("truncate({w}, {column})"),
        other => format!("{other}({column})"),
    }
}

/// `transform(column)` for each field of the table's current partition spec.
pub fn partition_columns(table: &Table) -> Vec<(i32, String)> {
    let metadata = table.metadata();
    let schema = metadata.current_schema();
    metadata
        .default_partition_spec()
        .fields()
        .iter()
        .map(|field| {
            let column = schema
                .field_by_id(field.source_id)
                .map(|f| f.name.clone())
                .unwrap_or_else(|| format!("<field {}>", field.source_id));
            (field.source_id, transform_sql(&field.transform, &column))
        })
        .collect()
}

pub fn describe(table: &Table) -> Result<Output> {
    let schema = table.metadata().current_schema();
    let partitions = partition_columns(table);
    let rows = schema
        .as_struct()
        .fields()
        .iter()
        .map(|field| {
            let partitioning: Vec<&str> = partitions
                .iter()
                .filter(|(source, _)| *source == field.id)
                .map(|(_, sql)| sql.as_str())
                .collect();
            vec![
                Some(field.name.clone()),
                Some(sql_name(&field.field_type)),
                Some(if field.required { "NO" } else { "YES" }.to_string()),
                (!partitioning.is_empty()).then(|| partitioning.join(", ")),
            ]
        })
        .collect();
    Output::text_table(
        &[
            "column_name",
            "data_type",
            "is_nullable",
            "partition_transform",
        ],
        rows,
    )
}

pub fn show_create_table(ident: &TableIdent, table: &Table) -> Result<Output> {
    let metadata = table.metadata();
    let columns: Vec<String> = metadata
        .current_schema()
        .as_struct()
        .fields()
        .iter()
        .map(|field| {
            let not_null = if field.required { " NOT NULL" } else { "" };
            format!(
                "  {} {}{not_null}",
                quote(&field.name),
                sql_name(&field.field_type)
            )
        })
        .collect();
    let mut sql = format!(
        "CREATE TABLE {} (\n{}\n)",
        display_table(ident),
        columns.join(",\n")
    );
    let partitions = partition_columns(table);
    if !partitions.is_empty() {
        let fields: Vec<String> = partitions.into_iter().map(|(_, sql)| sql).collect();
        sql.push_str(&format!("\nPARTITIONED BY ({})", fields.join(", ")));
    }
    if let Some(order) =
        sort_order::to_sql(metadata.default_sort_order(), metadata.current_schema())
    {
        sql.push_str(&format!("\n{order}"));
    }
    let mut properties: Vec<(&String, &String)> = metadata.properties().iter().collect();
    properties.sort();
    let mut options = vec![format!(
        "'format-version' = '{}'",
        metadata.format_version() as u8
    )];
    options.extend(
        properties
            .into_iter()
            .map(|(k, v)| format!("'{}' = '{}'", k.replace('\'', "''"), v.replace('\'', "''"))),
    );
    sql.push_str(&format!("\nWITH ({})", options.join(", ")));
    Output::text_table(&["create_statement"], vec![vec![Some(sql)]])
}
