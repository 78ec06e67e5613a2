//! What `kvd-sst-dump` shows about one table file, as serialisable data.
//!
//! [`open_table`] opens a file (checking footer, properties, index and filter, so a file that
//! is not a table, or is truncated, fails here with a corruption error naming it);
//! [`TableDump::collect`] gathers the requested sections; [`for_each_entry`] walks entries in
//! key order within bounds; [`verify`] runs the table's full check. [`text`] renders all of
//! it for people; the same structs serialise to JSON for programs.

pub mod text;

use std::path::Path;
use std::sync::Arc;

use kvd::base::fs::Fs;
use kvd::base::key::{decode_expiring_value, parse_internal_key, InternalKey, ValueKind};
use kvd::base::MAX_SEQNO;
use kvd_lsm::iter::InternalIterator;
use kvd_lsm::sstable::{BlockHandle, Table};
use serde::Serialize;

use crate::bytes::Encoding;
use crate::{Error, Result};

/// Which sections to show; all `false` means all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sections {
    /// The footer: format version and block handles.
    pub footer: bool,
    /// The properties block.
    pub properties: bool,
    /// Every index entry.
    pub index: bool,
    /// Bloom filter parameters.
    pub bloom: bool,
    /// The entries, within the bounds and limit of [`DumpOptions`].
    pub entries: bool,
}

impl Sections {
    /// Every section when none was chosen, else `self`.
    pub fn or_all(self) -> Self {
        if self == Sections::default() {
            Sections { footer: true, properties: true, index: true, bloom: true, entries: true }
        } else {
            self
        }
    }
}

/// What to dump and how to show bytes.
#[derive(Debug, Clone, Default)]
pub struct DumpOptions {
    /// Sections to include.
    pub sections: Sections,
    /// Entries with user key `>= from` only.
    pub from: Option<Vec<u8>>,
    /// Entries with user key `< to` only.
    pub to: Option<Vec<u8>>,
    /// At most this many entries.
    pub limit: Option<u64>,
    /// How keys and values are rendered.
    pub encoding: Encoding,
    /// Bytes of each value shown in text output (0: all). JSON output always has whole values.
    pub max_value: usize,
}

/// A block's position in the file.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct HandleDump {
    /// Offset of the block's first byte.
    pub offset: u64,
    /// Stored size, without the 9-byte trailer.
    pub size: u64,
}

impl From<BlockHandle> for HandleDump {
    fn from(h: BlockHandle) -> Self {
        HandleDump { offset: h.offset, size: h.size }
    }
}

/// The footer.
#[derive(Debug, Clone, Serialize)]
pub struct FooterDump {
    /// Table format version.
    pub format_version: u32,
    /// The index block.
    pub index: HandleDump,
    /// The filter block, if any.
    pub filter: Option<HandleDump>,
    /// The properties block.
    pub properties: HandleDump,
}

/// An internal key taken apart.
#[derive(Debug, Clone, Serialize)]
pub struct KeyDump {
    /// The user key, rendered.
    pub user_key: String,
    /// Sequence number.
    pub seq: u64,
    /// `put`, `delete`, `put_with_expiry`, or `invalid` for bytes that are no internal key.
    pub kind: &'static str,
}

impl KeyDump {
    /// Takes apart encoded internal key `ikey`, rendering its user key with `enc`.
    pub fn new(ikey: &[u8], enc: Encoding) -> Self {
        match parse_internal_key(ikey) {
            Ok(p) => KeyDump { user_key: enc.show(p.user_key), seq: p.seq, kind: kind_name(p.kind) },
            Err(_) => KeyDump { user_key: enc.show(ikey), seq: 0, kind: "invalid" },
        }
    }
}

/// The name tools use for a value kind.
pub fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Put => "put",
        ValueKind::Delete => "delete",
        ValueKind::PutWithExpiry => "put_with_expiry",
    }
}

