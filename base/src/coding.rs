//! All bytes kvd writes go through this module: fixed-width little-endian integers, LEB128
//! varints and length-prefixed slices. Decoding is bounds-checked and returns a
//! [`DecodeError`] (never panics) that callers turn into a corruption error naming their file.

/// A decode failure: what was being read and where, relative to the start of the decoded slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset within the decoded buffer.
    pub offset: usize,
    /// What the decoder was reading.
    pub what: &'static str,
}

impl DecodeError {
    /// Converts into a corruption error for `file`, whose buffer began at `base_offset`.
    pub fn in_file(self, file: impl Into<String>, base_offset: u64) -> crate::Error {
        crate::Error::corruption(file, base_offset + self.offset as u64, format!("cannot decode {}", self.what))
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot decode {} at offset {}", self.what, self.offset)
    }
}

impl std::error::Error for DecodeError {}

/// Appends `v` as 4 little-endian bytes.
#[inline]
pub fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as 8 little-endian bytes.
#[inline]
pub fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as 2 little-endian bytes.
#[inline]
pub fn put_u16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as an LEB128 varint (1 to 10 bytes).
#[inline]
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a varint length followed by the bytes of `s`.
#[inline]
pub fn put_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    put_varint(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

/// Number of bytes [`put_varint`] writes for `v`.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Reads a little-endian u32 at `pos` of `buf`, if in bounds.
#[inline]
pub fn read_u32_at(buf: &[u8], pos: usize) -> Option<u32> {
    buf.get(pos..pos.checked_add(4)?).map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
}

/// Reads a little-endian u64 at `pos` of `buf`, if in bounds.
#[inline]
pub fn read_u64_at(buf: &[u8], pos: usize) -> Option<u64> {
    buf.get(pos..pos.checked_add(8)?).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

/// A bounds-checked cursor over a byte slice.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Decoder { buf, pos: 0 }
    }

    /// Current offset from the start.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unconsumed bytes.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    fn err(&self, what: &'static str) -> DecodeError {
        DecodeError { offset: self.pos, what }
    }

    /// Consumes exactly `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.err(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Consumes one byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// Consumes a little-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// Consumes a little-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Consumes a little-endian u64.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Consumes an LEB128 varint of at most 10 bytes.
    pub fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut result: u64 = 0;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                self.pos = start;
                return Err(self.err(what));
            };
            self.pos += 1;
            if shift == 63 && byte > 1 {
                self.pos = start;
                return Err(self.err(what));
            }
            result |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(result);
            }
        }
        self.pos = start;
        Err(self.err(what))
    }

    /// Consumes a varint that must fit in a u32.
    pub fn varint32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let v = self.varint(what)?;
        u32::try_from(v).map_err(|_| self.err(what))
    }

    /// Consumes a varint length and then that many bytes.
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.varint(what)?;
        let n = usize::try_from(n).map_err(|_| self.err(what))?;
        self.take(n, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_edges() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v));
            let mut d = Decoder::new(&b);
            assert_eq!(d.varint("v").unwrap(), v);
            assert!(d.is_empty());
        }
    }

    #[test]
    fn truncated_and_overlong_varints_fail() {
        assert!(Decoder::new(&[0x80]).varint("v").is_err());
        assert!(Decoder::new(&[0xff; 11]).varint("v").is_err());
        assert!(Decoder::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).varint("v").is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(a in any::<u64>(), b in any::<u32>(), s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = Vec::new();
            put_varint(&mut buf, a);
            put_u32(&mut buf, b);
            put_bytes(&mut buf, &s);
            put_u64(&mut buf, a);
            let mut d = Decoder::new(&buf);
            prop_assert_eq!(d.varint("a").unwrap(), a);
            prop_assert_eq!(d.u32("b").unwrap(), b);
            prop_assert_eq!(d.bytes("s").unwrap(), &s[..]);
            prop_assert_eq!(d.u64("a").unwrap(), a);
            prop_assert!(d.is_empty());
        }

        #[test]
        fn garbage_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut d = Decoder::new(&buf);
            while d.bytes("x").is_ok() && !d.is_empty() {}
            let _ = Decoder::new(&buf).u64("x");
        }
    }
}
