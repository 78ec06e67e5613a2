//! The user-facing iterator: one merged view of memtables and tables, filtered to the newest
//! visible version of each key, hiding tombstones and expired values, within bounds.
//!
//! Like LevelDB's `DBIter`: moving forward, the internal iterator sits on the entry that
//! produced the current key; moving backward, it sits just before all of the current key's
//! entries and the key and value are saved copies. A change of direction re-seeks.

use std::sync::Arc;

use kvd_base::key::{decode_expiring_value, parse_internal_key, InternalKey, ValueKind, MAX_SEQNO};
use kvd_base::SeqNo;
use kvd_lsm::iter::{BoxedIterator, InternalIterator, LevelIterator, MergingIterator, TableOpener};
use kvd_lsm::version::FileMeta;

use super::super_version::SuperVersion;
use super::DbInner;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// A cursor over user keys and values at one sequence number, within optional bounds
/// (`lower` inclusive, `upper` exclusive). Not positioned until a `seek*` call. Errors leave
/// it invalid and are reported by [`DbIterator::status`].
pub struct DbIterator {
    inner: MergingIterator,
    _pin: Arc<SuperVersion>,
    seq: SeqNo,
    now_millis: u64,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    direction: Direction,
    valid: bool,
    key: Vec<u8>,
    value: Vec<u8>,
    expires_at_millis: Option<u64>,
    status: Option<Error>,
}

/// Stored value resolved for readers, with its expiry: `None` means "hidden" (tombstone or
/// expired).
fn live_value(kind: ValueKind, stored: &[u8], now: u64) -> Option<(&[u8], Option<u64>)> {
    match kind {
        ValueKind::Delete => None,
        ValueKind::Put => Some((stored, None)),
        ValueKind::PutWithExpiry => match decode_expiring_value(stored) {
            Ok((exp, v)) if exp > now => Some((v, Some(exp))),
            _ => None,
        },
    }
}

impl DbIterator {
    pub(crate) fn new(db: &Arc<DbInner>, seq: SeqNo, lower: Option<Vec<u8>>, upper: Option<Vec<u8>>) -> Self {
        let sv = db.sv.load_full();
        let mut children: Vec<BoxedIterator> = Vec::new();
        children.push(Box::new(sv.mem.iter()));
        for m in &sv.imms {
            children.push(Box::new(m.iter()));
        }
        let mut status = None;
        for f in sv.version.files(0) {
            match db.tables.get(f.number) {
                Ok(t) => children.push(Box::new(t.iter())),
                Err(e) => status = Some(e),
            }
        }
        // Deeper levels are disjoint: one lazily-opening iterator per level.
        for level in 1..kvd_lsm::version::NUM_LEVELS {
            let files = sv.version.files(level);
            if files.is_empty() {
                continue;
            }
            let tables = db.clone();
            let open: TableOpener = Arc::new(move |f: &FileMeta| {
                let t = tables.tables.get(f.number).map_err(|e| match e {
                    Error::Lsm(e) => e,
                    Error::Base(e) => kvd_lsm::Error::Base(e),
                    other => kvd_lsm::Error::InvalidArgument(other.to_string()),
                })?;
                Ok(Box::new(t.iter()) as BoxedIterator)
            });
            children.push(Box::new(LevelIterator::new(files.to_vec(), open)));
        }
        DbIterator {
            inner: MergingIterator::new(children),
            _pin: sv,
            seq,
            now_millis: db.now_millis(),
            lower,
            upper,
            direction: Direction::Forward,
            valid: false,
            key: Vec::new(),
            value: Vec::new(),
            expires_at_millis: None,
            status,
        }
    }

    /// True when positioned at a key.
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// The current key. REQUIRES: `valid()`.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// When the current entry expires (ms since the epoch); `None` if it has no TTL.
    /// REQUIRES: `valid()`.
    pub fn expires_at_millis(&self) -> Option<u64> {
        self.expires_at_millis
    }

