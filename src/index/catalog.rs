//! The index catalog: one JSON record per namespace listing its indexes.
//!
//! Every document write reads its namespace's catalog record inside its transaction and
//! validates it at commit (`get_for_update`), so a write racing with `create_index` or
//! `drop_index` retries and then sees the new catalog: no write can miss an index that
//! exists when it commits. One record per namespace keeps that a single point read.

use serde::{Deserialize, Serialize};

use super::keys::catalog_key;
use super::value::{parse_path, FieldPath};
use crate::{Error, Result, Transaction};

/// Version of the catalog record's format.
pub const CATALOG_FORMAT_VERSION: u32 = 1;

/// The type a field of an index is declared with. Documents whose field holds another type
/// (other than null or missing) are refused by writes and fail the index build; queries that
/// compare the field with a literal of another type are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Any JSON value (the type is whatever each document holds).
    #[default]
    Any,
    /// A JSON integer.
    Int,
    /// A JSON number (integers included).
    Float,
    /// A JSON string.
    String,
    /// A JSON boolean.
    Bool,
}

impl FieldType {
    /// Parses `any`, `int`, `float`, `string` or `bool`.
    pub fn parse(s: &str) -> Result<FieldType> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
            .map_err(|_| Error::InvalidArgument(format!("unknown field type {s:?} (any, int, float, string, bool)")))
    }

    /// The name used in the catalog and in messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Any => "any",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::String => "string",
            FieldType::Bool => "bool",
        }
    }

    /// True when `v` is of this type (null is of every type).
    pub fn admits(self, v: &serde_json::Value) -> bool {
        v.is_null()
            || match self {
                FieldType::Any => true,
                FieldType::Int => v.is_i64() || v.is_u64(),
                FieldType::Float => v.is_number(),
                FieldType::String => v.is_string(),
                FieldType::Bool => v.is_boolean(),
            }
    }
}

/// One field of an index: a dotted path and its declared type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexField {
    /// The dotted path of the field (`address.city`).
    pub path: String,
    /// The declared type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
}

/// Whether an index may serve queries yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexState {
    /// Writes maintain it, a backfill is filling it in; queries do not use it.
    Building,
    /// Complete and consistent; queries may use it.
    Ready,
}

/// A secondary index as the catalog records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDef {
    /// Never-reused id; entries are keyed by it.
    pub id: u64,
    /// The namespace whose documents it indexes.
    pub namespace: String,
    /// Its name, unique within the namespace.
    pub name: String,
    /// The indexed fields, in key order (a compound index has several).
    pub fields: Vec<IndexField>,
    /// True when no two documents may hold the same values (documents with a null or missing
    /// indexed field are exempt, as in SQL).
    pub unique: bool,
    /// True when each entry also holds a copy of its whole document, so queries through the
    /// index read no document (absent in catalogs written before covering indexes: false).
    #[serde(default)]
    pub covering: bool,
    /// Building or ready.
    pub state: IndexState,
}

impl IndexDef {
    /// The parsed paths of the fields.
    pub fn paths(&self) -> Vec<FieldPath> {
        self.fields.iter().map(|f| parse_path(&f.path)).collect()
    }

    /// `namespace.name`, as messages name the index.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.namespace, self.name)
    }
}

/// What [`Db::create_index`](crate::Db::create_index) builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// The namespace to index.
    pub namespace: String,
    /// The index name (letters, digits and `_`).
    pub name: String,
    /// The fields, at least one.
    pub fields: Vec<IndexField>,
    /// Refuse two documents with the same values.
    pub unique: bool,
    /// Store a copy of each document in its entry (see [`IndexSpec::covering`]).
    pub covering: bool,
}

impl IndexSpec {
    /// An index named `name` on `namespace` with no fields yet.
    pub fn new(namespace: &str, name: &str) -> Self {
        IndexSpec { namespace: namespace.into(), name: name.into(), fields: Vec::new(), unique: false, covering: false }
    }

    /// Adds a field (the next component of a compound key).
    pub fn field(mut self, path: &str, field_type: FieldType) -> Self {
        self.fields.push(IndexField { path: path.into(), field_type });
        self
    }

    /// Makes the index unique.
    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Makes the index covering: every entry also stores its whole document, so a query
    /// through the index reads documents from the index range itself (one sequential scan)
    /// instead of one random read per row. Costs a second copy of each document, written on
    /// every change to it. Not available for unique indexes.
    pub fn covering(mut self) -> Self {
        self.covering = true;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        super::keys::check_namespace(&self.namespace)?;
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !name_ok {
            return Err(Error::InvalidArgument(format!(
                "index name {:?} must be 1 to 64 letters, digits or '_'",
                self.name
            )));
        }
        if self.unique && self.covering {
            return Err(Error::InvalidArgument(format!("index {}: a unique index cannot also be covering", self.name)));
        }
        if self.fields.is_empty() || self.fields.len() > 8 {
            return Err(Error::InvalidArgument(format!("index {} needs 1 to 8 fields", self.name)));
        }
        for f in &self.fields {
            if f.path.is_empty() || f.path.split('.').any(str::is_empty) || f.path == "_id" {
                return Err(Error::InvalidArgument(format!(
                    "bad field path {:?} (dotted names; `_id` is the document id, always ordered)",
                    f.path
                )));
            }
        }
        Ok(())
    }
}

/// The catalog record of one namespace.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// Format version ([`CATALOG_FORMAT_VERSION`]).
    #[serde(default)]
    pub v: u32,
    /// Every index of the namespace, building or ready.
    pub indexes: Vec<IndexDef>,
}

impl Catalog {
    pub(crate) fn decode(ns: &str, bytes: Option<&[u8]>) -> Result<Catalog> {
        match bytes {
            None => Ok(Catalog { v: CATALOG_FORMAT_VERSION, indexes: Vec::new() }),
            Some(b) => serde_json::from_slice(b).map_err(|e| {
                Error::corruption(format!("index catalog of namespace {ns:?}"), 0, format!("not a catalog: {e}"))
            }),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a catalog serialises")
    }

    /// The hash fields the indexes read: the one-part field paths (a hash is flat, so a
    /// dotted path is null in every hash), each once.
    pub fn hash_fields(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .indexes
            .iter()
            .flat_map(|d| &d.fields)
            .filter(|f| !f.path.contains('.'))
            .map(|f| f.path.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The index named `name`, if any.
    pub fn get(&self, name: &str) -> Option<&IndexDef> {
        self.indexes.iter().find(|d| d.name == name)
    }
}

/// Reads `ns`'s catalog inside `txn`, registering it for validation at commit.
pub(crate) fn read_for_update(txn: &Transaction<'_>, ns: &str) -> Result<Catalog> {
    Catalog::decode(ns, txn.get_for_update(&catalog_key(ns))?.as_deref())
}

/// Writes `cat` as `ns`'s catalog inside `txn` (deleting the record when it is empty).
pub(crate) fn write(txn: &mut Transaction<'_>, ns: &str, cat: &Catalog) -> Result<()> {
    if cat.indexes.is_empty() {
        txn.delete(&catalog_key(ns))
    } else {
        txn.put(&catalog_key(ns), &cat.encode())
    }
}
