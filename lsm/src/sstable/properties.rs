//! Table properties: what a table holds, recorded once at build time.
//!
//! Format: `docs/format/sstable.md`, section "Properties block". The block is a sequence of
//! records `varint tag | varint len | payload`, tags strictly increasing; integer payloads are
//! one varint filling the payload, key payloads are raw bytes. Readers skip tags they do not
//! know, so a later version can add properties without a format bump, and the length prefix
//! lets them skip without knowing the payload's type.

use kvd_base::coding::{put_bytes, put_varint, DecodeError, Decoder};

use super::Compression;

/// Statistics and metadata of one table. `file_size` is not stored in the properties block
/// (it would depend on its own encoding); readers fill it from the file's length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableProperties {
    /// Format version the table was written with.
    pub format_version: u32,
    /// Entries (all kinds).
    pub num_entries: u64,
    /// Tombstones (`ValueKind::Delete` entries).
    pub num_deletions: u64,
    /// Entries with an expiry (`ValueKind::PutWithExpiry`).
    pub num_expiring: u64,
    /// The smallest expiry (milliseconds since the Unix epoch) among expiring entries.
    pub earliest_expiry: Option<u64>,
    /// Sum of internal-key lengths.
    pub raw_key_size: u64,
    /// Sum of value lengths (expiry prefixes included).
    pub raw_value_size: u64,
    /// Bytes of data blocks on disk, trailers included.
    pub data_size: u64,
    /// Bytes of the index block on disk, trailer included.
    pub index_size: u64,
    /// Bytes of the filter block on disk, trailer included; 0 without a filter.
    pub filter_size: u64,
    /// Number of data blocks.
    pub num_data_blocks: u64,
    /// Size of the whole file.
    pub file_size: u64,
    /// The first internal key (empty for an empty table).
    pub smallest_key: Vec<u8>,
    /// The last internal key (empty for an empty table).
    pub largest_key: Vec<u8>,
    /// Smallest sequence number of any entry (0 for an empty table).
    pub smallest_seqno: u64,
    /// Largest sequence number of any entry (0 for an empty table).
    pub largest_seqno: u64,
    /// Compression the builder was configured with (individual blocks may be stored raw).
    pub compression: Compression,
    /// Bloom filter bits per key the builder was configured with (0: no filter).
    pub bloom_bits_per_key: u32,
    /// When the table was built, in milliseconds since the Unix epoch.
    pub created_at_millis: u64,
}

mod tag {
    pub const FORMAT_VERSION: u64 = 1;
    pub const NUM_ENTRIES: u64 = 2;
    pub const NUM_DELETIONS: u64 = 3;
    pub const NUM_EXPIRING: u64 = 4;
    pub const EARLIEST_EXPIRY: u64 = 5;
    pub const RAW_KEY_SIZE: u64 = 6;
    pub const RAW_VALUE_SIZE: u64 = 7;
    pub const DATA_SIZE: u64 = 8;
    pub const INDEX_SIZE: u64 = 9;
    pub const FILTER_SIZE: u64 = 10;
    pub const NUM_DATA_BLOCKS: u64 = 11;
    pub const SMALLEST_KEY: u64 = 12;
    pub const LARGEST_KEY: u64 = 13;
    pub const SMALLEST_SEQNO: u64 = 14;
    pub const LARGEST_SEQNO: u64 = 15;
    pub const COMPRESSION: u64 = 16;
    pub const COMPRESSION_LEVEL: u64 = 17;
    pub const BLOOM_BITS_PER_KEY: u64 = 18;
    pub const CREATED_AT: u64 = 19;
    /// Tags every version-1 table carries; 5 and 17 are optional.
    pub const REQUIRED: [u64; 17] = [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19];
}

/// Compression type codes in the properties block (same codes as block trailers).
const COMPRESSION_NONE: u64 = 0;
const COMPRESSION_ZSTD: u64 = 1;

