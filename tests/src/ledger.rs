//! A batch workload whose recovered state proves what survived a crash.
//!
//! Batch `id` writes, atomically:
//!
//! - `u/{id:08}/{j:02}` for `j < keys_per_batch`: keys unique to the batch, so a batch that is
//!   only partly visible is caught;
//! - `s/{j:02}` = `id` for `j < shared_keys`: keys every batch overwrites, so the newest
//!   visible batch is known and must agree across all of them;
//! - a delete of `d/{id - 1:08}` and a put of `d/{id:08}`: a tombstone per batch.
//!
//! One thread writes batches in id order, so commit order is id order and the state a set of
//! surviving batches must produce is the model of those batches applied in id order.
//! [`Ledger`] remembers what was attempted and acknowledged; [`Ledger::verify`] scans a reopened
//! database and checks it against what the durability promise requires.

use std::collections::BTreeSet;

use kvd::{Db, WriteBatch};

use crate::model::{show, Model};

/// The shape of each batch.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Keys unique to each batch.
    pub keys_per_batch: usize,
    /// Keys every batch overwrites.
    pub shared_keys: usize,
    /// Length of each unique key's value (padding makes memtables fill and flush).
    pub value_len: usize,
}

impl Default for Workload {
    fn default() -> Self {
        Workload { keys_per_batch: 4, shared_keys: 2, value_len: 40 }
    }
}

impl Workload {
    /// The batch with this id.
    pub fn batch(&self, id: u64) -> WriteBatch {
        let mut b = WriteBatch::new();
        for j in 0..self.keys_per_batch {
            b.put(unique_key(id, j), self.value(id, j));
        }
        for j in 0..self.shared_keys {
            b.put(format!("s/{j:02}"), id.to_string());
        }
        if id > 0 {
            b.delete(format!("d/{:08}", id - 1));
        }
        b.put(format!("d/{id:08}"), id.to_string());
        b
    }

    /// The value of unique key `j` of batch `id`.
    pub fn value(&self, id: u64, j: usize) -> Vec<u8> {
        let mut v = format!("{id}:{j}:").into_bytes();
        v.resize(self.value_len.max(v.len()), b'.');
        v
    }

    /// The state the batches in `ids` produce when applied in id order.
    pub fn model_of(&self, ids: &BTreeSet<u64>) -> Model {
        let mut m = Model::new();
        for &id in ids {
            m.apply(&self.batch(id));
        }
        m
    }
}

/// Unique key `j` of batch `id`.
pub fn unique_key(id: u64, j: usize) -> String {
    format!("u/{id:08}/{j:02}")
}

/// What was attempted and acknowledged, and which acknowledged batches must be durable.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Batches `0..attempted` were submitted, in order.
    pub attempted: u64,
    /// Batches whose write returned `Ok`.
    pub acked: BTreeSet<u64>,
    /// Batches whose write returned an error (ambiguous: present whole or absent).
    pub failed: BTreeSet<u64>,
    /// Acknowledged batches below this id must survive (an explicit sync or flush covered
    /// them, or the policy syncs every write).
    pub durable_below: u64,
    /// Batches found missing by an earlier [`verify`](Self::verify): gone for good.
    pub lost: BTreeSet<u64>,
}

/// How a recovered state may differ from the acknowledged one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promise {
    /// Every acknowledged batch survives (`SyncPolicy::Always`, or `sync` on every write).
    AllAcked,
    /// The survivors are a prefix of the attempted batches containing every batch below
    /// [`Ledger::durable_below`] (`Interval`/`Never` after a power loss).
    Prefix,
}

impl Ledger {
    /// Records the outcome of submitting the next batch; returns its id.
    pub fn record<T, E>(&mut self, result: &Result<T, E>) -> u64 {
        let id = self.attempted;
        self.attempted += 1;
        if result.is_ok() {
            self.acked.insert(id);
        } else {
            self.failed.insert(id);
        }
        id
    }

