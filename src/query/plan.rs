//! The planner: which rows to read (an index range or the whole namespace), in which order,
//! and whether a sort is still needed. A pure function of the query and the catalog.
//!
//! For each ready index it takes the longest run of leading fields with an equality
//! predicate (`=`, a one-value `IN`, `IS NULL`), then at most one range on the next field
//! (`<`, `<=`, `>`, `>=`, `BETWEEN`, `LIKE 'prefix%'`), and notes whether the index order is
//! the ORDER BY order (the ORDER BY names every remaining field, in one direction). It picks
//! the index with the most equality fields, then a range, then the order; with none it scans
//! the namespace. The full WHERE clause is applied to the documents read, so the range only
//! has to be a superset of the matching rows, unless every conjunct became an exact bound
//! ([`Plan::range_decides`]): then the range is the answer and the filter is skipped.

use std::fmt;

use serde_json::Value;

use super::ast::{CmpOp, ColumnExpr, Expr, Field, Select};
use super::eval::like_prefix;
use crate::index::encoding::{encoded, TAG_FALSE, TAG_STRING, TAG_TRUE};
use crate::index::keys::entry_prefix;
use crate::index::value::class;
use crate::index::{FieldType, IndexDef, IndexState};
use crate::{prefix_successor, Error, Result};

/// How the rows are read.
#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    /// Every document of the namespace, in key order (descending when `reverse`).
    FullScan {
        /// Descending key order.
        reverse: bool,
    },
    /// The index entries in `[lower, upper)`, each followed by a read of its document.
    IndexScan {
        /// The index.
        index: IndexDef,
        /// First entry key (inclusive).
        lower: Vec<u8>,
        /// End of the range (exclusive).
        upper: Vec<u8>,
        /// Descending index order.
        reverse: bool,
        /// The predicates the range stands for, in words.
        bounds: Vec<String>,
    },
}

impl Access {
    /// The index id, 0 for a full scan (as continuation tokens record it).
    pub fn index_id(&self) -> u64 {
        match self {
            Access::FullScan { .. } => 0,
            Access::IndexScan { index, .. } => index.id,
        }
    }
}

/// A query plan: the access path and what happens to the rows after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The query.
    pub select: Select,
    /// How the rows are read.
    pub access: Access,
    /// Whether the rows must be sorted after filtering (the access order is not the
    /// ORDER BY order).
    pub sort: bool,
    /// The query only counts rows and the index range alone decides the whole WHERE, so it
    /// counts entries and reads no document.
    pub index_only: bool,
    /// The index range alone decides the whole WHERE clause (every conjunct became an exact
    /// bound), so documents read through it are not filtered again. Always false for a full
    /// scan.
    pub range_decides: bool,
}

/// Planner choices a caller may force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Force {
    /// Let the planner choose.
    #[default]
    Auto,
    /// Scan the namespace, whatever indexes exist.
    FullScan,
    /// Use this index (by id), even for a full index scan.
    Index(u64),
}

struct Candidate {
    access: Access,
    eq: usize,
    range: bool,
    ordered: bool,
    /// The range decides the WHERE clause exactly (every conjunct became a bound).
    covered: bool,
}

