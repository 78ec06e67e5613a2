//! COUNT, SUM, MIN, MAX and AVG, with GROUP BY.
//!
//! Groups are keyed by their values in the total order of JSON values (so `1` and `1.0` are
//! one group) and come out in ascending key order unless an ORDER BY says otherwise (a
//! stable sort by output columns, so ties keep group order). Without GROUP BY there is
//! exactly one row, even over no documents (`COUNT` 0, the others null).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use super::ast::{AggFunc, Column, ColumnExpr, OrderItem};
use super::eval::Doc;
use crate::index::value::{as_f64, cmp_json, cmp_opt};

#[derive(Debug, Clone)]
struct GroupKey(Vec<Value>);

impl PartialEq for GroupKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for GroupKey {}
impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for GroupKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.iter().zip(&other.0).map(|(a, b)| cmp_json(a, b)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    }
}

/// [`cmp_json`], equal values (`2` and `2.0`) ordered by their JSON text, so which one a
/// group or MIN/MAX shows does not depend on the order the rows were read in.
fn canonical_cmp(a: &Value, b: &Value) -> Ordering {
    cmp_json(a, b).then_with(|| a.to_string().cmp(&b.to_string()))
}

#[derive(Debug, Clone, Default)]
struct Acc {
    rows: u64,
    values: u64,
    numbers: u64,
    int_sum: Option<i128>,
    float_sum: f64,
    min: Option<Value>,
    max: Option<Value>,
}

impl Acc {
    fn add(&mut self, v: Option<&Value>) {
        self.rows += 1;
        let Some(v) = v.filter(|v| !v.is_null()) else { return };
        self.values += 1;
        if let Value::Number(n) = v {
            if self.numbers == 0 {
                self.int_sum = Some(0);
            }
            self.numbers += 1;
            let exact = n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
            self.int_sum = match (self.int_sum, exact) {
                (Some(s), Some(i)) => s.checked_add(i),
                _ => None,
            };
            self.float_sum += as_f64(n);
        }
        if self.min.as_ref().is_none_or(|m| canonical_cmp(v, m).is_lt()) {
            self.min = Some(v.clone());
        }
        if self.max.as_ref().is_none_or(|m| cmp_json(v, m).then_with(|| canonical_cmp(m, v)).is_gt()) {
            self.max = Some(v.clone());
        }
    }

    fn result(&self, func: AggFunc, star: bool) -> Value {
        match func {
            AggFunc::Count => Value::from(if star { self.rows } else { self.values }),
            AggFunc::Sum if self.numbers == 0 => Value::Null,
            AggFunc::Sum => match self.int_sum {
                Some(s) if i64::try_from(s).is_ok() => Value::from(s as i64),
                Some(s) if u64::try_from(s).is_ok() => Value::from(s as u64),
                _ => Number::from_f64(self.float_sum).map_or(Value::Null, Value::Number),
            },
            AggFunc::Avg if self.numbers == 0 => Value::Null,
            AggFunc::Avg => Number::from_f64(self.float_sum / self.numbers as f64).map_or(Value::Null, Value::Number),
            AggFunc::Min => self.min.clone().unwrap_or(Value::Null),
            AggFunc::Max => self.max.clone().unwrap_or(Value::Null),
        }
    }
}

/// Accumulates documents into groups.
pub struct Aggregator {
    columns: Vec<Column>,
    group_by: Vec<super::ast::Field>,
    /// Per group: the canonical key values (see [`canonical_cmp`]) and the accumulators.
    groups: BTreeMap<GroupKey, (Vec<Value>, Vec<Acc>)>,
}

impl Aggregator {
    /// An aggregator for these output columns and GROUP BY fields.
    pub fn new(columns: Vec<Column>, group_by: Vec<super::ast::Field>) -> Self {
        let mut groups = BTreeMap::new();
        if group_by.is_empty() {
            groups.insert(GroupKey(Vec::new()), (Vec::new(), vec![Acc::default(); columns.len()]));
        }
        Aggregator { columns, group_by, groups }
    }

    /// Adds one (matching) document.
    pub fn add(&mut self, doc: &Doc) {
        let key = GroupKey(self.group_by.iter().map(|f| doc.get(f).cloned().unwrap_or(Value::Null)).collect());
        let n = self.columns.len();
        let values = key.0.clone();
        let (shown, accs) = self.groups.entry(key).or_insert_with(|| (values.clone(), vec![Acc::default(); n]));
        for (s, v) in shown.iter_mut().zip(values) {
            if canonical_cmp(&v, s).is_lt() {
                *s = v;
            }
        }
        for (acc, col) in accs.iter_mut().zip(&self.columns) {
            match &col.expr {
                ColumnExpr::Agg(_, Some(f)) => acc.add(doc.get(f)),
                _ => acc.add(None),
            }
        }
    }

    /// The result rows, ordered by `order` (output column names), then by group.
    pub fn finish(self, order: &[OrderItem]) -> Vec<Value> {
        let mut rows: Vec<Map<String, Value>> = Vec::new();
        for (shown, accs) in self.groups.into_values() {
            let mut row = Map::new();
            for (col, acc) in self.columns.iter().zip(&accs) {
                let v = match &col.expr {
                    ColumnExpr::Field(f) => {
                        let i = self.group_by.iter().position(|g| g.path == f.path).unwrap_or(0);
                        shown.get(i).cloned().unwrap_or(Value::Null)
                    }
                    ColumnExpr::Agg(func, arg) => acc.result(*func, arg.is_none()),
                };
                row.insert(col.name.clone(), v);
            }
            rows.push(row);
        }
        rows.sort_by(|a, b| {
            order
                .iter()
                .map(|o| {
                    let name = o.field.name();
                    let ord = cmp_opt(a.get(&name), b.get(&name));
                    if o.desc {
                        ord.reverse()
                    } else {
                        ord
                    }
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        rows.into_iter().map(Value::Object).collect()
    }
}
