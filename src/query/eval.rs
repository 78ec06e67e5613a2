//! Evaluating predicates on documents, with SQL's three-valued logic.
//!
//! A comparison is unknown (`None`) when the field is missing or null, or holds a value of
//! another class than the literal (a string compared with a number): documents are
//! schemaless, so a mismatch is not an error here, it just does not match. `NOT unknown` is
//! unknown; a row is kept only when its predicate is `Some(true)`.

use serde_json::Value;

use super::ast::{CmpOp, Expr, Field};
use crate::index::value::{class, cmp_json, lookup};

/// A document and its id, as predicates and projections read it.
#[derive(Debug, Clone)]
pub struct Doc {
    /// The document id (the key after `namespace/`), as a JSON string for `_id`.
    pub id: Value,
    /// The document.
    pub body: Value,
}

impl Doc {
    /// The value of `field` (`_id` is the id), `None` when missing.
    pub fn get(&self, field: &Field) -> Option<&Value> {
        if field.is_id() {
            Some(&self.id)
        } else {
            lookup(&self.body, &field.path)
        }
    }

    /// The id as a string.
    pub fn id_str(&self) -> &str {
        self.id.as_str().unwrap_or_default()
    }
}

fn compare(v: Option<&Value>, op: CmpOp, lit: &Value) -> Option<bool> {
    let v = v.filter(|v| !v.is_null())?;
    if lit.is_null() || class(v) != class(lit) {
        return None;
    }
    Some(op.test(cmp_json(v, lit)))
}

fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn negate(a: Option<bool>, negated: bool) -> Option<bool> {
    if negated {
        a.map(|b| !b)
    } else {
        a
    }
}

/// The truth value of `e` for `doc`.
pub fn eval(e: &Expr, doc: &Doc) -> Option<bool> {
    match e {
        Expr::Cmp(f, op, lit) => compare(doc.get(f), *op, lit),
        Expr::In(f, list, n) => {
            let v = doc.get(f);
            let each: Vec<Option<bool>> = list.iter().map(|lit| compare(v, CmpOp::Eq, lit)).collect();
            let any = if each.contains(&Some(true)) {
                Some(true)
            } else if each.contains(&None) {
                None
            } else {
                Some(false)
            };
            negate(any, *n)
        }
        Expr::Between(f, lo, hi, n) => {
            let v = doc.get(f);
            negate(and(compare(v, CmpOp::Ge, lo), compare(v, CmpOp::Le, hi)), *n)
        }
        Expr::Like(f, pattern, n) => match doc.get(f) {
            Some(Value::String(s)) => negate(Some(like(s, pattern)), *n),
            _ => None,
        },
        Expr::IsNull(f, n) => Some(doc.get(f).is_none_or(Value::is_null) != *n),
        Expr::And(a, b) => and(eval(a, doc), eval(b, doc)),
        Expr::Or(a, b) => or(eval(a, doc), eval(b, doc)),
        Expr::Not(a) => eval(a, doc).map(|b| !b),
    }
}

/// True when `doc` passes `filter` (or there is none).
pub fn matches(filter: Option<&Expr>, doc: &Doc) -> bool {
    filter.is_none_or(|e| eval(e, doc) == Some(true))
}

/// SQL LIKE: `%` matches any run of characters, `_` exactly one; case-sensitive.
pub fn like(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Greedy matching with backtracking to the last '%' (linear in practice).
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if j < p.len() && (p[j] == '_' || (p[j] != '%' && p[j] == s[i])) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    p[j..].iter().all(|&c| c == '%')
}

/// The literal prefix of a LIKE pattern (up to its first wildcard), and whether the pattern
/// is exactly that prefix followed by `%` (so a prefix range decides it alone).
pub fn like_prefix(pattern: &str) -> (&str, bool) {
    let end = pattern.find(['%', '_']).unwrap_or(pattern.len());
    (&pattern[..end], &pattern[end..] == "%")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::ast::Pos;
    use serde_json::json;

    fn f(name: &str) -> Field {
        Field { path: vec![name.into()], pos: Pos::default() }
    }

    #[test]
    fn like_patterns() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "a_c"));
        assert!(like("abc", "%"));
        assert!(!like("abc", "a_"));
        assert!(like("", "%"));
        assert!(like("aXbXc", "a%b%c"));
        assert!(!like("ab", "a%c"));
        assert_eq!(like_prefix("ab%"), ("ab", true));
        assert_eq!(like_prefix("a_b%"), ("a", false));
    }

    #[test]
    fn three_valued_logic() {
        let d = Doc { id: json!("1"), body: json!({"a": 1, "s": "x", "n": null}) };
        assert_eq!(eval(&Expr::Cmp(f("a"), CmpOp::Eq, json!(1.0)), &d), Some(true));
        assert_eq!(eval(&Expr::Cmp(f("s"), CmpOp::Lt, json!(5)), &d), None);
        assert_eq!(eval(&Expr::Cmp(f("n"), CmpOp::Ne, json!(5)), &d), None);
        assert_eq!(eval(&Expr::Not(Box::new(Expr::Cmp(f("zz"), CmpOp::Eq, json!(5)))), &d), None);
        assert_eq!(eval(&Expr::IsNull(f("zz"), false), &d), Some(true));
        assert_eq!(eval(&Expr::IsNull(f("n"), true), &d), Some(false));
        assert_eq!(eval(&Expr::In(f("a"), vec![json!("x"), json!(1)], false), &d), Some(true));
        assert_eq!(eval(&Expr::In(f("a"), vec![json!("x")], true), &d), None);
        assert_eq!(eval(&Expr::Cmp(f("_id"), CmpOp::Eq, json!("1")), &d), Some(true));
    }
}
