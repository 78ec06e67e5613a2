//! The index entry of one document in one index.

use serde_json::Value;

use super::catalog::IndexDef;
use super::encoding::{encode_value, skip_value};
use super::keys::entry_prefix;
use super::value::lookup;
use crate::{Error, Result};

/// One index entry: its key and value (see [`super::keys`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// `0x00 'x' | id | values | [doc id]`.
    pub key: Vec<u8>,
    /// Empty; the doc id for the unique form; the document's JSON for a covering index.
    pub value: Vec<u8>,
    /// The key holds only the values (a unique index, no null field): the slot two
    /// documents with equal values would share, naming its document in `value`.
    pub unique_slot: bool,
}

impl Entry {
    /// True when this entry is a unique slot (see the field).
    pub fn is_unique_slot(&self) -> bool {
        self.unique_slot
    }
}

/// The field values of `doc` for `def`, checked against the declared types when `strict`.
pub fn field_values<'a>(def: &IndexDef, key: &str, doc: &'a Value, strict: bool) -> Result<Vec<Option<&'a Value>>> {
    def.fields
        .iter()
        .zip(def.paths())
        .map(|(f, path)| {
            let v = lookup(doc, &path);
            if strict && v.is_some_and(|v| !f.field_type.admits(v)) {
                return Err(Error::InvalidArgument(format!(
                    "type mismatch: index {} declares field {} as {}, but document {key:?} holds {}",
                    def.qualified_name(),
                    f.path,
                    f.field_type.name(),
                    v.map(Value::to_string).unwrap_or_default()
                )));
            }
            Ok(v)
        })
        .collect()
}

/// The entry of document `id` (in `def`'s namespace) holding `doc`. With `strict`, a field of
/// the wrong declared type is an error.
pub fn entry_for(def: &IndexDef, id: &str, doc: &Value, strict: bool) -> Result<Entry> {
    let values = field_values(def, id, doc, strict)?;
    let mut key = entry_prefix(def.id);
    for v in &values {
        encode_value(*v, &mut key);
    }
    let any_null = values.iter().any(|v| v.is_none_or(Value::is_null));
    if def.unique && !any_null {
        return Ok(Entry { key, value: id.as_bytes().to_vec(), unique_slot: true });
    }
    key.extend_from_slice(id.as_bytes());
    // Serialised exactly as the document record is (`put_doc`), so the copy is byte-equal.
    let value = if def.covering {
        serde_json::to_vec(doc).map_err(|e| Error::InvalidArgument(e.to_string()))?
    } else {
        Vec::new()
    };
    Ok(Entry { key, value, unique_slot: false })
}

/// The document id an entry of an index with `fields` fields points at.
pub fn entry_doc_id(key: &[u8], value: &[u8], fields: usize) -> Result<Vec<u8>> {
    let mut pos = 10.min(key.len());
    for _ in 0..fields {
        pos += skip_value(&key[pos..])?;
    }
    Ok(if pos < key.len() { key[pos..].to_vec() } else { value.to_vec() })
}

/// Renders entry values for messages: the JSON of each field, comma separated.
pub fn show_values(def: &IndexDef, doc: &Value) -> String {
    def.paths().iter().map(|p| lookup(doc, p).map_or("null".into(), Value::to_string)).collect::<Vec<_>>().join(", ")
}
