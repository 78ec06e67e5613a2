//! Consistency check of every index against its documents, at one snapshot.

use super::catalog::{IndexDef, IndexState};
use super::entry::{entry_for, Entry};
use super::keys::{entry_index_id, entry_prefix, entry_space, namespace_range, to_hex};
use super::stored::DocScan;
use crate::{prefix_successor, Db, ReadOptions, Result, Snapshot};

/// Problems reported at most, per index and in all.
const MAX_PROBLEMS: usize = 100;

/// What [`Db::verify_indexes`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexReport {
    /// Indexes checked.
    pub indexes: usize,
    /// Documents read (once per index of their namespace).
    pub documents: u64,
    /// Index entries read.
    pub entries: u64,
    /// Each inconsistency found (capped at 100), in words.
    pub problems: Vec<String>,
}

impl IndexReport {
    /// True when no problem was found.
    pub fn is_consistent(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, what: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(what);
        }
    }
}

impl Db {
    /// Checks, at one snapshot, that every ready index holds exactly one correct entry per
    /// document of its namespace and nothing else; that a building index holds no entry
    /// without its document; and that no entries of dropped indexes remain. Reads every
    /// document and entry; for tools and tests.
    pub fn verify_indexes(&self) -> Result<IndexReport> {
        let snap = self.snapshot();
        let ro = ReadOptions { snapshot: Some(&snap), ..Default::default() };
        let mut defs = super::list_at(self, None, &ro)?;
        defs.sort_by_key(|d| d.id);
        let mut report = IndexReport::default();
        for def in &defs {
            verify_one(self, &snap, def, &mut report)?;
        }
        orphans(self, &snap, &defs, &mut report)?;
        Ok(report)
    }
}

fn verify_one(db: &Db, snap: &Snapshot, def: &IndexDef, report: &mut IndexReport) -> Result<()> {
    report.indexes += 1;
    let (lo, hi) = namespace_range(&def.namespace);
    // Each expected entry with its document's expiry: a scan judges expiry by the clock
    // when it starts, so a document that expired after the document scan began but before
    // the entry scan did is missing its entry only because time moved on.
    let mut expected: Vec<(Entry, Option<u64>)> = Vec::new();
    for item in DocScan::new(db, &lo, &hi, false, snap.seq()) {
        let stored = item?;
        report.documents += 1;
        let doc = stored.value()?;
        let id = String::from_utf8_lossy(&stored.key[lo.len()..]);
        expected.push((entry_for(def, &id, &doc, false)?, stored.expires_at_millis()));
    }
    expected.sort();
    let prefix = entry_prefix(def.id);
    let end = prefix_successor(&prefix);
    let entries = db.scan_opt(Some(&prefix), end.as_deref(), false, Some(snap));
    let now = db.now_millis();
    let mut want = expected.into_iter().peekable();
    let name = def.qualified_name();
    let missing = |report: &mut IndexReport, (w, expiry): (Entry, Option<u64>)| {
        if def.state == IndexState::Ready && expiry.is_none_or(|at| at > now) {
            report.problem(format!("index {name}: no entry {} for its document", to_hex(&w.key)));
        }
    };
    for item in entries {
        let (key, value) = item?;
        report.entries += 1;
        while let Some(w) = want.next_if(|(w, _)| w.key < key) {
            missing(report, w);
        }
        match want.next_if(|(w, _)| w.key == key) {
            Some((w, _)) if w.value == value => {}
            Some(_) => report.problem(format!("index {name}: entry {} points at the wrong document", to_hex(&key))),
            None => report.problem(format!("index {name}: entry {} has no matching document", to_hex(&key))),
        }
    }
    for w in want {
        missing(report, w);
    }
    Ok(())
}

/// Entries whose index id is in no catalog (left by an interrupted drop).
fn orphans(db: &Db, snap: &Snapshot, defs: &[IndexDef], report: &mut IndexReport) -> Result<()> {
    let space = entry_space();
    let mut gaps = Vec::new();
    let mut start = space.clone();
    for def in defs {
        gaps.push((start, entry_prefix(def.id)));
        start = prefix_successor(&entry_prefix(def.id)).expect("an id prefix has a successor");
    }
    gaps.push((start, prefix_successor(&space).expect("the entry space has a successor")));
    for (lo, hi) in gaps {
        if let Some(item) = db.scan_opt(Some(&lo), Some(&hi), false, Some(snap)).next() {
            let (key, _) = item?;
            report.problem(format!(
                "entries of dropped index {:?} remain, from {}",
                entry_index_id(&key),
                to_hex(&key)
            ));
        }
    }
    Ok(())
}
