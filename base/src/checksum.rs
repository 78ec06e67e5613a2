//! Checksums: xxhash3 (64-bit) over every block and record kvd writes.

/// The 64-bit xxhash3 of `data`.
#[inline]
pub fn checksum64(data: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(data)
}

/// The low 32 bits of xxhash3 over the concatenation of `parts`, for compact record headers.
pub fn checksum32_parts(parts: &[&[u8]]) -> u32 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in parts {
        h.update(p);
    }
    h.digest() as u32
}

/// The low 32 bits of xxhash3 over `data`.
#[inline]
pub fn checksum32(data: &[u8]) -> u32 {
    checksum64(data) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_equal_whole() {
        assert_eq!(checksum32_parts(&[b"ab", b"cd"]), checksum32(b"abcd"));
        assert_ne!(checksum64(b"a"), checksum64(b"b"));
    }
}
