//! SQL text to [`Statement`], with `sqlparser`'s generic dialect. Everything outside the
//! supported subset is refused with an error naming the construct and its position.

use serde_json::{Number, Value};
use sqlparser::ast::{self as sql, Spanned};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

use super::ast::{AggFunc, CmpOp, Column, ColumnExpr, Expr, Field, OrderItem, Pos, Select, Statement};
use crate::{Error, Result};

/// Parses one statement: `SELECT ...` or `EXPLAIN SELECT ...`.
pub fn parse(text: &str) -> Result<Statement> {
    let mut stmts = Parser::parse_sql(&GenericDialect {}, text).map_err(|e| {
        let e = e.to_string();
        let at_end = if e.ends_with("EOF") { " at the end of the query" } else { "" };
        Error::InvalidArgument(format!("syntax error: {e}{at_end}"))
    })?;
    if stmts.len() != 1 {
        return Err(Error::InvalidArgument(format!("expected one statement, got {}", stmts.len())));
    }
    match stmts.remove(0) {
        sql::Statement::Query(q) => Ok(Statement::Select(select(&q)?)),
        sql::Statement::Explain { statement, analyze: false, .. } => match *statement {
            sql::Statement::Query(q) => Ok(Statement::Explain(select(&q)?)),
            other => Err(unsupported("EXPLAIN of anything but a SELECT", pos_of(&other))),
        },
        other => Err(unsupported("statements other than SELECT and EXPLAIN", pos_of(&other))),
    }
}

fn pos_of(node: &impl Spanned) -> Pos {
    let s = node.span().start;
    Pos { line: s.line, column: s.column }
}

fn unsupported(what: &str, pos: Pos) -> Error {
    Error::InvalidArgument(format!("unsupported at {pos}: {what}"))
}

fn select(q: &sql::Query) -> Result<Select> {
    if q.with.is_some() || q.fetch.is_some() || !q.locks.is_empty() {
        return Err(unsupported("WITH, FETCH and locking clauses", pos_of(q)));
    }
    let sql::SetExpr::Select(s) = q.body.as_ref() else {
        return Err(unsupported("set operations, VALUES and nested queries", pos_of(q.body.as_ref())));
    };
    if s.distinct.is_some() || s.having.is_some() || s.top.is_some() || s.into.is_some() {
        return Err(unsupported("DISTINCT, HAVING, TOP and INTO", pos_of(s.as_ref())));
    }
    let (namespace, namespace_pos) = from(s)?;
    let columns = projection(&s.projection)?;
    let filter = s.selection.as_ref().map(predicate).transpose()?;
    let group_by = match &s.group_by {
        sql::GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => {
            exprs.iter().map(field).collect::<Result<Vec<_>>>()?
        }
        other => return Err(unsupported("GROUP BY ALL and grouping modifiers", pos_of(other))),
    };
    let order_by = match &q.order_by {
        None => Vec::new(),
        Some(ob) => match &ob.kind {
            sql::OrderByKind::Expressions(items) => items.iter().map(order_item).collect::<Result<Vec<_>>>()?,
            sql::OrderByKind::All(_) => return Err(unsupported("ORDER BY ALL", pos_of(ob))),
        },
    };
    let (limit, offset) = limits(q.limit_clause.as_ref())?;
    Ok(Select { namespace, namespace_pos, columns, filter, group_by, order_by, limit, offset })
}

fn from(s: &sql::Select) -> Result<(String, Pos)> {
    let [table] = s.from.as_slice() else {
        return Err(unsupported("a FROM clause naming exactly one namespace", pos_of(s)));
    };
    if !table.joins.is_empty() {
        return Err(unsupported("joins", pos_of(&table.joins[0])));
    }
    match &table.relation {
        sql::TableFactor::Table { name, args: None, .. } => {
            let parts: Vec<String> =
                name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| p.to_string())).collect();
            Ok((parts.join("."), pos_of(name)))
        }
        other => Err(unsupported("FROM anything but a namespace name", pos_of(other))),
    }
}

