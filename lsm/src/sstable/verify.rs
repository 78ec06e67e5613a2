//! Full-table verification: every block's checksum, every key's order, every property.

use std::cmp::Ordering;
use std::sync::Arc;

use kvd_base::key::{compare_internal_keys, decode_expiring_value, parse_internal_key};
use kvd_base::ValueKind;

use super::{Table, BLOCK_TRAILER_LEN};
use crate::iter::InternalIterator;
use crate::{Error, Result};

/// What [`Table::verify`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Data blocks read and checked.
    pub data_blocks: u64,
    /// Entries decoded.
    pub entries: u64,
    /// Tombstones among them.
    pub deletions: u64,
    /// Entries with an expiry among them.
    pub expiring: u64,
    /// Blocks (data and metadata) whose checksums were verified.
    pub blocks_checked: u64,
    /// Bytes read from the file, trailers included (the footer excluded).
    pub bytes_read: u64,
}

impl Table {
    /// Reads every block straight from the file (bypassing the cache, so the bytes on disk are
    /// what is checked) and verifies: each block's checksum; that every key is a well-formed
    /// internal key and keys strictly increase across the whole file; that each block lies
    /// within its index separators; that the bloom filter admits every user key; and that the
    /// properties match what was found. The first problem is returned as a corruption error
    /// naming the file and the offset of the offending block.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let footer = *self.footer();
        for h in [footer.filter, Some(footer.index), Some(footer.properties)].into_iter().flatten() {
            self.read_raw(h)?;
            report.blocks_checked += 1;
            report.bytes_read += h.size + BLOCK_TRAILER_LEN as u64;
        }

        let name = self.file_name();
        let mut prev_key: Option<Vec<u8>> = None;
        let (mut raw_keys, mut raw_values, mut data_size) = (0u64, 0u64, 0u64);
        let (mut min_seq, mut max_seq, mut earliest) = (u64::MAX, 0u64, None::<u64>);
        let mut first_key = Vec::new();
        let index = self.index();
        for (i, entry) in index.iter().enumerate() {
            let h = entry.handle;
            let bad = |reason: String| Error::corruption(name, h.offset, reason);
            let block = Arc::new(self.read_block_uncached(h)?);
            report.data_blocks += 1;
            report.blocks_checked += 1;
            report.bytes_read += h.size + BLOCK_TRAILER_LEN as u64;
            data_size += h.size + BLOCK_TRAILER_LEN as u64;
            let mut it = block.iter();
            it.seek_to_first()?;
            let mut first_in_block = true;
            while it.valid() {
                let key = it.key();
                let parsed = parse_internal_key(key).map_err(|e| bad(format!("data block: {e}")))?;
                if let Some(p) = &prev_key {
                    if compare_internal_keys(p, key) != Ordering::Less {
                        return Err(bad("keys not strictly increasing".into()));
                    }
                } else {
                    first_key = key.to_vec();
                }
                if compare_internal_keys(key, &entry.separator) == Ordering::Greater {
                    return Err(bad("key beyond its index separator".into()));
                }
                if first_in_block && i > 0 {
                    let prev_sep = &index[i - 1].separator;
                    if compare_internal_keys(key, prev_sep) != Ordering::Greater {
                        return Err(bad("key not beyond the previous block's separator".into()));
                    }
                }
                first_in_block = false;
                if !self.may_contain(parsed.user_key) {
                    return Err(bad("bloom filter misses a key the table holds".into()));
                }
                match parsed.kind {
                    ValueKind::Delete => report.deletions += 1,
                    ValueKind::PutWithExpiry => {
                        report.expiring += 1;
                        let (e, _) = decode_expiring_value(it.value())
                            .map_err(|_| bad("expiring value without expiry".into()))?;
                        earliest = Some(earliest.map_or(e, |x: u64| x.min(e)));
                    }
                    ValueKind::Put => {}
                }
                report.entries += 1;
                raw_keys += key.len() as u64;
                raw_values += it.value().len() as u64;
                min_seq = min_seq.min(parsed.seq);
                max_seq = max_seq.max(parsed.seq);
                match &mut prev_key {
                    Some(p) => {
                        p.clear();
                        p.extend_from_slice(key);
                    }
                    None => prev_key = Some(key.to_vec()),
                }
                it.next()?;
            }
        }

        let p = self.properties();
        if report.entries == 0 {
            min_seq = 0;
        }
        let last_key = prev_key.unwrap_or_default();
        let checks: [(&str, bool); 11] = [
            ("num_entries", p.num_entries == report.entries),
            ("num_deletions", p.num_deletions == report.deletions),
            ("num_expiring", p.num_expiring == report.expiring),
            ("earliest_expiry", p.earliest_expiry == earliest),
            ("raw_key_size", p.raw_key_size == raw_keys),
            ("raw_value_size", p.raw_value_size == raw_values),
            ("data_size", p.data_size == data_size),
            ("smallest_key", p.smallest_key == first_key),
            ("largest_key", p.largest_key == last_key),
            ("smallest_seqno", p.smallest_seqno == min_seq),
            ("largest_seqno", p.largest_seqno == max_seq),
        ];
        if let Some((what, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(Error::corruption(
                name,
                footer.properties.offset,
                format!("property {what} does not match the table's contents"),
            ));
        }
        Ok(report)
    }
}
