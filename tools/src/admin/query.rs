//! `kvd-admin query` and `kvd-admin indexes`: SQL over a closed database's documents, and the
//! state, build progress and consistency of its secondary indexes. The same over a running
//! server's `kvd.v1.Query` service is in [`query_remote`](super::query_remote).

use std::io::{self, Write};
use std::path::Path;

use kvd::index::IndexStatus;
use kvd::query::{QueryOptions, Row};
use kvd::{Db, Options};
use serde::Serialize;
use serde_json::Value;

use crate::Result;

/// Widest cell of the table output, in characters.
const MAX_CELL: usize = 40;

/// The rows of one query (one page when paged).
#[derive(Debug, Serialize)]
pub struct QueryOutput {
    /// Column names, `_key` first for document rows.
    pub columns: Vec<String>,
    /// One JSON object per row (`_key` included for document rows).
    pub rows: Vec<Value>,
    /// The token for the next page, when a page size cut the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
}

fn open(db_dir: &Path) -> Result<Db> {
    Ok(Db::open(db_dir, Options { create_if_missing: false, ..Options::default() })?)
}

/// Runs `sql` against the database in `db_dir` (which must not be open elsewhere).
pub fn run(db_dir: &Path, sql: &str, page_size: Option<usize>, continuation: Option<String>) -> Result<QueryOutput> {
    let db = open(db_dir)?;
    let opts = QueryOptions { page_size, continuation, ..Default::default() };
    let mut rows_iter = db.query_with(sql, &opts)?;
    let columns = rows_iter.columns();
    let keyed = !rows_iter.plan().select.is_aggregate() && columns.as_deref() != Some(&["plan".to_string()][..]);
    let rows = rows_iter.by_ref().collect::<kvd::Result<Vec<Row>>>()?;
    let continuation = rows_iter.continuation().map(str::to_string);
    Ok(output(columns, keyed, rows, continuation))
}

/// The output of a query whose columns are `columns` (`None` for `SELECT *`), whose rows
/// are documents with keys when `keyed`. Rows are JSON objects, whose keys serde_json keeps
/// sorted: the columns come in SELECT order, and for `SELECT *` as the keys come.
pub(crate) fn output(
    columns: Option<Vec<String>>,
    keyed: bool,
    rows: Vec<Row>,
    continuation: Option<String>,
) -> QueryOutput {
    let mut names: Vec<String> = Vec::new();
    if let Some(cols) = columns {
        if keyed {
            names.push("_key".into());
        }
        names.extend(cols);
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut obj = serde_json::Map::new();
        if let Some(k) = r.key {
            obj.insert("_key".into(), Value::String(k));
        }
        match r.value {
            Value::Object(m) => obj.extend(m),
            other => {
                obj.insert("value".into(), other);
            }
        }
        for k in obj.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
        out.push(Value::Object(obj));
    }
    QueryOutput { columns: names, rows: out, continuation }
}

fn cell(v: Option<&Value>) -> String {
    let s = match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let s = s.replace(['\n', '\t'], " ");
    if s.chars().count() > MAX_CELL {
        format!("{}…", s.chars().take(MAX_CELL - 1).collect::<String>())
    } else {
        s
    }
}

/// Writes the rows as an aligned text table, then a row count (and the continuation token).
pub fn write_table(out: &mut dyn Write, q: &QueryOutput) -> io::Result<()> {
    let cells: Vec<Vec<String>> = q.rows.iter().map(|r| q.columns.iter().map(|c| cell(r.get(c))).collect()).collect();
    let widths: Vec<usize> = q
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r[i].chars().count()).chain([c.chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |vals: &[String]| {
        vals.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_string()
    };
    if !q.columns.is_empty() {
        writeln!(out, "{}", line(&q.columns))?;
        writeln!(out, "{}", line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>()))?;
    }
    for r in &cells {
        writeln!(out, "{}", line(r))?;
    }
    writeln!(out, "({} row{})", q.rows.len(), if q.rows.len() == 1 { "" } else { "s" })?;
    if let Some(t) = &q.continuation {
        writeln!(out, "more rows: --continuation {t}")?;
    }
    Ok(())
}

/// One index as `kvd-admin indexes` reports it.
#[derive(Debug, Serialize)]
pub struct IndexRow {
    /// `namespace.name`.
    pub index: String,
    /// The fields, `path:type` each.
    pub fields: Vec<String>,
    /// Unique or not.
    pub unique: bool,
    /// Covering (entries hold their documents) or not.
    pub covering: bool,
    /// `building` or `ready`.
    pub state: String,
    /// Documents the (last) build scanned.
    pub docs_scanned: u64,
}

