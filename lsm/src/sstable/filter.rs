//! The filter block: a bloom filter over the table's distinct user keys.
//!
//! Format: `docs/format/sstable.md`, section "Filter block". The block is a one-byte filter
//! kind followed by the `bloomfilter` crate's (v3) serialization of a `Bloom<u64>`:
//! `version u8 = 1 | bitmap length in bytes u64 LE | number of hashes u32 LE | seed [u8; 32] |
//! bitmap`.
//!
//! Hashing scheme (kind 1), chosen to be stable across runs, builds and platforms: a user key is
//! first reduced to `xxh3_64(user_key)`, and that u64 is what the filter stores; the crate
//! hashes it with SipHash-1-3 keyed by the seed written in the file (always [`BLOOM_SEED`] for
//! tables kvd writes), feeding the 8 little-endian bytes of the u64. Hashing the byte slice
//! directly would go through `Hash for [u8]`, whose length prefix is a platform-sized `usize`;
//! the u64 detour avoids that. Filters are keyed by user key, not internal key, so a point
//! lookup at any sequence number can consult them.

use bloomfilter::Bloom;
use kvd_base::checksum::checksum64;
use kvd_base::coding::{read_u32_at, read_u64_at};

/// Seed of the SipHash keys of every filter kvd writes. Fixed (never random) so that filters
/// are reproducible; it is also stored in each filter, and readers use the stored one.
pub const BLOOM_SEED: [u8; 32] = *b"kvd-sstable-bloom-filter-seed-v1";

/// Filter kind byte: `bloomfilter` v3 `Bloom<u64>` over xxh3-64 of user keys.
pub const FILTER_KIND_BLOOM_XXH3: u8 = 1;

/// Size of the crate's serialized header: version, bitmap length, hash count, seed.
const CRATE_HEADER_LEN: usize = 1 + 8 + 4 + 32;
/// The crate's serialization version we understand.
const CRATE_VERSION: u8 = 1;
/// Most hash functions a filter may claim: a bound on the work of one probe. Builders never
/// exceed 45 (64 bits per key).
const MAX_HASHES: u32 = 64;
/// Smallest bitmap written, so tiny tables still get a usable false-positive rate.
const MIN_BITMAP_BYTES: usize = 8;

/// The value stored in the filter for `user_key`.
fn key_hash(user_key: &[u8]) -> u64 {
    checksum64(user_key)
}

/// Collects user-key hashes while a table is built; the bitmap is sized at the end, once the
/// number of distinct keys is known.
#[derive(Debug)]
pub struct FilterBuilder {
    bits_per_key: u32,
    hashes: Vec<u64>,
}

impl FilterBuilder {
    /// A builder for `bits_per_key` bits per key; 0 builds no filter.
    /// A builder for a filter of `bits_per_key` bits per added key.
    pub fn new(bits_per_key: u32) -> Self {
        FilterBuilder { bits_per_key, hashes: Vec::new() }
    }

    /// Records a user key. The table builder calls this once per distinct user key.
    /// Adds a user key.
    pub fn add(&mut self, user_key: &[u8]) {
        if self.bits_per_key > 0 {
            self.hashes.push(key_hash(user_key));
        }
    }

    /// The filter block's contents, or None when filtering is disabled or no key was added.
    /// The encoded filter block, or `None` when no key was added or filters are off.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let n = self.hashes.len();
        if self.bits_per_key == 0 || n == 0 {
            return None;
        }
        let bits = (n as u64).saturating_mul(u64::from(self.bits_per_key));
        let bytes = usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX).max(MIN_BITMAP_BYTES);
        let mut bloom = match Bloom::<u64>::new_with_seed(bytes, n, &BLOOM_SEED) {
            Ok(b) => b,
            Err(e) => {
                // Not reachable with positive sizes; a table without a filter is still correct.
                tracing::warn!("bloom filter not built: {e}");
                return None;
            }
        };
        for h in self.hashes.drain(..) {
            bloom.set(&h);
        }
        let mut out = Vec::with_capacity(1 + CRATE_HEADER_LEN + bytes);
        out.push(FILTER_KIND_BLOOM_XXH3);
        out.extend_from_slice(bloom.as_slice());
        Some(out)
    }
}

/// A decoded filter, answering "may this table hold `user_key`?" with no false negatives.
#[derive(Debug, Clone)]
pub struct FilterReader {
    bloom: Bloom<u64>,
    size: usize,
}