    /// The current value. REQUIRES: `valid()`.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The error that ended iteration, if any (taking it).
    pub fn status(&mut self) -> Result<()> {
        match self.status.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn set_error(&mut self, e: Error) {
        self.fail(e);
    }

    fn fail(&mut self, e: Error) {
        self.valid = false;
        self.status.get_or_insert(e);
    }

    fn guard(&mut self, r: kvd_lsm::Result<()>) -> bool {
        match r {
            Ok(()) => self.status.is_none(),
            Err(e) => {
                self.fail(e.into());
                false
            }
        }
    }

    /// Positions at the first key (at or after the lower bound).
    pub fn seek_to_first(&mut self) {
        match self.lower.clone() {
            Some(l) => self.seek(&l),
            None => {
                self.direction = Direction::Forward;
                let r = self.inner.seek_to_first();
                if self.guard(r) {
                    self.find_next_user_entry(None);
                }
            }
        }
    }

    /// Positions at the first key `>= target` (and within bounds).
    pub fn seek(&mut self, target: &[u8]) {
        let target = match &self.lower {
            Some(l) if l.as_slice() > target => l.clone(),
            _ => target.to_vec(),
        };
        self.direction = Direction::Forward;
        let r = self.inner.seek(InternalKey::seek_key(&target, self.seq).encoded());
        if self.guard(r) {
            self.find_next_user_entry(None);
        }
    }

    /// Positions at the last key (before the upper bound).
    pub fn seek_to_last(&mut self) {
        self.direction = Direction::Reverse;
        let r = match self.upper.clone() {
            Some(u) => self.inner.seek_for_prev(InternalKey::new(&u, MAX_SEQNO, ValueKind::PutWithExpiry).encoded()),
            None => self.inner.seek_to_last(),
        };
        if self.guard(r) {
            self.find_prev_user_entry();
        }
    }

    /// Positions at the last key `<= target` (and within bounds).
    pub fn seek_for_prev(&mut self, target: &[u8]) {
        if self.upper.as_deref().is_some_and(|u| target >= u) {
            return self.seek_to_last();
        }
        self.direction = Direction::Reverse;
        let r = self.inner.seek_for_prev(InternalKey::new(target, 0, ValueKind::Delete).encoded());
        if self.guard(r) {
            self.find_prev_user_entry();
        }
    }

    /// Moves to the next key. REQUIRES: `valid()`.
    pub fn next(&mut self) {
        if !self.valid {
            return;
        }
        let current = std::mem::take(&mut self.key);
        if self.direction == Direction::Reverse {
            self.direction = Direction::Forward;
            let r = self.inner.seek(InternalKey::new(&current, MAX_SEQNO, ValueKind::PutWithExpiry).encoded());
            if !self.guard(r) {
                return;
            }
        } else {
            let r = self.inner.next();
            if !self.guard(r) {
                return;
            }
        }
        self.find_next_user_entry(Some(current));
    }

    /// Moves to the previous key. REQUIRES: `valid()`.
    pub fn prev(&mut self) {
        if !self.valid {
            return;
        }
        if self.direction == Direction::Forward {
            self.direction = Direction::Reverse;
            let first_of_current = InternalKey::new(&self.key, MAX_SEQNO, ValueKind::PutWithExpiry);
            let r = self.inner.seek_for_prev(first_of_current.encoded());
            if !self.guard(r) {
                return;
            }
        }
        self.find_prev_user_entry();
    }

    /// Forward: advance to the newest visible, live version of the next user key, skipping
    /// every entry of `skip` (the key just returned) and every hidden key.
    fn find_next_user_entry(&mut self, mut skip: Option<Vec<u8>>) {
        self.valid = false;
        while self.inner.valid() {
            let parsed = match parse_internal_key(self.inner.key()) {
                Ok(p) => p,
                Err(e) => return self.fail(e.in_file("iterator", 0).into()),
            };
            if let Some(u) = &self.upper {
                if parsed.user_key >= u.as_slice() {
                    return;
                }
            }
            let skip_this = parsed.seq > self.seq || skip.as_deref() == Some(parsed.user_key);
            if !skip_this {
                match live_value(parsed.kind, self.inner.value(), self.now_millis) {
                    Some((v, exp)) => {
                        self.key = parsed.user_key.to_vec();
                        self.value = v.to_vec();
                        self.expires_at_millis = exp;
                        self.valid = true;
                        return;
                    }
                    None => skip = Some(parsed.user_key.to_vec()),
                }
            }
            let r = self.inner.next();
            if !self.guard(r) {
                return;
            }
        }
    }

    /// Backward: walk back over the entries of the previous user key (oldest first), keeping
    /// the newest visible one; stop at the key before it once a live value is held.
    fn find_prev_user_entry(&mut self) {
        let mut have_value = false;
        self.valid = false;
        let mut saved_key: Vec<u8> = Vec::new();
        while self.inner.valid() {
            let parsed = match parse_internal_key(self.inner.key()) {
                Ok(p) => p,
                Err(e) => return self.fail(e.in_file("iterator", 0).into()),
            };
            if parsed.seq <= self.seq {
                if have_value && parsed.user_key < saved_key.as_slice() {
                    break;
                }
                if self.lower.as_deref().is_some_and(|l| parsed.user_key < l) {
                    break;
                }
                match live_value(parsed.kind, self.inner.value(), self.now_millis) {
                    Some((v, exp)) => {
                        saved_key.clear();
                        saved_key.extend_from_slice(parsed.user_key);
                        self.value = v.to_vec();
                        self.expires_at_millis = exp;
                        have_value = true;
                    }
                    None => {
                        saved_key.clear();
                        saved_key.extend_from_slice(parsed.user_key);
                        have_value = false;
                    }
                }
            }
            let r = self.inner.prev();
            if !self.guard(r) {
                return;
            }
        }
        if have_value {
            self.key = saved_key;
            self.valid = true;
        }
    }
}

/// A Rust [`Iterator`] over `(key, value)` pairs, ascending or descending, ending with the
/// first error if one occurs.
pub struct Scan {
    it: DbIterator,
    reverse: bool,
    started: bool,
    done: bool,
}

impl Scan {
    pub(crate) fn new(it: DbIterator, reverse: bool) -> Self {
        Scan { it, reverse, started: false, done: false }
    }
}

impl Scan {
    /// The same scan yielding each entry's expiry too.
    pub(crate) fn with_expiry(self) -> ExpiringScan {
        ExpiringScan(self)
    }
}

/// A [`Scan`] whose items carry the entry's expiry (ms since the epoch, `None` without TTL).
pub(crate) struct ExpiringScan(Scan);

impl Iterator for ExpiringScan {
    type Item = Result<(Vec<u8>, Vec<u8>, Option<u64>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.0.next()?;
        Some(item.map(|(k, v)| (k, v, self.0.it.expires_at_millis())))
    }
}

impl Iterator for Scan {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match (self.started, self.reverse) {
            (false, false) => self.it.seek_to_first(),
            (false, true) => self.it.seek_to_last(),
            (true, false) => self.it.next(),
            (true, true) => self.it.prev(),
        }
        self.started = true;
        if let Err(e) = self.it.status() {
            self.done = true;
            return Some(Err(e));
        }
        if !self.it.valid() {
            self.done = true;
            return None;
        }
        Some(Ok((self.it.key().to_vec(), self.it.value().to_vec())))
    }
}