impl From<&IndexStatus> for IndexRow {
    fn from(s: &IndexStatus) -> IndexRow {
        let def = &s.def;
        IndexRow {
            index: def.qualified_name(),
            fields: def.fields.iter().map(|f| format!("{}:{}", f.path, f.field_type.name())).collect(),
            unique: def.unique,
            covering: def.covering,
            state: format!("{:?}", def.state).to_lowercase(),
            docs_scanned: s.docs_scanned,
        }
    }
}

/// What `kvd-admin indexes` found.
#[derive(Debug, Serialize)]
pub struct IndexesOutput {
    /// Every index.
    pub indexes: Vec<IndexRow>,
    /// Builds finished by `--resume`.
    pub resumed: Vec<String>,
    /// With `--verify`: the problems found (empty when consistent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<String>>,
}

/// Lists the indexes of the database in `db_dir`; with `resume`, finishes interrupted builds
/// first; with `verify`, checks every index against its documents.
pub fn indexes(db_dir: &Path, resume: bool, verify: bool) -> Result<IndexesOutput> {
    let db = open(db_dir)?;
    let resumed = if resume { db.resume_index_builds()? } else { Vec::new() };
    let mut rows = Vec::new();
    for def in db.list_indexes(None)? {
        rows.push(IndexRow::from(&db.index_status(&def.namespace, &def.name)?));
    }
    let problems = if verify { Some(db.verify_indexes()?.problems) } else { None };
    db.close()?;
    Ok(IndexesOutput { indexes: rows, resumed: resumed.iter().map(|d| d.qualified_name()).collect(), problems })
}

/// Writes the index list as text.
pub fn write_indexes(out: &mut dyn Write, r: &IndexesOutput) -> io::Result<()> {
    for name in &r.resumed {
        writeln!(out, "finished the interrupted build of {name}")?;
    }
    for i in &r.indexes {
        writeln!(
            out,
            "{}  ({}){}{}  {}  {} documents scanned",
            i.index,
            i.fields.join(", "),
            if i.unique { " unique" } else { "" },
            if i.covering { " covering" } else { "" },
            i.state,
            i.docs_scanned
        )?;
    }
    if r.indexes.is_empty() {
        writeln!(out, "no indexes")?;
    }
    match &r.problems {
        Some(p) if p.is_empty() => writeln!(out, "indexes consistent with their documents"),
        Some(p) => {
            for x in p {
                writeln!(out, "  problem: {x}")?;
            }
            writeln!(out, "NOT consistent: {} problems", p.len())
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvd::index::{FieldType, IndexSpec};
    use serde_json::json;

    #[test]
    fn queries_print_tables_pages_and_index_state() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::open(dir.path(), Options::default()).unwrap();
            for (id, name, age) in [(1, "ada", 36), (2, "grace", 45), (3, "alan", 41)] {
                db.put_doc(&format!("users/{id}"), &json!({"name": name, "age": age})).unwrap();
            }
            db.create_index(IndexSpec::new("users", "by_age").field("age", FieldType::Int)).unwrap();
            db.close().unwrap();
        }
        let q = run(dir.path(), "SELECT name, age FROM users WHERE age > 40 ORDER BY age", None, None).unwrap();
        let mut text = Vec::new();
        write_table(&mut text, &q).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(
            text,
            "_key     name   age\n-------  -----  ---\nusers/3  alan   41\nusers/2  grace  45\n(2 rows)\n"
        );
        let page = run(dir.path(), "SELECT * FROM users", Some(2), None).unwrap();
        assert_eq!(page.rows.len(), 2);
        let rest = run(dir.path(), "SELECT * FROM users", Some(2), page.continuation.clone()).unwrap();
        assert_eq!((rest.rows.len(), rest.continuation), (1, None));
        let r = indexes(dir.path(), true, true).unwrap();
        assert_eq!(r.indexes[0].index, "users.by_age");
        assert_eq!((r.indexes[0].state.as_str(), r.indexes[0].docs_scanned), ("ready", 3));
        assert_eq!(r.problems, Some(Vec::new()));
        let plan = run(dir.path(), "EXPLAIN SELECT * FROM users WHERE age = 1", None, None).unwrap();
        assert_eq!(plan.columns, vec!["plan"]);
        assert!(plan.rows[0]["plan"].as_str().unwrap().starts_with("index scan of users.by_age"));
        let e = run(dir.path(), "SELECT * FROM nope", None, None).unwrap_err().to_string();
        assert!(e.contains("unknown namespace"), "{e}");
    }
}
