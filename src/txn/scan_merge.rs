//! A transaction's range scan: the snapshot's entries merged with the transaction's own
//! buffered writes, which win on equal keys (a buffered delete hides the key).

use std::cmp::Ordering;
use std::collections::btree_map;
use std::iter::Peekable;

use super::write_buffer::Buffered;
use crate::{Result, Scan};

type BufferIter<'t> = Box<dyn Iterator<Item = (&'t Vec<u8>, &'t Buffered)> + 't>;

/// The entries of a transaction's range scan, in key order (descending when reversed), as
/// the transaction sees them: its snapshot overlaid with its own uncommitted writes. Borrows
/// the transaction, so no write can happen while it is alive. An error ends the scan.
pub struct TxnScan<'t> {
    snapshot: Peekable<Scan>,
    buffered: Peekable<BufferIter<'t>>,
    reverse: bool,
    done: bool,
}

impl<'t> TxnScan<'t> {
    pub(crate) fn new(snapshot: Scan, buffered: btree_map::Range<'t, Vec<u8>, Buffered>, reverse: bool) -> Self {
        let buffered: BufferIter<'t> = if reverse { Box::new(buffered.rev()) } else { Box::new(buffered) };
        TxnScan { snapshot: snapshot.peekable(), buffered: buffered.peekable(), reverse, done: false }
    }
}

/// Which side supplies the next entry.
enum Next {
    Snapshot,
    Buffered,
    /// Both hold the key: the buffered write wins and the snapshot's entry is skipped.
    Both,
}

impl Iterator for TxnScan<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let from_snapshot = match self.snapshot.peek() {
                Some(Err(_)) => {
                    self.done = true;
                    return self.snapshot.next();
                }
                Some(Ok((k, _))) => Some(k),
                None => None,
            };
            let next = match (from_snapshot, self.buffered.peek()) {
                (None, None) => {
                    self.done = true;
                    return None;
                }
                (Some(_), None) => Next::Snapshot,
                (None, Some(_)) => Next::Buffered,
                (Some(s), Some((b, _))) => match (s.cmp(b), self.reverse) {
                    (Ordering::Equal, _) => Next::Both,
                    (Ordering::Less, false) | (Ordering::Greater, true) => Next::Snapshot,
                    _ => Next::Buffered,
                },
            };
            if let Next::Snapshot = next {
                return self.snapshot.next();
            }
            if let Next::Both = next {
                self.snapshot.next();
            }
            if let Some((k, w)) = self.buffered.next() {
                if let Some(v) = w.value() {
                    return Some(Ok((k.clone(), v.to_vec())));
                }
            }
        }
        None
    }
}
