//! Running a compaction: merge the inputs, apply retention, write split output tables.
//!
//! Every version of one user key goes to the same output file, so output files of a level
//! never share a user key (the level's non-overlap invariant). Outputs are cut at the target
//! file size, and earlier at grandparent file boundaries (see `output_cutter.rs`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kvd_lsm::base::file_names::table_path;
use kvd_lsm::base::fs::Fs;
use kvd_lsm::base::key::{parse_internal_key, InternalKey, ValueKind};
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::{TableBuilder, TableOptions};
use kvd_lsm::version::FileMeta;

use crate::output_cutter::OutputCutter;
use crate::retention::{Decision, RetentionPolicy, VersionInfo};
use crate::Result;

/// Everything [`execute`] needs besides its input.
pub struct ExecuteParams<'a> {
    /// Where outputs are written.
    pub fs: &'a dyn Fs,
    /// The database directory.
    pub dir: &'a Path,
    /// Layout of output tables.
    pub table: TableOptions,
    /// Outputs are cut once they reach this size.
    pub target_file_size: u64,
    /// Which versions survive.
    pub retention: &'a RetentionPolicy,
    /// Allocates a fresh file number for each output.
    pub new_file_number: &'a (dyn Fn() -> u64 + Sync),
    /// Whether a user key may have versions below the output level.
    pub may_exist_below: &'a (dyn Fn(&[u8]) -> bool + Sync),
    /// Files of the level below the output, sorted by key.
    pub grandparents: &'a [Arc<FileMeta>],
    /// Cut an output before it and the grandparent bytes it overlaps exceed this, so its own
    /// later compaction stays bounded (RocksDB's `max_compaction_bytes`).
    pub max_compaction_bytes: u64,
    /// When set, the compaction stops early with no outputs kept (shutdown).
    pub cancel: Option<&'a AtomicBool>,
}

/// The result of a compaction run.
#[derive(Debug, Clone, Default)]
pub struct CompactionOutput {
    /// Metadata of the new tables, in key order.
    pub files: Vec<FileMeta>,
    /// Bytes written to new tables.
    pub bytes_written: u64,
    /// Entries read from the inputs.
    pub entries_in: u64,
    /// Entries written.
    pub entries_out: u64,
    /// True if the run was cancelled (its outputs were deleted).
    pub cancelled: bool,
}

struct Output {
    builder: TableBuilder,
    number: u64,
}

struct Run<'a, 'p> {
    p: &'p ExecuteParams<'a>,
    current: Option<Output>,
    out: CompactionOutput,
    created: Vec<u64>,
    cutter: OutputCutter<'a>,
}

impl Run<'_, '_> {
    fn finish_current(&mut self) -> Result<()> {
        if let Some(o) = self.current.take() {
            let props = o.builder.finish()?;
            self.out.bytes_written += props.file_size;
            self.out.files.push(FileMeta::from_properties(o.number, &props));
        }
        Ok(())
    }

    fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        if self.current.is_none() {
            let number = (self.p.new_file_number)();
            let path = table_path(self.p.dir, number);
            self.created.push(number);
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
            let builder = TableBuilder::new(self.p.fs.create(&path)?, name, self.p.table.clone());
            self.current = Some(Output { builder, number });
        }
        if let Some(o) = self.current.as_mut() {
            o.builder.add(ikey, value)?;
        }
        self.out.entries_out += 1;
        Ok(())
    }

    fn flush_key(&mut self, group: &mut Vec<(Vec<u8>, Vec<u8>)>) -> Result<()> {
        if group.is_empty() {
            return Ok(());
        }
        let user_key = kvd_lsm::base::key::user_key(&group[0].0).to_vec();
        let mut infos = Vec::with_capacity(group.len());
        for (k, v) in group.iter() {
            let parsed = parse_internal_key(k).map_err(|e| kvd_lsm::Error::from(e.in_file("compaction input", 0)))?;
            infos.push(VersionInfo {
                seq: parsed.seq,
                kind: parsed.kind,
                expired: self.p.retention.is_expired(parsed.kind, v),
            });
        }
        let decisions = self.p.retention.decide(&infos, (self.p.may_exist_below)(&user_key));
        if decisions.iter().any(|d| *d != Decision::Drop) {
            let size = self.current.as_ref().map(|o| o.builder.estimated_size());
            if self.cutter.should_cut_before(&user_key, size) {
                self.finish_current()?;
            }
        }
        for ((k, v), (d, info)) in group.iter().zip(decisions.iter().zip(&infos)) {
            match d {
                Decision::Keep => self.add(k, v)?,
                Decision::KeepAsTombstone => {
                    let t = InternalKey::new(&user_key, info.seq, ValueKind::Delete);
                    self.add(t.encoded(), &[])?
                }
                Decision::Drop => {}
            }
        }
        group.clear();
        Ok(())
    }
}

/// Merges `input` (every input table, merged) into new tables per `p`. Output files are
/// synced, and so is the directory; on error or cancellation the outputs written so far are
/// deleted (best effort; the engine also removes orphans at open).
pub fn execute(input: &mut dyn InternalIterator, p: &ExecuteParams<'_>) -> Result<CompactionOutput> {
    let mut run = Run {
        p,
        current: None,
        out: CompactionOutput::default(),
        created: Vec::new(),
        cutter: OutputCutter::new(p.grandparents, p.target_file_size, p.max_compaction_bytes),
    };
    let result = run_inner(&mut run, input);
    match result {
        Ok(()) if !run.out.cancelled => {
            p.fs.sync_dir(p.dir)?;
            Ok(run.out)
        }
        other => {
            drop(run.current.take());
            for n in &run.created {
                let _ = p.fs.remove_file(&table_path(p.dir, *n));
            }
            other.map(|()| CompactionOutput { cancelled: true, ..Default::default() })
        }
    }
}

fn run_inner(run: &mut Run<'_, '_>, input: &mut dyn InternalIterator) -> Result<()> {
    input.seek_to_first()?;
    let mut group: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    while input.valid() {
        if run.p.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            run.out.cancelled = true;
            return Ok(());
        }
        let key = input.key();
        if group.first().is_some_and(|(g, _)| kvd_lsm::base::key::user_key(g) != kvd_lsm::base::key::user_key(key)) {
            run.flush_key(&mut group)?;
        }
        group.push((key.to_vec(), input.value().to_vec()));
        run.out.entries_in += 1;
        input.next()?;
    }
    run.flush_key(&mut group)?;
    run.finish_current()
}