fn projection(items: &[sql::SelectItem]) -> Result<Option<Vec<Column>>> {
    if let [sql::SelectItem::Wildcard(_)] = items {
        return Ok(None);
    }
    let mut cols = Vec::new();
    for item in items {
        let (expr, alias) = match item {
            sql::SelectItem::UnnamedExpr(e) => (e, None),
            sql::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.value.clone())),
            other => return Err(unsupported("'*' mixed with columns, or qualified wildcards", pos_of(other))),
        };
        let expr = column(expr)?;
        let name = alias.unwrap_or_else(|| match &expr {
            ColumnExpr::Field(f) => f.name(),
            ColumnExpr::Agg(func, f) => {
                format!("{}({})", agg_name(*func), f.as_ref().map_or("*".to_string(), Field::name))
            }
        });
        cols.push(Column { expr, name });
    }
    Ok(Some(cols))
}

fn agg_name(f: AggFunc) -> &'static str {
    match f {
        AggFunc::Count => "COUNT",
        AggFunc::Sum => "SUM",
        AggFunc::Min => "MIN",
        AggFunc::Max => "MAX",
        AggFunc::Avg => "AVG",
    }
}

fn column(e: &sql::Expr) -> Result<ColumnExpr> {
    let sql::Expr::Function(func) = e else { return field(e).map(ColumnExpr::Field) };
    let name = func.name.to_string().to_ascii_uppercase();
    let agg = match name.as_str() {
        "COUNT" => AggFunc::Count,
        "SUM" => AggFunc::Sum,
        "MIN" => AggFunc::Min,
        "MAX" => AggFunc::Max,
        "AVG" => AggFunc::Avg,
        _ => return Err(unsupported(&format!("function {name} (COUNT, SUM, MIN, MAX, AVG are)"), pos_of(e))),
    };
    let sql::FunctionArguments::List(list) = &func.args else {
        return Err(unsupported(&format!("{name} without an argument list"), pos_of(e)));
    };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() || func.filter.is_some() || func.over.is_some() {
        return Err(unsupported("DISTINCT, FILTER, OVER and other aggregate clauses", pos_of(e)));
    }
    match list.args.as_slice() {
        [sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Wildcard)] if agg == AggFunc::Count => {
            Ok(ColumnExpr::Agg(agg, None))
        }
        [sql::FunctionArg::Unnamed(sql::FunctionArgExpr::Expr(arg))] => Ok(ColumnExpr::Agg(agg, Some(field(arg)?))),
        _ => Err(unsupported(&format!("{name} takes one field (COUNT also *)"), pos_of(e))),
    }
}

fn field(e: &sql::Expr) -> Result<Field> {
    let pos = pos_of(e);
    match e {
        sql::Expr::Identifier(i) => Ok(Field { path: vec![i.value.clone()], pos }),
        sql::Expr::CompoundIdentifier(parts) => {
            Ok(Field { path: parts.iter().map(|i| i.value.clone()).collect(), pos })
        }
        sql::Expr::Nested(inner) => field(inner),
        other => Err(Error::InvalidArgument(format!("expected a field name at {pos}, found {other}"))),
    }
}

fn order_item(o: &sql::OrderByExpr) -> Result<OrderItem> {
    if o.with_fill.is_some() || o.options.nulls_first.is_some() {
        return Err(unsupported("WITH FILL and NULLS FIRST/LAST (nulls sort first)", pos_of(&o.expr)));
    }
    let desc = match &o.options.sort {
        None | Some(sql::OrderBySort::Asc) => false,
        Some(sql::OrderBySort::Desc) => true,
        Some(_) => return Err(unsupported("ORDER BY ... USING", pos_of(&o.expr))),
    };
    let field = match &o.expr {
        sql::Expr::Function(_) => match column(&o.expr)? {
            ColumnExpr::Agg(func, f) => Field {
                path: vec![format!("{}({})", agg_name(func), f.as_ref().map_or("*".to_string(), Field::name))],
                pos: pos_of(&o.expr),
            },
            ColumnExpr::Field(f) => f,
        },
        e => field(e)?,
    };
    Ok(OrderItem { field, desc })
}

