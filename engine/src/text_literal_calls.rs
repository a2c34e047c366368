//! The SQL rewrites that read text as a type DataFusion cannot cast text to (uuid, bytea):
//! the casts are found in the statement's syntax tree and replaced by calls of a function
//! that parses the text.

use datafusion::sql::sqlparser::ast;

/// The value cast by `x::<data_type>`, `CAST(x AS <data_type>)` or `<data_type> 'x'`.
pub fn cast_operand(expr: &ast::Expr, data_type: &ast::DataType) -> Option<ast::Expr> {
    match expr {
        ast::Expr::Cast {
            expr: value,
            data_type: cast_to,
            ..
        } if cast_to == data_type => Some((**value).clone()),
        ast::Expr::TypedString(typed) if &typed.data_type == data_type => {
            Some(ast::Expr::Value(typed.value.clone()))
        }
        _ => None,
    }
}

/// A call of function `name` with `arguments`.
pub fn function_call(name: &str, arguments: Vec<ast::Expr>) -> ast::Expr {
    ast::Expr::Function(ast::Function {
        name: ast::ObjectName::from(vec![ast::Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: ast::FunctionArguments::None,
        args: ast::FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: arguments
                .into_iter()
                .map(|argument| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(argument)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}
