//! The table a report kind computes: named columns, rows of cells, and the chart that shows them.

use chrono::NaiveDate;
use serde::{Serialize, Serializer};

use super::chart::Chart;

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    /// A share, 0 to 1.
    Float(f64),
    Text(String),
    Date(NaiveDate),
    /// A yes/no cell (`partial`).
    Bool(bool),
    Null,
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Int(v) => s.serialize_i64(*v),
            Value::Float(v) => s.serialize_f64(*v),
            Value::Text(v) => s.serialize_str(v),
            Value::Date(v) => s.serialize_str(&v.format("%Y-%m-%d").to_string()),
            Value::Bool(v) => s.serialize_bool(*v),
            Value::Null => s.serialize_none(),
        }
    }
}

pub(super) fn text(v: &str) -> Value {
    Value::Text(v.to_string())
}

/// `part / whole` rounded to four decimals; `Null` when there is nothing to divide.
pub(super) fn share(part: i64, whole: i64) -> Value {
    if whole == 0 { Value::Null } else { Value::Float(round4(part as f64 / whole as f64)) }
}

/// An amount in cents as currency units (two decimals), for reports.
pub(super) fn units(cents: i64) -> Value {
    Value::Float(cents as f64 / 100.0)
}

pub(super) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `part / whole` unrounded (for charts and ranking); `None` when there is nothing to divide.
pub(super) fn share_f(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

/// What a report kind computes; [`super::run`] wraps it into a [`super::Report`].
pub(super) struct Table {
    pub columns: Vec<String>,
    /// Each row has one value per column.
    pub rows: Vec<Vec<Value>>,
    pub chart: Chart,
}

impl Table {
    pub fn new(columns: &[&str]) -> Table {
        Table { columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new(), chart: Chart::default() }
    }
}
