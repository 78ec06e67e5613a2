//! Shortened index keys, as LevelDB's `FindShortestSeparator`.
//!
//! An index entry's key only has to sit between its block's last key and the next block's
//! first key; a short one keeps the index (which every open table holds in memory) small.

use kvd_base::key::{encode_internal_key, user_key};
use kvd_base::{ValueKind, MAX_SEQNO};

/// An internal key `k` with `last <= k < next`, shorter than `last` when the user keys allow.
///
/// REQUIRES: `last < next` in internal-key order. When the user keys first differ at byte `n`
/// and `last`'s byte there can be incremented while staying below `next`'s, the separator is
/// that incremented prefix with the smallest trailer (largest seqno, largest kind), so it sorts
/// before every entry of its user key; otherwise it is `last` itself.
pub(crate) fn shortest_separator(last: &[u8], next: &[u8]) -> Vec<u8> {
    let (a, b) = (user_key(last), user_key(next));
    let n = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if n + 1 < a.len() && n < b.len() {
        let byte = a[n];
        if byte < 0xff && byte + 1 < b[n] {
            let mut sep = a[..=n].to_vec();
            sep[n] = byte + 1;
            let mut out = Vec::with_capacity(sep.len() + 8);
            encode_internal_key(&mut out, &sep, MAX_SEQNO, ValueKind::PutWithExpiry);
            return out;
        }
    }
    last.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvd_base::key::{compare_internal_keys, InternalKey};
    use proptest::prelude::*;
    use std::cmp::Ordering;

    fn ik(k: &[u8], seq: u64) -> Vec<u8> {
        InternalKey::new(k, seq, ValueKind::Put).into_encoded()
    }

    #[test]
    fn shortens_when_possible() {
        let s = shortest_separator(&ik(b"helloworld", 5), &ik(b"hellz", 9));
        assert_eq!(user_key(&s), b"hellp");
        assert_eq!(shortest_separator(&ik(b"abc", 5), &ik(b"abd", 9)), ik(b"abc", 5));
        assert_eq!(shortest_separator(&ik(b"abc", 5), &ik(b"abc", 4)), ik(b"abc", 5));
        assert_eq!(shortest_separator(&ik(b"a\xffzz", 5), &ik(b"b", 4)), ik(b"a\xffzz", 5));
    }

    proptest! {
        #[test]
        fn separates(mut a in proptest::collection::vec(any::<u8>(), 0..6), mut b in proptest::collection::vec(any::<u8>(), 0..6), sa in 0u64..4, sb in 0u64..4) {
            let (mut ka, mut kb) = (ik(&a, sa), ik(&b, sb));
            if compare_internal_keys(&ka, &kb) == Ordering::Greater {
                std::mem::swap(&mut ka, &mut kb);
                std::mem::swap(&mut a, &mut b);
            }
            prop_assume!(compare_internal_keys(&ka, &kb) == Ordering::Less);
            let s = shortest_separator(&ka, &kb);
            prop_assert!(compare_internal_keys(&ka, &s) != Ordering::Greater);
            prop_assert!(compare_internal_keys(&s, &kb) == Ordering::Less);
            prop_assert!(s.len() <= ka.len());
        }
    }
}
