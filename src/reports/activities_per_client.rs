//! Activities per client: each client's activities per year (by the day they were planned for)
//! and by status; split by rep, or the period against the same days a year earlier.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;

use super::chart::{Series, Style};
use super::query::Reps;
use super::query::{ACTIVITY_DAY, Unit, bucket};
use super::table::{Table, Value, text};
use super::{Compare, Ctx, Period};
use crate::crm::CrmError;
use crate::on_db;
use crate::store::Store;

/// Clients shown in a per-client chart (the table has them all).
const CHART_TOP_CLIENTS: usize = 15;

/// The activities of one client in one year, by status.
#[derive(sqlx::FromRow)]
struct ClientYear {
    code: String,
    name: String,
    /// `YYYY`.
    #[sqlx(rename = "yr")]
    year: String,
    total: i64,
    completed: i64,
    cancelled: i64,
    planned: i64,
}

/// Activities of each client per year, by status.
async fn per_client_and_year(store: &Store, period: &Period, reps: &Reps) -> Result<Vec<ClientYear>> {
    let year = bucket(store.dialect(), Unit::Year, ACTIVITY_DAY);
    let reps_on_a_rep_id = reps.condition("a.rep_id");
    let sql = format!(
        "SELECT c.code, c.name, {year} AS yr, COUNT(*) AS total, \
         COUNT(*) FILTER (WHERE a.status = 'completed') AS completed, \
         COUNT(*) FILTER (WHERE a.status = 'cancelled') AS cancelled, \
         COUNT(*) FILTER (WHERE a.status = 'planned') AS planned \
         FROM activities a JOIN clients c ON c.id = a.client_id \
         WHERE {ACTIVITY_DAY} >= $1 AND {ACTIVITY_DAY} < $2 AND {reps_on_a_rep_id} \
         GROUP BY c.code, c.name, {year} ORDER BY c.code, yr"
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.start()).bind(period.end()).bind(reps.id).fetch_all(pool).await?
    }))
}

/// The activities of one client by one rep.
#[derive(sqlx::FromRow)]
struct ClientRep {
    code: String,
    name: String,
    login: String,
    total: i64,
}

/// Activities of each client in the period, per rep (every rep).
async fn per_client_and_rep(store: &Store, period: &Period) -> Result<Vec<ClientRep>> {
    let sql = format!(
        "SELECT c.code, c.name, rp.login, COUNT(*) AS total \
         FROM activities a JOIN clients c ON c.id = a.client_id JOIN reps rp ON rp.id = a.rep_id \
         WHERE {ACTIVITY_DAY} >= $1 AND {ACTIVITY_DAY} < $2 \
         GROUP BY c.code, c.name, rp.login ORDER BY c.code, rp.login"
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.start()).bind(period.end()).fetch_all(pool).await?
    }))
}

