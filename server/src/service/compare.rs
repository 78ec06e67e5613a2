//! The one-shot `Txn` call: compares, then the `success` or `failure` operations, atomic.
//!
//! One attempt takes a snapshot, evaluates every compare there, runs the chosen branch's
//! operations against the snapshot overlaid with the branch's own earlier writes, and
//! commits the writes with `write_if` conditioned on everything it read (compared keys, keys
//! read by `get`, ranges of `delete_range`) being unchanged since the snapshot. A conflict
//! means some read is stale: the whole request is evaluated again, up to
//! [`conditional::ATTEMPTS`] times. A branch that writes nothing needs no commit: its reads
//! all came from one snapshot.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::time::Duration;

use kvd::{Precondition, VersionedValue, WriteBatch, WriteOptions};
use tonic::Status;

use super::conditional;
use super::kv::CANCEL_CHECK_EVERY;
use super::validate::{KeyRange, Limits};
use super::{engine, Cancel, Shared};
use crate::convert::header;
use crate::proto::{self, compare, request_op, response_op};
use crate::status::{exhausted, invalid, status, ErrorKind};

/// What a compare looks at.
#[derive(Debug, Clone)]
enum Target {
    Value(Vec<u8>),
    Version(u64),
    Exists(bool),
}

/// A validated `Compare`.
#[derive(Debug, Clone)]
struct Cmp {
    key: Vec<u8>,
    result: compare::CompareResult,
    target: Target,
}

impl Cmp {
    fn parse(i: usize, c: proto::Compare, limits: &Limits) -> Result<Cmp, Status> {
        limits.key(&|| format!("compare[{i}].key"), &c.key)?;
        let result = compare::CompareResult::try_from(c.result)
            .map_err(|_| invalid(format!("compare[{i}].result: unknown value {}", c.result)))?;
        let target = match c.target {
            None => return Err(invalid(format!("compare[{i}]: no target (value, version or exists) is set"))),
            Some(compare::Target::Value(v)) => {
                limits.value(&|| format!("compare[{i}].value"), &v)?;
                Target::Value(v)
            }
            Some(compare::Target::Version(v)) => Target::Version(v),
            Some(compare::Target::Exists(e)) => {
                if !matches!(result, compare::CompareResult::Equal | compare::CompareResult::NotEqual) {
                    return Err(invalid(format!("compare[{i}]: `exists` allows only EQUAL and NOT_EQUAL")));
                }
                Target::Exists(e)
            }
        };
        Ok(Cmp { key: c.key, result, target })
    }

    /// True when the key's state `current` satisfies the compare.
    fn holds(&self, current: Option<&VersionedValue>) -> bool {
        let ord = match &self.target {
            Target::Value(v) => current.map(|c| c.value.as_slice().cmp(v)),
            Target::Version(v) => Some(current.map_or(0, |c| c.seqno).cmp(v)),
            Target::Exists(e) => Some(if current.is_some() == *e { Ordering::Equal } else { Ordering::Less }),
        };
        use compare::CompareResult as R;
        match (self.result, ord) {
            (R::NotEqual, None) => true,
            (_, None) => false,
            (R::Equal, Some(o)) => o == Ordering::Equal,
            (R::NotEqual, Some(o)) => o != Ordering::Equal,
            (R::Greater, Some(o)) => o == Ordering::Greater,
            (R::Less, Some(o)) => o == Ordering::Less,
        }
    }
}

/// A validated `RequestOp`.
#[derive(Debug, Clone)]
enum Op {
    Get(Vec<u8>),
    Put { key: Vec<u8>, value: Vec<u8>, ttl: Option<Duration> },
    Delete(Vec<u8>),
    DeleteRange(KeyRange),
}

impl Op {
    fn parse(field: &str, i: usize, op: proto::RequestOp, limits: &Limits) -> Result<Op, Status> {
        let at = || format!("{field}[{i}]");
        Ok(match op.request {
            None => return Err(invalid(format!("{}: no operation is set", at()))),
            Some(request_op::Request::Get(g)) => {
                limits.key(&|| format!("{}.get.key", at()), &g.key)?;
                Op::Get(g.key)
            }
            Some(request_op::Request::Put(p)) => {
                limits.key(&|| format!("{}.put.key", at()), &p.key)?;
                limits.value(&|| format!("{}.put.value", at()), &p.value)?;
                let ttl = limits.ttl(&|| format!("{}.put.ttl_ms", at()), p.ttl_ms)?;
                Op::Put { key: p.key, value: p.value, ttl }
            }
            Some(request_op::Request::Delete(d)) => {
                limits.key(&|| format!("{}.delete.key", at()), &d.key)?;
                Op::Delete(d.key)
            }
            Some(request_op::Request::DeleteRange(r)) => {
                let range = KeyRange::parse(r.start, r.end, r.prefix)
                    .map_err(|e| invalid(format!("{}.delete_range: {}", at(), e.message())))?;
                if range.is_unbounded() {
                    return Err(invalid(format!(
                        "{}.delete_range: start, end and prefix are all empty; to delete every key send start = \"\\x00\"",
                        at()
                    )));
                }
                Op::DeleteRange(range)
            }
        })
    }
}

