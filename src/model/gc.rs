//! Reclaiming the elements of deleted, expired and replaced collections.
//!
//! A collection's elements carry its version (generation) in their keys. Once the metadata
//! no longer names that version (the collection was deleted, expired, or replaced by a
//! `*store`), no read can reach them again: a new collection under the same key always gets
//! a larger version. So they can be deleted blindly, without a precondition, at any time.

use super::keys::{element_prefix, element_space, meta_key, parse_element_key};
use super::meta::Meta;
use crate::{prefix_successor, Db, ReadOptions, Result, WriteBatch};

/// Deletes written per batch.
const BATCH: usize = 1024;

impl Db {
    /// Deletes up to `max` elements of collections that no longer exist (deleted with
    /// [`Db::del`], expired, emptied by `ltrim`, or replaced by a `*store`) and returns how many
    /// it deleted. Live collections are skipped a whole generation at a time. Safe to run
    /// concurrently with anything; call it periodically (or after deleting big collections)
    /// until it returns less than `max`. Compaction then drops the deleted bytes.
    pub fn purge_stale_elements(&self, max: u64) -> Result<u64> {
        let snap = self.snapshot();
        let space_end = prefix_successor(&element_space());
        let mut lower = element_space();
        let mut deleted = 0;
        let mut batch = WriteBatch::new();
        'restart: while deleted < max {
            let mut stale: Option<(Vec<u8>, u64)> = None;
            for item in self.scan_opt(Some(&lower), space_end.as_deref(), false, Some(&snap)) {
                let (k, _) = item?;
                let Some((user, version, _)) = parse_element_key(&k) else { continue };
                if stale.as_ref().is_none_or(|(u, v)| u != user || *v != version) {
                    let meta =
                        self.get_opt(&meta_key(user), &ReadOptions { snapshot: Some(&snap), ..Default::default() })?;
                    let live = match meta {
                        Some(m) => Meta::decode(user, &m, None)?.version == version,
                        None => false,
                    };
                    if live {
                        match prefix_successor(&element_prefix(user, version)) {
                            Some(next) => lower = next,
                            None => break 'restart,
                        }
                        continue 'restart;
                    }
                    stale = Some((user.to_vec(), version));
                }
                batch.delete(k);
                deleted += 1;
                if batch.len() >= BATCH {
                    self.write(std::mem::take(&mut batch))?;
                }
                if deleted >= max {
                    break 'restart;
                }
            }
            break;
        }
        if !batch.is_empty() {
            self.write(batch)?;
        }
        Ok(deleted)
    }
}