/// Plans `select` over the indexes of its namespace (`indexes`: all of them; only ready ones
/// are used). Checks types against the indexes' declared field types.
pub fn plan(select: Select, indexes: &[IndexDef], force: Force) -> Result<Plan> {
    check_types(&select, indexes)?;
    check_aggregate(&select)?;
    let aggregate = select.is_aggregate();
    let order: Vec<(&Field, bool)> =
        if aggregate { Vec::new() } else { select.order_by.iter().map(|o| (&o.field, o.desc)).collect() };
    let conjuncts = select.filter.as_ref().map(Expr::conjuncts).unwrap_or_default();
    let by_id = order.len() == 1 && order[0].0.is_id();
    let full = Candidate {
        access: Access::FullScan { reverse: by_id && order[0].1 },
        eq: 0,
        range: false,
        ordered: by_id,
        covered: false,
    };
    let ready = indexes.iter().filter(|d| d.state == IndexState::Ready);
    let chosen = match force {
        Force::FullScan => full,
        Force::Index(id) => {
            let def = ready.into_iter().find(|d| d.id == id).ok_or_else(|| {
                Error::InvalidArgument(format!("index {id} is gone or not ready; restart the query without the token"))
            })?;
            candidate(def, &conjuncts, &order)
        }
        Force::Auto => ready
            .map(|d| candidate(d, &conjuncts, &order))
            .filter(|c| c.eq > 0 || c.range || (c.ordered && !by_id))
            .max_by_key(|c| (c.eq, c.range, c.ordered))
            .unwrap_or(full),
    };
    let sort = !aggregate && !select.order_by.is_empty() && !chosen.ordered;
    let counts_only = select.group_by.is_empty()
        && select.columns.iter().flatten().all(|c| c.expr == ColumnExpr::Agg(super::ast::AggFunc::Count, None));
    let index_only = aggregate && counts_only && chosen.covered;
    Ok(Plan { select, access: chosen.access, sort, index_only, range_decides: chosen.covered })
}

fn declared(indexes: &[IndexDef], f: &Field) -> Option<(FieldType, String)> {
    let name = f.name();
    indexes.iter().find_map(|d| {
        d.fields
            .iter()
            .find(|x| x.path == name && x.field_type != FieldType::Any)
            .map(|x| (x.field_type, d.qualified_name()))
    })
}

fn admits(t: FieldType, v: &Value) -> bool {
    match t {
        FieldType::Int | FieldType::Float => v.is_number(),
        other => other.admits(v),
    }
}

fn check_types(select: &Select, indexes: &[IndexDef]) -> Result<()> {
    let mut err = None;
    if let Some(filter) = &select.filter {
        filter.visit_fields(&mut |f, lits, is_like| {
            let Some((t, index)) = declared(indexes, f) else { return };
            let bad = lits.iter().find(|v| !admits(t, v)).map(|v| v.to_string());
            let bad = bad.or_else(|| (is_like && t != FieldType::String).then(|| "a LIKE pattern".into()));
            if let Some(what) = bad {
                err.get_or_insert(Error::InvalidArgument(format!(
                    "type mismatch at {}: field {} is {} (index {index}) but is compared with {what}",
                    f.pos,
                    f.name(),
                    t.name()
                )));
            }
        });
    }
    for c in select.columns.iter().flatten() {
        if let ColumnExpr::Agg(super::ast::AggFunc::Sum | super::ast::AggFunc::Avg, Some(f)) = &c.expr {
            if let Some((t @ (FieldType::String | FieldType::Bool), index)) = declared(indexes, f) {
                err.get_or_insert(Error::InvalidArgument(format!(
                    "type mismatch at {}: {} needs numbers, but field {} is {} (index {index})",
                    f.pos,
                    c.name,
                    f.name(),
                    t.name()
                )));
            }
        }
    }
    err.map_or(Ok(()), Err)
}

fn check_aggregate(select: &Select) -> Result<()> {
    if !select.is_aggregate() {
        return Ok(());
    }
    let Some(cols) = &select.columns else {
        return Err(Error::InvalidArgument("SELECT * cannot be combined with GROUP BY".into()));
    };
    for c in cols {
        if let ColumnExpr::Field(f) = &c.expr {
            if !select.group_by.iter().any(|g| g.path == f.path) {
                return Err(Error::InvalidArgument(format!(
                    "field {} at {} must appear in GROUP BY or inside an aggregate",
                    f.name(),
                    f.pos
                )));
            }
        }
    }
    for o in &select.order_by {
        if !cols.iter().any(|c| c.name == o.field.name()) {
            return Err(Error::InvalidArgument(format!(
                "ORDER BY {} at {} must name an output column of an aggregate query",
                o.field.name(),
                o.field.pos
            )));
        }
    }
    Ok(())
}

