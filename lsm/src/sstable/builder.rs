//! Writes a table from entries added in internal-key order.
//!
//! Format: `docs/format/sstable.md`. Data blocks are cut once they reach the target size; a
//! block's index entry is added only when the next block's first key is known, so its key can
//! be a short separator between the two. `finish` then writes, in order, the filter block,
//! the index block, the properties block (which records the index and filter sizes) and the
//! footer, and syncs the file.

use kvd_base::clock::{Clock, SystemClock};
use kvd_base::format::SST_FORMAT_VERSION;
use kvd_base::fs::WritableFile;
use kvd_base::key::{compare_internal_keys, decode_expiring_value, parse_internal_key, user_key};
use kvd_base::ValueKind;

use super::block_io::{write_block, BLOCK_TRAILER_LEN};
use super::filter::FilterBuilder;
use super::footer::Footer;
use super::separator::shortest_separator;
use super::{BlockBuilder, BlockHandle, Compression, TableOptions, TableProperties, MAX_BLOOM_BITS_PER_KEY};
use crate::{Error, Result};

/// Builds one table file.
///
/// REQUIRES: entries are added in strictly increasing internal-key order
/// ([`compare_internal_keys`]); keys must be well-formed internal keys; `PutWithExpiry` values
/// must start with their 8-byte expiry; keys and values must each be below 4 GiB. Violations
/// return [`Error::InvalidArgument`] and leave the builder usable.
///
/// The file is durable only after [`TableBuilder::finish`] returns: it syncs. After an I/O
/// error the builder is poisoned (every later call fails) and the file should be deleted.
/// Dropping a builder without `finish` leaves a partial file that is not a valid table.
pub struct TableBuilder {
    file: Box<dyn WritableFile>,
    file_name: String,
    opts: TableOptions,
    /// Bytes written so far, and the offset of the next block.
    offset: u64,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    /// The last flushed data block, whose index entry waits for the next key.
    pending_handle: Option<BlockHandle>,
    last_key: Vec<u8>,
    filter: FilterBuilder,
    props: TableProperties,
    created_at_millis: Option<u64>,
    poisoned: bool,
}

impl TableBuilder {
    /// A builder writing to `file` (named `file_name` in errors) with `opts`; out-of-range
    /// options are normalized as [`TableOptions`] documents.
    pub fn new(file: Box<dyn WritableFile>, file_name: String, opts: TableOptions) -> Self {
        let opts = TableOptions {
            block_size: opts.block_size.max(1),
            restart_interval: opts.restart_interval.max(1),
            bloom_bits_per_key: opts.bloom_bits_per_key.min(MAX_BLOOM_BITS_PER_KEY),
            compression: opts.compression,
        };
        TableBuilder {
            file,
            file_name,
            data_block: BlockBuilder::new(opts.restart_interval),
            // Whole keys in the index (as LevelDB): it is small and binary-searched.
            index_block: BlockBuilder::new(1),
            pending_handle: None,
            last_key: Vec::new(),
            filter: FilterBuilder::new(opts.bloom_bits_per_key),
            props: TableProperties::default(),
            created_at_millis: None,
            offset: 0,
            opts,
            poisoned: false,
        }
    }

    /// Sets the creation time recorded in the properties (default: the system clock at
    /// `finish`); lets engines with an injected clock, and golden tests, be deterministic.
    pub fn set_created_at_millis(&mut self, millis: u64) {
        self.created_at_millis = Some(millis);
    }

    /// Appends an entry. See the type's requirements.
    pub fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        self.check_usable()?;
        let parsed = parse_internal_key(ikey).map_err(|e| self.invalid(&format!("malformed internal key: {e}")))?;
        if self.props.num_entries > 0 && compare_internal_keys(ikey, &self.last_key) != std::cmp::Ordering::Greater {
            return Err(self.invalid("keys must be added in strictly increasing order"));
        }
        if u32::try_from(ikey.len()).is_err() || u32::try_from(value.len()).is_err() {
            return Err(self.invalid("entry of 4 GiB or more"));
        }
        let expiry = match parsed.kind {
            ValueKind::PutWithExpiry => {
                let (e, _) = decode_expiring_value(value)
                    .map_err(|_| self.invalid("expiring value without its 8-byte expiry"))?;
                Some(e)
            }
            _ => None,
        };

        if self.should_cut_before(ikey, value) {
            self.flush_data_block()?;
        }
        if let Some(handle) = self.pending_handle.take() {
            let sep = shortest_separator(&self.last_key, ikey);
            self.add_index_entry(&sep, handle);
        }
        if self.props.num_entries == 0 || user_key(&self.last_key) != parsed.user_key {
            self.filter.add(parsed.user_key);
        }
        self.record(ikey, value, parsed.seq, parsed.kind, expiry);
        self.data_block.add(ikey, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(ikey);
        if self.data_block.estimated_size() + BLOCK_TRAILER_LEN >= self.opts.block_size {
            self.flush_data_block()?;
        }
        Ok(())
    }

    /// Bytes written so far plus the open data block: what the file would roughly weigh if
    /// finished now (without its metadata blocks). Compaction uses it to cut output files.
    pub fn estimated_size(&self) -> u64 {
        self.offset + self.data_block.estimated_size() as u64
    }

