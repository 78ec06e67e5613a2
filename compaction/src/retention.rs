//! Retention: which versions of a key a compaction output keeps.
//!
//! Given every version of one user key in the inputs (newest first):
//! 1. Versions newer than the history floor are all kept (reads at any sequence number above
//!    the floor must keep working, as etcd's revisions do).
//! 2. At or below the floor, versions fall into stripes bounded by the live snapshots (and the
//!    floor itself): only the newest version of each stripe can be read by anyone, so the rest
//!    are dropped.
//! 3. An expired value reads as absent to everyone (expiry is judged against the current
//!    clock), so it is treated exactly like a tombstone: kept as a tombstone where it hides an
//!    older version, dropped otherwise.
//! 4. Trailing tombstones (the oldest kept versions, when they are tombstones) are dropped if
//!    no older version of the key can exist below the output level: nothing is left for them
//!    to hide.

use kvd_lsm::base::key::{decode_expiring_value, ValueKind};
use kvd_lsm::base::SeqNo;

/// Everything retention depends on besides the versions themselves.
#[derive(Debug, Clone, Default)]
pub struct RetentionPolicy {
    /// Sequence numbers of live snapshots, ascending.
    pub snapshots: Vec<SeqNo>,
    /// Versions newer than this are all kept (`None`: no history beyond snapshots).
    pub history_floor: Option<SeqNo>,
    /// The current wall-clock time, for expiry.
    pub now_millis: u64,
}

/// One version of a key, as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionInfo {
    /// Its sequence number.
    pub seq: SeqNo,
    /// Its kind.
    pub kind: ValueKind,
    /// True for a value whose expiry has passed.
    pub expired: bool,
}

/// What to do with one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Write it unchanged.
    Keep,
    /// Write a tombstone with the same sequence number instead (an expired value that still
    /// hides older versions).
    KeepAsTombstone,
    /// Leave it out.
    Drop,
}

impl RetentionPolicy {
    /// Whether a stored value of `kind` has expired.
    pub fn is_expired(&self, kind: ValueKind, stored: &[u8]) -> bool {
        kind == ValueKind::PutWithExpiry && decode_expiring_value(stored).is_ok_and(|(at, _)| at <= self.now_millis)
    }

    /// Decides every version of one key. `versions` are newest first; `may_exist_below` says
    /// whether the key may have versions in levels below the output.
    pub fn decide(&self, versions: &[VersionInfo], may_exist_below: bool) -> Vec<Decision> {
        let floor = self.history_floor;
        let mut out = Vec::with_capacity(versions.len());
        let mut last_stripe: Option<usize> = None;
        for v in versions {
            if floor.is_some_and(|f| v.seq > f) {
                out.push(Decision::Keep);
                continue;
            }
            let stripe = self.stripe(v.seq);
            if last_stripe == Some(stripe) {
                out.push(Decision::Drop);
                continue;
            }
            last_stripe = Some(stripe);
            out.push(Decision::Keep);
        }
        for (d, v) in out.iter_mut().zip(versions) {
            if *d == Decision::Keep && v.expired {
                *d = Decision::KeepAsTombstone;
            }
        }
        if !may_exist_below {
            // Drop the trailing run of tombstones: below them there is nothing to hide. Only
            // in the oldest stripe, though: a tombstone newer than a live snapshot (or the
            // history floor) is evidence that the key was written after that read point,
            // which transactions' conflict checks rely on.
            for i in (0..out.len()).rev() {
                if self.stripe(versions[i].seq) != 0 {
                    break;
                }
                match out[i] {
                    Decision::Drop => continue,
                    Decision::KeepAsTombstone => out[i] = Decision::Drop,
                    Decision::Keep if versions[i].kind == ValueKind::Delete => out[i] = Decision::Drop,
                    Decision::Keep => break,
                }
            }
        }
        out
    }

    /// Identifies the stripe holding `seq` by the number of boundaries (live snapshots and
    /// the history floor) strictly below it: two versions share a stripe exactly when no
    /// boundary separates them.
    fn stripe(&self, seq: SeqNo) -> usize {
        let snapshots_below = self.snapshots.partition_point(|&s| s < seq);
        let floor_below = self.history_floor.map_or(0, |f| usize::from(f < seq));
        snapshots_below + floor_below
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ValueKind::{Delete as D, Put as P};

    fn v(seq: SeqNo, kind: ValueKind) -> VersionInfo {
        VersionInfo { seq, kind, expired: false }
    }

    #[test]
    fn keeps_only_newest_without_snapshots() {
        let p = RetentionPolicy::default();
        let d = p.decide(&[v(9, P), v(5, P), v(2, D)], true);
        assert_eq!(d, vec![Decision::Keep, Decision::Drop, Decision::Drop]);
    }

    #[test]
    fn keeps_newest_visible_to_each_snapshot() {
        let p = RetentionPolicy { snapshots: vec![4, 7], ..Default::default() };
        let d = p.decide(&[v(9, P), v(8, P), v(6, P), v(5, P), v(3, P)], true);
        assert_eq!(d, vec![Decision::Keep, Decision::Drop, Decision::Keep, Decision::Drop, Decision::Keep]);
    }

    #[test]
    fn trailing_tombstones_drop_only_at_the_bottom() {
        let p = RetentionPolicy { snapshots: vec![4], ..Default::default() };
        let vs = [v(9, D), v(3, D)];
        assert_eq!(p.decide(&vs, true), vec![Decision::Keep, Decision::Keep]);
        // The tombstone above the snapshot stays as evidence of a write after it.
        assert_eq!(p.decide(&vs, false), vec![Decision::Keep, Decision::Drop]);
        let none = RetentionPolicy::default();
        assert_eq!(none.decide(&vs, false), vec![Decision::Drop, Decision::Drop]);
        let vs = [v(9, D), v(3, P)];
        assert_eq!(p.decide(&vs, false), vec![Decision::Keep, Decision::Keep]);
    }

    #[test]
    fn expired_values_become_tombstones_or_vanish() {
        let p = RetentionPolicy::default();
        let e = VersionInfo { seq: 9, kind: ValueKind::PutWithExpiry, expired: true };
        assert_eq!(p.decide(&[e, v(5, P)], true), vec![Decision::KeepAsTombstone, Decision::Drop]);
        assert_eq!(p.decide(&[e, v(5, P)], false), vec![Decision::Drop, Decision::Drop]);
    }

    #[test]
    fn history_floor_keeps_everything_above_it() {
        let p = RetentionPolicy { history_floor: Some(5), ..Default::default() };
        let d = p.decide(&[v(9, P), v(7, P), v(5, P), v(4, P), v(1, P)], true);
        assert_eq!(d, vec![Decision::Keep, Decision::Keep, Decision::Keep, Decision::Drop, Decision::Drop]);
    }
}