/// A validated `TxnRequest`.
#[derive(Debug, Clone)]
pub(crate) struct OneShot {
    compares: Vec<Cmp>,
    success: Vec<Op>,
    failure: Vec<Op>,
    sync: bool,
}

impl OneShot {
    pub(crate) fn parse(req: proto::TxnRequest, limits: &Limits) -> Result<OneShot, Status> {
        limits.batch_len("compare", req.compare.len())?;
        limits.batch_len("success", req.success.len())?;
        limits.batch_len("failure", req.failure.len())?;
        let compares = req.compare.into_iter().enumerate().map(|(i, c)| Cmp::parse(i, c, limits));
        let ops = |field: &str, ops: Vec<proto::RequestOp>| {
            ops.into_iter().enumerate().map(|(i, op)| Op::parse(field, i, op, limits)).collect::<Result<Vec<_>, _>>()
        };
        Ok(OneShot {
            compares: compares.collect::<Result<_, _>>()?,
            success: ops("success", req.success)?,
            failure: ops("failure", req.failure)?,
            sync: req.sync,
        })
    }

    /// Runs the request atomically; see the module documentation.
    pub(crate) fn run(&self, s: &Shared, cancel: &Cancel) -> Result<proto::TxnResponse, Status> {
        for _ in 0..conditional::ATTEMPTS {
            cancel.check()?;
            if let Some(done) = self.attempt(s, cancel)? {
                return Ok(done);
            }
        }
        Err(status(
            ErrorKind::Conflict,
            format!(
                "keys this transaction read kept changing before its commit ({} attempts); nothing was written",
                conditional::ATTEMPTS
            ),
        ))
    }

    /// One evaluation and commit; `None` when the commit lost a conflict.
    fn attempt(&self, s: &Shared, cancel: &Cancel) -> Result<Option<proto::TxnResponse>, Status> {
        let snap = s.db.snapshot();
        let seq = snap.seq();
        let mut attempt = Attempt::new(s, cancel, seq);
        let mut succeeded = true;
        for c in &self.compares {
            let current = s.db.get_versioned(&c.key, Some(seq)).map_err(engine)?;
            attempt.reads.push(c.key.clone());
            succeeded &= c.holds(current.as_ref());
        }
        let ops = if succeeded { &self.success } else { &self.failure };
        for op in ops {
            attempt.apply(op)?;
        }
        let Attempt { batch, reads, ranges, mut responses, own_reads, .. } = attempt;
        if batch.is_empty() {
            return Ok(Some(proto::TxnResponse { header: header(seq), succeeded, responses }));
        }
        let n = batch.len();
        let pre = Precondition { read_seq: seq, keys: reads, ranges };
        let last = match s.db.write_if(batch, pre, WriteOptions { sync: self.sync }) {
            Ok(last) => last,
            Err(kvd::Error::Conflict(_)) => return Ok(None),
            Err(e) => return Err(engine(e)),
        };
        // Entries of a batch get consecutive sequence numbers, the last one `last`.
        for (response, entry) in own_reads {
            if let Some(response_op::Response::Get(g)) = &mut responses[response].response {
                if g.found {
                    g.version = last - (n - 1 - entry) as u64;
                }
            }
        }
        Ok(Some(proto::TxnResponse { header: header(last), succeeded, responses }))
    }
}

/// The state of one attempt's branch.
struct Attempt<'a> {
    s: &'a Shared,
    cancel: &'a Cancel,
    seq: u64,
    batch: WriteBatch,
    /// Each key written so far: the batch index of its last write and the value it left.
    overlay: BTreeMap<Vec<u8>, (usize, Option<Vec<u8>>)>,
    reads: Vec<Vec<u8>>,
    ranges: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    responses: Vec<proto::ResponseOp>,
    /// Gets answered from the overlay: (response index, batch index of the write read).
    own_reads: Vec<(usize, usize)>,
    response_bytes: usize,
}

