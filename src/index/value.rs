//! JSON values as index and query see them: field paths, the total order, exact numbers.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// A dotted field path (`address.city`), split into its parts.
pub type FieldPath = Vec<String>;

/// Splits `a.b.c` into its parts.
pub fn parse_path(path: &str) -> FieldPath {
    path.split('.').map(str::to_string).collect()
}

/// The value at `path` in `doc`, or `None` when a part is missing or not an object.
pub fn lookup<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = doc;
    for part in path {
        v = v.as_object()?.get(part)?;
    }
    Some(v)
}

/// The rank of a value's class in the total order: null < bool < number < string < other.
pub fn class(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) | Value::Object(_) => 4,
    }
}

/// The total order of JSON values that index keys follow: by class, then numbers exactly
/// (integers and floats compare by value), strings by UTF-8 bytes, booleans `false < true`,
/// arrays and objects by their compact JSON text.
pub fn cmp_json(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ if class(a) != class(b) => class(a).cmp(&class(b)),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// [`cmp_json`] over optional values, a missing value ordering as null.
pub fn cmp_opt(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    cmp_json(a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null))
}

enum Exact {
    Int(i128),
    Float(f64),
}

fn exact(n: &Number) -> Exact {
    if let Some(i) = n.as_i64() {
        Exact::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Exact::Int(i128::from(u))
    } else {
        Exact::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// Compares two JSON numbers exactly, even integers beyond 2^53 against floats.
pub fn cmp_numbers(a: &Number, b: &Number) -> Ordering {
    match (exact(a), exact(b)) {
        (Exact::Int(x), Exact::Int(y)) => x.cmp(&y),
        (Exact::Float(x), Exact::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Exact::Int(x), Exact::Float(y)) => cmp_int_float(x, y),
        (Exact::Float(x), Exact::Int(y)) => cmp_int_float(y, x).reverse(),
    }
}

fn cmp_int_float(i: i128, f: f64) -> Ordering {
    const LIMIT: f64 = 1.7e38; // below i128::MAX
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f <= -LIMIT {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    match i.cmp(&(whole as i128)) {
        Ordering::Equal => 0.0f64.partial_cmp(&(f - whole)).unwrap_or(Ordering::Equal),
        other => other,
    }
}

/// A JSON number as `f64` (for sums and averages).
pub fn as_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_exactly() {
        let big = json!(9007199254740993u64);
        assert_eq!(cmp_json(&big, &json!(9007199254740992.0)), Ordering::Greater);
        assert_eq!(cmp_json(&json!(2), &json!(2.0)), Ordering::Equal);
        assert_eq!(cmp_json(&json!(-3), &json!(-2.5)), Ordering::Less);
        assert_eq!(cmp_json(&json!(-2), &json!(-2.5)), Ordering::Greater);
        assert_eq!(cmp_json(&json!(null), &json!(false)), Ordering::Less);
        assert_eq!(cmp_json(&json!("z"), &json!(1e300)), Ordering::Greater);
    }

    #[test]
    fn paths_reach_nested_fields() {
        let doc = json!({"a": {"b": 1}, "c": 2});
        assert_eq!(lookup(&doc, &parse_path("a.b")), Some(&json!(1)));
        assert_eq!(lookup(&doc, &parse_path("c.d")), None);
        assert_eq!(lookup(&doc, &parse_path("x")), None);
    }
}
