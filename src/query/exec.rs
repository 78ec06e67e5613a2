//! Running a plan at one snapshot: reading documents (by key or through an index), filtering,
//! sorting or aggregating, projecting, and paging.

use std::cmp::Ordering;
use std::collections::VecDeque;

use serde_json::{Map, Value};

use super::aggregate::Aggregator;
use super::ast::{ColumnExpr, OrderItem};
use super::eval::{matches, Doc};
use super::plan::{Access, Plan};
use super::token::Token;
use super::{JsonRow, Row};
use crate::index::keys::{doc_key, namespace_range, to_hex};
use crate::index::{entry_doc_id, parse_doc, DocScan};
use crate::model::hash_doc::read_hash_doc;
use crate::{Db, Error, ReadOptions, Result, Scan, Snapshot};

/// Where the last returned row was, for continuation tokens.
#[derive(Debug, Clone)]
enum Pos {
    Key(Vec<u8>),
    Sort(Vec<Value>, String),
    None,
}

// One per query, and boxed where it is kept (`Mode::Stream`): the size difference is moot.
#[allow(clippy::large_enum_variant)]
enum Source<'db> {
    /// The namespace's documents: JSON values and hashes, in key order.
    Full(DocScan<'db>),
    Index(IndexSource),
}

/// Documents named by index entries, read in batches: up to `batch` entries are taken from
/// the scan and their documents read with one [`Db::multi_get`] at the query's snapshot
/// (which looks them up in key order, sharing files and blocks), then handed out in index
/// order. Batches start small, so a query stopped early by a LIMIT reads few documents
/// ahead, and double up to [`MAX_BATCH`].
struct IndexSource {
    scan: Scan,
    fields: usize,
    name: String,
    /// The entries hold their documents (a covering index): nothing else is read.
    covering: bool,
    batch: usize,
    /// Entries read and their documents, in index order.
    pending: VecDeque<Pending>,
    /// An error from the entry scan, reported once the entries before it are handed out.
    failed: Option<Error>,
    /// The entry scan has ended.
    exhausted: bool,
}

/// One index entry and the document it names.
struct Pending {
    entry: Vec<u8>,
    id: Vec<u8>,
    /// The document's key, for reading it; empty for a covering index, whose entries hold
    /// their documents (nothing is read, so the key is only built for an error message).
    key: Vec<u8>,
    /// `None` until read, and after reading when the document is missing.
    doc: Option<Vec<u8>>,
}

const FIRST_BATCH: usize = 16;
const MAX_BATCH: usize = 512;

impl IndexSource {
    fn new(scan: Scan, fields: usize, name: String, covering: bool) -> Self {
        IndexSource {
            scan,
            fields,
            name,
            covering,
            batch: FIRST_BATCH,
            pending: VecDeque::new(),
            failed: None,
            exhausted: false,
        }
    }

    /// The next entry with its document (in `doc`), reading the next batch when none is
    /// pending; an entry naming no document is a corruption error (see [`IndexSource::fill`]
    /// for the entries of documents that just expired).
    fn next(&mut self, db: &Db, ns: &str, ro: &ReadOptions<'_>) -> Option<Result<Pending>> {
        // A batch can come back empty with entries left (all of its documents just expired).
        while self.pending.is_empty() && !self.exhausted && self.failed.is_none() {
            if let Err(e) = self.fill(db, ns, ro) {
                return Some(Err(e));
            }
        }
        let Some(p) = self.pending.pop_front() else {
            return self.failed.take().map(Err);
        };
        Some(match p.doc {
            Some(_) => Ok(p),
            None => Err(Error::corruption(
                format!("index {}", self.name),
                0,
                format!("entry {} names a missing document", to_hex(&p.entry)),
            )),
        })
    }

    fn fill(&mut self, db: &Db, ns: &str, ro: &ReadOptions<'_>) -> Result<()> {
        if self.failed.is_some() {
            return Ok(());
        }
        let mut taken = 0;
        for r in self.scan.by_ref().take(self.batch) {
            taken += 1;
            match r.and_then(|(entry, value)| Ok((entry_doc_id(&entry, &value, self.fields)?, entry, value))) {
                Ok((id, entry, value)) => {
                    // A covering entry's value is its document, written in the same batch.
                    let (key, doc) = if self.covering { (Vec::new(), Some(value)) } else { (doc_key(ns, &id), None) };
                    self.pending.push_back(Pending { key, entry, id, doc })
                }
                Err(e) => {
                    self.failed = Some(e);
                    break;
                }
            }
        }
        self.exhausted = taken < self.batch;
        self.batch = (self.batch * 2).min(MAX_BATCH);
        if self.covering {
            return Ok(());
        }
        let keys: Vec<&[u8]> = self.pending.iter().map(|p| p.key.as_slice()).collect();
        let docs = db.multi_get(&keys, ro)?;
        for (p, doc) in self.pending.iter_mut().zip(docs) {
            p.doc = doc;
        }
        if self.pending.iter().any(|p| p.doc.is_none()) {
            self.fill_hashes(db, ro)?;
        }
        Ok(())
    }