    /// Entries added so far.
    pub fn num_entries(&self) -> u64 {
        self.props.num_entries
    }

    /// Writes the remaining blocks and the footer, syncs the file, and returns the table's
    /// properties (with `file_size` filled in).
    pub fn finish(mut self) -> Result<TableProperties> {
        self.check_usable()?;
        self.poisoned = true; // any failure below leaves a partial file
        if !self.data_block.is_empty() {
            self.flush_data_block()?;
        }
        if let Some(handle) = self.pending_handle.take() {
            // No next key: the last key itself separates the last block from everything after.
            let last = std::mem::take(&mut self.last_key);
            self.add_index_entry(&last, handle);
            self.last_key = last;
        }

        let filter = match self.filter.finish() {
            Some(bytes) => {
                let h = write_block(&mut *self.file, &self.file_name, &mut self.offset, &bytes, Compression::None)?;
                self.props.filter_size = h.size + BLOCK_TRAILER_LEN as u64;
                Some(h)
            }
            None => None,
        };
        let index_raw = self.index_block.finish();
        let index = write_block(&mut *self.file, &self.file_name, &mut self.offset, &index_raw, self.opts.compression)?;
        self.props.index_size = index.size + BLOCK_TRAILER_LEN as u64;

        self.props.format_version = SST_FORMAT_VERSION;
        self.props.largest_key = self.last_key.clone();
        self.props.compression = self.opts.compression;
        self.props.bloom_bits_per_key = self.opts.bloom_bits_per_key;
        self.props.created_at_millis = self.created_at_millis.unwrap_or_else(|| SystemClock.now_millis());
        let props_raw = self.props.encode();
        let properties =
            write_block(&mut *self.file, &self.file_name, &mut self.offset, &props_raw, Compression::None)?;

        let mut footer = Vec::with_capacity(super::FOOTER_LEN);
        Footer { index, filter, properties, format_version: SST_FORMAT_VERSION }.encode(&mut footer);
        self.file.append(&footer)?;
        self.offset += footer.len() as u64;
        self.file.sync()?;
        self.props.file_size = self.offset;
        tracing::debug!(
            file = %self.file_name,
            entries = self.props.num_entries,
            bytes = self.offset,
            "table finished"
        );
        Ok(self.props)
    }

    fn invalid(&self, what: &str) -> Error {
        Error::InvalidArgument(format!("table {}: {what}", self.file_name))
    }

    fn check_usable(&self) -> Result<()> {
        if self.poisoned {
            return Err(Error::InvalidArgument(format!(
                "table builder for {} failed earlier and cannot continue",
                self.file_name
            )));
        }
        Ok(())
    }

    /// True when the block should end before this entry: the entry would take the block,
    /// read back with its trailer, past the block size, and the block is at least 90 % full
    /// (RocksDB's `block_size_deviation`). Allocators hand out memory in size classes (four
    /// per power of two in mimalloc and jemalloc), so a 4 KiB block that spills a few bytes
    /// over takes a 5 KiB allocation in the block cache; cut this way it takes 4 KiB. An
    /// entry larger than that still gets a block of its own, cut after it.
    fn should_cut_before(&self, ikey: &[u8], value: &[u8]) -> bool {
        if self.data_block.is_empty() {
            return false;
        }
        let limit = self.opts.block_size;
        let after = self.data_block.estimated_size_after(ikey, value) + BLOCK_TRAILER_LEN;
        after > limit && (self.data_block.estimated_size() + BLOCK_TRAILER_LEN) * 10 >= limit * 9
    }

    fn add_index_entry(&mut self, key: &[u8], handle: BlockHandle) {
        let mut v = Vec::with_capacity(super::handle::MAX_VARINT_HANDLE_LEN);
        handle.encode_varint(&mut v);
        self.index_block.add(key, &v);
    }

    fn record(&mut self, ikey: &[u8], value: &[u8], seq: u64, kind: ValueKind, expiry: Option<u64>) {
        let p = &mut self.props;
        if p.num_entries == 0 {
            p.smallest_key = ikey.to_vec();
            p.smallest_seqno = seq;
            p.largest_seqno = seq;
        }
        p.num_entries += 1;
        p.smallest_seqno = p.smallest_seqno.min(seq);
        p.largest_seqno = p.largest_seqno.max(seq);
        p.raw_key_size += ikey.len() as u64;
        p.raw_value_size += value.len() as u64;
        match kind {
            ValueKind::Delete => p.num_deletions += 1,
            ValueKind::PutWithExpiry => p.num_expiring += 1,
            ValueKind::Put => {}
        }
        if let Some(e) = expiry {
            p.earliest_expiry = Some(p.earliest_expiry.map_or(e, |x| x.min(e)));
        }
    }

    fn flush_data_block(&mut self) -> Result<()> {
        let raw = self.data_block.finish();
        let r = write_block(&mut *self.file, &self.file_name, &mut self.offset, &raw, self.opts.compression);
        let handle = r.inspect_err(|_| self.poisoned = true)?;
        self.props.num_data_blocks += 1;
        self.props.data_size += handle.size + BLOCK_TRAILER_LEN as u64;
        self.pending_handle = Some(handle);
        Ok(())
    }
}