/// The properties block, with sizes raw (keys and values as written) and on disk.
#[derive(Debug, Clone, Serialize)]
pub struct PropertiesDump {
    /// Format version recorded by the builder.
    pub format_version: u32,
    /// Entries of every kind.
    pub entries: u64,
    /// Tombstones.
    pub deletions: u64,
    /// Entries with an expiry.
    pub expiring: u64,
    /// Earliest expiry, milliseconds since the Unix epoch.
    pub earliest_expiry_ms: Option<u64>,
    /// First key (absent for an empty table).
    pub smallest_key: Option<KeyDump>,
    /// Last key (absent for an empty table).
    pub largest_key: Option<KeyDump>,
    /// Smallest sequence number.
    pub smallest_seqno: u64,
    /// Largest sequence number.
    pub largest_seqno: u64,
    /// Compression the builder used (blocks that did not shrink are stored raw).
    pub compression: String,
    /// Bloom bits per key the builder used (0: none).
    pub bloom_bits_per_key: u32,
    /// Number of data blocks.
    pub data_blocks: u64,
    /// Bytes of internal keys as written.
    pub raw_key_bytes: u64,
    /// Bytes of values as written (expiry prefixes included).
    pub raw_value_bytes: u64,
    /// Data blocks on disk, trailers included.
    pub data_bytes: u64,
    /// Index block on disk, trailer included.
    pub index_bytes: u64,
    /// Filter block on disk, trailer included.
    pub filter_bytes: u64,
    /// The whole file.
    pub file_bytes: u64,
    /// Build time, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// One index entry: a separator key and the data block it bounds.
#[derive(Debug, Clone, Serialize)]
pub struct IndexEntryDump {
    /// A key `>=` every key of the block and `<` every key of the next.
    pub separator: KeyDump,
    /// Where the block is.
    pub block: HandleDump,
}

/// The bloom filter's parameters.
#[derive(Debug, Clone, Serialize)]
pub struct BloomDump {
    /// False when the table has no filter.
    pub present: bool,
    /// Bits in the filter.
    pub bits: u64,
    /// Hash functions.
    pub hashes: u32,
    /// Size of the filter block in bytes.
    pub bytes: u64,
    /// Bits per key the builder was asked for.
    pub bits_per_key: u32,
}

/// One entry.
#[derive(Debug, Clone, Serialize)]
pub struct EntryDump {
    /// The user key, rendered.
    pub key: String,
    /// Sequence number.
    pub seq: u64,
    /// `put`, `delete` or `put_with_expiry`.
    pub kind: &'static str,
    /// Expiry, milliseconds since the Unix epoch, for `put_with_expiry`.
    pub expires_at_ms: Option<u64>,
    /// The user value rendered (without the expiry prefix), absent for `delete`. Text output
    /// cuts it at `max_value` bytes.
    pub value: Option<String>,
    /// Length of the user value in bytes.
    pub value_len: usize,
}

impl EntryDump {
    /// An entry from its parts, `stored` being the value as stored (with the expiry prefix
    /// for `put_with_expiry`); `None` when an expiring value is too short to hold its expiry.
    pub fn from_stored(user_key: &[u8], seq: u64, kind: ValueKind, stored: &[u8], enc: Encoding) -> Option<Self> {
        let (expires_at_ms, value) = match kind {
            ValueKind::Delete => (None, None),
            ValueKind::Put => (None, Some(stored)),
            ValueKind::PutWithExpiry => {
                let (e, v) = decode_expiring_value(stored).ok()?;
                (Some(e), Some(v))
            }
        };
        Some(EntryDump {
            key: enc.show(user_key),
            seq,
            kind: kind_name(kind),
            expires_at_ms,
            value_len: value.map_or(0, <[u8]>::len),
            value: value.map(|v| enc.show(v)),
        })
    }
}

/// Everything shown about one table; sections not asked for are absent.
#[derive(Debug, Clone, Serialize)]
pub struct TableDump {
    /// The file as given.
    pub file: String,
    /// Its size in bytes.
    pub file_size: u64,
    /// The footer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub footer: Option<FooterDump>,
    /// The properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<PropertiesDump>,
    /// The index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<Vec<IndexEntryDump>>,
    /// The bloom filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bloom: Option<BloomDump>,
    /// The entries (collected only when asked; text output streams them instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<EntryDump>>,
}

/// Opens the table at `path` without a block cache. Fails with a corruption error naming the
/// file when it is not a table, is truncated, or its metadata blocks are damaged.
pub fn open_table(fs: &dyn Fs, path: &Path) -> Result<Arc<Table>> {
    let file = fs.open(path)?;
    Ok(Table::open(file, 0, path.display().to_string(), None)?)
}

impl TableDump {
    /// Gathers the metadata sections `opts` asks for; entries only when `with_entries`.
    pub fn collect(table: &Arc<Table>, opts: &DumpOptions, with_entries: bool) -> Result<TableDump> {
        let s = opts.sections.or_all();
        let enc = opts.encoding;
        let p = table.properties();
        let f = table.footer();
        let key = |k: &[u8]| (!k.is_empty()).then(|| KeyDump::new(k, enc));
        let mut dump = TableDump {
            file: table.file_name().to_string(),
            file_size: p.file_size,
            footer: s.footer.then(|| FooterDump {
                format_version: f.format_version,
                index: f.index.into(),
                filter: f.filter.map(Into::into),
                properties: f.properties.into(),
            }),
            properties: s.properties.then(|| PropertiesDump {
                format_version: p.format_version,
                entries: p.num_entries,
                deletions: p.num_deletions,
                expiring: p.num_expiring,
                earliest_expiry_ms: p.earliest_expiry,
                smallest_key: key(&p.smallest_key),
                largest_key: key(&p.largest_key),
                smallest_seqno: p.smallest_seqno,
                largest_seqno: p.largest_seqno,
                compression: p.compression.to_string(),
                bloom_bits_per_key: p.bloom_bits_per_key,
                data_blocks: p.num_data_blocks,
                raw_key_bytes: p.raw_key_size,
                raw_value_bytes: p.raw_value_size,
                data_bytes: p.data_size,
                index_bytes: p.index_size,
                filter_bytes: p.filter_size,
                file_bytes: p.file_size,
                created_at_ms: p.created_at_millis,
            }),
            index: None,
            bloom: None,
            entries: None,
        };
        if s.index {
            let entries = table.index_entries()?;
            dump.index = Some(
                entries
                    .iter()
                    .map(|(sep, h)| IndexEntryDump { separator: KeyDump::new(sep, enc), block: (*h).into() })
                    .collect(),
            );
        }
        if s.bloom {
            let (bits, hashes, bytes) = table.filter_info();
            dump.bloom = Some(BloomDump { present: bits > 0, bits, hashes, bytes, bits_per_key: p.bloom_bits_per_key });
        }
        if s.entries && with_entries {
            let mut all = Vec::new();
            for_each_entry(table, opts, |e| {
                all.push(e);
                Ok(())
            })?;
            dump.entries = Some(all);
        }
        Ok(dump)
    }
}

/// Calls `f` on each entry within `opts`' bounds and limit, in key order (newest version of
/// a key first); returns how many were visited. Values are whole (text output cuts them).
pub fn for_each_entry(
    table: &Arc<Table>,
    opts: &DumpOptions,
    mut f: impl FnMut(EntryDump) -> Result<()>,
) -> Result<u64> {
    let enc = opts.encoding;
    let mut it = table.iter();
    match &opts.from {
        Some(from) => it.seek(InternalKey::seek_key(from, MAX_SEQNO).encoded())?,
        None => it.seek_to_first()?,
    }
    let mut n = 0u64;
    while it.valid() && opts.limit.is_none_or(|l| n < l) {
        let name = table.file_name();
        let p = parse_internal_key(it.key())
            .map_err(|e| Error::corrupt(name, format!("entry {n} has a malformed internal key: {e}")))?;
        if opts.to.as_deref().is_some_and(|to| p.user_key >= to) {
            break;
        }
        let e = EntryDump::from_stored(p.user_key, p.seq, p.kind, it.value(), enc)
            .ok_or_else(|| Error::corrupt(name, format!("entry {n}: expiring value without expiry")))?;
        f(e)?;
        n += 1;
        it.next()?;
    }
    Ok(n)
}

/// What `--verify` found in a sound table.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyDump {
    /// The file.
    pub file: String,
    /// `"ok"`.
    pub status: &'static str,
    /// Blocks whose checksums were verified.
    pub blocks_checked: u64,
    /// Data blocks among them.
    pub data_blocks: u64,
    /// Entries decoded, in strictly increasing key order.
    pub entries: u64,
    /// Bytes read.
    pub bytes_read: u64,
}

/// Opens and fully verifies the table at `path`: every block checksum, key order, separators,
/// bloom filter and properties. The first problem is a corruption error with file and offset.
pub fn verify(fs: &dyn Fs, path: &Path) -> Result<VerifyDump> {
    let table = open_table(fs, path)?;
    let r = table.verify()?;
    Ok(VerifyDump {
        file: path.display().to_string(),
        status: "ok",
        blocks_checked: r.blocks_checked,
        data_blocks: r.data_blocks,
        entries: r.entries,
        bytes_read: r.bytes_read,
    })
}