    /// Reads the documents not stored as JSON values: hashes. An entry whose document is in
    /// neither form is dropped when the entry itself is gone on a second look: a hash with a
    /// TTL and its entries expire at the same instant, so an entry read just before it and
    /// the hash just after differ only by the clock; a second look at the entry settles it.
    fn fill_hashes(&mut self, db: &Db, ro: &ReadOptions<'_>) -> Result<()> {
        let seq = ro.snapshot.map_or_else(|| db.latest_seqno(), |s| s.seq());
        let mut kept = VecDeque::with_capacity(self.pending.len());
        for mut p in std::mem::take(&mut self.pending) {
            if p.doc.is_none() {
                p.doc = read_hash_doc(db, &p.key, seq)?.map(|h| h.to_value().to_string().into_bytes());
                if p.doc.is_none() && db.get_opt(&p.entry, ro)?.is_none() {
                    continue;
                }
            }
            kept.push_back(p);
        }
        self.pending = kept;
        Ok(())
    }
}

enum Mode<'db> {
    Stream(Box<Source<'db>>),
    Buffered(VecDeque<(Row, Pos)>),
}

/// A row as the pipeline produces it: parsed, or the stored JSON text of a document nothing
/// had to look into (a covering entry's copy, when the range decides the WHERE clause and
/// the query selects `*`). Each is turned into what the caller asked for only at the end.
enum Body {
    Value(Value),
    Json(Vec<u8>),
}

struct Out {
    key: Option<String>,
    body: Body,
}

impl From<Row> for Out {
    fn from(row: Row) -> Out {
        Out { key: row.key, body: Body::Value(row.value) }
    }
}

impl Out {
    fn into_row(self) -> Result<Row> {
        let value = match self.body {
            Body::Value(v) => v,
            Body::Json(bytes) => parse_doc(self.key.as_deref().unwrap_or_default().as_bytes(), &bytes)?,
        };
        Ok(Row { key: self.key, value })
    }

    fn into_json(self) -> Result<JsonRow> {
        let json = match self.body {
            Body::Value(v) => v.to_string(),
            Body::Json(bytes) => String::from_utf8(bytes).map_err(|_| {
                let key = self.key.as_deref().unwrap_or_default();
                Error::corruption(format!("document {key:?}"), 0, "stored JSON is not UTF-8".to_string())
            })?,
        };
        Ok(JsonRow { key: self.key, json })
    }
}

/// The rows of a query, streamed: an iterator of `Result<Row>`, all read at the snapshot
/// taken when the query started. After it ends, [`Rows::continuation`] says how to get the
/// next page when a page size was set.
pub struct Rows<'db> {
    db: &'db Db,
    snap: Snapshot,
    plan: Plan,
    mode: Mode<'db>,
    skip: u64,
    limit_left: Option<u64>,
    page_left: Option<usize>,
    last: Pos,
    sql_hash: u64,
    continuation: Option<String>,
    done: bool,
    explain: bool,
    /// Rows go out as JSON text ([`Rows::json`]), so stored documents may pass unparsed.
    want_json: bool,
    /// The source's documents are the rows, unchanged and unfiltered (see [`Body::Json`]).
    pass_through: bool,
}

fn sort_values(order: &[OrderItem], doc: &Doc) -> Vec<Value> {
    order.iter().map(|o| doc.get(&o.field).cloned().unwrap_or(Value::Null)).collect()
}

/// The ORDER BY order, ties broken by document id in the direction of the last term.
fn cmp_sort(order: &[OrderItem], a: (&[Value], &str), b: (&[Value], &str)) -> Ordering {
    for (i, o) in order.iter().enumerate() {
        let ord = crate::index::value::cmp_json(&a.0[i], &b.0[i]);
        if ord.is_ne() {
            return if o.desc { ord.reverse() } else { ord };
        }
    }
    let ord = a.1.as_bytes().cmp(b.1.as_bytes());
    if order.last().is_some_and(|o| o.desc) {
        ord.reverse()
    } else {
        ord
    }
}