fn limits(clause: Option<&sql::LimitClause>) -> Result<(Option<u64>, u64)> {
    match clause {
        None => Ok((None, 0)),
        Some(sql::LimitClause::LimitOffset { limit, offset, limit_by }) => {
            if let Some(e) = limit_by.first() {
                return Err(unsupported("LIMIT BY", pos_of(e)));
            }
            let limit = limit.as_ref().map(count).transpose()?;
            let offset = offset.as_ref().map(|o| count(&o.value)).transpose()?.unwrap_or(0);
            Ok((limit, offset))
        }
        Some(sql::LimitClause::OffsetCommaLimit { offset, limit }) => Ok((Some(count(limit)?), count(offset)?)),
    }
}

fn count(e: &sql::Expr) -> Result<u64> {
    match literal(e)? {
        Value::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(0)),
        other => {
            Err(Error::InvalidArgument(format!("expected a non-negative integer at {}, found {other}", pos_of(e))))
        }
    }
}

fn literal(e: &sql::Expr) -> Result<Value> {
    let pos = pos_of(e);
    match e {
        sql::Expr::Value(v) => match &v.value {
            sql::Value::Number(s, _) => number(s, false, pos),
            sql::Value::SingleQuotedString(s) => Ok(Value::String(s.clone())),
            sql::Value::Boolean(b) => Ok(Value::Bool(*b)),
            sql::Value::Null => Ok(Value::Null),
            other => Err(unsupported(&format!("literal {other}"), pos)),
        },
        sql::Expr::UnaryOp { op: sql::UnaryOperator::Minus, expr } => match expr.as_ref() {
            sql::Expr::Value(sql::ValueWithSpan { value: sql::Value::Number(s, _), .. }) => number(s, true, pos),
            _ => Err(Error::InvalidArgument(format!("expected a number after '-' at {pos}"))),
        },
        sql::Expr::UnaryOp { op: sql::UnaryOperator::Plus, expr } => literal(expr),
        sql::Expr::Nested(inner) => literal(inner),
        other => Err(Error::InvalidArgument(format!("expected a literal at {pos}, found {other}"))),
    }
}

fn number(s: &str, negative: bool, pos: Pos) -> Result<Value> {
    let text = if negative { format!("-{s}") } else { s.to_string() };
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Ok(Value::Number(u.into()));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| Error::InvalidArgument(format!("bad number {text} at {pos}")))
}

fn is_field(e: &sql::Expr) -> bool {
    match e {
        sql::Expr::Identifier(_) | sql::Expr::CompoundIdentifier(_) => true,
        sql::Expr::Nested(inner) => is_field(inner),
        _ => false,
    }
}

