//! [`WriteBatch`]: several writes applied atomically, and its log encoding.
//!
//! Log encoding of one commit group (see `docs/format/batch.md`): `version u8 | first seqno
//! u64 LE | count u32 LE`, then `count` entries of `kind u8 | key (varint length + bytes) |
//! value (varint length + bytes, only for value kinds)`. Entry `i` has sequence number
//! `first + i`.

use std::borrow::Cow;
use std::time::Duration;

use kvd_base::coding::{put_bytes, put_u32, put_u64, Decoder};
use kvd_base::format::BATCH_FORMAT_VERSION;
use kvd_base::key::{encode_expiring_value, SeqNo, ValueKind};

use crate::{Error, Result};

/// One write inside a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Set `key` to `value` until `ttl` after the commit.
    PutWithTtl {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// Time to live from the moment of commit.
        ttl: Duration,
    },
    /// Set `key` to `value` until the absolute time `expires_at_millis`.
    PutWithExpiry {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// Expiry, milliseconds since the Unix epoch.
        expires_at_millis: u64,
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl BatchOp {
    /// The key this op writes.
    pub fn key(&self) -> &[u8] {
        match self {
            BatchOp::Put { key, .. }
            | BatchOp::PutWithTtl { key, .. }
            | BatchOp::PutWithExpiry { key, .. }
            | BatchOp::Delete { key } => key,
        }
    }

    /// The value this op writes, if any.
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            BatchOp::Put { value, .. } | BatchOp::PutWithTtl { value, .. } | BatchOp::PutWithExpiry { value, .. } => {
                Some(value)
            }
            BatchOp::Delete { .. } => None,
        }
    }
}

/// An ordered set of writes that become durable and visible all at once or not at all.
/// Later writes to the same key within a batch win.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
    bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an op.
    pub fn push(&mut self, op: BatchOp) -> &mut Self {
        self.bytes += op.key().len() + op.value().map_or(0, <[u8]>::len) + 16;
        self.ops.push(op);
        self
    }

    /// Adds a put.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.push(BatchOp::Put { key: key.into(), value: value.into() })
    }

    /// Adds a put that expires `ttl` after commit.
    pub fn put_with_ttl(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>, ttl: Duration) -> &mut Self {
        self.push(BatchOp::PutWithTtl { key: key.into(), value: value.into(), ttl })
    }

    /// Adds a delete.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.push(BatchOp::Delete { key: key.into() })
    }

    /// The ops in order.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when the batch holds no op.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// True if any op carries a TTL (so committing it needs the clock).
    pub fn has_ttl(&self) -> bool {
        self.ops.iter().any(|op| matches!(op, BatchOp::PutWithTtl { .. }))
    }

    /// Approximate encoded size.
    pub fn approximate_size(&self) -> usize {
        self.bytes
    }

    /// Removes every op.
    pub fn clear(&mut self) {
        self.ops.clear();
        self.bytes = 0;
    }
}

/// The entries `batch` stores, as `(kind, key, stored value)`, with TTLs turned into absolute
/// expiries as of `now_millis`. The log and the memtable both consume exactly this.
pub(crate) fn stored_entries(
    batch: &WriteBatch,
    now_millis: u64,
) -> impl Iterator<Item = (ValueKind, &[u8], Cow<'_, [u8]>)> {
    batch.ops().iter().map(move |op| match op {
        BatchOp::Put { key, value } => (ValueKind::Put, &key[..], Cow::Borrowed(&value[..])),
        BatchOp::Delete { key } => (ValueKind::Delete, &key[..], Cow::Borrowed(&[][..])),
        BatchOp::PutWithTtl { key, value, ttl } => {
            let at = now_millis.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
            (ValueKind::PutWithExpiry, &key[..], Cow::Owned(encode_expiring_value(at, value)))
        }
        BatchOp::PutWithExpiry { key, value, expires_at_millis } => {
            (ValueKind::PutWithExpiry, &key[..], Cow::Owned(encode_expiring_value(*expires_at_millis, value)))
        }
    })
}

/// One decoded log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEntry {
    /// Its sequence number.
    pub seq: SeqNo,
    /// Its kind.
    pub kind: ValueKind,
    /// Its key.
    pub key: Vec<u8>,
    /// Its stored value (with the expiry prefix for `PutWithExpiry`).
    pub value: Vec<u8>,
}

/// Encodes commit groups into log records.
pub(crate) struct RecordEncoder {
    buf: Vec<u8>,
    count: u32,
}

impl RecordEncoder {
    pub(crate) fn new(first_seq: SeqNo, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + 13);
        buf.push(BATCH_FORMAT_VERSION);
        put_u64(&mut buf, first_seq);
        put_u32(&mut buf, 0);
        RecordEncoder { buf, count: 0 }
    }

    /// Appends `batch`'s ops; TTLs become absolute expiries using `now_millis`.
    pub(crate) fn add(&mut self, batch: &WriteBatch, now_millis: u64) {
        for (kind, key, value) in stored_entries(batch, now_millis) {
            self.entry(kind, key, kind.is_value().then_some(&value[..]));
        }
    }

    fn entry(&mut self, kind: ValueKind, key: &[u8], value: Option<&[u8]>) {
        self.buf.push(kind as u8);
        put_bytes(&mut self.buf, key);
        if let Some(v) = value {
            put_bytes(&mut self.buf, v);
        }
        self.count += 1;
    }

    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf[9..13].copy_from_slice(&self.count.to_le_bytes());
        self.buf
    }
}

/// Decodes one log record into entries, or a corruption error naming `file` and `offset`.
pub fn decode_record(record: &[u8], file: &str, offset: u64) -> Result<Vec<LoggedEntry>> {
    let bad = |e: kvd_base::coding::DecodeError| Error::from(e.in_file(file, offset));
    let mut d = Decoder::new(record);
    let version = d.u8("batch version").map_err(bad)?;
    if version != BATCH_FORMAT_VERSION {
        return Err(Error::corruption(file, offset, format!("unknown batch version {version}")));
    }
    let first = d.u64("first seqno").map_err(bad)?;
    let count = d.u32("entry count").map_err(bad)?;
    let mut out = Vec::with_capacity((count as usize).min(record.len()));
    for i in 0..count as u64 {
        let at = d.position() as u64;
        let kind = ValueKind::from_u8(d.u8("entry kind").map_err(bad)?)
            .ok_or_else(|| Error::corruption(file, offset + at, "unknown entry kind"))?;
        let key = d.bytes("entry key").map_err(bad)?.to_vec();
        let value = if kind.is_value() { d.bytes("entry value").map_err(bad)?.to_vec() } else { Vec::new() };
        out.push(LoggedEntry { seq: first + i, kind, key, value });
    }
    if !d.is_empty() {
        return Err(Error::corruption(file, offset + d.position() as u64, "trailing bytes after batch"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrip() {
        let mut b = WriteBatch::new();
        b.put("a", "1").delete("b").put_with_ttl("c", "3", Duration::from_millis(10));
        let mut enc = RecordEncoder::new(100, b.approximate_size());
        enc.add(&b, 1000);
        let rec = enc.finish();
        let got = decode_record(&rec, "x.log", 0).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], LoggedEntry { seq: 101, kind: ValueKind::Delete, key: b"b".to_vec(), value: vec![] });
        assert_eq!(got[2].kind, ValueKind::PutWithExpiry);
        assert_eq!(kvd_base::key::decode_expiring_value(&got[2].value).unwrap(), (1010, &b"3"[..]));
        for cut in 0..rec.len() {
            assert!(decode_record(&rec[..cut], "x.log", 0).is_err());
        }
    }
}
