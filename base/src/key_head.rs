//! Key heads: the first 16 bytes of a user key as two integers, for comparisons that usually
//! need not touch the key itself.

/// The first 16 bytes of a user key as two big-endian integers, zero-padded.
///
/// Order promise: where two heads differ, the user keys differ the same way (a padding zero
/// is never above a real byte, and a key that ends early is a prefix of the other), so a
/// search can compare heads held in a dense array or inline in a node and follow a pointer
/// to the whole key only when the heads are equal. Equal heads say nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyHead([u64; 2]);

impl KeyHead {
    /// The head of `user_key`.
    #[inline]
    pub fn of(user_key: &[u8]) -> KeyHead {
        let mut bytes = [0u8; 16];
        let n = user_key.len().min(16);
        bytes[..n].copy_from_slice(&user_key[..n]);
        let (a, b) = bytes.split_at(8);
        KeyHead([
            u64::from_be_bytes(a.try_into().expect("8 bytes")),
            u64::from_be_bytes(b.try_into().expect("8 bytes")),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn differing_heads_order_keys_as_bytes(
            a in proptest::collection::vec(0u8..3, 0..24), b in proptest::collection::vec(0u8..3, 0..24),
        ) {
            let (ha, hb) = (KeyHead::of(&a), KeyHead::of(&b));
            if ha != hb {
                prop_assert_eq!(ha.cmp(&hb), a.cmp(&b));
            }
        }
    }
}