fn put_int(buf: &mut Vec<u8>, tag: u64, v: u64) {
    put_varint(buf, tag);
    put_varint(buf, kvd_base::coding::varint_len(v) as u64);
    put_varint(buf, v);
}

fn put_key(buf: &mut Vec<u8>, tag: u64, v: &[u8]) {
    put_varint(buf, tag);
    put_bytes(buf, v);
}

fn zigzag(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

fn unzigzag(v: u64) -> Option<i32> {
    let v = u32::try_from(v).ok()?;
    Some(((v >> 1) as i32) ^ -((v & 1) as i32))
}

impl TableProperties {
    /// Encodes the properties block contents (everything but `file_size`).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(128 + self.smallest_key.len() + self.largest_key.len());
        put_int(&mut b, tag::FORMAT_VERSION, u64::from(self.format_version));
        put_int(&mut b, tag::NUM_ENTRIES, self.num_entries);
        put_int(&mut b, tag::NUM_DELETIONS, self.num_deletions);
        put_int(&mut b, tag::NUM_EXPIRING, self.num_expiring);
        if let Some(e) = self.earliest_expiry {
            put_int(&mut b, tag::EARLIEST_EXPIRY, e);
        }
        put_int(&mut b, tag::RAW_KEY_SIZE, self.raw_key_size);
        put_int(&mut b, tag::RAW_VALUE_SIZE, self.raw_value_size);
        put_int(&mut b, tag::DATA_SIZE, self.data_size);
        put_int(&mut b, tag::INDEX_SIZE, self.index_size);
        put_int(&mut b, tag::FILTER_SIZE, self.filter_size);
        put_int(&mut b, tag::NUM_DATA_BLOCKS, self.num_data_blocks);
        put_key(&mut b, tag::SMALLEST_KEY, &self.smallest_key);
        put_key(&mut b, tag::LARGEST_KEY, &self.largest_key);
        put_int(&mut b, tag::SMALLEST_SEQNO, self.smallest_seqno);
        put_int(&mut b, tag::LARGEST_SEQNO, self.largest_seqno);
        match self.compression {
            Compression::None => put_int(&mut b, tag::COMPRESSION, COMPRESSION_NONE),
            Compression::Zstd { level } => {
                put_int(&mut b, tag::COMPRESSION, COMPRESSION_ZSTD);
                put_int(&mut b, tag::COMPRESSION_LEVEL, zigzag(level));
            }
        }
        put_int(&mut b, tag::BLOOM_BITS_PER_KEY, u64::from(self.bloom_bits_per_key));
        put_int(&mut b, tag::CREATED_AT, self.created_at_millis);
        b
    }

    /// Decodes a properties block. Tags must be strictly increasing, every required tag
    /// present, and each integer payload exactly one varint; unknown tags are skipped.
    /// `file_size` is left 0 for the caller to fill.
    pub fn decode(buf: &[u8]) -> Result<TableProperties, DecodeError> {
        let mut p = TableProperties::default();
        let mut d = Decoder::new(buf);
        let mut last_tag = 0u64;
        let mut seen = Vec::with_capacity(tag::REQUIRED.len());
        let mut level = None;
        let mut compression_code = None;
        while !d.is_empty() {
            let at = d.position();
            let err = |what| DecodeError { offset: at, what };
            let t = d.varint("property tag")?;
            if t <= last_tag {
                return Err(err("property tags out of order"));
            }
            last_tag = t;
            let payload = d.bytes("property payload")?;
            let int = || -> Result<u64, DecodeError> {
                let mut pd = Decoder::new(payload);
                let v = pd.varint("integer property")?;
                if pd.is_empty() {
                    Ok(v)
                } else {
                    Err(err("integer property with trailing bytes"))
                }
            };
            let int32 = || u32::try_from(int()?).map_err(|_| err("property exceeds u32"));
            match t {
                tag::FORMAT_VERSION => p.format_version = int32()?,
                tag::NUM_ENTRIES => p.num_entries = int()?,
                tag::NUM_DELETIONS => p.num_deletions = int()?,
                tag::NUM_EXPIRING => p.num_expiring = int()?,
                tag::EARLIEST_EXPIRY => p.earliest_expiry = Some(int()?),
                tag::RAW_KEY_SIZE => p.raw_key_size = int()?,
                tag::RAW_VALUE_SIZE => p.raw_value_size = int()?,
                tag::DATA_SIZE => p.data_size = int()?,
                tag::INDEX_SIZE => p.index_size = int()?,
                tag::FILTER_SIZE => p.filter_size = int()?,
                tag::NUM_DATA_BLOCKS => p.num_data_blocks = int()?,
                tag::SMALLEST_KEY => p.smallest_key = payload.to_vec(),
                tag::LARGEST_KEY => p.largest_key = payload.to_vec(),
                tag::SMALLEST_SEQNO => p.smallest_seqno = int()?,
                tag::LARGEST_SEQNO => p.largest_seqno = int()?,
                tag::COMPRESSION => compression_code = Some(int()?),
                tag::COMPRESSION_LEVEL => level = Some(unzigzag(int()?).ok_or(err("compression level exceeds i32"))?),
                tag::BLOOM_BITS_PER_KEY => p.bloom_bits_per_key = int32()?,
                tag::CREATED_AT => p.created_at_millis = int()?,
                _ => continue, // a property from a later version
            }
            seen.push(t);
        }
        if tag::REQUIRED.iter().any(|t| !seen.contains(t)) {
            return Err(DecodeError { offset: buf.len(), what: "properties (a required property is missing)" });
        }
        p.compression = match (compression_code, level) {
            (Some(COMPRESSION_NONE), None) => Compression::None,
            (Some(COMPRESSION_ZSTD), Some(level)) => Compression::Zstd { level },
            _ => return Err(DecodeError { offset: buf.len(), what: "compression property" }),
        };
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> TableProperties {
        TableProperties {
            format_version: 1,
            num_entries: 10,
            num_deletions: 2,
            num_expiring: 1,
            earliest_expiry: Some(1234),
            raw_key_size: 90,
            raw_value_size: 300,
            data_size: 500,
            index_size: 40,
            filter_size: 63,
            num_data_blocks: 2,
            file_size: 0,
            smallest_key: b"a\x01\0\0\0\0\0\0\0".to_vec(),
            largest_key: b"z\x01\0\0\0\0\0\0\0".to_vec(),
            smallest_seqno: 1,
            largest_seqno: u64::MAX >> 8,
            compression: Compression::Zstd { level: -5 },
            bloom_bits_per_key: 10,
            created_at_millis: 1_700_000_000_000,
        }
    }

    #[test]
    fn roundtrip() {
        let p = sample();
        assert_eq!(TableProperties::decode(&p.encode()).unwrap(), p);
        let q = TableProperties { earliest_expiry: None, compression: Compression::None, ..sample() };
        assert_eq!(TableProperties::decode(&q.encode()).unwrap(), q);
        for l in [i32::MIN, -1, 0, 1, 22, i32::MAX] {
            assert_eq!(unzigzag(zigzag(l)), Some(l));
        }
    }

    #[test]
    fn unknown_tags_are_skipped_and_missing_ones_rejected() {
        let mut b = sample().encode();
        put_key(&mut b, 200, b"from the future");
        assert_eq!(TableProperties::decode(&b).unwrap(), sample());
        let mut only_one = Vec::new();
        put_int(&mut only_one, tag::FORMAT_VERSION, 1);
        assert!(TableProperties::decode(&only_one).is_err());
        let mut out_of_order = sample().encode();
        put_int(&mut out_of_order, tag::NUM_ENTRIES, 3);
        assert!(TableProperties::decode(&out_of_order).is_err());
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = TableProperties::decode(&bytes);
        }

        #[test]
        fn mutations_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut b = sample().encode();
            let i = pos.index(b.len());
            b[i] = byte;
            let _ = TableProperties::decode(&b);
        }
    }
}