/// An equality the index can seek to: the literal, or null for `IS NULL`.
fn equality(conjuncts: &[&Expr], path: &str) -> Option<(Value, String)> {
    conjuncts.iter().find_map(|c| match c {
        Expr::Cmp(f, CmpOp::Eq, v) if f.name() == path && !v.is_null() && !f.is_id() => {
            Some((v.clone(), c.to_string()))
        }
        Expr::In(f, vs, false) if f.name() == path && vs.len() == 1 && !f.is_id() => {
            Some((vs[0].clone(), c.to_string()))
        }
        Expr::IsNull(f, false) if f.name() == path && !f.is_id() => Some((Value::Null, c.to_string())),
        _ => None,
    })
}

/// Key bounds for one range predicate on the field after the equality prefix `base`.
struct Range {
    lower: Vec<u8>,
    upper: Vec<u8>,
    words: Vec<String>,
    /// False for a LIKE pattern with wildcards past its prefix: the range only narrows it.
    exact: bool,
}

/// The tags `[first, last]` of the class of `v`: a range predicate only matches values of
/// the literal's class (booleans span two tags).
fn class_tags(v: &Value) -> (u8, u8) {
    match v {
        Value::Bool(_) => (TAG_FALSE, TAG_TRUE),
        other => {
            let t = encoded(Some(other))[0];
            (t, t)
        }
    }
}

fn range(conjuncts: &[&Expr], path: &str, base: &[u8]) -> Option<Range> {
    let at = |v: &Value| [base, &encoded(Some(v))].concat();
    let after = |v: &Value| prefix_successor(&at(v)).expect("an entry prefix has a successor");
    let class_start = |v: &Value| [base, &[class_tags(v).0]].concat();
    let class_end = |v: &Value| [base, &[class_tags(v).1 + 1]].concat();
    let mut lower: Option<(Vec<u8>, &Value, String)> = None;
    let mut upper: Option<(Vec<u8>, &Value, String)> = None;
    for c in conjuncts {
        let words = c.to_string();
        match c {
            Expr::Cmp(f, op, v) if f.name() == path && !v.is_null() && !f.is_id() => {
                let same_class =
                    |b: &Option<(Vec<u8>, &Value, String)>| b.as_ref().is_none_or(|b| class(b.1) == class(v));
                match op {
                    CmpOp::Gt | CmpOp::Ge if lower.is_none() && same_class(&upper) => {
                        lower = Some((if *op == CmpOp::Gt { after(v) } else { at(v) }, v, words));
                    }
                    CmpOp::Lt | CmpOp::Le if upper.is_none() && same_class(&lower) => {
                        upper = Some((if *op == CmpOp::Lt { at(v) } else { after(v) }, v, words));
                    }
                    _ => {}
                }
            }
            Expr::Between(f, lo, hi, false)
                if f.name() == path
                    && !f.is_id()
                    && lower.is_none()
                    && upper.is_none()
                    && class(lo) == class(hi)
                    && !lo.is_null() =>
            {
                lower = Some((at(lo), lo, words.clone()));
                upper = Some((after(hi), hi, words));
            }
            Expr::Like(f, pattern, false) if f.name() == path && !f.is_id() && lower.is_none() && upper.is_none() => {
                let (prefix, exact) = like_prefix(pattern);
                let mut start = at(&Value::String(prefix.to_string()));
                start.truncate(start.len() - 2); // the terminator: longer strings continue here
                let end = prefix_successor(&start).expect("a string prefix has a successor");
                debug_assert_eq!(start[base.len()], TAG_STRING);
                return Some(Range { lower: start, upper: end, words: vec![words], exact });
            }
            _ => {}
        }
    }
    let witness = lower.as_ref().or(upper.as_ref())?.1;
    let mut words: Vec<String> = lower.iter().chain(upper.iter()).map(|b| b.2.clone()).collect();
    words.dedup();
    Some(Range {
        lower: lower.as_ref().map_or_else(|| class_start(witness), |b| b.0.clone()),
        upper: upper.as_ref().map_or_else(|| class_end(witness), |b| b.0.clone()),
        words,
        exact: true,
    })
}

