//! A table's Iceberg sort order: built from `CREATE TABLE ... ORDER BY (...)`, shown by
//! SHOW CREATE TABLE, and turned into the ordering a write must deliver so that each data
//! file it writes is sorted (rows reach the writer in that order, so every file, a
//! subsequence of them, is sorted too).
//!
//! Without NULLS FIRST/LAST, nulls sort first in ascending and last in descending order,
//! as in Iceberg's Spark and Java writers.

use std::sync::Arc;

use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::Schema as ArrowSchema;
use datafusion::physical_expr::{LexRequirement, PhysicalSortRequirement};
use datafusion::physical_plan::expressions::Column;
use iceberg::spec::{NullOrder, Schema, SortDirection, SortField, SortOrder, Transform};

use crate::error::{FloeError, Result, sqlstate};
use crate::names::quote;
use crate::parser::SortKey;

/// The Iceberg sort order for `keys` over `schema`; `None` for no keys.
pub fn from_keys(keys: &[SortKey], schema: &Schema) -> Result<Option<SortOrder>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let mut order = SortOrder::builder();
    order.with_order_id(1);
    for key in keys {
        let field = schema.field_by_name(&key.column).ok_or_else(|| {
            FloeError::new(
                sqlstate::UNDEFINED_COLUMN,
                format!(
                    "ORDER BY names column {} which the table does not have",
                    key.column
                ),
            )
        })?;
        if !field.field_type.is_primitive() {
            return Err(FloeError::invalid(format!(
                "cannot sort by column {} of type {}",
                key.column, field.field_type
            )));
        }
        let descending = key.descending;
        let nulls_first = key.nulls_first.unwrap_or(!descending);
        order.with_sort_field(SortField {
            source_id: field.id,
            transform: Transform::Identity,
            direction: if descending {
                SortDirection::Descending
            } else {
                SortDirection::Ascending
            },
            null_order: if nulls_first {
                NullOrder::First
            } else {
                NullOrder::Last
            },
        });
    }
    Ok(Some(order.build(schema)?))
}

/// `ORDER BY (...)` text for SHOW CREATE TABLE; `None` when the table is unsorted.
pub fn to_sql(order: &SortOrder, schema: &Schema) -> Option<String> {
    if order.is_unsorted() {
        return None;
    }
    Some(format!("ORDER BY ({})", keys_sql(order, schema).join(", ")))
}

/// Each sort key as SQL: `ts DESC NULLS LAST`, `day(ts) ASC NULLS FIRST`.
pub fn keys_sql(order: &SortOrder, schema: &Schema) -> Vec<String> {
    order
        .fields
        .iter()
        .map(|field| {
            let name = schema
                .name_by_field_id(field.source_id)
                .map(quote)
                .unwrap_or_else(|| format!("field {}", field.source_id));
            let column = match field.transform {
                Transform::Identity => name,
                other => format!("{other}({name})"),
            };
            let direction = match field.direction {
                SortDirection::Ascending => "ASC",
                SortDirection::Descending => "DESC",
            };
            let nulls = match field.null_order {
                NullOrder::First => "NULLS FIRST",
                NullOrder::Last => "NULLS LAST",
            };
            format!("{column} {direction} {nulls}")
        })
        .collect()
}

/// The ordering rows must arrive in for the writer to produce files sorted by `order`,
/// over the columns of `input` (named as in `schema`). `None` when the table is unsorted,
/// or when its order uses a transform Floe does not sort by (bucket, void, or transforms of
/// other writers' orders), in which case files are written without a sort order id.
pub fn write_ordering(
    order: &SortOrder,
    schema: &Schema,
    input: &ArrowSchema,
) -> Option<LexRequirement> {
    if order.is_unsorted() {
        return None;
    }
    let requirements = order
        .fields
        .iter()
        .map(|field| {
            if field.transform != Transform::Identity {
                return None;
            }
            let name = schema.name_by_field_id(field.source_id)?;
            let index = input.index_of(name).ok()?;
            Some(PhysicalSortRequirement::new(
                Arc::new(Column::new(name, index)),
                Some(SortOptions {
                    descending: field.direction == SortDirection::Descending,
                    nulls_first: field.null_order == NullOrder::First,
                }),
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    LexRequirement::new(requirements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::spec::{NestedField, PrimitiveType, Type};

    fn schema() -> Schema {
        Schema::builder()
            .with_fields(vec![
                Arc::new(NestedField::optional(
                    1,
                    "id",
                    Type::Primitive(PrimitiveType::Long),
                )),
                Arc::new(NestedField::optional(
                    2,
                    "ts",
                    Type::Primitive(PrimitiveType::Timestamp),
                )),
            ])
            .build()
            .unwrap()
    }

    fn key(column: &str, descending: bool, nulls_first: Option<bool>) -> SortKey {
        SortKey {
            column: column.to_string(),
            descending,
            nulls_first,
        }
    }

    #[test]
    fn keys_become_an_iceberg_order_with_default_null_placement() {
        let schema = schema();
        let order = from_keys(
            &[
                key("ts", true, None),
                key("id", false, None),
                key("id", false, Some(false)),
            ],
            &schema,
        )
        .unwrap()
        .unwrap();
        assert_eq!(order.order_id, 1);
        assert_eq!(
            to_sql(&order, &schema).unwrap(),
            "ORDER BY (ts DESC NULLS LAST, id ASC NULLS FIRST, id ASC NULLS LAST)"
        );
        assert!(from_keys(&[], &schema).unwrap().is_none());
        let err = from_keys(&[key("nope", false, None)], &schema).unwrap_err();
        assert_eq!(err.sqlstate, sqlstate::UNDEFINED_COLUMN);
    }

    #[test]
    fn the_write_ordering_names_the_input_columns() {
        let schema = schema();
        let order = from_keys(&[key("ts", true, None)], &schema)
            .unwrap()
            .unwrap();
        let input = iceberg::arrow::schema_to_arrow_schema(&schema).unwrap();
        let ordering = write_ordering(&order, &schema, &input).unwrap();
        let [requirement] = ordering.as_ref() else {
            panic!("one sort key expected: {ordering:?}")
        };
        assert_eq!(requirement.to_string(), "ts@1 DESC NULLS LAST");
        assert!(write_ordering(&SortOrder::unsorted_order(), &schema, &input).is_none());
    }
}
