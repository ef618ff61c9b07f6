//! Results against objectives: each objective that meets the period (a rep's targets for a period
//! of theirs) against what was reached in the objective's own period: the amount of the rep's
//! results in the objective's currency, the visits they completed, and the new clients their new
//! business came from. An objective whose period is not over yet is `partial`.

use anyhow::Result;
use chrono::{Datelike, Days, NaiveDate};

use super::chart::{self, Series, Style};
use super::query::Reps;
use super::query::{day_after, day_start};
use super::table::{Table, Value, share, share_f, text, units};
use super::{Ctx, Period};
use crate::crm::CrmError;
use crate::on_db;
use crate::store::Store;

#[derive(sqlx::FromRow)]
struct ObjectiveRow {
    login: String,
    period_start: NaiveDate,
    period_end: NaiveDate,
    currency: String,
    objective_amount: i64,
    objective_visits: i64,
    objective_new_clients: i64,
    amount: i64,
    visits: i64,
    new_clients: i64,
}

async fn objectives(store: &Store, period: &Period, reps: &Reps) -> Result<Vec<ObjectiveRow>> {
    let dialect = store.dialect();
    let (from, until) = (day_start(dialect, "o.period_start"), day_after(dialect, "o.period_end"));
    let reps_on_o_rep_id = reps.condition("o.rep_id");
    let sql = format!(
        "SELECT rp.login, o.period_start, o.period_end, o.currency, o.amount_cents AS objective_amount, \
         o.visits AS objective_visits, o.new_clients AS objective_new_clients, \
         (SELECT CAST(COALESCE(SUM(r.amount_cents), 0) AS BIGINT) FROM results r WHERE r.rep_id = o.rep_id \
          AND r.currency = o.currency AND r.ordered_on >= o.period_start AND r.ordered_on <= o.period_end) AS amount, \
         (SELECT COUNT(*) FROM activities a WHERE a.rep_id = o.rep_id AND a.kind = 'visit' \
          AND a.status = 'completed' AND a.completed_at >= {from} AND a.completed_at < {until}) AS visits, \
         (SELECT COUNT(DISTINCT r.client_id) FROM results r WHERE r.rep_id = o.rep_id AND r.kind = 'new' \
          AND r.ordered_on >= o.period_start AND r.ordered_on <= o.period_end) AS new_clients \
         FROM objectives o JOIN reps rp ON rp.id = o.rep_id \
         WHERE o.period_start <= $2 AND o.period_end >= $1 AND {reps_on_o_rep_id} \
         ORDER BY rp.login, o.period_start, o.period_end, o.currency"
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.from).bind(period.to).bind(reps.id).fetch_all(pool).await?
    }))
}

/// `2026-03` for a whole month, else `2026-01-01..2026-03-31`.
fn period_label(start: NaiveDate, end: NaiveDate) -> String {
    let whole_month = start.day() == 1 && (end + Days::new(1)).day() == 1 && start.month() == end.month();
    if whole_month { start.format("%Y-%m").to_string() } else { format!("{start}..{end}") }
}

/// The table of [`Kind::ResultsVsObjectives`](super::Kind::ResultsVsObjectives).
pub(super) async fn build(ctx: &Ctx<'_>) -> Result<Table, CrmError> {
    let rows = objectives(ctx.store, ctx.period(), &ctx.reps).await?;
    let mut table = Table::new(&[
        "rep",
        "period_start",
        "period_end",
        "currency",
        "objective_amount",
        "amount",
        "amount_share",
        "objective_visits",
        "visits",
        "objective_new_clients",
        "new_clients",
        "partial",
    ]);
    let mut values = Vec::new();
    let mut any_partial = false;
    for row in &rows {
        let partial = ctx.partial(row.period_end);
        any_partial |= partial;
        table.rows.push(vec![
            text(&row.login),
            Value::Date(row.period_start),
            Value::Date(row.period_end),
            text(&row.currency),
            units(row.objective_amount),
            units(row.amount),
            share(row.amount, row.objective_amount),
            Value::Int(row.objective_visits),
            Value::Int(row.visits),
            Value::Int(row.objective_new_clients),
            Value::Int(row.new_clients),
            Value::Bool(partial),
        ]);
        let label = format!("{} · {}", row.login, period_label(row.period_start, row.period_end));
        table.chart.categories.push(if partial { format!("{label} (partial)") } else { label });
        values.push(share_f(row.amount, row.objective_amount).map(|s| s * 100.0));
    }
    table.chart.style = Style::Bars;
    table.chart.percent = true;
    table.chart.value_title = "Results as a share of the objective's amount".into();
    table.chart.series.push(Series {
        name: "results / objective".into(),
        values,
        color: chart::STATUS_COLORS[0],
        faded: false,
    });
    table.chart.reference = Some(("objective".into(), 100.0));
    if any_partial {
        table.chart.subtitle = format!("periods marked partial are not over: figures up to {}", ctx.params.today);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_months_are_named_by_their_month() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(period_label(day("2026-02-01"), day("2026-02-28")), "2026-02");
        assert_eq!(period_label(day("2026-01-01"), day("2026-03-31")), "2026-01-01..2026-03-31");
        assert_eq!(period_label(day("2026-02-01"), day("2026-02-27")), "2026-02-01..2026-02-27");
    }
}
