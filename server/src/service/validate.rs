//! Request validation, done on the async executor before any engine work, so that a bad or
//! hostile request costs no engine time and every rejection names the offending field.

use std::time::Duration;

use tonic::Status;

use crate::config::Config;
use crate::status::{exhausted, invalid};

/// Longest TTL accepted: 100 years, far below any overflow of the engine's expiry clock.
pub(crate) const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Room in a response for everything but keys and values.
const RESPONSE_OVERHEAD: usize = 1024;

/// Longest SQL text a query may have, in bytes.
pub(crate) const MAX_SQL_BYTES: usize = 64 << 10;

/// The limits requests are checked against.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub max_key: usize,
    pub max_value: usize,
    pub max_batch_ops: usize,
    pub max_message: usize,
}

impl Limits {
    pub(crate) fn from_config(c: &Config) -> Limits {
        Limits {
            max_key: c.max_key_bytes,
            max_value: c.max_value_bytes,
            max_batch_ops: c.max_batch_ops,
            max_message: c.max_message_bytes,
        }
    }

    /// A key: non-empty and at most `max_key` bytes.
    pub(crate) fn key(&self, field: &dyn Fn() -> String, key: &[u8]) -> Result<(), Status> {
        if key.is_empty() {
            return Err(invalid(format!("{}: key must not be empty", field())));
        }
        if key.len() > self.max_key {
            return Err(invalid(format!(
                "{}: key of {} bytes exceeds max_key_bytes {}",
                field(),
                key.len(),
                self.max_key
            )));
        }
        Ok(())
    }

    /// A value: at most `max_value` bytes.
    pub(crate) fn value(&self, field: &dyn Fn() -> String, value: &[u8]) -> Result<(), Status> {
        if value.len() > self.max_value {
            return Err(invalid(format!(
                "{}: value of {} bytes exceeds max_value_bytes {}",
                field(),
                value.len(),
                self.max_value
            )));
        }
        Ok(())
    }

    /// A TTL in milliseconds: 0 is none.
    pub(crate) fn ttl(&self, field: &dyn Fn() -> String, ttl_ms: u64) -> Result<Option<Duration>, Status> {
        match ttl_ms {
            0 => Ok(None),
            ms if ms > MAX_TTL_MS => {
                Err(invalid(format!("{}: ttl of {ms} ms exceeds the maximum of {MAX_TTL_MS} ms (100 years)", field())))
            }
            ms => Ok(Some(Duration::from_millis(ms))),
        }
    }

    /// A count of operations or keys in one request.
    pub(crate) fn batch_len(&self, field: &str, n: usize) -> Result<(), Status> {
        if n > self.max_batch_ops {
            return Err(invalid(format!("{field}: {n} entries exceed max_batch_ops {}", self.max_batch_ops)));
        }
        Ok(())
    }

    /// A document: its key (non-empty, at most `max_key` bytes; the engine checks the
    /// `namespace/id` form) and its JSON text (at most `max_value` bytes; parsed later, off
    /// the executor). `prefix` precedes the field names `key` and `json` in messages.
    pub(crate) fn doc(&self, prefix: &dyn Fn() -> String, key: &str, json: &str) -> Result<(), Status> {
        self.key(&|| format!("{}key", prefix()), key.as_bytes())?;
        self.value(&|| format!("{}json", prefix()), json.as_bytes())
    }

    /// Bytes of keys and values one response may carry.
    pub(crate) fn response_budget(&self) -> usize {
        self.max_message.saturating_sub(RESPONSE_OVERHEAD)
    }

    /// `RESOURCE_EXHAUSTED` when `bytes` of payload do not fit in one response.
    pub(crate) fn fits_response(&self, what: &dyn Fn() -> String, bytes: usize) -> Result<(), Status> {
        if bytes > self.response_budget() {
            return Err(exhausted(format!(
                "{} of {bytes} bytes does not fit in one response (max_message_bytes {})",
                what(),
                self.max_message
            )));
        }
        Ok(())
    }
}

