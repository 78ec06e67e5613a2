//! Read-check-write operations on one key, made atomic with the engine's `write_if`:
//! conditional puts (`Precondition`), Expire and Persist.
//!
//! Each reads the key's versioned value at a snapshot, decides, and commits with a
//! precondition on the key at that snapshot's sequence number; the engine's commit leader
//! rejects the write if anything wrote the key in between, and the operation runs again.
//! A key that keeps changing between the check and the commit gives up with `ABORTED`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kvd::{BatchOp, Precondition, VersionedValue, WriteBatch, WriteOptions};
use tonic::Status;

use super::{engine, Shared};
use crate::convert::show_key;
use crate::proto::{self, precondition};
use crate::status::{invalid, status, ErrorKind};

/// Attempts of an operation whose key keeps changing between its check and its commit.
pub(crate) const ATTEMPTS: usize = 8;

/// A validated `Precondition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    /// The key holds no live value.
    NotExists,
    /// The key's version is this (0: no live value).
    VersionEquals(u64),
    /// The key's live value is exactly these bytes.
    ValueEquals(Vec<u8>),
}

impl Check {
    /// The check a request's precondition names, `None` for an unconditional put.
    pub(crate) fn parse(p: Option<proto::Precondition>, shared: &Shared) -> Result<Option<Check>, Status> {
        let Some(p) = p else { return Ok(None) };
        Ok(Some(match p.check {
            None => return Err(invalid("precondition: no check is set")),
            Some(precondition::Check::NotExists(_)) => Check::NotExists,
            Some(precondition::Check::VersionEquals(v)) => Check::VersionEquals(v),
            Some(precondition::Check::ValueEquals(v)) => {
                shared.limits.value(&|| "precondition.value_equals".into(), &v)?;
                Check::ValueEquals(v)
            }
        }))
    }

    /// True when `current` (the key's live value, if any) satisfies the check.
    pub(crate) fn holds(&self, current: Option<&VersionedValue>) -> bool {
        match self {
            Check::NotExists => current.is_none(),
            Check::VersionEquals(v) => current.map_or(0, |c| c.seqno) == *v,
            Check::ValueEquals(v) => current.is_some_and(|c| c.value == *v),
        }
    }
}

/// What a read-check-write decided after reading the key.
pub(crate) enum Decision<T> {
    /// Commit this batch, then answer `T` with the commit's sequence number.
    Write(WriteBatch, T),
    /// Write nothing; answer `T` at the sequence number read.
    Skip(T),
}

/// Runs `decide` on `key`'s live value at a fresh snapshot and applies its decision
/// atomically; returns its answer with the sequence number it was served at (the commit's,
/// or the snapshot's when nothing was written).
pub(crate) fn read_check_write<T>(
    s: &Shared,
    key: &[u8],
    opts: WriteOptions,
    mut decide: impl FnMut(Option<VersionedValue>) -> Decision<T>,
) -> Result<(T, u64), Status> {
    for _ in 0..ATTEMPTS {
        let snap = s.db.snapshot();
        let current = s.db.get_versioned(key, Some(snap.seq())).map_err(engine)?;
        match decide(current) {
            Decision::Skip(answer) => return Ok((answer, snap.seq())),
            Decision::Write(batch, answer) => {
                let pre = Precondition { read_seq: snap.seq(), keys: vec![key.to_vec()], ranges: Vec::new() };
                match s.db.write_if(batch, pre, opts) {
                    Ok(seq) => return Ok((answer, seq)),
                    Err(kvd::Error::Conflict(_)) => continue,
                    Err(e) => return Err(engine(e)),
                }
            }
        }
    }
    Err(status(
        ErrorKind::Conflict,
        format!("key {} changed between check and write {ATTEMPTS} times in a row; nothing was written", show_key(key)),
    ))
}

/// Writes `batch` (a put of `key`) only if `check` holds for `key`, atomically.
pub(crate) fn put_if(
    s: &Shared,
    key: &[u8],
    batch: WriteBatch,
    check: &Check,
    opts: WriteOptions,
) -> Result<proto::PutResponse, Status> {
    let (observed, seq) = read_check_write(s, key, opts, |current| {
        let version = current.as_ref().map_or(0, |c| c.seqno);
        if check.holds(current.as_ref()) {
            Decision::Write(batch.clone(), None)
        } else {
            Decision::Skip(Some(version))
        }
    })?;
    Ok(match observed {
        // Applied: a one-entry batch's sequence number is the key's new version.
        None => proto::PutResponse { header: crate::convert::header(seq), applied: true, version: seq },
        Some(version) => proto::PutResponse { header: crate::convert::header(seq), applied: false, version },
    })
}

/// Sets `key` to expire `ttl` after the commit, keeping its value; `None` when the key
/// holds no live value. Returns `(found, seqno)`.
pub(crate) fn expire(s: &Shared, key: &[u8], ttl: Duration, opts: WriteOptions) -> Result<(bool, u64), Status> {
    read_check_write(s, key, opts, |current| match current {
        None => Decision::Skip(false),
        Some(v) => Decision::Write(one(BatchOp::PutWithTtl { key: key.to_vec(), value: v.value, ttl }), true),
    })
}

/// What Persist found.
pub(crate) enum Persisted {
    /// The key holds no live value.
    Missing,
    /// The key never expired; nothing was written. Carries its version.
    NoExpiry(u64),
    /// The expiry was removed.
    Removed,
}

/// Removes `key`'s expiry, keeping its value.
pub(crate) fn persist(s: &Shared, key: &[u8], opts: WriteOptions) -> Result<(Persisted, u64), Status> {
    read_check_write(s, key, opts, |current| match current {
        None => Decision::Skip(Persisted::Missing),
        Some(v) if v.expires_at_millis.is_none() => Decision::Skip(Persisted::NoExpiry(v.seqno)),
        Some(v) => Decision::Write(one(BatchOp::Put { key: key.to_vec(), value: v.value }), Persisted::Removed),
    })
}

fn one(op: BatchOp) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.push(op);
    b
}

/// Milliseconds since the Unix epoch on this host's clock (the engine's default clock).
pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Remaining milliseconds until `expires_at` (Unix ms), rounded up and at least 1: the key
/// was live when read, so it never reports 0 ("no expiry").
pub(crate) fn remaining_ms(expires_at: u64) -> u64 {
    expires_at.saturating_sub(now_unix_ms()).max(1)
}

/// A duration in whole milliseconds, rounded up and at least 1.
pub(crate) fn ceil_ms(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(value: &[u8], seqno: u64) -> VersionedValue {
        VersionedValue { value: value.to_vec(), seqno, expires_at_millis: None }
    }

    #[test]
    fn checks() {
        let cur = v(b"x", 7);
        assert!(Check::NotExists.holds(None));
        assert!(!Check::NotExists.holds(Some(&cur)));
        assert!(Check::VersionEquals(0).holds(None));
        assert!(Check::VersionEquals(7).holds(Some(&cur)));
        assert!(!Check::VersionEquals(6).holds(Some(&cur)));
        assert!(Check::ValueEquals(b"x".to_vec()).holds(Some(&cur)));
        assert!(!Check::ValueEquals(Vec::new()).holds(None), "an absent key has no value, not an empty one");
    }

    #[test]
    fn rounding() {
        assert_eq!(ceil_ms(Duration::from_micros(1)), 1);
        assert_eq!(ceil_ms(Duration::from_micros(1500)), 2);
        assert_eq!(ceil_ms(Duration::ZERO), 1);
        assert_eq!(remaining_ms(0), 1);
    }
}
