//! Text literals in `INSERT ... VALUES` read as the type of the column they go into, as
//! PostgreSQL reads an untyped literal: uuid columns take uuid text, binary columns take
//! bytea text (`'\xdeadbeef'`). DataFusion would instead cast the text itself, which it
//! cannot do for uuids and does byte for character for binary columns.

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::sql::sqlparser::ast;

use crate::{bytea_text, uuid_text};

/// Wraps each text literal of the `VALUES` rows of `insert` in the reading its target
/// column needs; `target(position)` is the field of the n-th inserted column.
pub fn read_as_column_types(insert: &mut ast::Insert, target: impl Fn(usize) -> Option<FieldRef>) {
    let Some(source) = insert.source.as_mut() else {
        return;
    };
    let ast::SetExpr::Values(values) = source.body.as_mut() else {
        return;
    };
    for row in &mut values.rows {
        for (position, value) in row.iter_mut().enumerate() {
            if !is_text_literal(value) {
                continue;
            }
            let Some(field) = target(position) else {
                continue;
            };
            if uuid_text::is_uuid(&field) {
                *value = uuid_text::call(value.clone());
            } else if let DataType::FixedSizeBinary(width) = field.data_type() {
                *value = bytea_text::call_fixed(value.clone(), *width);
            } else if bytea_text::is_binary(field.data_type()) {
                *value = bytea_text::call(value.clone());
            }
        }
    }
}

fn is_text_literal(expr: &ast::Expr) -> bool {
    matches!(
        expr,
        ast::Expr::Value(ast::ValueWithSpan {
            value: ast::Value::SingleQuotedString(_),
            ..
        })
    )
}
