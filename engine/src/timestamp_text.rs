//! Timestamp text without seconds. PostgreSQL reads `2024-06-01 10:00` (and with a zone,
//! `2024-06-01 10:00+02`) as 10:00:00; Arrow's parser wants the seconds. An analyzer rule
//! runs after type coercion, so it sees every cast of text to a timestamp (SQL casts,
//! INSERT values, comparisons with timestamp columns, COPY's conversions) and hands the
//! cast the text with `:00` added where the seconds are missing.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::uuid_text::merged_input_schema;

/// `text` with `:00` after the minutes when a timestamp's time has hours and minutes
/// only (and a one-digit hour padded); any other text unchanged (the cast judges it).
pub fn with_seconds(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // The date: digits and dashes, then a space or `T`.
    let Some(separator) = bytes.iter().position(|b| *b == b' ' || *b == b'T') else {
        return Cow::Borrowed(text);
    };
    let date = &bytes[..separator];
    if date.iter().filter(|b| **b == b'-').count() != 2
        || !date.iter().all(|b| b.is_ascii_digit() || *b == b'-')
    {
        return Cow::Borrowed(text);
    }
    let time = &bytes[separator + 1..];
    let hours = time.iter().take_while(|b| b.is_ascii_digit()).count();
    let minutes_end = hours + 3;
    let has_minutes = (1..=2).contains(&hours)
        && time.get(hours) == Some(&b':')
        && time
            .get(hours + 1..minutes_end)
            .is_some_and(|m| m.iter().all(u8::is_ascii_digit));
    // After the minutes: the end, or a zone (`+02`, `-05:30`, `Z`, ` UTC`), not seconds.
    let seconds_missing =
        has_minutes && !matches!(time.get(minutes_end), Some(b':' | b'0'..=b'9' | b'.'));
    if !seconds_missing {
        return Cow::Borrowed(text);
    }
    let time_start = separator + 1;
    let at = time_start + minutes_end;
    // Arrow also wants two digits of hours (`9:30` is 09:30).
    let pad = if hours == 1 { "0" } else { "" };
    Cow::Owned(format!(
        "{}{pad}{}:00{}",
        &text[..time_start],
        &text[time_start..at],
        &text[at..]
    ))
}

/// The SQL function the rule calls: [`with_seconds`] over text.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimestampText {
    signature: Signature,
}

const FUNCTION: &str = "floe_timestamp_text";

impl TimestampText {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TimestampText {
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
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let ColumnarValue::Scalar(value) = &args.args[0] {
            let text = match value.cast_to(&DataType::Utf8)? {
                ScalarValue::Utf8(text) => text.map(|t| with_seconds(&t).into_owned()),
                _ => None,
            };
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(text)));
        }
        let texts = args.args[0].to_array(args.number_rows)?;
        let texts = cast(&texts, &DataType::Utf8)?;
        let completed: StringArray = texts
            .as_string::<i32>()
            .iter()
            .map(|text| text.map(with_seconds))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(completed)))
    }
}

/// The analyzer rule (see the module documentation).
#[derive(Debug, Default)]
pub struct TimestampCasts;

impl AnalyzerRule for TimestampCasts {
    fn name(&self) -> &str {
        "timestamp_text_without_seconds"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let schema = merged_input_schema(&plan);
            // The output keeps its column names (`'10:00'::timestamp` is named by its text).
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                let rewritten = expr.transform_up(|expr| {
                    let is_text = |operand: &Expr| {
                        !is_completion(operand)
                            && operand.get_type(&schema).is_ok_and(|ty| {
                                matches!(
                                    ty,
                                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                                )
                            })
                    };
                    Ok(match expr {
                        Expr::Cast(Cast {
                            expr: operand,
                            data_type,
                        }) if matches!(data_type, DataType::Timestamp(..)) && is_text(&operand) => {
                            Transformed::yes(Expr::Cast(Cast::new(
                                Box::new(complete(*operand)),
                                data_type,
                            )))
                        }
                        Expr::TryCast(TryCast {
                            expr: operand,
                            data_type,
                        }) if matches!(data_type, DataType::Timestamp(..)) && is_text(&operand) => {
                            Transformed::yes(Expr::TryCast(TryCast::new(
                                Box::new(complete(*operand)),
                                data_type,
                            )))
                        }
                        other => Transformed::no(other),
                    })
                })?;
                Ok(match rewritten.transformed {
                    true => rewritten.update_data(|expr| name.restore(expr)),
                    false => rewritten,
                })
            })
        })
        .map(|transformed| transformed.data)
    }
}

fn complete(text: Expr) -> Expr {
    ScalarUDF::new_from_impl(TimestampText::new()).call(vec![text])
}

fn is_completion(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(call) if call.func.name() == FUNCTION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_added_only_where_missing() {
        assert_eq!(with_seconds("2024-06-01 10:00"), "2024-06-01 10:00:00");
        assert_eq!(with_seconds("2024-06-01T9:05"), "2024-06-01T09:05:00");
        assert_eq!(
            with_seconds("2024-06-01 10:00+02"),
            "2024-06-01 10:00:00+02"
        );
        assert_eq!(
            with_seconds("2024-06-01 10:00-05:30"),
            "2024-06-01 10:00:00-05:30"
        );
        assert_eq!(
            with_seconds("2024-06-01 10:00 UTC"),
            "2024-06-01 10:00:00 UTC"
        );
        for unchanged in [
            "2024-06-01 10:00:15",
            "2024-06-01 10:00:15.5+02",
            "2024-06-01",
            "10:00",
            "not a time",
            "2024-06-01 100:00",
        ] {
            assert_eq!(with_seconds(unchanged), unchanged);
        }
    }
}