/// The table of [`Kind::ActivitiesPerClient`](super::Kind::ActivitiesPerClient).
pub(super) async fn build(ctx: &Ctx<'_>) -> Result<Table, CrmError> {
    let mut table;
    match ctx.params.compare {
        None => {
            let rows = per_client_and_year(ctx.store, ctx.period(), &ctx.reps).await?;
            table =
                Table::new(&["client_code", "client_name", "year", "activities", "completed", "cancelled", "planned"]);
            let mut totals: BTreeMap<(String, String), i64> = BTreeMap::new();
            let mut by_year: HashMap<(String, String), i64> = HashMap::new();
            let mut years = BTreeSet::new();
            for ClientYear { code, name, year, total, completed, cancelled, planned } in &rows {
                table.rows.push(vec![
                    text(code),
                    text(name),
                    year.parse().map_or_else(|_| text(year), Value::Int),
                    Value::Int(*total),
                    Value::Int(*completed),
                    Value::Int(*cancelled),
                    Value::Int(*planned),
                ]);
                *totals.entry((code.clone(), name.clone())).or_default() += total;
                by_year.insert((code.clone(), year.clone()), *total);
                years.insert(year.clone());
            }
            let shown = top(totals, CHART_TOP_CLIENTS);
            table.chart.style = Style::Bars;
            table.chart.categories = shown.iter().map(|(code, name)| client_label(code, name)).collect();
            table.chart.series = years
                .iter()
                .enumerate()
                .map(|(i, year)| Series {
                    name: year.clone(),
                    values: shown
                        .iter()
                        .map(|(code, _)| Some(by_year.get(&(code.clone(), year.clone())).copied().unwrap_or(0) as f64))
                        .collect(),
                    color: i,
                    faded: false,
                })
                .collect();
        }
        Some(Compare::Reps) => {
            let rows = per_client_and_rep(ctx.store, ctx.period()).await?;
            let logins = ctx.logins(rows.iter().map(|row| &row.login)).await?;
            let mut per_client: BTreeMap<(String, String), HashMap<String, i64>> = BTreeMap::new();
            for ClientRep { code, name, login, total: n } in rows {
                per_client.entry((code, name)).or_default().insert(login, n);
            }
            let mut columns = vec!["client_code", "client_name"];
            columns.extend(logins.iter().map(String::as_str));
            columns.push("total");
            table = Table::new(&columns);
            for ((code, name), counts) in &per_client {
                let mut row = vec![text(code), text(name)];
                row.extend(logins.iter().map(|l| Value::Int(counts.get(l).copied().unwrap_or(0))));
                row.push(Value::Int(counts.values().sum()));
                table.rows.push(row);
            }
            let shown = top(per_client.iter().map(|(k, counts)| (k.clone(), counts.values().sum())), CHART_TOP_CLIENTS);
            // One bar per client, split by rep: who works with the busiest clients.
            table.chart.style = Style::StackedBars;
            table.chart.categories = shown.iter().map(|(code, name)| client_label(code, name)).collect();
            table.chart.series = logins
                .iter()
                .enumerate()
                .map(|(i, login)| Series {
                    name: login.clone(),
                    values: shown.iter().map(|k| Some(per_client[k].get(login).copied().unwrap_or(0) as f64)).collect(),
                    color: i,
                    faded: false,
                })
                .collect();
        }
        Some(Compare::Years) => {
            let previous = ctx.previous();
            let sum = |rows: Vec<ClientYear>| {
                let mut totals: BTreeMap<(String, String), i64> = BTreeMap::new();
                for ClientYear { code, name, total, .. } in rows {
                    *totals.entry((code, name)).or_default() += total;
                }
                totals
            };
            let this = sum(per_client_and_year(ctx.store, ctx.period(), &ctx.reps).await?);
            let before = sum(per_client_and_year(ctx.store, &previous, &ctx.reps).await?);
            let (this_label, previous_label) = (ctx.period().label(), previous.label());
            table = Table::new(&[
                "client_code",
                "client_name",
                &format!("activities_{previous_label}"),
                &format!("activities_{this_label}"),
                "change",
            ]);
            let clients: BTreeSet<&(String, String)> = this.keys().chain(before.keys()).collect();
            for key in &clients {
                let (t, b) = (this.get(*key).copied().unwrap_or(0), before.get(*key).copied().unwrap_or(0));
                table.rows.push(vec![text(&key.0), text(&key.1), Value::Int(b), Value::Int(t), Value::Int(t - b)]);
            }
            let shown = top(
                clients.iter().map(|k| ((*k).clone(), this.get(*k).unwrap_or(&0) + before.get(*k).unwrap_or(&0))),
                CHART_TOP_CLIENTS,
            );
            table.chart.style = Style::Bars;
            table.chart.categories = shown.iter().map(|(code, name)| client_label(code, name)).collect();
            for (faded, label, totals) in [(true, previous_label, &before), (false, this_label, &this)] {
                table.chart.series.push(Series {
                    name: label,
                    values: shown.iter().map(|k| Some(totals.get(k).copied().unwrap_or(0) as f64)).collect(),
                    color: 0,
                    faded,
                });
            }
        }
    }
    table.chart.value_title = "Activities".into();
    table.chart.subtitle = format!("the {CHART_TOP_CLIENTS} clients with the most activities (all are in the table)");
    Ok(table)
}

/// The `n` keys with the largest totals, largest first (ties by key).
fn top<K: Clone + Ord>(totals: impl IntoIterator<Item = (K, i64)>, n: usize) -> Vec<K> {
    let mut all: Vec<(K, i64)> = totals.into_iter().filter(|(_, total)| *total > 0).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.into_iter().take(n).map(|(k, _)| k).collect()
}

fn client_label(code: &str, name: &str) -> String {
    format!("{name} ({code})")
}
