//! Activity results: what became of the activities planned in the period, per rep (completed,
//! cancelled, still planned, and the completed share); each rep against the team, or the period
//! against the same days a year earlier.

use std::collections::HashMap;

use anyhow::Result;

use super::chart::{self, Series, Style};
use super::query::ACTIVITY_DAY;
use super::query::Reps;
use super::table::{Table, Value, round4, share, share_f, text};
use super::{Compare, Ctx, Period};
use crate::crm::CrmError;
use crate::on_db;
use crate::store::Store;

/// What became of one rep's activities.
#[derive(sqlx::FromRow)]
struct RepResults {
    login: String,
    completed: i64,
    cancelled: i64,
    planned: i64,
}

/// What became of each rep's activities dated in the period.
async fn per_rep(store: &Store, period: &Period, reps: &Reps) -> Result<Vec<RepResults>> {
    let reps_on_a_rep_id = reps.condition("a.rep_id");
    let sql = format!(
        "SELECT rp.login, \
         COUNT(*) FILTER (WHERE a.status = 'completed') AS completed, \
         COUNT(*) FILTER (WHERE a.status = 'cancelled') AS cancelled, \
         COUNT(*) FILTER (WHERE a.status = 'planned') AS planned \
         FROM activities a JOIN reps rp ON rp.id = a.rep_id \
         WHERE {ACTIVITY_DAY} >= $1 AND {ACTIVITY_DAY} < $2 AND {reps_on_a_rep_id} \
         GROUP BY rp.login ORDER BY rp.login"
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.start()).bind(period.end()).bind(reps.id).fetch_all(pool).await?
    }))
}

/// The table of [`Kind::ActivityResults`](super::Kind::ActivityResults).
pub(super) async fn build(ctx: &Ctx<'_>) -> Result<Table, CrmError> {
    type Counts = HashMap<String, (i64, i64, i64)>;
    let load = |period: Period| async move {
        let rows = per_rep(ctx.store, &period, &ctx.reps).await?;
        Ok::<Counts, CrmError>(rows.into_iter().map(|r| (r.login, (r.completed, r.cancelled, r.planned))).collect())
    };
    let counts = load(*ctx.period()).await?;
    let get = |counts: &Counts, login: &str| counts.get(login).copied().unwrap_or((0, 0, 0));
    let mut table;
    match ctx.params.compare {
        None => {
            let logins = ctx.logins(counts.keys()).await?;
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
            let logins = ctx.logins(counts.keys()).await?;
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
            let previous = ctx.previous();
            let before = load(previous).await?;
            let logins = ctx.logins(counts.keys().chain(before.keys())).await?;
            let (t, p) = (ctx.period().label(), previous.label());
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
