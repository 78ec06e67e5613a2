//! Block handles: where a block sits in the table file.
//!
//! Format: `docs/format/sstable.md`, section "Block handles".

use kvd_base::coding::{put_u64, put_varint, DecodeError, Decoder};

/// The position of a block in a table file: `offset` of its first byte and `size` of its stored
/// (possibly compressed) contents, excluding the 9-byte trailer that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockHandle {
    /// Offset of the block's first byte in the file.
    pub offset: u64,
    /// Length of the stored block, without its trailer.
    pub size: u64,
}

/// Upper bound of the varint encoding of a handle (two 10-byte varints).
pub(crate) const MAX_VARINT_HANDLE_LEN: usize = 20;

impl BlockHandle {
    /// A handle for `size` bytes at `offset`.
    pub fn new(offset: u64, size: u64) -> Self {
        BlockHandle { offset, size }
    }

    /// Appends the compact form used as index-block values: varint offset, varint size.
    pub fn encode_varint(&self, buf: &mut Vec<u8>) {
        put_varint(buf, self.offset);
        put_varint(buf, self.size);
    }

    /// Decodes the compact form, which must use all of `buf` (trailing bytes mean corruption).
    pub fn decode_varint(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(buf);
        let offset = d.varint("block handle offset")?;
        let size = d.varint("block handle size")?;
        if !d.is_empty() {
            return Err(DecodeError { offset: d.position(), what: "block handle (trailing bytes)" });
        }
        Ok(BlockHandle { offset, size })
    }

    /// Appends the fixed 16-byte form used in the footer: u64 LE offset, u64 LE size.
    pub fn encode_fixed(&self, buf: &mut Vec<u8>) {
        put_u64(buf, self.offset);
        put_u64(buf, self.size);
    }

    /// Consumes the fixed 16-byte form.
    pub fn decode_fixed(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let offset = d.u64("block handle offset")?;
        let size = d.u64("block handle size")?;
        Ok(BlockHandle { offset, size })
    }

    /// The offset just past the block's trailer, or None on overflow (only a corrupt handle).
    pub fn end_with_trailer(&self) -> Option<u64> {
        self.offset.checked_add(self.size)?.checked_add(super::BLOCK_TRAILER_LEN as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_and_fixed_roundtrip() {
        for h in [BlockHandle::new(0, 0), BlockHandle::new(4096, 123), BlockHandle::new(u64::MAX, u64::MAX)] {
            let mut b = Vec::new();
            h.encode_varint(&mut b);
            assert!(b.len() <= MAX_VARINT_HANDLE_LEN);
            assert_eq!(BlockHandle::decode_varint(&b).unwrap(), h);
            let mut f = Vec::new();
            h.encode_fixed(&mut f);
            assert_eq!(f.len(), 16);
            assert_eq!(BlockHandle::decode_fixed(&mut Decoder::new(&f)).unwrap(), h);
        }
    }

    #[test]
    fn trailing_or_truncated_bytes_are_rejected() {
        let mut b = Vec::new();
        BlockHandle::new(1, 2).encode_varint(&mut b);
        b.push(0);
        assert!(BlockHandle::decode_varint(&b).is_err());
        assert!(BlockHandle::decode_varint(&[0x80]).is_err());
        assert_eq!(BlockHandle::new(u64::MAX, 1).end_with_trailer(), None);
    }
}
