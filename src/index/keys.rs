//! Where documents, the index catalog and index entries live in the key space
//! (`docs/format/index.md`).
//!
//! ```text
//! document          namespace '/' id                          -> compact JSON object
//! catalog           0x00 'i' namespace                        -> catalog JSON (every index of it)
//! next index id     0x00 'I'                                  -> u64 LE
//! build progress    0x00 'b' index id u64 BE                  -> progress JSON
//! index entry       0x00 'x' index id u64 BE values... id     -> empty
//! unique entry      0x00 'x' index id u64 BE values...        -> id
//! ```
//!
//! The `0x00` first byte is the reserved space of the layers above the engine (typed values
//! use `0x00 'm'` and `0x00 'e'`), so none of these collides with a document. Entries are
//! keyed by a never-reused index id rather than the name, so entries left behind by a drop
//! interrupted by a crash can never be mistaken for a later index of the same name.

use crate::{prefix_successor, Error, Result};

const CATALOG_TAG: u8 = b'i';
const NEXT_ID_TAG: u8 = b'I';
const PROGRESS_TAG: u8 = b'b';
const ENTRY_TAG: u8 = b'x';

/// A document key split into its namespace and id.
#[derive(Debug, Clone, Copy)]
pub struct DocKey<'a> {
    /// The namespace: every byte before the first `/`.
    pub namespace: &'a str,
    /// The id: every byte after the first `/`.
    pub id: &'a str,
}

/// Checks a namespace name: non-empty, no `/`, no NUL, not starting with the reserved byte.
pub fn check_namespace(ns: &str) -> Result<()> {
    if ns.is_empty() || ns.contains('/') || ns.contains('\0') {
        return Err(Error::InvalidArgument(format!(
            "namespace {ns:?} must be non-empty and contain neither '/' nor NUL"
        )));
    }
    Ok(())
}

/// Splits `namespace/id`, refusing keys without a namespace or an id.
pub fn split_doc_key(key: &str) -> Result<DocKey<'_>> {
    let Some((namespace, id)) = key.split_once('/') else {
        return Err(Error::InvalidArgument(format!("document key {key:?} has no namespace (expected namespace/id)")));
    };
    check_namespace(namespace)?;
    if id.is_empty() {
        return Err(Error::InvalidArgument(format!("document key {key:?} has an empty id")));
    }
    Ok(DocKey { namespace, id })
}

/// The key of document `id` in `ns`.
pub fn doc_key(ns: &str, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(ns.len() + 1 + id.len());
    k.extend_from_slice(ns.as_bytes());
    k.push(b'/');
    k.extend_from_slice(id);
    k
}

/// `[start, end)` of every document of `ns`.
pub fn namespace_range(ns: &str) -> (Vec<u8>, Vec<u8>) {
    let start = format!("{ns}/").into_bytes();
    let end = prefix_successor(&start).expect("a '/' prefix has a successor");
    (start, end)
}

/// The catalog key of `ns`.
pub fn catalog_key(ns: &str) -> Vec<u8> {
    let mut k = vec![0, CATALOG_TAG];
    k.extend_from_slice(ns.as_bytes());
    k
}

/// The prefix of every catalog key.
pub fn catalog_prefix() -> Vec<u8> {
    vec![0, CATALOG_TAG]
}

/// The key holding the next index id.
pub fn next_id_key() -> Vec<u8> {
    vec![0, NEXT_ID_TAG]
}

/// The build-progress key of index `id`.
pub fn progress_key(id: u64) -> Vec<u8> {
    let mut k = vec![0, PROGRESS_TAG];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The prefix of every entry of index `id`.
pub fn entry_prefix(id: u64) -> Vec<u8> {
    let mut k = vec![0, ENTRY_TAG];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The prefix of every index entry of every index.
pub fn entry_space() -> Vec<u8> {
    vec![0, ENTRY_TAG]
}

/// The index id of an entry key, if it is one.
pub fn entry_index_id(key: &[u8]) -> Option<u64> {
    if key.len() < 10 || key[..2] != [0, ENTRY_TAG] {
        return None;
    }
    Some(u64::from_be_bytes(key[2..10].try_into().ok()?))
}

/// Lower-case hex of `bytes` (progress cursors and continuation tokens).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a [`to_hex`] string.
pub fn from_hex(s: &str) -> Result<Vec<u8>> {
    let bad = || Error::InvalidArgument(format!("bad hex string {s:?}"));
    if s.len() % 2 != 0 {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(bad))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_keys_need_namespace_and_id() {
        let k = split_doc_key("users/42/x").unwrap();
        assert_eq!((k.namespace, k.id), ("users", "42/x"));
        assert!(split_doc_key("users").is_err());
        assert!(split_doc_key("/1").is_err());
        assert!(split_doc_key("users/").is_err());
        assert_eq!(entry_index_id(&entry_prefix(7)), Some(7));
        assert_eq!(from_hex(&to_hex(b"\x00a\xff")).unwrap(), b"\x00a\xff");
        assert!(from_hex("abc").is_err() && from_hex("zz").is_err());
    }
}
