//! The order-preserving encoding of JSON values in index keys (`docs/format/index.md`).
//!
//! Comparing two encodings bytewise gives the order of [`cmp_json`](super::value::cmp_json):
//!
//! ```text
//! null      0x01
//! false     0x02
//! true      0x03
//! number    0x04 | f64 u64 BE, ordered | exact remainder i64 BE, sign bit flipped
//! string    0x05 | UTF-8 bytes, 0x00 escaped as 0x00 0xff | 0x00 0x01
//! other     0x06 | compact JSON text of an array or object, escaped as a string | 0x00 0x01
//! ```
//!
//! A number is the nearest `f64` (its bits with the sign bit flipped when positive, all bits
//! flipped when negative, so byte order is numeric order) followed by the exact integer
//! remainder `n - (n as f64)` for integers beyond 2^53 (zero for floats and small integers),
//! so distinct integers never collide and ints and floats compare exactly. Strings are
//! terminated by `0x00 0x01` with embedded `0x00` escaped, so a compound key of several values
//! sorts value by value, and a string sorts before every longer string it prefixes.
//! Every encoding is self-delimiting: the primary key follows the last value unframed.

use serde_json::{Number, Value};

use crate::{Error, Result};

/// Tag of `null` (and of a missing field).
pub const TAG_NULL: u8 = 0x01;
/// Tag of `false`.
pub const TAG_FALSE: u8 = 0x02;
/// Tag of `true`.
pub const TAG_TRUE: u8 = 0x03;
/// Tag of a number.
pub const TAG_NUMBER: u8 = 0x04;
/// Tag of a string.
pub const TAG_STRING: u8 = 0x05;
/// Tag of an array or object (by its compact JSON text).
pub const TAG_OTHER: u8 = 0x06;

/// Appends the encoding of `v` (`None` for a missing field, encoded as null) to `out`.
pub fn encode_value(v: Option<&Value>, out: &mut Vec<u8>) {
    match v {
        None | Some(Value::Null) => out.push(TAG_NULL),
        Some(Value::Bool(false)) => out.push(TAG_FALSE),
        Some(Value::Bool(true)) => out.push(TAG_TRUE),
        Some(Value::Number(n)) => encode_number(n, out),
        Some(Value::String(s)) => {
            out.push(TAG_STRING);
            escape(s.as_bytes(), out);
        }
        Some(other) => {
            out.push(TAG_OTHER);
            escape(other.to_string().as_bytes(), out);
        }
    }
}

/// The encoding of `v` alone.
pub fn encoded(v: Option<&Value>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(v, &mut out);
    out
}

fn encode_number(n: &Number, out: &mut Vec<u8>) {
    let (f, rem) = split_number(n);
    let f = if f == 0.0 { 0.0 } else { f }; // -0.0 sorts as 0.0
    let bits = f.to_bits();
    let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
    out.push(TAG_NUMBER);
    out.extend_from_slice(&ordered.to_be_bytes());
    out.extend_from_slice(&((rem as u64) ^ (1 << 63)).to_be_bytes());
}

/// The nearest `f64` of `n` and the exact integer remainder `n - f` (zero for floats).
fn split_number(n: &Number) -> (f64, i64) {
    let exact: Option<i128> = n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match exact {
        Some(i) => {
            let f = i as f64;
            (f, (i - f as i128) as i64)
        }
        None => (n.as_f64().unwrap_or(0.0), 0),
    }
}

fn escape(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// The length of the encoded value at the start of `buf`; a corruption error if it is not a
/// whole, valid encoding.
pub fn skip_value(buf: &[u8]) -> Result<usize> {
    let bad = |why: &str| Error::InvalidArgument(format!("malformed index entry: {why}"));
    match buf.first() {
        Some(&TAG_NULL | &TAG_FALSE | &TAG_TRUE) => Ok(1),
        Some(&TAG_NUMBER) if buf.len() >= 17 => Ok(17),
        Some(&TAG_NUMBER) => Err(bad("truncated number")),
        Some(&TAG_STRING | &TAG_OTHER) => {
            let mut i = 1;
            while i + 1 < buf.len() {
                if buf[i] == 0 {
                    match buf[i + 1] {
                        0x01 => return Ok(i + 2),
                        0xff => i += 2,
                        _ => return Err(bad("bad escape in string")),
                    }
                } else {
                    i += 1;
                }
            }
            Err(bad("unterminated string"))
        }
        Some(t) => Err(bad(&format!("unknown tag {t:#04x}"))),
        None => Err(bad("missing value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::value::cmp_json;
    use serde_json::json;

    #[test]
    fn encoding_order_is_value_order() {
        let values = vec![
            json!(null),
            json!(false),
            json!(true),
            json!(-1e300),
            json!(i64::MIN),
            json!(-2.5),
            json!(-1),
            json!(0),
            json!(-0.0),
            json!(0.5),
            json!(1),
            json!(9007199254740992u64),
            json!(9007199254740993u64),
            json!(9007199254740994.0),
            json!(u64::MAX),
            json!(1e300),
            json!(""),
            json!("a"),
            json!("a\u{0}"),
            json!("a\u{0}b"),
            json!("ab"),
            json!("b"),
            json!([1, 2]),
            json!({"a": 1}),
        ];
        for a in &values {
            for b in &values {
                let (ea, eb) = (encoded(Some(a)), encoded(Some(b)));
                assert_eq!(ea.cmp(&eb), cmp_json(a, b), "{a} vs {b}");
                assert_eq!(skip_value(&ea).unwrap(), ea.len());
            }
        }
    }

    #[test]
    fn compound_keys_sort_field_by_field() {
        let key = |a: &str, b: i64| {
            let mut k = encoded(Some(&json!(a)));
            encode_value(Some(&json!(b)), &mut k);
            k
        };
        assert!(key("a", 9) < key("ab", 1));
        assert!(key("a", 1) < key("a", 2));
        assert!(key("a\u{0}", 1) > key("a", 99));
    }

    #[test]
    fn malformed_entries_are_errors() {
        assert!(skip_value(&[]).is_err());
        assert!(skip_value(&[0x09]).is_err());
        assert!(skip_value(&[TAG_STRING, b'a']).is_err());
        assert!(skip_value(&[TAG_NUMBER, 1, 2]).is_err());
        assert!(skip_value(&[TAG_STRING, 0, 7]).is_err());
    }
}
