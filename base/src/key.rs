//! Internal keys: a user key plus an 8-byte little-endian trailer `(seqno << 8) | kind`.
//!
//! Order: user key ascending (bytewise), then sequence number descending, then kind
//! descending, so the newest version of a key comes first. Every sorted structure in kvd
//! (memtable, SSTable blocks, index, merging iterators) uses [`compare_internal_keys`].

use std::cmp::Ordering;

use crate::coding::DecodeError;

/// A sequence number: one per write-batch entry, assigned in commit order.
pub type SeqNo = u64;

/// Largest representable sequence number (56 bits). Reading "at `MAX_SEQNO`" sees everything.
pub const MAX_SEQNO: SeqNo = (1 << 56) - 1;

/// Length of the trailer appended to every user key.
pub const TRAILER_LEN: usize = 8;

/// What an entry records about its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ValueKind {
    /// A tombstone: the key is deleted as of this sequence number.
    Delete = 0,
    /// A value.
    Put = 1,
    /// A value with an absolute expiry: the stored value is the 8-byte little-endian expiry
    /// (milliseconds since the Unix epoch) followed by the user value.
    PutWithExpiry = 2,
}

impl ValueKind {
    /// Decodes a kind byte.
    pub fn from_u8(b: u8) -> Option<ValueKind> {
        match b {
            0 => Some(ValueKind::Delete),
            1 => Some(ValueKind::Put),
            2 => Some(ValueKind::PutWithExpiry),
            _ => None,
        }
    }

    /// True for the kinds that carry a value.
    pub fn is_value(self) -> bool {
        !matches!(self, ValueKind::Delete)
    }
}

/// Packs a sequence number and kind into a trailer.
#[inline]
pub fn pack_trailer(seq: SeqNo, kind: ValueKind) -> u64 {
    debug_assert!(seq <= MAX_SEQNO);
    (seq << 8) | kind as u64
}

/// Splits a trailer into sequence number and kind.
#[inline]
pub fn unpack_trailer(trailer: u64) -> Option<(SeqNo, ValueKind)> {
    Some((trailer >> 8, ValueKind::from_u8(trailer as u8)?))
}

/// Appends the encoded internal key to `buf`.
#[inline]
pub fn encode_internal_key(buf: &mut Vec<u8>, user_key: &[u8], seq: SeqNo, kind: ValueKind) {
    buf.extend_from_slice(user_key);
    buf.extend_from_slice(&pack_trailer(seq, kind).to_le_bytes());
}

/// The user-key part of an encoded internal key (all of it if it is too short to hold a trailer).
#[inline]
pub fn user_key(ikey: &[u8]) -> &[u8] {
    &ikey[..ikey.len().saturating_sub(TRAILER_LEN)]
}

/// The trailer of an encoded internal key (0 if it is too short).
#[inline]
pub fn trailer(ikey: &[u8]) -> u64 {
    if ikey.len() < TRAILER_LEN {
        return 0;
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&ikey[ikey.len() - TRAILER_LEN..]);
    u64::from_le_bytes(a)
}

/// Compares two encoded internal keys: user key ascending, then trailer descending.
#[inline]
pub fn compare_internal_keys(a: &[u8], b: &[u8]) -> Ordering {
    match crate::compare::compare_bytes(user_key(a), user_key(b)) {
        Ordering::Equal => trailer(b).cmp(&trailer(a)),
        o => o,
    }
}

/// A decoded internal key borrowing its user key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The user's key.
    pub user_key: &'a [u8],
    /// The entry's sequence number.
    pub seq: SeqNo,
    /// The entry's kind.
    pub kind: ValueKind,
}

/// Decodes an encoded internal key, failing on a short key or an unknown kind.
pub fn parse_internal_key(ikey: &[u8]) -> Result<ParsedKey<'_>, DecodeError> {
    if ikey.len() < TRAILER_LEN {
        return Err(DecodeError { offset: 0, what: "internal key trailer" });
    }
    let (seq, kind) = unpack_trailer(trailer(ikey))
        .ok_or(DecodeError { offset: ikey.len() - TRAILER_LEN, what: "internal key kind" })?;
    Ok(ParsedKey { user_key: user_key(ikey), seq, kind })
}