fn candidate(def: &IndexDef, conjuncts: &[&Expr], order: &[(&Field, bool)]) -> Candidate {
    let mut base = entry_prefix(def.id);
    let mut words = Vec::new();
    let mut eq_paths = Vec::new();
    for f in &def.fields {
        match equality(conjuncts, &f.path) {
            Some((v, w)) => {
                base.extend_from_slice(&encoded(Some(&v)));
                words.push(w);
                eq_paths.push(f.path.as_str());
            }
            None => break,
        }
    }
    let eq = eq_paths.len();
    let range = def.fields.get(eq).and_then(|f| range(conjuncts, &f.path, &base));
    let rest: Vec<&(&Field, bool)> = order.iter().filter(|(f, _)| !eq_paths.contains(&f.name().as_str())).collect();
    let remaining: Vec<&str> = def.fields[eq..].iter().map(|f| f.path.as_str()).collect();
    // Ties of the ORDER BY come in primary key order in the direction of its last term; the
    // index gives that when it is scanned in that direction and the ORDER BY names every
    // field after the equality prefix in that same direction.
    let last_desc = order.last().is_some_and(|o| o.1);
    let ordered = !order.is_empty()
        && rest.len() == remaining.len()
        && rest.iter().zip(&remaining).all(|((f, _), p)| f.name() == *p)
        && rest.iter().all(|(_, d)| *d == last_desc);
    let reverse = ordered && last_desc;
    let (lower, upper) = match &range {
        Some(r) => {
            words.extend(r.words.iter().cloned());
            (r.lower.clone(), r.upper.clone())
        }
        None => (base.clone(), prefix_successor(&base).expect("an entry prefix has a successor")),
    };
    let covered = range.as_ref().is_none_or(|r| r.exact) && conjuncts.iter().all(|c| words.contains(&c.to_string()));
    Candidate {
        covered,
        access: Access::IndexScan { index: def.clone(), lower, upper, reverse, bounds: words },
        eq,
        range: range.is_some(),
        ordered,
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.select;
        match &self.access {
            Access::FullScan { reverse } => writeln!(
                f,
                "full scan of namespace {}{}",
                s.namespace,
                if *reverse { " (descending key order)" } else { "" }
            )?,
            Access::IndexScan { index, reverse, bounds, .. } => {
                let fields: Vec<&str> = index.fields.iter().map(|x| x.path.as_str()).collect();
                let range = if bounds.is_empty() { "all entries".to_string() } else { bounds.join(" AND ") };
                writeln!(
                    f,
                    "index scan of {} ({}) range: {range}{}{}",
                    index.qualified_name(),
                    fields.join(", "),
                    if *reverse { " (descending)" } else { "" },
                    if index.covering { "; covering: documents read from the entries" } else { "" }
                )?;
            }
        }
        match &s.filter {
            Some(e) if self.range_decides => writeln!(f, "filter: {e} (decided by the range; not re-checked)")?,
            Some(e) => writeln!(f, "filter: {e}")?,
            None => {}
        }
        if self.index_only {
            writeln!(f, "index only: counts entries, reads no document")?;
        }
        if s.is_aggregate() {
            let cols: Vec<&str> = s.columns.iter().flatten().map(|c| c.name.as_str()).collect();
            let groups: Vec<String> = s.group_by.iter().map(Field::name).collect();
            write!(f, "aggregate: {}", cols.join(", "))?;
            if !groups.is_empty() {
                write!(f, " group by {}", groups.join(", "))?;
            }
            writeln!(f)?;
        }
        if !s.order_by.is_empty() {
            let terms: Vec<String> = s
                .order_by
                .iter()
                .map(|o| format!("{} {}", o.field.name(), if o.desc { "DESC" } else { "ASC" }))
                .collect();
            let how = if self.sort || s.is_aggregate() { "sort" } else { "order from the scan" };
            writeln!(f, "{how}: {}", terms.join(", "))?;
        }
        if s.limit.is_some() || s.offset > 0 {
            writeln!(f, "limit: {} offset: {}", s.limit.map_or("none".to_string(), |l| l.to_string()), s.offset)?;
        }
        Ok(())
    }
}
