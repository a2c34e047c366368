//! `information_schema._pg_expandarray(array)`: PostgreSQL's set-returning function that
//! gives each element of an array with its 1-based position, as rows `(x, n)`. pgJDBC's
//! `getPrimaryKeys` pairs index keys with columns through it. Here the function returns
//! the list of `{x, n}` structs, and catalog queries call it under `unnest`, which makes
//! the rows (two calls on one row unnest side by side, as in PostgreSQL).

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int32Array, ListArray, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{DataFusionError, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::{Expr, Function};

/// The UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ExpandArray {
    signature: Signature,
}

impl ExpandArray {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

fn element_fields(element: &DataType) -> Fields {
    Fields::from(vec![
        Field::new("x", element.clone(), true),
        Field::new("n", DataType::Int32, false),
    ])
}

fn list_element(data_type: &DataType) -> Option<&DataType> {
    match data_type {
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            Some(field.data_type())
        }
        _ => None,
    }
}

impl ScalarUDFImpl for ExpandArray {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &str {
        "_pg_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        let Some(element) = list_element(&arg_types[0]) else {
            return exec_err!("_pg_expandarray takes an array, not {}", arg_types[0]);
        };
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Struct(element_fields(element)),
            true,
        ))))
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let element = list_element(arrays[0].data_type())
            .ok_or_else(|| DataFusionError::Execution("_pg_expandarray takes an array".into()))?
            .clone();
        let lists = cast(
            &arrays[0],
            &DataType::List(Arc::new(Field::new_list_field(element.clone(), true))),
        )?;
        let lists = lists.as_list::<i32>();
        let offsets = lists.offsets();
        // Each element's position in its own list, from 1.
        let mut positions = vec![0i32; lists.values().len()];
        for row in 0..lists.len() {
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            for (n, at) in (start..end).enumerate() {
                positions[at] = n as i32 + 1;
            }
        }
        let elements = StructArray::try_new(
            element_fields(&element),
            vec![
                lists.values().clone(),
                Arc::new(Int32Array::from(positions)),
            ],
            None,
        )?;
        let expanded = ListArray::try_new(
            Arc::new(Field::new_list_field(elements.data_type().clone(), true)),
            offsets.clone(),
            Arc::new(elements),
            lists.nulls().cloned(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(expanded)))
    }
}

/// Whether `function` is `_pg_expandarray` (any schema), which callers wrap in `unnest`.
pub fn is_expand_array(function: &Function) -> bool {
    function
        .name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .is_some_and(|name| name.value.eq_ignore_ascii_case("_pg_expandarray"))
}

/// `unnest(_pg_expandarray(...))` for a call of the function.
pub fn unnested(function: &Function) -> Option<Expr> {
    let mut call = function.clone();
    call.name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![
        datafusion::sql::sqlparser::ast::Ident::new("_pg_expandarray"),
    ]);
    crate::pg_compat::parse_expr(&format!("unnest({call})"))
}