impl<'a> Attempt<'a> {
    fn new(s: &'a Shared, cancel: &'a Cancel, seq: u64) -> Attempt<'a> {
        Attempt {
            s,
            cancel,
            seq,
            batch: WriteBatch::new(),
            overlay: BTreeMap::new(),
            reads: Vec::new(),
            ranges: Vec::new(),
            responses: Vec::new(),
            own_reads: Vec::new(),
            response_bytes: 0,
        }
    }

    fn respond(&mut self, r: response_op::Response) {
        self.responses.push(proto::ResponseOp { response: Some(r) });
    }

    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>, ttl: Option<Duration>) -> Result<(), Status> {
        let max = self.s.limits.max_batch_ops;
        if self.batch.len() >= max {
            return Err(exhausted(format!(
                "the branch writes more than max_batch_ops ({max}) keys; nothing was written"
            )));
        }
        let index = self.batch.len();
        match (&value, ttl) {
            (Some(v), Some(ttl)) => self.batch.put_with_ttl(key.clone(), v.clone(), ttl),
            (Some(v), None) => self.batch.put(key.clone(), v.clone()),
            (None, _) => self.batch.delete(key.clone()),
        };
        self.overlay.insert(key, (index, value));
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), Status> {
        match op {
            Op::Get(key) => {
                let result = match self.overlay.get(key) {
                    Some((entry, value)) => {
                        self.own_reads.push((self.responses.len(), *entry));
                        proto::GetResult {
                            found: value.is_some(),
                            value: value.clone().unwrap_or_default(),
                            version: 0,
                        }
                    }
                    None => {
                        self.reads.push(key.clone());
                        match self.s.db.get_versioned(key, Some(self.seq)).map_err(engine)? {
                            Some(v) => proto::GetResult { found: true, value: v.value, version: v.seqno },
                            None => proto::GetResult::default(),
                        }
                    }
                };
                self.response_bytes += result.value.len() + 16;
                let n = self.responses.len() + 1;
                self.s
                    .limits
                    .fits_response(&|| format!("the results of the first {n} operations"), self.response_bytes)?;
                self.respond(response_op::Response::Get(result));
            }
            Op::Put { key, value, ttl } => {
                self.write(key.clone(), Some(value.clone()), *ttl)?;
                self.respond(response_op::Response::Put(proto::TxnOpPutResult {}));
            }
            Op::Delete(key) => {
                self.write(key.clone(), None, None)?;
                self.respond(response_op::Response::Delete(proto::TxnOpDeleteResult {}));
            }
            Op::DeleteRange(range) => {
                let live = self.live_keys(range)?;
                let deleted = live.len() as u64;
                for key in live {
                    self.write(key, None, None)?;
                }
                self.respond(response_op::Response::DeleteRange(proto::TxnOpDeleteRangeResult { deleted }));
            }
        }
        Ok(())
    }

    /// The keys of `range` live at the snapshot as updated by this branch's writes so far;
    /// the range joins the reads the commit checks.
    fn live_keys(&mut self, range: &KeyRange) -> Result<BTreeSet<Vec<u8>>, Status> {
        self.ranges.push((range.lower.clone().unwrap_or_default(), range.upper.clone()));
        let max = self.s.limits.max_batch_ops;
        let at = super::ReadPoint::Seqno(self.seq);
        let ro = at.options(range.lower.clone(), range.upper.clone());
        let mut it = self.s.db.iter(&ro);
        it.seek_to_first();
        let mut live = BTreeSet::new();
        while it.valid() {
            if live.len().is_multiple_of(CANCEL_CHECK_EVERY) {
                self.cancel.check()?;
            }
            if live.len() >= max {
                return Err(exhausted(format!(
                    "delete_range: the range holds more than max_batch_ops ({max}) live keys; nothing was written"
                )));
            }
            live.insert(it.key().to_vec());
            it.next();
        }
        it.status().map_err(engine)?;
        let lower = range.lower.as_deref().map_or(Bound::Unbounded, Bound::Included);
        let upper = range.upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        for (key, (_, value)) in self.overlay.range::<[u8], _>((lower, upper)) {
            match value {
                Some(_) => live.insert(key.clone()),
                None => live.remove(key),
            };
        }
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use compare::CompareResult as R;

    fn cmp(result: R, target: Target) -> Cmp {
        Cmp { key: b"k".to_vec(), result, target }
    }

    #[test]
    fn compares_follow_etcd_rules() {
        let cur = VersionedValue { value: b"m".to_vec(), seqno: 5, expires_at_millis: None };
        let cur = Some(&cur);
        assert!(cmp(R::Equal, Target::Value(b"m".to_vec())).holds(cur));
        assert!(cmp(R::Greater, Target::Value(b"a".to_vec())).holds(cur));
        assert!(cmp(R::Less, Target::Value(b"z".to_vec())).holds(cur));
        assert!(!cmp(R::Equal, Target::Value(Vec::new())).holds(None), "an absent key has no value");
        assert!(cmp(R::NotEqual, Target::Value(Vec::new())).holds(None));
        assert!(!cmp(R::Less, Target::Value(b"z".to_vec())).holds(None));
        assert!(cmp(R::Equal, Target::Version(0)).holds(None));
        assert!(cmp(R::Greater, Target::Version(0)).holds(cur));
        assert!(cmp(R::Less, Target::Version(6)).holds(cur));
        assert!(cmp(R::Equal, Target::Exists(true)).holds(cur));
        assert!(cmp(R::NotEqual, Target::Exists(true)).holds(None));
        assert!(cmp(R::Equal, Target::Exists(false)).holds(None));
    }
}
