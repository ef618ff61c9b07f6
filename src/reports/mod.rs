//! Management reports on the activity data: clients seen per week or month, activities per client
//! per year, what became of activities (completed / cancelled / still planned), and the clients
//! nobody touched, each per rep, and compared rep against rep or this year against last year.
//!
//! The figures are computed in SQL on the CRM tables ([`query`]); this module arranges the
//! aggregated rows into a table (CSV/JSON, [`output`]) and a chart (SVG, [`chart`]).
//!
//! Dates: a period is a range of whole days (UTC), both ends included. Weeks are ISO weeks
//! (Monday to Sunday) named by their Monday, months by their first day; the first and last bucket
//! of a period may be cut by its ends. "Clients seen" and "untouched" go by the time an activity
//! was completed; "activities per client" and "results" by the day the activity was planned for
//! (its start; an undated task by its creation).

pub mod chart;
pub mod http;
pub mod output;
mod params;
pub mod query;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Serialize, Serializer};

use self::chart::{Chart, Series, Style};
pub use self::params::{Compare, Format, Kind, Params, Period, parse_date};
use self::query::{Unit, parse_day};
use crate::crm::CrmError;
use crate::crm::reps;
use crate::store::Store;

/// Clients shown in a per-client chart (the table has them all).
const CHART_TOP_CLIENTS: usize = 15;

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    /// A share, 0 to 1.
    Float(f64),
    Text(String),
    Date(NaiveDate),
    Null,
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Int(v) => s.serialize_i64(*v),
            Value::Float(v) => s.serialize_f64(*v),
            Value::Text(v) => s.serialize_str(v),
            Value::Date(v) => s.serialize_str(&v.format("%Y-%m-%d").to_string()),
            Value::Null => s.serialize_none(),
        }
    }
}

fn text(v: &str) -> Value {
    Value::Text(v.to_string())
}

/// `part / whole` rounded to four decimals; `Null` when there is nothing to divide.
fn share(part: i64, whole: i64) -> Value {
    if whole == 0 { Value::Null } else { Value::Float(round4(part as f64 / whole as f64)) }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn share_f(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| part as f64 / whole as f64)
}

/// A computed report: a table and the chart that shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    #[serde(serialize_with = "serialize_kind")]
    pub report: Kind,
    pub title: String,
    pub description: &'static str,
    pub period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_period: Option<Period>,
    pub rep: Option<String>,
    #[serde(serialize_with = "serialize_compare")]
    pub compare: Option<Compare>,
    pub columns: Vec<String>,
    /// Each row has one value per column.
    #[serde(skip)]
    pub rows: Vec<Vec<Value>>,
    #[serde(skip)]
    pub chart: Chart,
}

fn serialize_kind<S: Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.name())
}

fn serialize_compare<S: Serializer>(compare: &Option<Compare>, s: S) -> Result<S::Ok, S::Error> {
    match compare {
        Some(c) => s.serialize_str(c.name()),
        None => s.serialize_none(),
    }
}

/// Computes a report.
pub async fn run(store: &Store, params: &Params) -> Result<Report, CrmError> {
    let rep_id = match &params.rep {
        Some(login) => Some(
            reps::find(store, login)
                .await?
                .ok_or_else(|| CrmError::Invalid(format!("no rep with login {login:?}")))?
                .id,
        ),
        None => None,
    };
    let ctx = Ctx { store, params, rep_id };
    let mut report = Report {
        report: params.kind,
        title: params.kind.title().to_string(),
        description: params.kind.description(),
        period: params.period,
        previous_period: (params.compare == Some(Compare::Years)).then(|| params.period.previous_year()),
        rep: params.rep.clone(),
        compare: params.compare,
        columns: Vec::new(),
        rows: Vec::new(),
        chart: Chart::default(),
    };
    let table = match params.kind {
        Kind::ClientsSeenWeekly => ctx.clients_seen(Unit::Week).await?,
        Kind::ClientsSeenMonthly => ctx.clients_seen(Unit::Month).await?,
        Kind::ActivitiesPerClient => ctx.activities_per_client().await?,
        Kind::ActivityResults => ctx.results().await?,
        Kind::UntouchedClients => ctx.untouched().await?,
    };
    report.columns = table.columns;
    report.rows = table.rows;
    report.chart = table.chart;
    report.chart.title = report.title.clone();
    // A table may have left a note on what its chart shows.
    let note = std::mem::take(&mut report.chart.subtitle);
    report.chart.subtitle = if note.is_empty() { ctx.subtitle() } else { format!("{} · {note}", ctx.subtitle()) };
    debug_assert!(report.rows.iter().all(|row| row.len() == report.columns.len()));
    Ok(report)
}

struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
    chart: Chart,
}

impl Table {
    fn new(columns: &[&str]) -> Table {
        Table { columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new(), chart: Chart::default() }
    }
}

/// The Mondays (weeks) or first days (months) of the buckets that meet the period.
fn bucket_starts(unit: Unit, period: &Period) -> Vec<NaiveDate> {
    let mut day = match unit {
        Unit::Week => period.from - Days::new(period.from.weekday().num_days_from_monday() as u64),
        Unit::Month | Unit::Year => period.from.with_day(1).unwrap_or(period.from),
    };
    let mut starts = Vec::new();
    while day <= period.to {
        starts.push(day);
        day = match unit {
            Unit::Week => day + Days::new(7),
            Unit::Month => day + Months::new(1),
            Unit::Year => day + Months::new(12),
        };
    }
    starts
}

fn bucket_label(unit: Unit, day: NaiveDate) -> String {
    match unit {
        Unit::Month => day.format("%Y-%m").to_string(),
        _ => day.format("%Y-%m-%d").to_string(),
    }
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

struct Ctx<'a> {
    store: &'a Store,
    params: &'a Params,
    rep_id: Option<i64>,
}

impl Ctx<'_> {
    fn period(&self) -> &Period {
        &self.params.period
    }

    fn previous(&self) -> Period {
        self.params.period.previous_year()
    }

    fn subtitle(&self) -> String {
        let period = self.period();
        let mut parts = vec![format!("{} to {}", period.from, period.to)];
        if self.params.compare == Some(Compare::Years) {
            let previous = self.previous();
            parts.push(format!("against {} to {}", previous.from, previous.to));
        }
        parts.push(match &self.params.rep {
            Some(rep) => format!("rep {rep}"),
            None => "all reps".into(),
        });
        parts.join(" · ")
    }

    /// The reps a report lists: the one asked for, or every active rep plus any other login that
    /// has data in the report.
    async fn logins<'s>(&self, with_data: impl IntoIterator<Item = &'s String>) -> Result<Vec<String>, CrmError> {
        if let Some(login) = &self.params.rep {
            return Ok(vec![login.clone()]);
        }
        let mut all: BTreeSet<String> = query::rep_logins(self.store).await?.into_iter().collect();
        all.extend(with_data.into_iter().cloned());
        Ok(all.into_iter().collect())
    }

    async fn clients_seen(&self, unit: Unit) -> Result<Table, CrmError> {
        let load = |period: Period| async move {
            let rows = query::clients_seen(self.store, unit, &period, self.rep_id).await?;
            Ok::<_, CrmError>(
                rows.into_iter()
                    .filter_map(|(login, day, n)| Some(((login, parse_day(&day)?), n)))
                    .collect::<HashMap<(String, NaiveDate), i64>>(),
            )
        };
        let period = *self.period();
        let counts = load(period).await?;
        let buckets = bucket_starts(unit, &period);
        let get = |counts: &HashMap<(String, NaiveDate), i64>, login: &str, day: NaiveDate| {
            counts.get(&(login.to_string(), day)).copied().unwrap_or(0)
        };
        let column = if unit == Unit::Week { "week_start" } else { "month_start" };
        let x_title = if unit == Unit::Week { "Week (starting Monday)" } else { "Month" };
        let labels: Vec<String> = buckets.iter().map(|d| bucket_label(unit, *d)).collect();

        let mut table;
        match self.params.compare {
            None | Some(Compare::Reps) => {
                let logins = self.logins(counts.keys().map(|(login, _)| login)).await?;
                if self.params.compare.is_none() {
                    table = Table::new(&["rep", column, "clients_seen"]);
                    for login in &logins {
                        for day in &buckets {
                            table.rows.push(vec![
                                text(login),
                                Value::Date(*day),
                                Value::Int(get(&counts, login, *day)),
                            ]);
                        }
                    }
                } else {
                    let mut columns = vec![column];
                    columns.extend(logins.iter().map(String::as_str));
                    table = Table::new(&columns);
                    for day in &buckets {
                        let mut row = vec![Value::Date(*day)];
                        row.extend(logins.iter().map(|login| Value::Int(get(&counts, login, *day))));
                        table.rows.push(row);
                    }
                }
                table.chart.series = logins
                    .iter()
                    .enumerate()
                    .map(|(i, login)| Series {
                        name: login.clone(),
                        values: buckets.iter().map(|d| Some(get(&counts, login, *d) as f64)).collect(),
                        color: i,
                        faded: false,
                    })
                    .collect();
                table.chart.categories = labels;
            }
            Some(Compare::Years) => {
                let previous = self.previous();
                let previous_counts = load(previous).await?;
                let previous_buckets = bucket_starts(unit, &previous);
                let logins = self.logins(counts.keys().chain(previous_counts.keys()).map(|(login, _)| login)).await?;
                let (this_label, previous_label) = (period.label(), previous.label());
                let previous_column = format!("previous_{column}");
                table = Table::new(&[
                    "rep",
                    column,
                    &previous_column,
                    &format!("clients_seen_{previous_label}"),
                    &format!("clients_seen_{this_label}"),
                    "change",
                ]);
                let n = buckets.len().max(previous_buckets.len());
                for login in &logins {
                    for i in 0..n {
                        let this = buckets.get(i).map(|d| get(&counts, login, *d));
                        let before = previous_buckets.get(i).map(|d| get(&previous_counts, login, *d));
                        let cell = |d: Option<&NaiveDate>| d.map_or(Value::Null, |d| Value::Date(*d));
                        let count = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
                        table.rows.push(vec![
                            text(login),
                            cell(buckets.get(i)),
                            cell(previous_buckets.get(i)),
                            count(before),
                            count(this),
                            this.zip(before).map_or(Value::Null, |(t, b)| Value::Int(t - b)),
                        ]);
                    }
                }
                // Months of two years: named by the month alone when the period is within one year.
                let one_year = period.from.year() == period.to.year();
                let label = |d: NaiveDate| {
                    if unit == Unit::Month && one_year { d.format("%b").to_string() } else { bucket_label(unit, d) }
                };
                table.chart.categories = (0..n)
                    .map(|i| match (buckets.get(i), previous_buckets.get(i)) {
                        (Some(d), _) => label(*d),
                        (None, Some(d)) => label(*d + Months::new(12)),
                        (None, None) => String::new(),
                    })
                    .collect();
                for (i, login) in logins.iter().enumerate() {
                    for (faded, label, counts, days) in [
                        (true, &previous_label, &previous_counts, &previous_buckets),
                        (false, &this_label, &counts, &buckets),
                    ] {
                        table.chart.series.push(Series {
                            name: format!("{login} {label}"),
                            values: (0..n).map(|j| days.get(j).map(|d| get(counts, login, *d) as f64)).collect(),
                            color: i,
                            faded,
                        });
                    }
                }
            }
        }
        table.chart.style = Style::Lines;
        table.chart.x_title = x_title.into();
        table.chart.value_title = "Clients seen".into();
        Ok(table)
    }

    async fn activities_per_client(&self) -> Result<Table, CrmError> {
        let mut table;
        match self.params.compare {
            None => {
                let rows = query::activities_per_client(self.store, self.period(), self.rep_id).await?;
                table = Table::new(&[
                    "client_code",
                    "client_name",
                    "year",
                    "activities",
                    "completed",
                    "cancelled",
                    "planned",
                ]);
                let mut totals: BTreeMap<(String, String), i64> = BTreeMap::new();
                let mut by_year: HashMap<(String, String), i64> = HashMap::new();
                let mut years = BTreeSet::new();
                for (code, name, year, total, completed, cancelled, planned) in &rows {
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
                            .map(|(code, _)| {
                                Some(by_year.get(&(code.clone(), year.clone())).copied().unwrap_or(0) as f64)
                            })
                            .collect(),
                        color: i,
                        faded: false,
                    })
                    .collect();
            }
            Some(Compare::Reps) => {
                let rows = query::activities_per_client_and_rep(self.store, self.period()).await?;
                let logins = self.logins(rows.iter().map(|row| &row.2)).await?;
                let mut per_client: BTreeMap<(String, String), HashMap<String, i64>> = BTreeMap::new();
                for (code, name, login, n) in rows {
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
                let shown =
                    top(per_client.iter().map(|(k, counts)| (k.clone(), counts.values().sum())), CHART_TOP_CLIENTS);
                // One bar per client, split by rep: who works with the busiest clients.
                table.chart.style = Style::StackedBars;
                table.chart.categories = shown.iter().map(|(code, name)| client_label(code, name)).collect();
                table.chart.series = logins
                    .iter()
                    .enumerate()
                    .map(|(i, login)| Series {
                        name: login.clone(),
                        values: shown
                            .iter()
                            .map(|k| Some(per_client[k].get(login).copied().unwrap_or(0) as f64))
                            .collect(),
                        color: i,
                        faded: false,
                    })
                    .collect();
            }
            Some(Compare::Years) => {
                let previous = self.previous();
                let sum = |rows: Vec<query::ClientYear>| {
                    let mut totals: BTreeMap<(String, String), i64> = BTreeMap::new();
                    for (code, name, _, total, ..) in rows {
                        *totals.entry((code, name)).or_default() += total;
                    }
                    totals
                };
                let this = sum(query::activities_per_client(self.store, self.period(), self.rep_id).await?);
                let before = sum(query::activities_per_client(self.store, &previous, self.rep_id).await?);
                let (this_label, previous_label) = (self.period().label(), previous.label());
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
        table.chart.subtitle =
            format!("the {CHART_TOP_CLIENTS} clients with the most activities (all are in the table)");
        Ok(table)
    }

    async fn results(&self) -> Result<Table, CrmError> {
        type Counts = HashMap<String, (i64, i64, i64)>;
        let load = |period: Period| async move {
            let rows = query::results(self.store, &period, self.rep_id).await?;
            Ok::<Counts, CrmError>(rows.into_iter().map(|(login, c, x, p)| (login, (c, x, p))).collect())
        };
        let counts = load(*self.period()).await?;
        let get = |counts: &Counts, login: &str| counts.get(login).copied().unwrap_or((0, 0, 0));
        let mut table;
        match self.params.compare {
            None => {
                let logins = self.logins(counts.keys()).await?;
                table = Table::new(&["rep", "completed", "cancelled", "planned", "total", "completed_share"]);
                for login in &logins {
                    let (c, x, p) = get(&counts, login);
                    let total = c + x + p;
                    table.rows.push(vec![
                        text(login),
                        Value::Int(c),
                        Value::Int(x),
                        Value::Int(p),
                        Value::Int(total),
                        share(c, total),
                    ]);
                }
                table.chart.style = Style::StackedBars;
                table.chart.value_title = "Activities".into();
                table.chart.categories = logins.clone();
                for (i, status) in ["completed", "cancelled", "planned"].into_iter().enumerate() {
                    table.chart.series.push(Series {
                        name: status.into(),
                        values: logins
                            .iter()
                            .map(|l| {
                                let (c, x, p) = get(&counts, l);
                                Some([c, x, p][i] as f64)
                            })
                            .collect(),
                        color: chart::STATUS_COLORS[i],
                        faded: false,
                    });
                }
            }
            Some(Compare::Reps) => {
                let logins = self.logins(counts.keys()).await?;
                let (team_completed, team_total) = logins.iter().fold((0, 0), |(tc, tt), l| {
                    let (c, x, p) = get(&counts, l);
                    (tc + c, tt + c + x + p)
                });
                let team_share = share_f(team_completed, team_total);
                table = Table::new(&[
                    "rep",
                    "completed",
                    "cancelled",
                    "planned",
                    "total",
                    "completed_share",
                    "team_completed_share",
                    "difference",
                ]);
                let mut ranked: Vec<(&String, Option<f64>)> = logins
                    .iter()
                    .map(|l| {
                        let (c, x, p) = get(&counts, l);
                        (l, share_f(c, c + x + p))
                    })
                    .collect();
                // Best completed share first; reps without activities last.
                ranked.sort_by(|a, b| b.1.unwrap_or(-1.0).total_cmp(&a.1.unwrap_or(-1.0)).then(a.0.cmp(b.0)));
                for (login, rep_share) in &ranked {
                    let (c, x, p) = get(&counts, login);
                    table.rows.push(vec![
                        text(login),
                        Value::Int(c),
                        Value::Int(x),
                        Value::Int(p),
                        Value::Int(c + x + p),
                        share(c, c + x + p),
                        team_share.map_or(Value::Null, |s| Value::Float(round4(s))),
                        rep_share.zip(team_share).map_or(Value::Null, |(r, t)| Value::Float(round4(r - t))),
                    ]);
                }
                table.chart.style = Style::Bars;
                table.chart.percent = true;
                table.chart.value_title = "Completed share of activities".into();
                table.chart.categories = ranked.iter().map(|(l, _)| (*l).clone()).collect();
                table.chart.series.push(Series {
                    name: "completed share".into(),
                    values: ranked.iter().map(|(_, s)| s.map(|s| s * 100.0)).collect(),
                    color: chart::STATUS_COLORS[0],
                    faded: false,
                });
                table.chart.reference = team_share.map(|s| ("team".to_string(), s * 100.0));
            }
            Some(Compare::Years) => {
                let previous = self.previous();
                let before = load(previous).await?;
                let logins = self.logins(counts.keys().chain(before.keys())).await?;
                let (t, p) = (self.period().label(), previous.label());
                table = Table::new(&[
                    "rep",
                    &format!("completed_{p}"),
                    &format!("total_{p}"),
                    &format!("completed_share_{p}"),
                    &format!("completed_{t}"),
                    &format!("total_{t}"),
                    &format!("completed_share_{t}"),
                    "share_change",
                ]);
                let mut series = [Vec::new(), Vec::new()];
                for login in &logins {
                    let (bc, bx, bp) = get(&before, login);
                    let (tc, tx, tp) = get(&counts, login);
                    let (b_share, t_share) = (share_f(bc, bc + bx + bp), share_f(tc, tc + tx + tp));
                    table.rows.push(vec![
                        text(login),
                        Value::Int(bc),
                        Value::Int(bc + bx + bp),
                        share(bc, bc + bx + bp),
                        Value::Int(tc),
                        Value::Int(tc + tx + tp),
                        share(tc, tc + tx + tp),
                        t_share.zip(b_share).map_or(Value::Null, |(t, b)| Value::Float(round4(t - b))),
                    ]);
                    series[0].push(b_share.map(|s| s * 100.0));
                    series[1].push(t_share.map(|s| s * 100.0));
                }
                table.chart.style = Style::Bars;
                table.chart.percent = true;
                table.chart.value_title = "Completed share of activities".into();
                table.chart.categories = logins.clone();
                let [before_values, this_values] = series;
                table.chart.series.push(Series { name: p, values: before_values, color: 0, faded: true });
                table.chart.series.push(Series { name: t, values: this_values, color: 0, faded: false });
            }
        }
        Ok(table)
    }

    async fn untouched(&self) -> Result<Table, CrmError> {
        let previous = self.previous();
        let summary = query::untouched_summary(self.store, self.period(), &previous, self.rep_id).await?;
        let mut table;
        match self.params.compare {
            None => {
                let rows = query::untouched_clients(self.store, self.period(), self.rep_id).await?;
                table = Table::new(&["rep", "client_code", "client_name", "status", "territory", "last_completed"]);
                for (login, code, name, status, territory, last) in rows {
                    table.rows.push(vec![
                        Value::Text(login),
                        Value::Text(code),
                        Value::Text(name),
                        Value::Text(status),
                        Value::Text(territory),
                        last.map_or(Value::Null, |t| Value::Date(t.0.date_naive())),
                    ]);
                }
                table.chart.style = Style::StackedBars;
                table.chart.value_title = "Clients the rep sees".into();
                table.chart.categories = summary.iter().map(|s| s.0.clone()).collect();
                table.chart.series = vec![
                    Series {
                        name: "touched".into(),
                        values: summary.iter().map(|s| Some((s.1 - s.2) as f64)).collect(),
                        color: chart::STATUS_COLORS[0],
                        faded: false,
                    },
                    Series {
                        name: "not touched".into(),
                        values: summary.iter().map(|s| Some(s.2 as f64)).collect(),
                        color: chart::UNTOUCHED_COLOR,
                        faded: false,
                    },
                ];
            }
            Some(Compare::Reps) => {
                let (visible, untouched) = summary.iter().fold((0, 0), |(v, u), s| (v + s.1, u + s.2));
                let team_share = share_f(untouched, visible);
                table = Table::new(&[
                    "rep",
                    "visible_clients",
                    "untouched",
                    "untouched_share",
                    "team_untouched_share",
                    "difference",
                ]);
                let mut ranked: Vec<&(String, i64, i64, i64)> = summary.iter().collect();
                // Fewest untouched (as a share) first.
                ranked.sort_by(|a, b| {
                    share_f(a.2, a.1).unwrap_or(2.0).total_cmp(&share_f(b.2, b.1).unwrap_or(2.0)).then(a.0.cmp(&b.0))
                });
                for (login, v, u, _) in &ranked {
                    table.rows.push(vec![
                        text(login),
                        Value::Int(*v),
                        Value::Int(*u),
                        share(*u, *v),
                        team_share.map_or(Value::Null, |s| Value::Float(round4(s))),
                        share_f(*u, *v).zip(team_share).map_or(Value::Null, |(r, t)| Value::Float(round4(r - t))),
                    ]);
                }
                table.chart.style = Style::Bars;
                table.chart.percent = true;
                table.chart.value_title = "Share of the rep's clients not touched".into();
                table.chart.categories = ranked.iter().map(|s| s.0.clone()).collect();
                table.chart.series.push(Series {
                    name: "not touched".into(),
                    values: ranked.iter().map(|s| share_f(s.2, s.1).map(|x| x * 100.0)).collect(),
                    color: chart::UNTOUCHED_COLOR,
                    faded: false,
                });
                table.chart.reference = team_share.map(|s| ("team".to_string(), s * 100.0));
            }
            Some(Compare::Years) => {
                let (t, p) = (self.period().label(), previous.label());
                table = Table::new(&[
                    "rep",
                    "visible_clients",
                    &format!("untouched_{p}"),
                    &format!("untouched_{t}"),
                    "change",
                ]);
                for (login, v, u, u_before) in &summary {
                    table.rows.push(vec![
                        text(login),
                        Value::Int(*v),
                        Value::Int(*u_before),
                        Value::Int(*u),
                        Value::Int(u - u_before),
                    ]);
                }
                table.chart.style = Style::Bars;
                table.chart.value_title = "Clients not touched".into();
                table.chart.categories = summary.iter().map(|s| s.0.clone()).collect();
                table.chart.series.push(Series {
                    name: p,
                    values: summary.iter().map(|s| Some(s.3 as f64)).collect(),
                    color: chart::UNTOUCHED_COLOR,
                    faded: true,
                });
                table.chart.series.push(Series {
                    name: t,
                    values: summary.iter().map(|s| Some(s.2 as f64)).collect(),
                    color: chart::UNTOUCHED_COLOR,
                    faded: false,
                });
            }
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn buckets_cover_the_period() {
        let p = Period { from: day("2026-01-01"), to: day("2026-01-31") };
        let weeks = bucket_starts(Unit::Week, &p);
        assert_eq!(weeks.first(), Some(&day("2025-12-29")), "the Monday of the first day's week");
        assert_eq!(weeks.last(), Some(&day("2026-01-26")));
        assert_eq!(weeks.len(), 5);
        let months = bucket_starts(Unit::Month, &Period { from: day("2026-01-15"), to: day("2026-03-01") });
        assert_eq!(months, vec![day("2026-01-01"), day("2026-02-01"), day("2026-03-01")]);
    }
}