/// SQL text: non-empty and at most [`MAX_SQL_BYTES`].
pub(crate) fn sql(text: &str) -> Result<(), Status> {
    if text.trim().is_empty() {
        return Err(invalid("sql: must not be empty"));
    }
    if text.len() > MAX_SQL_BYTES {
        return Err(invalid(format!("sql: {} bytes exceed the maximum of {MAX_SQL_BYTES}", text.len())));
    }
    Ok(())
}

/// A name the engine checks further (a namespace, an index name): required.
pub(crate) fn required(field: &str, value: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(invalid(format!("{field}: required")));
    }
    Ok(())
}

/// A validated key range: `lower` inclusive, `upper` exclusive, either open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyRange {
    pub lower: Option<Vec<u8>>,
    pub upper: Option<Vec<u8>>,
}

impl KeyRange {
    /// The range named by `start`/`end` or by `prefix` (not both).
    pub(crate) fn parse(start: Vec<u8>, end: Vec<u8>, prefix: Vec<u8>) -> Result<KeyRange, Status> {
        if !prefix.is_empty() {
            if !start.is_empty() || !end.is_empty() {
                return Err(invalid("prefix: must not be combined with start or end"));
            }
            let upper = kvd::prefix_successor(&prefix);
            return Ok(KeyRange { lower: Some(prefix), upper });
        }
        if !start.is_empty() && !end.is_empty() && start > end {
            return Err(invalid(format!(
                "range: start {} sorts after end {}",
                crate::convert::show_key(&start),
                crate::convert::show_key(&end)
            )));
        }
        Ok(KeyRange { lower: (!start.is_empty()).then_some(start), upper: (!end.is_empty()).then_some(end) })
    }

    /// True when neither bound is set.
    pub(crate) fn is_unbounded(&self) -> bool {
        self.lower.is_none() && self.upper.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn limits() -> Limits {
        Limits { max_key: 4, max_value: 8, max_batch_ops: 2, max_message: 4096 }
    }

    #[test]
    fn keys_values_ttls() {
        let l = limits();
        let f = || "key".to_string();
        assert_eq!(l.key(&f, b"").unwrap_err().code(), Code::InvalidArgument);
        assert!(l.key(&f, b"abcde").unwrap_err().message().contains("5 bytes exceeds max_key_bytes 4"));
        l.key(&f, b"abcd").unwrap();
        assert!(l.value(&f, &[0; 9]).is_err());
        assert_eq!(l.ttl(&f, 0).unwrap(), None);
        assert!(l.ttl(&f, MAX_TTL_MS + 1).is_err());
        assert!(l.batch_len("ops", 3).is_err());
        let doc = || "put.".to_string();
        assert!(l.doc(&doc, "a/b", "{}").is_ok());
        assert!(l.doc(&doc, "", "{}").unwrap_err().message().starts_with("put.key:"));
        assert!(l.doc(&doc, "a/b", "{\"x\": 100}").unwrap_err().message().starts_with("put.json:"));
    }

    #[test]
    fn sql_and_names() {
        assert!(sql("SELECT * FROM t").is_ok());
        assert!(sql("  ").unwrap_err().message().contains("must not be empty"));
        assert!(sql(&"x".repeat(MAX_SQL_BYTES + 1)).is_err());
        assert!(required("name", "").unwrap_err().message().contains("name: required"));
    }

    #[test]
    fn ranges() {
        let r = KeyRange::parse(b"a".to_vec(), b"b".to_vec(), vec![]).unwrap();
        assert_eq!(r.lower.as_deref(), Some(&b"a"[..]));
        assert!(KeyRange::parse(b"b".to_vec(), b"a".to_vec(), vec![]).is_err());
        assert!(KeyRange::parse(b"a".to_vec(), vec![], b"p".to_vec()).is_err());
        let p = KeyRange::parse(vec![], vec![], b"p".to_vec()).unwrap();
        assert_eq!(p.upper.as_deref(), Some(&b"q"[..]));
        assert!(KeyRange::parse(vec![], vec![], vec![]).unwrap().is_unbounded());
        // An all-0xff prefix has no successor: open above.
        assert_eq!(KeyRange::parse(vec![], vec![], vec![0xff]).unwrap().upper, None);
    }
}
