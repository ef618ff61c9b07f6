//! The demo CRM as import files: `crmdav demo --csv DIR` writes the deterministic demo data (any
//! size) as one CSV per entity, in the columns an import reads, for trying an import or measuring
//! one (bench/RESULTS.md). Its reps are the demo's (alice, bob, carol): they must exist where the
//! files are imported. Recurring series are written as their first meeting (a CSV activity is a
//! one-off).

use std::path::Path;

use anyhow::{Context, Result};

use super::columns::{Entity, Kind};
use super::values::{format_money, format_time};
use crate::crm::demo::{self, DemoData, DemoSize};
use crate::store::rows::SqlValue;

/// Rows written per entity, in [`Entity::ALL`] order.
pub fn write(dir: &Path, size: DemoSize) -> Result<Vec<(Entity, usize)>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let reps: Vec<&str> = demo::DEMO_REPS.iter().filter(|(_, _, role)| *role == "rep").map(|(l, _, _)| *l).collect();
    let rep_ids: Vec<i64> = (1..=reps.len() as i64).collect();
    let data = demo::generate(size, &rep_ids);
    let names = Names { reps: &reps, data: &data };
    let mut written = Vec::new();
    for entity in Entity::ALL {
        let (rows, picks): (&[Vec<SqlValue>], &[Pick]) = match entity {
            Entity::Clients => {
                (&data.clients, &[V(1), V(2), V(3), V(4), V(5), Rep(6), V(9), V(10), V(11), V(12), V(13), V(14)])
            }
            Entity::Contacts => {
                (&data.contacts, &[V(1), Client(3), V(4), V(5), V(6), V(7), V(8), V(9), V(10), V(11), V(12), V(13)])
            }
            Entity::Activities => (
                &data.activities,
                &[V(1), Rep(3), Client(4), Contact(5), V(6), V(7), V(8), V(9), V(10), V(11), V(12), V(15), V(16)],
            ),
            Entity::Notes => (&data.notes, &[Client(1), V(6), V(4), Rep(3), Activity(2)]),
            Entity::Results => (&data.results, &[V(1), Client(2), Rep(3), Activity(4), V(5), V(6), V(7), V(8)]),
            Entity::Objectives => (&data.objectives, &[Rep(1), V(2), V(3), V(4), V(5), V(6), V(7)]),
        };
        let path = dir.join(format!("{}.csv", entity.name()));
        let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_path(&path)?;
        out.write_record(entity.columns().iter().map(|c| c.name))?;
        // A note is known by its client, time and text: a repeat of the generator's is left out.
        let mut notes_seen = std::collections::HashSet::new();
        let mut count = 0;
        for row in rows {
            if entity == Entity::Notes && !notes_seen.insert(format!("{:?}{:?}{:?}", row[1], row[6], row[4])) {
                continue;
            }
            count += 1;
            out.write_record(
                picks.iter().zip(entity.columns()).map(|(pick, column)| names.cell(*pick, row, column.kind)),
            )?;
        }
        out.flush()?;
        written.push((entity, count));
    }
    Ok(written)
}

/// Where a CSV cell comes from in a generated row: a value, or an id to name.
#[derive(Clone, Copy)]
enum Pick {
    V(usize),
    Rep(usize),
    Client(usize),
    Contact(usize),
    Activity(usize),
}
use Pick::{Activity, Client, Contact, Rep, V};

struct Names<'a> {
    reps: &'a [&'a str],
    data: &'a DemoData,
}

impl Names<'_> {
    fn cell(&self, pick: Pick, row: &[SqlValue], kind: Kind) -> String {
        let id = |i: usize| match row[i] {
            SqlValue::Int(Some(id)) => Some(id),
            _ => None,
        };
        // Generated ids are 1, 2, 3, ... in row order.
        let text_of = |rows: &[Vec<SqlValue>], id: Option<i64>, column: usize| {
            id.and_then(|id| rows.get(id as usize - 1)).map_or(String::new(), |r| plain(&r[column]))
        };
        match pick {
            V(i) => match (&row[i], kind) {
                (SqlValue::Int(Some(cents)), Kind::Money) => format_money(*cents),
                (value, _) => plain(value),
            },
            Rep(i) => id(i).and_then(|id| self.reps.get(id as usize - 1)).map_or(String::new(), |l| l.to_string()),
            Client(i) => text_of(&self.data.clients, id(i), 1),
            Contact(i) => text_of(&self.data.contacts, id(i), 1),
            Activity(i) => text_of(&self.data.activities, id(i), 1),
        }
    }
}

fn plain(value: &SqlValue) -> String {
    match value {
        SqlValue::Int(Some(n)) => n.to_string(),
        SqlValue::Bool(Some(b)) => b.to_string(),
        SqlValue::Text(Some(t)) => t.clone(),
        SqlValue::Time(Some(t)) => format_time(t.0),
        SqlValue::Date(Some(d)) => d.to_string(),
        _ => String::new(),
    }
}