impl FilterReader {
    /// Decodes a filter block. Every length and count is validated before the bytes reach the
    /// `bloomfilter` crate, whose probes would panic (modulo zero) on an empty bitmap or spin on
    /// an absurd hash count; the error says what was wrong.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        let Some((&kind, rest)) = bytes.split_first() else {
            return Err("empty filter block".into());
        };
        if kind != FILTER_KIND_BLOOM_XXH3 {
            return Err(format!("unknown filter kind {kind}"));
        }
        if rest.len() < CRATE_HEADER_LEN {
            return Err(format!("filter of {} bytes is shorter than its header", rest.len()));
        }
        if rest[0] != CRATE_VERSION {
            return Err(format!("unknown bloom serialization version {}", rest[0]));
        }
        let bitmap_len = read_u64_at(rest, 1).unwrap_or(0);
        let actual = (rest.len() - CRATE_HEADER_LEN) as u64;
        if bitmap_len == 0 || bitmap_len != actual {
            return Err(format!("bloom bitmap length {bitmap_len} but {actual} bytes present"));
        }
        let k = read_u32_at(rest, 9).unwrap_or(0);
        if k == 0 || k > MAX_HASHES {
            return Err(format!("bloom hash count {k} out of range 1..={MAX_HASHES}"));
        }
        let bloom = Bloom::from_slice(rest).map_err(|e| format!("bloom filter: {e}"))?;
        Ok(FilterReader { bloom, size: bytes.len() })
    }

    /// False only if `user_key` was certainly not added.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.bloom.check(&key_hash(user_key))
    }

    /// Bits in the bitmap.
    pub fn bits(&self) -> u64 {
        self.bloom.len()
    }

    /// Number of hash functions probed per key.
    pub fn num_hashes(&self) -> u32 {
        self.bloom.number_of_hash_functions()
    }

    /// Size of the filter block's contents in bytes.
    pub fn size_bytes(&self) -> usize {
        self.size
    }

    /// The SipHash seed stored in the filter.
    pub fn seed(&self) -> [u8; 32] {
        self.bloom.seed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(n: u32, bits: u32) -> Vec<u8> {
        let mut b = FilterBuilder::new(bits);
        for i in 0..n {
            b.add(format!("user{i}").as_bytes());
        }
        b.finish().unwrap()
    }

    #[test]
    fn no_false_negatives_and_low_fp_rate() {
        let f = FilterReader::decode(&build(10_000, 10)).unwrap();
        assert_eq!(f.num_hashes(), 7);
        assert_eq!(f.seed(), BLOOM_SEED);
        assert!((0..10_000).all(|i| f.may_contain(format!("user{i}").as_bytes())));
        let fp = (0..10_000).filter(|i| f.may_contain(format!("other{i}").as_bytes())).count();
        assert!(fp < 300, "false positives: {fp}");
    }

    #[test]
    fn disabled_or_empty_builds_nothing() {
        assert!(FilterBuilder::new(10).finish().is_none());
        let mut b = FilterBuilder::new(0);
        b.add(b"x");
        assert!(b.finish().is_none());
    }

    #[test]
    fn stable_bytes() {
        // The scheme is part of the format: the same keys must give the same bits forever.
        let bytes = build(3, 10);
        assert_eq!(bytes.len(), 1 + CRATE_HEADER_LEN + 8);
        assert_eq!(checksum64(&bytes), checksum64(&build(3, 10)));
        let f = FilterReader::decode(&bytes).unwrap();
        assert!(f.may_contain(b"user0") && f.may_contain(b"user2"));
    }

    #[test]
    fn rejects_malformed_headers() {
        let good = build(10, 10);
        let mut zero_len = good[..1 + CRATE_HEADER_LEN].to_vec();
        zero_len[2..10].copy_from_slice(&0u64.to_le_bytes());
        let mut huge_k = good.clone();
        huge_k[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut zero_k = good.clone();
        zero_k[10..14].copy_from_slice(&0u32.to_le_bytes());
        let mut kind = good.clone();
        kind[0] = 9;
        for bad in [vec![], vec![1], zero_len, huge_k, zero_k, kind, good[..good.len() - 1].to_vec()] {
            assert!(FilterReader::decode(&bad).is_err());
        }
    }

    proptest! {
        #[test]
        fn garbage_never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..128), fix in any::<bool>()) {
            if fix && bytes.len() > 1 + CRATE_HEADER_LEN {
                // Make the header plausible so the crate itself gets exercised.
                let n = (bytes.len() - 1 - CRATE_HEADER_LEN) as u64;
                bytes[0] = 1;
                bytes[1] = 1;
                bytes[2..10].copy_from_slice(&n.to_le_bytes());
            }
            if let Ok(f) = FilterReader::decode(&bytes) {
                let _ = f.may_contain(b"probe");
            }
        }
    }
}
