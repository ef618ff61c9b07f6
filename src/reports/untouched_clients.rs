//! Untouched clients: the clients each rep sees (by the visibility rules) with no activity
//! completed in the period, by anyone; each rep against the team, or the period against the same
//! days a year earlier.

use anyhow::Result;

use super::chart::{self, Series, Style};
use super::query::Reps;
use super::table::{Table, Value, round4, share, share_f, text};
use super::{Compare, Ctx, Period};
use crate::crm::CrmError;
use crate::crm::visibility::visible_condition_on;
use crate::on_db;
use crate::store::{Store, Ts};

/// SQL condition: client `c` has an activity (by anyone) completed between the two parameters.
fn touched(from: &str, to: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM activities t WHERE t.client_id = c.id AND t.status = 'completed' \
         AND t.completed_at >= {from} AND t.completed_at < {to})"
    )
}

/// The reps a visibility report covers, joined to the clients each sees (`rp` and `c`): active
/// reps, or the one asked for. The rules are evaluated in SQL per rep, as for the address books.
fn reps_and_visible_clients(reps: &Reps) -> String {
    format!(
        "FROM reps rp JOIN clients c ON {} WHERE rp.active = TRUE AND {}",
        visible_condition_on("c", "rp.id"),
        reps.condition("rp.id")
    )
}

/// A client a rep sees that nobody touched in the period.
#[derive(sqlx::FromRow)]
struct UntouchedClient {
    login: String,
    code: String,
    name: String,
    status: String,
    territory: String,
    /// The last completion before the period's end, by anyone.
    last_completed: Option<Ts>,
}

/// Clients a rep sees that have no activity completed in the period, with the last completion
/// before the period's end.
async fn not_touched(store: &Store, period: &Period, reps: &Reps) -> Result<Vec<UntouchedClient>> {
    let sql = format!(
        "SELECT rp.login, c.code, c.name, c.status, c.territory, \
         (SELECT MAX(l.completed_at) FROM activities l WHERE l.client_id = c.id AND l.status = 'completed' AND l.completed_at < $2) AS last_completed \
         {} AND NOT {} ORDER BY rp.login, c.code",
        reps_and_visible_clients(reps),
        touched("$1", "$2")
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.start()).bind(period.end()).bind(reps.id).fetch_all(pool).await?
    }))
}

/// How many clients one rep sees, and how many of them nobody touched.
#[derive(sqlx::FromRow)]
struct RepSummary {
    login: String,
    visible: i64,
    /// Not touched in the period.
    untouched: i64,
    /// Not touched in the same days a year earlier.
    untouched_previous: i64,
}

/// Per rep: clients seen, and how many of them were untouched in `period` and in `previous`.
async fn summary_per_rep(store: &Store, period: &Period, previous: &Period, reps: &Reps) -> Result<Vec<RepSummary>> {
    let sql = format!(
        "SELECT rp.login, COUNT(*) AS visible, \
         SUM(CASE WHEN {} THEN 0 ELSE 1 END) AS untouched, \
         SUM(CASE WHEN {} THEN 0 ELSE 1 END) AS untouched_previous \
         {} GROUP BY rp.login ORDER BY rp.login",
        touched("$1", "$2"),
        touched("$4", "$5"),
        reps_and_visible_clients(reps)
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql)
            .bind(period.start())
            .bind(period.end())
            .bind(reps.id)
            .bind(previous.start())
            .bind(previous.end())
            .fetch_all(pool)
            .await?
    }))
}
/// The table of [`Kind::UntouchedClients`](super::Kind::UntouchedClients).
pub(super) async fn build(ctx: &Ctx<'_>) -> Result<Table, CrmError> {
    let previous = ctx.previous();
    let summary = summary_per_rep(ctx.store, ctx.period(), &previous, &ctx.reps).await?;
    let mut table;
    match ctx.params.compare {
        None => {
            let rows = not_touched(ctx.store, ctx.period(), &ctx.reps).await?;
            table = Table::new(&["rep", "client_code", "client_name", "status", "territory", "last_completed"]);
            for UntouchedClient { login, code, name, status, territory, last_completed: last } in rows {
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
            table.chart.categories = summary.iter().map(|s| s.login.clone()).collect();
            table.chart.series = vec![
                Series {
                    name: "touched".into(),
                    values: summary.iter().map(|s| Some((s.visible - s.untouched) as f64)).collect(),
                    color: chart::STATUS_COLORS[0],
                    faded: false,
                },
                Series {
                    name: "not touched".into(),
                    values: summary.iter().map(|s| Some(s.untouched as f64)).collect(),
                    color: chart::UNTOUCHED_COLOR,
                    faded: false,
                },
            ];
        }
        Some(Compare::Reps) => {
            let (visible, untouched) = summary.iter().fold((0, 0), |(v, u), s| (v + s.visible, u + s.untouched));
            let team_share = share_f(untouched, visible);
            table = Table::new(&[
                "rep",
                "visible_clients",
                "untouched",
                "untouched_share",
                "team_untouched_share",
                "difference",
            ]);
            let mut ranked: Vec<&RepSummary> = summary.iter().collect();
            // Fewest untouched (as a share) first.
            ranked.sort_by(|a, b| {
                share_f(a.untouched, a.visible)
                    .unwrap_or(2.0)
                    .total_cmp(&share_f(b.untouched, b.visible).unwrap_or(2.0))
                    .then(a.login.cmp(&b.login))
            });
            for RepSummary { login, visible: v, untouched: u, .. } in &ranked {
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
            table.chart.categories = ranked.iter().map(|s| s.login.clone()).collect();
            table.chart.series.push(Series {
                name: "not touched".into(),
                values: ranked.iter().map(|s| share_f(s.untouched, s.visible).map(|x| x * 100.0)).collect(),
                color: chart::UNTOUCHED_COLOR,
                faded: false,
            });
            table.chart.reference = team_share.map(|s| ("team".to_string(), s * 100.0));
        }
        Some(Compare::Years) => {
            let (t, p) = (ctx.period().label(), previous.label());
            table =
                Table::new(&["rep", "visible_clients", &format!("untouched_{p}"), &format!("untouched_{t}"), "change"]);
            for RepSummary { login, visible: v, untouched: u, untouched_previous: u_before } in &summary {
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
            table.chart.categories = summary.iter().map(|s| s.login.clone()).collect();
            table.chart.series.push(Series {
                name: p,
                values: summary.iter().map(|s| Some(s.untouched_previous as f64)).collect(),
                color: chart::UNTOUCHED_COLOR,
                faded: true,
            });
            table.chart.series.push(Series {
                name: t,
                values: summary.iter().map(|s| Some(s.untouched as f64)).collect(),
                color: chart::UNTOUCHED_COLOR,
                faded: false,
            });
        }
    }
    Ok(table)
}
