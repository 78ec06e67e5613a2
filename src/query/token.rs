//! Continuation tokens: where a page of results stopped, so the next page resumes after it.
//!
//! A token pins nothing (no snapshot, no lease): the next page runs at the latest state, on
//! the same access path, starting strictly after the last row returned, in the query's
//! order. Rows are never returned twice unless their sort key changed between pages, and
//! rows inserted before the resume position since the previous page are not seen. LIMIT
//! counts across pages; OFFSET applies to the first page only.
//!
//! Text form: `q1.` + hex of a JSON record `{q: hash of the SQL text, a: index id (0 for a
//! full scan), p: last entry or document key (hex), s: last sort values, id: last document
//! id, r: rows the LIMIT still allows}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::index::keys::{from_hex, to_hex};
use crate::{Error, Result};

const PREFIX: &str = "q1.";

/// Where a page stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// FNV-1a hash of the SQL text the token belongs to.
    pub q: u64,
    /// The access path: an index id, or 0 for a full scan.
    pub a: u64,
    /// The last key read (entry or document key), hex, for plans in access order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<String>,
    /// The last row's sort values, for plans that sort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<Vec<Value>>,
    /// The last row's document id, for plans that sort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Rows still allowed by the LIMIT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r: Option<u64>,
}

impl Token {
    /// The token's text.
    pub fn encode(&self) -> String {
        format!("{PREFIX}{}", to_hex(&serde_json::to_vec(self).expect("a token serialises")))
    }

    /// Parses a token for the query `sql`.
    pub fn decode(text: &str, sql: &str) -> Result<Token> {
        let bad = |why: String| Error::InvalidArgument(format!("bad continuation token: {why}"));
        let hex = text.strip_prefix(PREFIX).ok_or_else(|| bad("unknown version".into()))?;
        let t: Token = serde_json::from_slice(&from_hex(hex)?).map_err(|e| bad(e.to_string()))?;
        if t.q != sql_hash(sql) {
            return Err(bad("it was issued for another query".into()));
        }
        Ok(t)
    }

    /// The last key read, as bytes.
    pub fn position(&self) -> Result<Option<Vec<u8>>> {
        self.p.as_deref().map(from_hex).transpose()
    }
}

/// FNV-1a over the SQL text.
pub fn sql_hash(sql: &str) -> u64 {
    sql.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_belong_to_their_query() {
        let t = Token { q: sql_hash("SELECT 1"), a: 3, p: Some(to_hex(b"k")), s: None, id: None, r: Some(4) };
        let text = t.encode();
        assert_eq!(Token::decode(&text, "SELECT 1").unwrap(), t);
        assert!(Token::decode(&text, "SELECT 2").is_err());
        assert!(Token::decode("q1.zz", "SELECT 1").is_err());
        assert!(Token::decode("nope", "SELECT 1").is_err());
    }
}