fn project(plan: &Plan, doc: Doc, ns: &str) -> Row {
    let key = Some(format!("{ns}/{}", doc.id_str()));
    let value = match &plan.select.columns {
        None => doc.body,
        Some(cols) => {
            let mut m = Map::new();
            for c in cols {
                let v = match &c.expr {
                    ColumnExpr::Field(f) => doc.get(f).cloned().unwrap_or(Value::Null),
                    ColumnExpr::Agg(..) => Value::Null,
                };
                m.insert(c.name.clone(), v);
            }
            Value::Object(m)
        }
    };
    Row { key, value }
}

impl<'db> Rows<'db> {
    pub(crate) fn start(
        db: &'db Db,
        snap: Snapshot,
        plan: Plan,
        token: Option<Token>,
        page_size: Option<usize>,
        sql_hash: u64,
    ) -> Result<Rows<'db>> {
        let resume = token.as_ref().map(Token::position).transpose()?.flatten();
        let source = open_source(db, &snap, &plan, resume.as_deref());
        let mut rows = Rows {
            db,
            snap,
            skip: if token.is_some() { 0 } else { plan.select.offset },
            limit_left: token.as_ref().map_or(plan.select.limit, |t| t.r),
            page_left: page_size,
            plan,
            mode: Mode::Buffered(VecDeque::new()),
            last: Pos::None,
            sql_hash,
            continuation: None,
            done: false,
            explain: false,
            want_json: false,
            pass_through: false,
        };
        if rows.plan.select.is_aggregate() {
            rows.page_left = None;
            rows.mode = Mode::Buffered(rows.aggregate(source)?);
        } else if rows.plan.sort {
            rows.mode = Mode::Buffered(rows.sorted(source, token.as_ref())?);
        } else {
            let covering = matches!(&rows.plan.access, Access::IndexScan { index, .. } if index.covering);
            rows.pass_through = covering && rows.plan.range_decides && rows.plan.select.columns.is_none();
            rows.mode = Mode::Stream(Box::new(source));
        }
        Ok(rows)
    }

    /// Rows already computed (EXPLAIN's lines).
    pub(crate) fn fixed(db: &'db Db, snap: Snapshot, plan: Plan, values: Vec<Value>) -> Rows<'db> {
        Rows {
            db,
            snap,
            plan,
            mode: Mode::Buffered(values.into_iter().map(|value| (Row { key: None, value }, Pos::None)).collect()),
            skip: 0,
            limit_left: None,
            page_left: None,
            last: Pos::None,
            sql_hash: 0,
            continuation: None,
            done: false,
            explain: true,
            want_json: false,
            pass_through: false,
        }
    }

    /// The names of the columns each row holds, in SELECT order (row objects keep their keys
    /// sorted); `None` for `SELECT *`, whose rows are the documents. EXPLAIN rows hold `plan`.
    pub fn columns(&self) -> Option<Vec<String>> {
        if self.explain {
            return Some(vec!["plan".into()]);
        }
        self.plan.select.columns.as_ref().map(|cols| cols.iter().map(|c| c.name.clone()).collect())
    }

    /// The token for the next page, once this page ended at its page size with rows left.
    pub fn continuation(&self) -> Option<&str> {
        self.continuation.as_deref()
    }

    /// The plan being run.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The sequence number of the snapshot every row is read at: the query sees exactly the
    /// writes committed at or below it.
    pub fn seqno(&self) -> kvd_base::SeqNo {
        self.snap.seq()
    }

    /// The remaining rows as JSON text (`{"field": ...}` objects, or the documents for
    /// `SELECT *`), for callers that send or store rows rather than look into them, such as
    /// the server. Equal in value to what iterating `Rows` gives, but a document read from
    /// a covering index whose range alone decides the WHERE clause is handed out as stored,
    /// without being parsed and written again. Paging and [`Rows::continuation`] work as
    /// when iterating `Rows`.
    pub fn json(&mut self) -> JsonRows<'_, 'db> {
        self.want_json = true;
        JsonRows { rows: self }
    }

    fn read_opts(&self) -> ReadOptions<'_> {
        ReadOptions { snapshot: Some(&self.snap), ..Default::default() }
    }

    /// The next document of the source (unfiltered) and its key.
    fn next_doc(&self, source: &mut Source<'_>) -> Option<Result<(Doc, Vec<u8>)>> {
        let ns = &self.plan.select.namespace;
        match source {
            Source::Full(scan) => scan.next().map(|r| {
                let stored = r?;
                let body = stored.value()?;
                let id = String::from_utf8_lossy(&stored.key[ns.len() + 1..]).into_owned();
                Ok((Doc { id: Value::String(id), body }, stored.key))
            }),
            Source::Index(ix) => ix.next(self.db, ns, &self.read_opts()).map(|r| {
                let p = r?;
                let bytes = p.doc.as_deref().unwrap_or_default();
                let body = match serde_json::from_slice::<Value>(bytes) {
                    Ok(v) if v.is_object() => v,
                    // The slow path builds the message (and, for covering entries, the key).
                    _ if p.key.is_empty() => parse_doc(&doc_key(ns, &p.id), bytes)?,
                    _ => parse_doc(&p.key, bytes)?,
                };
                // Ids are UTF-8 (checked on write): take the bytes without copying them.
                let id = String::from_utf8(p.id).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                Ok((Doc { id: Value::String(id), body }, p.entry))
            }),
        }
    }

    /// The next stored document of a pass-through source, unparsed, with its entry key.
    fn next_stored(&self, source: &mut Source<'_>) -> Option<Result<(Out, Vec<u8>)>> {
        let Source::Index(ix) = source else {
            return Some(Err(Error::InvalidArgument("pass-through rows need a covering index scan".into())));
        };
        let ns = &self.plan.select.namespace;
        ix.next(self.db, ns, &self.read_opts()).map(|r| {
            let p = r?;
            let key = Some(format!("{ns}/{}", String::from_utf8_lossy(&p.id)));
            Ok((Out { key, body: Body::Json(p.doc.unwrap_or_default()) }, p.entry))
        })
    }

    /// The next document passing the filter (not evaluated again when the range decides it).
    fn next_match(&mut self, source: &mut Source<'_>) -> Option<Result<(Doc, Vec<u8>)>> {
        let filter = if self.plan.range_decides { None } else { self.plan.select.filter.as_ref() };
        loop {
            match self.next_doc(source)? {
                Ok((doc, key)) if matches(filter, &doc) => return Some(Ok((doc, key))),
                Ok(_) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    fn aggregate(&mut self, mut source: Source<'_>) -> Result<VecDeque<(Row, Pos)>> {
        if let (true, Source::Index(ix)) = (self.plan.index_only, &mut source) {
            let mut n = 0u64;
            for entry in &mut ix.scan {
                entry?;
                n += 1;
            }
            let cols = self.plan.select.columns.iter().flatten();
            let row = Value::Object(cols.map(|c| (c.name.clone(), Value::from(n))).collect());
            let skip = std::mem::take(&mut self.skip) as usize;
            return Ok([(Row { key: None, value: row }, Pos::None)].into_iter().skip(skip).collect());
        }
        let s = &self.plan.select;
        let mut agg = Aggregator::new(s.columns.clone().unwrap_or_default(), s.group_by.clone());
        while let Some(r) = self.next_match(&mut source) {
            agg.add(&r?.0);
        }
        let rows = agg.finish(&self.plan.select.order_by);
        let skip = std::mem::take(&mut self.skip) as usize;
        Ok(rows.into_iter().skip(skip).map(|value| (Row { key: None, value }, Pos::None)).collect())
    }

    fn sorted(&mut self, mut source: Source<'_>, token: Option<&Token>) -> Result<VecDeque<(Row, Pos)>> {
        let order = self.plan.select.order_by.clone();
        let mut docs = Vec::new();
        while let Some(r) = self.next_match(&mut source) {
            let doc = r?.0;
            docs.push((sort_values(&order, &doc), doc));
        }
        docs.sort_by(|a, b| cmp_sort(&order, (&a.0, a.1.id_str()), (&b.0, b.1.id_str())));
        if let Some((Some(vals), Some(id))) = token.map(|t| (t.s.as_ref(), t.id.as_ref())) {
            docs.retain(|(v, d)| cmp_sort(&order, (v, d.id_str()), (vals, id)).is_gt());
        }
        let skip = std::mem::take(&mut self.skip) as usize;
        let ns = self.plan.select.namespace.clone();
        Ok(docs
            .into_iter()
            .skip(skip)
            .map(|(vals, doc)| {
                let id = doc.id_str().to_string();
                (project(&self.plan, doc, &ns), Pos::Sort(vals, id))
            })
            .collect())
    }

    fn pull(&mut self) -> Option<Result<(Out, Pos)>> {
        match std::mem::replace(&mut self.mode, Mode::Buffered(VecDeque::new())) {
            Mode::Buffered(mut q) => {
                let item = q.pop_front().map(|(row, pos)| Ok((Out::from(row), pos)));
                self.mode = Mode::Buffered(q);
                item
            }
            Mode::Stream(mut source) if self.want_json && self.pass_through => {
                let item = loop {
                    match self.next_stored(&mut source) {
                        Some(Ok(_)) if self.skip > 0 => self.skip -= 1,
                        Some(Ok((out, key))) => break Some(Ok((out, Pos::Key(key)))),
                        Some(Err(e)) => break Some(Err(e)),
                        None => break None,
                    }
                };
                self.mode = Mode::Stream(source);
                item
            }
            Mode::Stream(mut source) => {
                let item = loop {
                    match self.next_match(&mut source) {
                        Some(Ok(_)) if self.skip > 0 => self.skip -= 1,
                        Some(Ok((doc, key))) => {
                            let row = project(&self.plan, doc, &self.plan.select.namespace);
                            break Some(Ok((Out::from(row), Pos::Key(key))));
                        }
                        Some(Err(e)) => break Some(Err(e)),
                        None => break None,
                    }
                };
                self.mode = Mode::Stream(source);
                item
            }
        }
    }

    fn token(&self) -> Token {
        let mut t =
            Token { q: self.sql_hash, a: self.plan.access.index_id(), p: None, s: None, id: None, r: self.limit_left };
        match &self.last {
            Pos::Key(k) => t.p = Some(to_hex(k)),
            Pos::Sort(v, id) => {
                t.s = Some(v.clone());
                t.id = Some(id.clone());
            }
            Pos::None => {}
        }
        t
    }
}

impl Rows<'_> {
    /// The next row in whatever form the pipeline made it, after OFFSET, LIMIT and paging.
    fn next_out(&mut self) -> Option<Result<Out>> {
        if self.done || self.limit_left == Some(0) {
            self.done = true;
            return None;
        }
        if self.page_left == Some(0) {
            self.done = true;
            return match self.pull() {
                Some(Ok(_)) => {
                    self.continuation = Some(self.token().encode());
                    None
                }
                Some(Err(e)) => Some(Err(e)),
                None => None,
            };
        }
        match self.pull() {
            None => {
                self.done = true;
                None
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            Some(Ok((out, pos))) => {
                self.last = pos;
                self.limit_left = self.limit_left.map(|l| l - 1);
                self.page_left = self.page_left.map(|p| p - 1);
                Some(Ok(out))
            }
        }
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        self.next_out().map(|r| r.and_then(Out::into_row))
    }
}

/// The rows of a query as JSON text; see [`Rows::json`].
pub struct JsonRows<'r, 'db> {
    rows: &'r mut Rows<'db>,
}

impl Iterator for JsonRows<'_, '_> {
    type Item = Result<JsonRow>;

    fn next(&mut self) -> Option<Result<JsonRow>> {
        self.rows.next_out().map(|r| r.and_then(Out::into_json))
    }
}

fn open_source<'db>(db: &'db Db, snap: &Snapshot, plan: &Plan, resume: Option<&[u8]>) -> Source<'db> {
    let (mut lower, mut upper, reverse) = match &plan.access {
        Access::FullScan { reverse } => {
            let (lo, hi) = namespace_range(&plan.select.namespace);
            (lo, hi, *reverse)
        }
        Access::IndexScan { lower, upper, reverse, .. } => (lower.clone(), upper.clone(), *reverse),
    };
    if let Some(pos) = resume {
        // Strictly after the last row in scan order (for a reverse scan, before it).
        if reverse {
            upper = upper.min(pos.to_vec());
        } else {
            let mut after = pos.to_vec();
            after.push(0);
            lower = lower.max(after);
        }
    }
    if lower > upper {
        upper = lower.clone();
    }
    match &plan.access {
        Access::FullScan { .. } => Source::Full(DocScan::new(db, &lower, &upper, reverse, snap.seq())),
        Access::IndexScan { index, .. } => {
            let scan = db.scan_opt(Some(&lower), Some(&upper), reverse, Some(snap));
            Source::Index(IndexSource::new(scan, index.fields.len(), index.qualified_name(), index.covering))
        }
    }
}