fn predicate(e: &sql::Expr) -> Result<Expr> {
    let pos = pos_of(e);
    match e {
        sql::Expr::Nested(inner) => predicate(inner),
        sql::Expr::BinaryOp { left, op, right } => match op {
            sql::BinaryOperator::And => Ok(Expr::And(Box::new(predicate(left)?), Box::new(predicate(right)?))),
            sql::BinaryOperator::Or => Ok(Expr::Or(Box::new(predicate(left)?), Box::new(predicate(right)?))),
            _ => {
                let op = match op {
                    sql::BinaryOperator::Eq => CmpOp::Eq,
                    sql::BinaryOperator::NotEq => CmpOp::Ne,
                    sql::BinaryOperator::Lt => CmpOp::Lt,
                    sql::BinaryOperator::LtEq => CmpOp::Le,
                    sql::BinaryOperator::Gt => CmpOp::Gt,
                    sql::BinaryOperator::GtEq => CmpOp::Ge,
                    other => return Err(unsupported(&format!("operator {other}"), pos)),
                };
                match (is_field(left), is_field(right)) {
                    (true, false) => Ok(Expr::Cmp(field(left)?, op, literal(right)?)),
                    (false, true) => Ok(Expr::Cmp(field(right)?, op.flipped(), literal(left)?)),
                    _ => Err(unsupported("comparisons other than between a field and a literal", pos)),
                }
            }
        },
        sql::Expr::UnaryOp { op: sql::UnaryOperator::Not, expr } => Ok(Expr::Not(Box::new(predicate(expr)?))),
        sql::Expr::IsNull(f) => Ok(Expr::IsNull(field(f)?, false)),
        sql::Expr::IsNotNull(f) => Ok(Expr::IsNull(field(f)?, true)),
        sql::Expr::Between { expr, negated, low, high } => {
            Ok(Expr::Between(field(expr)?, literal(low)?, literal(high)?, *negated))
        }
        sql::Expr::In { expr, target: sql::InTarget::List(list), negated, global: false } => {
            let values = list.iter().map(literal).collect::<Result<Vec<_>>>()?;
            if values.iter().any(Value::is_null) {
                return Err(Error::InvalidArgument(format!("NULL in an IN list at {pos} never matches; use IS NULL")));
            }
            Ok(Expr::In(field(expr)?, values, *negated))
        }
        sql::Expr::Like { negated, any: false, expr, pattern, escape_char: None } => match literal(pattern)? {
            Value::String(p) => Ok(Expr::Like(field(expr)?, p, *negated)),
            other => Err(Error::InvalidArgument(format!("LIKE needs a string pattern at {pos}, found {other}"))),
        },
        other => Err(unsupported(&format!("predicate {other}"), pos)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_subset() {
        let s = match parse("SELECT a, b.c AS x FROM users WHERE a >= 3 AND NOT (b.c LIKE 'x%' OR d IS NULL) ORDER BY a DESC LIMIT 5 OFFSET 2").unwrap() {
            Statement::Select(s) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(s.namespace, "users");
        assert_eq!(s.columns.as_ref().unwrap()[1].name, "x");
        assert_eq!((s.limit, s.offset), (Some(5), 2));
        assert!(s.order_by[0].desc);
        assert_eq!(s.filter.unwrap().to_string(), "(a >= 3 AND NOT (b.c LIKE 'x%' OR d IS NULL))");
        assert!(matches!(parse("EXPLAIN SELECT COUNT(*) FROM t GROUP BY k").unwrap(), Statement::Explain(_)));
        let Statement::Select(s) =
            parse("SELECT * FROM t WHERE 5 < a AND b IN (1, 'x') AND c BETWEEN -2 AND 2.5").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.filter.unwrap().to_string(), "((a > 5 AND b IN (1, 'x')) AND c BETWEEN -2 AND 2.5)");
    }

    #[test]
    fn errors_name_the_position() {
        let e = parse("SELECT * FROM t WHERE a = b").unwrap_err().to_string();
        assert!(e.contains("line 1, column 23"), "{e}");
        let e = parse("SELECT * FROM t WHERE").unwrap_err().to_string();
        assert!(e.contains("syntax error") && e.contains("end of the query"), "{e}");
        let e = parse("SELECT * FROM t WHERE a = = 3").unwrap_err().to_string();
        assert!(e.contains("syntax error") && e.contains("Line: 1, Column: 27"), "{e}");
        let e = parse("SELECT * FROM a JOIN b ON a.x = b.y").unwrap_err().to_string();
        assert!(e.contains("joins"), "{e}");
        assert!(parse("DELETE FROM t").is_err());
        assert!(parse("SELECT * FROM t WHERE a IN (NULL)").is_err());
    }
}