/// An owned encoded internal key, ordered by [`compare_internal_keys`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InternalKey(Vec<u8>);

impl InternalKey {
    /// Encodes `user_key` at `seq` with `kind`.
    pub fn new(user_key: &[u8], seq: SeqNo, kind: ValueKind) -> Self {
        let mut v = Vec::with_capacity(user_key.len() + TRAILER_LEN);
        encode_internal_key(&mut v, user_key, seq, kind);
        InternalKey(v)
    }

    /// Wraps already-encoded bytes (which should hold a trailer).
    pub fn from_encoded(bytes: Vec<u8>) -> Self {
        InternalKey(bytes)
    }

    /// The smallest internal key for `user_key` visible at `seq`: seeking to it lands on the
    /// newest version with sequence number `<= seq`.
    pub fn seek_key(user_key: &[u8], seq: SeqNo) -> Self {
        // PutWithExpiry is the largest kind, so it sorts first among entries of equal seq.
        Self::new(user_key, seq, ValueKind::PutWithExpiry)
    }

    /// The encoded bytes.
    pub fn encoded(&self) -> &[u8] {
        &self.0
    }

    /// The user-key part.
    pub fn user_key(&self) -> &[u8] {
        user_key(&self.0)
    }

    /// The sequence number.
    pub fn seq(&self) -> SeqNo {
        trailer(&self.0) >> 8
    }

    /// The kind byte decoded (None if corrupt).
    pub fn kind(&self) -> Option<ValueKind> {
        ValueKind::from_u8(trailer(&self.0) as u8)
    }

    /// Consumes the key, returning its encoded bytes.
    pub fn into_encoded(self) -> Vec<u8> {
        self.0
    }
}

impl Ord for InternalKey {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_internal_keys(&self.0, &other.0)
    }
}

impl PartialOrd for InternalKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for InternalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}@{}:{:?}", String::from_utf8_lossy(self.user_key()), self.seq(), self.kind())
    }
}

/// Encodes a value with an absolute expiry, as stored under [`ValueKind::PutWithExpiry`].
pub fn encode_expiring_value(expires_at_millis: u64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + value.len());
    v.extend_from_slice(&expires_at_millis.to_le_bytes());
    v.extend_from_slice(value);
    v
}

/// Splits a stored [`ValueKind::PutWithExpiry`] value into expiry and user value.
pub fn decode_expiring_value(stored: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    let exp = crate::coding::read_u64_at(stored, 0).ok_or(DecodeError { offset: 0, what: "value expiry" })?;
    Ok((exp, &stored[8..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_is_user_key_then_newest_first() {
        let a1 = InternalKey::new(b"a", 1, ValueKind::Put);
        let a2 = InternalKey::new(b"a", 2, ValueKind::Delete);
        let ab = InternalKey::new(b"ab", 9, ValueKind::Put);
        let b0 = InternalKey::new(b"b", 0, ValueKind::Put);
        let mut v = vec![b0.clone(), a1.clone(), ab.clone(), a2.clone()];
        v.sort();
        assert_eq!(v, vec![a2, a1, ab, b0]);
    }

    #[test]
    fn seek_key_lands_on_visible_version() {
        let s = InternalKey::seek_key(b"k", 5);
        assert!(s <= InternalKey::new(b"k", 5, ValueKind::Put));
        assert!(s > InternalKey::new(b"k", 6, ValueKind::Put));
    }

    #[test]
    fn parse_rejects_bad_kind_and_short() {
        assert!(parse_internal_key(b"short").is_err());
        let mut k = InternalKey::new(b"x", 3, ValueKind::Put).into_encoded();
        let n = k.len();
        k[n - 8] = 77;
        assert!(parse_internal_key(&k).is_err());
        let stored = encode_expiring_value(42, b"hi");
        let (e, v) = decode_expiring_value(&stored).unwrap();
        assert_eq!((e, v), (42, &b"hi"[..]));
    }
}
