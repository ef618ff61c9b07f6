//! Prospects converted to clients: per account manager, the clients whose first result (order or
//! won deal) is dated in the period (a prospect becomes a client with its first order), against the
//! prospects still without any result; the conversion share is converted / (converted + open).
//! Clients whose history starts with totals moved in by the migration were clients already.

use std::collections::HashMap;

use anyhow::Result;

use super::chart::{self, Series, Style};
use super::query::Reps;
use super::table::{Table, Value, round4, share, share_f, text};
use super::{Ctx, Period};
use crate::crm::CrmError;
use crate::on_db;
use crate::store::Store;

#[derive(sqlx::FromRow)]
struct ConversionRow {
    login: String,
    converted: i64,
    open_prospects: i64,
}

async fn per_manager(store: &Store, period: &Period, reps: &Reps) -> Result<Vec<ConversionRow>> {
    let reps_on_c_account_manager_id = reps.condition("c.account_manager_id");
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&format!(
            "SELECT rp.login, \
             COUNT(*) FILTER (WHERE f.first_day >= $1 AND f.first_day <= $2 AND f.migrated = 0) AS converted, \
             COUNT(*) FILTER (WHERE f.client_id IS NULL AND c.status = 'prospect') AS open_prospects \
             FROM clients c JOIN reps rp ON rp.id = c.account_manager_id \
             LEFT JOIN (SELECT client_id, MIN(ordered_on) AS first_day, \
                        SUM(CASE WHEN source = 'migration' THEN 1 ELSE 0 END) AS migrated \
                        FROM results GROUP BY client_id) f ON f.client_id = c.id \
             WHERE {reps_on_c_account_manager_id} GROUP BY rp.login ORDER BY rp.login"
        ))
        .bind(period.from)
        .bind(period.to)
        .bind(reps.id)
        .fetch_all(pool)
        .await?
    }))
}

/// The table of [`Kind::ProspectConversion`](super::Kind::ProspectConversion).
pub(super) async fn build(ctx: &Ctx<'_>) -> Result<Table, CrmError> {
    let period = *ctx.period();
    let counts: HashMap<String, (i64, i64)> = per_manager(ctx.store, &period, &ctx.reps)
        .await?
        .into_iter()
        .map(|row| (row.login, (row.converted, row.open_prospects)))
        .collect();
    let logins = ctx.logins(counts.keys()).await?;
    let partial = ctx.partial(period.to);
    let get = |login: &str| counts.get(login).copied().unwrap_or((0, 0));
    let mut table =
        Table::new(&["rep", "period_from", "period_to", "converted", "open_prospects", "conversion_share", "partial"]);
    let (mut team_converted, mut team_open) = (0, 0);
    for login in &logins {
        let (converted, open) = get(login);
        team_converted += converted;
        team_open += open;
        table.rows.push(vec![
            text(login),
            Value::Date(period.from),
            Value::Date(period.to),
            Value::Int(converted),
            Value::Int(open),
            share(converted, converted + open),
            Value::Bool(partial),
        ]);
    }
    table.chart.style = Style::Bars;
    table.chart.percent = true;
    table.chart.value_title = "Prospects converted".into();
    table.chart.categories = logins.clone();
    table.chart.series.push(Series {
        name: "conversion share".into(),
        values: logins
            .iter()
            .map(|login| {
                let (converted, open) = get(login);
                share_f(converted, converted + open).map(|s| round4(s) * 100.0)
            })
            .collect(),
        color: chart::STATUS_COLORS[0],
        faded: false,
    });
    if ctx.params.rep.is_none() {
        table.chart.reference = share_f(team_converted, team_converted + team_open).map(|s| ("team".into(), s * 100.0));
    }
    table.chart.subtitle = ctx.partial_note();
    Ok(table)
}
