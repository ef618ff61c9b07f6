//! Activities per result: the visits, calls and meetings each rep completed in the period, per
//! result (order or won deal) of theirs dated in it, and the same over all reps. How much activity
//! a result takes.

use std::collections::HashMap;

use anyhow::Result;

use super::chart::{Series, Style};
use super::query::Reps;
use super::table::{Table, Value, round4, text};
use super::{Ctx, Period};
use crate::crm::CrmError;
use crate::on_db;
use crate::store::Store;

/// The row of every rep together.
pub const ALL_REPS: &str = "(all reps)";

#[derive(sqlx::FromRow, Default, Clone, Copy)]
struct Done {
    visits: i64,
    calls: i64,
    meetings: i64,
}

#[derive(sqlx::FromRow)]
struct DoneRow {
    login: String,
    #[sqlx(flatten)]
    done: Done,
}

/// Meetings, calls and visits completed in the period, per rep.
async fn completed(store: &Store, period: &Period, reps: &Reps) -> Result<Vec<DoneRow>> {
    let reps_on_a_rep_id = reps.condition("a.rep_id");
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&format!(
            "SELECT rp.login, COUNT(*) FILTER (WHERE a.kind = 'visit') AS visits, \
             COUNT(*) FILTER (WHERE a.kind = 'call') AS calls, COUNT(*) FILTER (WHERE a.kind = 'meeting') AS meetings \
             FROM activities a JOIN reps rp ON rp.id = a.rep_id \
             WHERE a.status = 'completed' AND a.kind <> 'task' AND a.completed_at >= $1 AND a.completed_at < $2 \
             AND {reps_on_a_rep_id} GROUP BY rp.login ORDER BY rp.login"
        ))
        .bind(period.start())
        .bind(period.end())
        .bind(reps.id)
        .fetch_all(pool)
        .await?
    }))
}

/// Results dated in the period, per rep (totals moved in by the migration are no deals).
pub(super) async fn results_per_rep(store: &Store, period: &Period, reps: &Reps) -> Result<Vec<(String, i64)>> {
    let reps_on_r_rep_id = reps.condition("r.rep_id");
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&format!(
            "SELECT rp.login, COUNT(*) FROM results r JOIN reps rp ON rp.id = r.rep_id \
             WHERE r.source <> 'migration' AND r.ordered_on >= $1 AND r.ordered_on <= $2 \
             AND {reps_on_r_rep_id} GROUP BY rp.login ORDER BY rp.login"
        ))
        .bind(period.from)
        .bind(period.to)
        .bind(reps.id)
        .fetch_all(pool)
        .await?
    }))
}

fn per(count: i64, results: i64) -> Value {
    if results == 0 { Value::Null } else { Value::Float(round4(count as f64 / results as f64)) }
}

/// The table of [`Kind::ActivitiesPerResult`](super::Kind::ActivitiesPerResult).
pub(super) async fn build(ctx: &Ctx<'_>) -> Result<Table, CrmError> {
    let period = *ctx.period();
    let done: HashMap<String, Done> =
        completed(ctx.store, &period, &ctx.reps).await?.into_iter().map(|row| (row.login, row.done)).collect();
    let results: HashMap<String, i64> = results_per_rep(ctx.store, &period, &ctx.reps).await?.into_iter().collect();
    let logins = ctx.logins(done.keys().chain(results.keys())).await?;
    let partial = ctx.partial(period.to);
    let mut table = Table::new(&[
        "rep",
        "period_from",
        "period_to",
        "visits",
        "calls",
        "meetings",
        "results",
        "visits_per_result",
        "calls_per_result",
        "activities_per_result",
        "partial",
    ]);
    let mut total = (Done::default(), 0);
    let mut rows: Vec<(String, Done, i64)> = Vec::new();
    for login in &logins {
        let d = done.get(login).copied().unwrap_or_default();
        let r = results.get(login).copied().unwrap_or(0);
        total.0.visits += d.visits;
        total.0.calls += d.calls;
        total.0.meetings += d.meetings;
        total.1 += r;
        rows.push((login.clone(), d, r));
    }
    if ctx.params.rep.is_none() {
        rows.push((ALL_REPS.to_string(), total.0, total.1));
    }
    for (login, d, r) in &rows {
        table.rows.push(vec![
            text(login),
            Value::Date(period.from),
            Value::Date(period.to),
            Value::Int(d.visits),
            Value::Int(d.calls),
            Value::Int(d.meetings),
            Value::Int(*r),
            per(d.visits, *r),
            per(d.calls, *r),
            per(d.visits + d.calls + d.meetings, *r),
            Value::Bool(partial),
        ]);
    }
    table.chart.style = Style::Bars;
    table.chart.value_title = "Completed per result".into();
    table.chart.categories = rows.iter().map(|(login, _, _)| login.clone()).collect();
    for (i, (name, pick)) in [
        ("visits per result", (|d: &Done| d.visits) as fn(&Done) -> i64),
        ("calls per result", |d: &Done| d.calls),
        ("activities per result", |d: &Done| d.visits + d.calls + d.meetings),
    ]
    .into_iter()
    .enumerate()
    {
        table.chart.series.push(Series {
            name: name.into(),
            values: rows.iter().map(|(_, d, r)| (*r != 0).then(|| pick(d) as f64 / *r as f64)).collect(),
            color: i,
            faded: false,
        });
    }
    table.chart.subtitle = ctx.partial_note();
    Ok(table)
}
