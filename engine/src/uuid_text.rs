//! Uuids written as text in SQL, as PostgreSQL reads them: `'…'::uuid` (and `CAST(… AS
//! UUID)`, `UUID '…'`), a text literal compared with a uuid column (`WHERE id = '…'`,
//! `id IN ('…', '…')`), and text literals inserted into a uuid column. Floe's uuids are
//! Iceberg's: 16-byte fixed-size binary marked `arrow.uuid`, which DataFusion neither
//! names in SQL nor casts text to.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, FixedSizeBinaryBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility, expr::InList,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::sqlparser::ast;

use crate::text_literal_calls::{cast_operand, function_call};

/// The function `'…'::uuid` becomes: text (or a uuid, unchanged) to a uuid.
pub const FUNCTION: &str = "uuid_from_text";

/// The Arrow extension name of uuid columns.
const EXTENSION: &str = "arrow.uuid";

/// The field of a uuid value.
pub fn uuid_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::FixedSizeBinary(16), nullable)
        .with_metadata([("ARROW:extension:name".to_string(), EXTENSION.to_string())].into())
}

/// Whether `field` holds uuids.
pub fn is_uuid(field: &Field) -> bool {
    field.data_type() == &DataType::FixedSizeBinary(16)
        && field.extension_type_name() == Some(EXTENSION)
}

/// The 16 bytes of a uuid written as text, in the forms PostgreSQL reads: 32 hex digits
/// in either case, a hyphen allowed after any group of four, the whole optionally in
/// braces; 22P02 otherwise.
pub fn parse(text: &str) -> Result<[u8; 16]> {
    let invalid = || {
        DataFusionError::from(ArrowError::ParseError(format!(
            "invalid input syntax for type uuid: \"{text}\""
        )))
    };
    let trimmed = text.trim();
    let digits = trimmed
        .strip_prefix('{')
        .and_then(|inner| inner.strip_suffix('}'))
        .unwrap_or(trimmed);
    let mut bytes = [0u8; 16];
    let mut count = 0;
    let mut after_hyphen = false;
    for character in digits.chars() {
        if character == '-' {
            if count == 0 || count % 4 != 0 || count == 32 || after_hyphen {
                return Err(invalid());
            }
            after_hyphen = true;
            continue;
        }
        let value = character.to_digit(16).ok_or_else(invalid)? as u8;
        if count == 32 {
            return Err(invalid());
        }
        bytes[count / 2] |= if count % 2 == 0 { value << 4 } else { value };
        count += 1;
        after_hyphen = false;
    }
    if count != 32 {
        return Err(invalid());
    }
    Ok(bytes)
}

/// `uuid_from_text(text)`: what casts to `uuid` are planned as.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UuidFromText {
    signature: Signature,
}

impl UuidFromText {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for UuidFromText {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn name(&self) -> &str {
        FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::FixedSizeBinary(16))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let argument = &args.arg_fields[0];
        match argument.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {}
            DataType::FixedSizeBinary(16) => {}
            other => {
                return Err(DataFusionError::Plan(format!(
                    "cannot cast type {other} to uuid"
                )));
            }
        }
        Ok(Arc::new(uuid_field(FUNCTION, argument.is_nullable())))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let values = args.args[0].clone().into_array(rows)?;
        if values.data_type() == &DataType::FixedSizeBinary(16) {
            return Ok(ColumnarValue::Array(values));
        }
        let text = datafusion::arrow::compute::cast(&values, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let mut uuids = FixedSizeBinaryBuilder::with_capacity(rows, 16);
        for value in text.iter() {
            match value {
                Some(value) => uuids.append_value(parse(value)?)?,
                None => uuids.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(uuids.finish())))
    }
}

/// Rewrites `x::uuid`, `CAST(x AS UUID)` and `UUID 'x'` into [`FUNCTION`] calls.
pub fn rewrite_cast(expr: &mut ast::Expr) {
    if let Some(value) = cast_operand(expr, &ast::DataType::Uuid) {
        *expr = call(value);
    }
}

/// `value` read as a uuid: a call of [`FUNCTION`].
pub fn call(value: ast::Expr) -> ast::Expr {
    function_call(FUNCTION, vec![value])
}

/// Compares uuid columns with text literals as uuids: the analyzer rule that turns the
/// literal of `uuid_column = '…'` (any comparison, either side) and of `uuid_column IN
/// ('…', …)` into a uuid before DataFusion's type coercion, which cannot compare them.
#[derive(Debug, Default)]
pub struct UuidComparisons;

impl AnalyzerRule for UuidComparisons {
    fn name(&self) -> &str {
        "uuid_comparisons"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let schema = merged_input_schema(&plan);
            plan.map_expressions(|expr| expr.transform_up(|expr| uuid_comparison(expr, &schema)))
        })
        .map(|transformed| transformed.data)
    }
}

pub(crate) fn merged_input_schema(plan: &LogicalPlan) -> DFSchema {
    let mut schema = DFSchema::empty();
    for input in plan.inputs() {
        schema.merge(input.schema());
    }
    schema
}

fn uuid_comparison(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let typed_uuid = |expr: &Expr| {
        expr.to_field(schema)
            .is_ok_and(|(_, field)| is_uuid(&field))
    };
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if is_comparison(op) => {
            if typed_uuid(&left)
                && let Some(uuid) = uuid_literal(&right)?
            {
                return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                    left, op, uuid,
                ))));
            }
            if typed_uuid(&right)
                && let Some(uuid) = uuid_literal(&left)?
            {
                return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                    uuid, op, right,
                ))));
            }
            Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr::new(
                left, op, right,
            ))))
        }
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) if typed_uuid(&expr) => {
            let list = list
                .into_iter()
                .map(|item| Ok(uuid_literal(&item)?.map_or(item, |uuid| *uuid)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Transformed::yes(Expr::InList(InList {
                expr,
                list,
                negated,
            })))
        }
        expr => Ok(Transformed::no(expr)),
    }
}

fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

/// A text literal read as a uuid literal; `None` for anything else.
fn uuid_literal(expr: &Expr) -> Result<Option<Box<Expr>>> {
    let Expr::Literal(
        ScalarValue::Utf8(Some(text))
        | ScalarValue::LargeUtf8(Some(text))
        | ScalarValue::Utf8View(Some(text)),
        _,
    ) = expr
    else {
        return Ok(None);
    };
    let bytes = parse(text)?;
    let metadata = uuid_field("", false).metadata().clone();
    Ok(Some(Box::new(Expr::Literal(
        ScalarValue::FixedSizeBinary(16, Some(bytes.to_vec())),
        Some(metadata.into()),
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_parse_in_postgres_forms() {
        let expected = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        for text in [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
        ] {
            assert_eq!(parse(text).unwrap(), expected, "{text}");
        }
        for text in [
            "",
            "a0eebc99",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
            "a0eeb-c99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "-a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc99--9c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11-",
            "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
