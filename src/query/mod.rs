//! A SQL subset over documents, as methods on [`Db`](crate::Db): `SELECT` fields or `*`
//! `FROM` namespace `WHERE` (`=`, `!=`, `<`, `<=`, `>`, `>=`, `BETWEEN`, `IN`, `LIKE`,
//! `IS [NOT] NULL`, `AND`, `OR`, `NOT`) `GROUP BY` with `COUNT`, `SUM`, `MIN`, `MAX`, `AVG`,
//! `ORDER BY` field `ASC|DESC`, `LIMIT`/`OFFSET`, and `EXPLAIN`. Parsed by `sqlparser`
//! ([`parse`]), planned over the namespace's ready indexes ([`plan`]), run at one snapshot
//! and streamed ([`Rows`]). Full reference in `docs/query.md`.
//!
//! Semantics worth knowing:
//! - `_id` names the document id (the key after `namespace/`); other names are dotted paths.
//! - A missing field is null. Comparisons follow SQL's three-valued logic, and a comparison
//!   between different JSON types (a string with a number) is unknown, not an error, unless
//!   an index declares the field's type: then it is a type mismatch error.
//! - ORDER BY sorts by the total order of JSON values (null < booleans < numbers < strings <
//!   arrays and objects); ties are broken by document id, in the direction of the last
//!   ORDER BY term. Without ORDER BY the order is the access path's (key or index order).

pub mod aggregate;
pub mod ast;
pub mod eval;
mod exec;
pub mod parse;
pub mod plan;
pub mod token;

pub use exec::{JsonRows, Rows};
pub use plan::{Access, Force, Plan};

use serde_json::Value;

use crate::index::keys::{catalog_key, namespace_range};
use crate::index::{Catalog, DocScan};
use crate::{Db, Error, ReadOptions, Result};
use ast::Statement;
use token::{sql_hash, Token};

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The document key (`namespace/id`) for document rows; `None` for aggregate and
    /// EXPLAIN rows.
    pub key: Option<String>,
    /// The row: the document for `SELECT *`, else an object of the selected columns.
    pub value: Value,
}

/// One result row as JSON text, as [`Rows::json`] hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonRow {
    /// The document key (`namespace/id`) for document rows; `None` for aggregate and
    /// EXPLAIN rows.
    pub key: Option<String>,
    /// The row as a JSON object: the document for `SELECT *`, else the selected columns.
    pub json: String,
}

/// How to run a query.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// Ignore indexes and scan the namespace (to compare plans, or to avoid an index).
    pub force_full_scan: bool,
    /// Stop after this many rows and offer a continuation token if more remain (ignored by
    /// aggregate queries).
    pub page_size: Option<usize>,
    /// Resume after the page that returned this token (see [`token`]).
    pub continuation: Option<String>,
}

impl Db {
    /// Runs a query (or `EXPLAIN`, whose rows are the plan's lines as `{"plan": line}`).
    ///
    /// ```
    /// use kvd::index::{FieldType, IndexSpec};
    /// use serde_json::json;
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = kvd::Db::open(dir.path(), kvd::Options::default()).unwrap();
    /// for (id, age) in [(1, 36), (2, 45), (3, 29)] {
    ///     db.put_doc(&format!("users/{id}"), &json!({"name": format!("u{id}"), "age": age})).unwrap();
    /// }
    /// db.create_index(IndexSpec::new("users", "by_age").field("age", FieldType::Int)).unwrap();
    /// let rows: Vec<_> = db
    ///     .query("SELECT name FROM users WHERE age >= 30 ORDER BY age DESC")
    ///     .unwrap()
    ///     .map(|r| r.unwrap().value)
    ///     .collect();
    /// assert_eq!(rows, vec![json!({"name": "u2"}), json!({"name": "u1"})]);
    /// assert!(db.explain("SELECT * FROM users WHERE age = 3").unwrap().to_string().contains("index scan of users.by_age"));
    /// ```
    pub fn query(&self, sql: &str) -> Result<Rows<'_>> {
        self.query_with(sql, &QueryOptions::default())
    }

    /// Runs a query with options: a forced full scan, paging and continuation.
    pub fn query_with(&self, sql: &str, opts: &QueryOptions) -> Result<Rows<'_>> {
        let token = opts.continuation.as_deref().map(|t| Token::decode(t, sql)).transpose()?;
        let force = match &token {
            Some(t) if t.a != 0 => Force::Index(t.a),
            Some(_) => Force::FullScan,
            None if opts.force_full_scan => Force::FullScan,
            None => Force::Auto,
        };
        let snap = self.snapshot();
        match parse::parse(sql)? {
            Statement::Select(s) => {
                let plan = self.plan_at(s, &snap, force)?;
                Rows::start(self, snap, plan, token, opts.page_size, sql_hash(sql))
            }
            Statement::Explain(s) => {
                let plan = self.plan_at(s, &snap, force)?;
                let lines = plan.to_string().lines().map(|l| serde_json::json!({ "plan": l })).collect();
                Ok(Rows::fixed(self, snap, plan, lines))
            }
        }
    }

    /// The plan the query (with or without a leading `EXPLAIN`) would run; its `Display` is
    /// what `EXPLAIN` shows.
    pub fn explain(&self, sql: &str) -> Result<Plan> {
        self.explain_with(sql, &QueryOptions::default())
    }

    /// As [`Db::explain`], with options (a forced full scan).
    pub fn explain_with(&self, sql: &str, opts: &QueryOptions) -> Result<Plan> {
        let s = match parse::parse(sql)? {
            Statement::Select(s) | Statement::Explain(s) => s,
        };
        let snap = self.snapshot();
        self.plan_at(s, &snap, if opts.force_full_scan { Force::FullScan } else { Force::Auto })
    }

    fn plan_at(&self, s: ast::Select, snap: &crate::Snapshot, force: Force) -> Result<Plan> {
        let ro = ReadOptions { snapshot: Some(snap), ..Default::default() };
        let cat = Catalog::decode(&s.namespace, self.get_opt(&catalog_key(&s.namespace), &ro)?.as_deref())?;
        if cat.indexes.is_empty() {
            let (lo, hi) = namespace_range(&s.namespace);
            if DocScan::new(self, &lo, &hi, false, snap.seq()).next().transpose()?.is_none() {
                return Err(Error::NotFound(format!(
                    "unknown namespace {:?} at {}: it holds no documents and no indexes",
                    s.namespace, s.namespace_pos
                )));
            }
        }
        plan::plan(s, &cat.indexes, force)
    }
}

#[cfg(test)]
mod tests;
