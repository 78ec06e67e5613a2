//! The query as the planner sees it, after parsing: fields, predicates, projection, order.

use std::fmt;

use serde_json::Value;

use crate::index::value::FieldPath;

/// A position in the SQL text (1-based), for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A field named in the query: `_id` is the document id, other names are dotted paths into
/// the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The path's parts.
    pub path: FieldPath,
    /// Where it appears.
    pub pos: Pos,
}

impl Field {
    /// The dotted name.
    pub fn name(&self) -> String {
        self.path.join(".")
    }

    /// True for the `_id` pseudo-field.
    pub fn is_id(&self) -> bool {
        self.path.len() == 1 && self.path[0] == "_id"
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// True when `ord` (field compared with literal) satisfies the operator.
    pub fn test(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }

    /// The operator with its operands swapped (`5 < a` is `a > 5`).
    pub fn flipped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            other => other,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A predicate of the WHERE clause. Evaluated with SQL's three-valued logic: a comparison
/// with a missing or null field, or with a value of another type, is unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `field op literal`.
    Cmp(Field, CmpOp, Value),
    /// `field [NOT] IN (literals)`.
    In(Field, Vec<Value>, bool),
    /// `field [NOT] BETWEEN low AND high`.
    Between(Field, Value, Value, bool),
    /// `field [NOT] LIKE 'pattern'` (`%` any run, `_` one character).
    Like(Field, String, bool),
    /// `field IS [NOT] NULL` (a missing field is null).
    IsNull(Field, bool),
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// Negation.
    Not(Box<Expr>),
}

impl Expr {
    /// The top-level conjuncts (`a AND b AND c` gives three).
    pub fn conjuncts(&self) -> Vec<&Expr> {
        match self {
            Expr::And(a, b) => {
                let mut v = a.conjuncts();
                v.extend(b.conjuncts());
                v
            }
            other => vec![other],
        }
    }

    /// Calls `f` on every field the predicate names, with the literals it is compared with.
    pub fn visit_fields(&self, f: &mut impl FnMut(&Field, &[&Value], bool)) {
        match self {
            Expr::Cmp(field, _, v) => f(field, &[v], false),
            Expr::In(field, vs, _) => f(field, &vs.iter().collect::<Vec<_>>(), false),
            Expr::Between(field, lo, hi, _) => f(field, &[lo, hi], false),
            Expr::Like(field, _, _) => f(field, &[], true),
            Expr::IsNull(field, _) => f(field, &[], false),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.visit_fields(f);
                b.visit_fields(f);
            }
            Expr::Not(e) => e.visit_fields(f),
        }
    }
}

fn lit(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => other.to_string(),
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let not = |n: bool| if n { "NOT " } else { "" };
        match self {
            Expr::Cmp(field, op, v) => write!(f, "{} {} {}", field.name(), op.symbol(), lit(v)),
            Expr::In(field, vs, n) => {
                write!(f, "{} {}IN ({})", field.name(), not(*n), vs.iter().map(lit).collect::<Vec<_>>().join(", "))
            }
            Expr::Between(field, lo, hi, n) => {
                write!(f, "{} {}BETWEEN {} AND {}", field.name(), not(*n), lit(lo), lit(hi))
            }
            Expr::Like(field, p, n) => write!(f, "{} {}LIKE {}", field.name(), not(*n), lit(&Value::String(p.clone()))),
            Expr::IsNull(field, n) => write!(f, "{} IS {}NULL", field.name(), not(*n)),
            Expr::And(a, b) => write!(f, "({a} AND {b})"),
            Expr::Or(a, b) => write!(f, "({a} OR {b})"),
            Expr::Not(e) => write!(f, "NOT {e}"),
        }
    }
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    /// `COUNT(*)` (rows) or `COUNT(field)` (non-null values).
    Count,
    /// Sum of the numeric values.
    Sum,
    /// Smallest non-null value in the total order of JSON values.
    Min,
    /// Largest non-null value.
    Max,
    /// Mean of the numeric values.
    Avg,
}

/// One output column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnExpr {
    /// A field of the document (or a GROUP BY key).
    Field(Field),
    /// An aggregate over a field, or over rows for `COUNT(*)` (`None`).
    Agg(AggFunc, Option<Field>),
}

/// An output column and its name in the result rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// What it computes.
    pub expr: ColumnExpr,
    /// Its key in each result row (the alias, or the expression's text).
    pub name: String,
}

/// One ORDER BY term.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    /// The field (for aggregate queries, the output column of that name).
    pub field: Field,
    /// Descending.
    pub desc: bool,
}

/// A parsed SELECT.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// The namespace (table).
    pub namespace: String,
    /// Where the namespace is named.
    pub namespace_pos: Pos,
    /// `None` for `*`.
    pub columns: Option<Vec<Column>>,
    /// The WHERE predicate.
    pub filter: Option<Expr>,
    /// GROUP BY fields.
    pub group_by: Vec<Field>,
    /// ORDER BY terms.
    pub order_by: Vec<OrderItem>,
    /// LIMIT.
    pub limit: Option<u64>,
    /// OFFSET (0 when absent).
    pub offset: u64,
}

impl Select {
    /// True when the query aggregates (an aggregate column or a GROUP BY).
    pub fn is_aggregate(&self) -> bool {
        !self.group_by.is_empty() || self.columns.iter().flatten().any(|c| matches!(c.expr, ColumnExpr::Agg(..)))
    }
}

/// A parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// Run the query.
    Select(Select),
    /// Show the plan of the query.
    Explain(Select),
}