    /// Marks every batch acknowledged so far as durable (after `sync_wal`, `flush`, `close`).
    pub fn mark_durable(&mut self) {
        self.durable_below = self.attempted;
    }

    /// Scans `db` and checks the recovered state against `promise`: no batch partly visible,
    /// no batch that was never attempted, every batch that had to survive present, and the
    /// whole contents equal to the surviving batches applied in order. Returns the surviving
    /// batch ids. Afterwards the ledger forgets the in-doubt batches that did not survive
    /// and treats the survivors as acknowledged and durable, ready for more writes.
    pub fn verify(&mut self, db: &Db, w: &Workload, promise: Promise) -> Result<BTreeSet<u64>, String> {
        let all = db.scan(None, None).collect::<Result<Vec<_>, _>>().map_err(|e| format!("scan failed: {e}"))?;
        let mut present: BTreeSet<u64> = BTreeSet::new();
        let mut counts: std::collections::BTreeMap<u64, usize> = Default::default();
        for (k, _) in &all {
            if let Some(rest) = k.strip_prefix(b"u/") {
                let id = std::str::from_utf8(&rest[..8.min(rest.len())])
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| format!("unexpected key {}", show(k)))?;
                *counts.entry(id).or_default() += 1;
                present.insert(id);
            }
        }
        for (&id, &n) in &counts {
            if n != w.keys_per_batch {
                return Err(format!("batch {id} is partly visible: {n} of {} unique keys", w.keys_per_batch));
            }
        }
        if let Some(&max) = present.last() {
            if max >= self.attempted {
                return Err(format!("batch {max} is visible but only {} were attempted", self.attempted));
            }
        }
        for &id in &self.acked {
            let required = match promise {
                Promise::AllAcked => true,
                Promise::Prefix => id < self.durable_below,
            };
            if required && !present.contains(&id) {
                return Err(format!(
                    "acknowledged batch {id} was lost ({} of {} attempted batches survive, durable below {})",
                    present.len(),
                    self.attempted,
                    self.durable_below
                ));
            }
        }
        if let Some(id) = present.intersection(&self.lost).next() {
            return Err(format!("batch {id} was missing after an earlier recovery and is back"));
        }
        if promise == Promise::Prefix {
            let candidates = (0..self.attempted).filter(|id| !self.lost.contains(id));
            if let Some(hole) = candidates.take(present.len()).find(|id| !present.contains(id)) {
                return Err(format!(
                    "survivors are not a prefix of the attempted batches: batch {hole} is missing, {} present",
                    present.len()
                ));
            }
        }
        let want = w.model_of(&present);
        if all.len() != want.len() || all.iter().zip(want.entries()).any(|(a, (k, v))| a.0 != *k || a.1 != *v) {
            let diff = all
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .zip(want.entries())
                .find(|(a, (k, v))| a.0 != **k || a.1 != **v)
                .map(|(a, (k, _))| format!("db has {}, model has {}", show(&a.0), show(k)));
            return Err(format!(
                "contents differ from the surviving batches applied in order ({} vs {} entries; first difference: {diff:?})",
                all.len(),
                want.len()
            ));
        }
        // Point reads must agree with the scan.
        for j in 0..w.shared_keys {
            let key = format!("s/{j:02}");
            let got = db.get(key.as_bytes()).map_err(|e| format!("get {key}: {e}"))?;
            if got != want.get(key.as_bytes()) {
                return Err(format!("get {key} = {got:?} disagrees with the scan"));
            }
        }
        for &id in present.iter().rev().take(64) {
            let key = unique_key(id, 0);
            let got = db.get(key.as_bytes()).map_err(|e| format!("get {key}: {e}"))?;
            if got.as_deref() != Some(&w.value(id, 0)[..]) {
                return Err(format!("get {key} = {got:?} disagrees with the scan"));
            }
        }
        self.lost.extend((0..self.attempted).filter(|id| !present.contains(id)));
        self.acked = present.clone();
        self.failed.clear();
        self.durable_below = self.attempted;
        Ok(present)
    }
}
