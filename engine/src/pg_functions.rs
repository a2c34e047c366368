//! PostgreSQL functions that drivers' catalog queries call and datafusion-pg-catalog does
//! not provide: `json_build_object` (SQLAlchemy builds identity and collation details with
//! it), `pg_get_serial_sequence` and `pg_collation_is_visible`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, create_udf,
};

/// Registers the functions in `ctx`.
pub fn install(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject {
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
    // Floe has no sequences, so no column owns one: PostgreSQL's answer is then NULL.
    ctx.register_udf(create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_args: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    ));
    // Every collation lives in pg_catalog, which is always on the search path.
    ctx.register_udf(create_udf(
        "pg_collation_is_visible",
        // Oids are int32 in pg_catalog; int64 takes those and integer literals.
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        }),
    ));
}

/// `json_build_object(key, value, ...)`: a JSON object as text. Keys are text; numbers and
/// booleans stay JSON numbers and booleans, NULL is `null`, anything else a string.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject {
    signature: Signature,
}

impl ScalarUDFImpl for JsonBuildObject {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(DataFusionError::Plan(
                "json_build_object takes an even number of arguments (key, value, ...)".into(),
            ));
        }
        let rows = args.number_rows;
        let columns = args
            .args
            .iter()
            .map(|arg| arg.to_array(rows))
            .collect::<datafusion::error::Result<Vec<ArrayRef>>>()?;
        let texts = columns
            .iter()
            .map(|column| cast(column, &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()?;
        let mut objects = StringBuilder::with_capacity(rows, rows * 32);
        for row in 0..rows {
            let mut object = String::from("{");
            for pair in 0..columns.len() / 2 {
                let (key, value) = (2 * pair, 2 * pair + 1);
                if texts[key].is_null(row) {
                    return Err(DataFusionError::Execution(
                        "json_build_object: a key cannot be null".into(),
                    ));
                }
                if pair > 0 {
                    object.push_str(", ");
                }
                push_json_string(&mut object, text_at(&texts[key], row));
                object.push_str(" : ");
                let data_type = columns[value].data_type();
                if texts[value].is_null(row) {
                    object.push_str("null");
                } else if data_type.is_numeric() || *data_type == DataType::Boolean {
                    object.push_str(text_at(&texts[value], row));
                } else {
                    push_json_string(&mut object, text_at(&texts[value], row));
                }
            }
            object.push('}');
            objects.append_value(object);
        }
        Ok(ColumnarValue::Array(Arc::new(objects.finish())))
    }
}

fn text_at(texts: &ArrayRef, row: usize) -> &str {
    texts
        .as_any()
        .downcast_ref::<StringArray>()
        .map_or("", |strings| strings.value(row))
}

fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
