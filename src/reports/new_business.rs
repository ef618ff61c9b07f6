//! New business: per rep (the result's), month and currency, the amount of new business, the new
//! clients it came from, and the amount of repeat business. A month not over yet is `partial`.

use std::collections::{BTreeSet, HashMap};

use anyhow::Result;
use chrono::{Days, Months, NaiveDate};

use super::chart::{Series, Style};
use super::clients_seen::bucket_starts;
use super::query::Reps;
use super::query::{Unit, parse_day};
use super::table::{Table, Value, text, units};
use super::{Ctx, Period};
use crate::crm::CrmError;
use crate::on_db;
use crate::store::{Dialect, Store};

#[derive(sqlx::FromRow)]
struct MonthRow {
    login: String,
    month: String,
    currency: String,
    new_business: i64,
    repeat_business: i64,
    new_clients: i64,
}

#[derive(Clone, Copy, Default)]
struct Figures {
    new_business: i64,
    repeat_business: i64,
    new_clients: i64,
}

async fn per_month(store: &Store, period: &Period, reps: &Reps) -> Result<Vec<MonthRow>> {
    // `ordered_on` is a day (text on SQLite, DATE on PostgreSQL): no time zone to convert.
    let month = match store.dialect() {
        Dialect::Sqlite => "strftime('%Y-%m-01', r.ordered_on)",
        Dialect::Postgres => "to_char(r.ordered_on, 'YYYY-MM-01')",
    };
    let reps_on_r_rep_id = reps.condition("r.rep_id");
    let sql = format!(
        "SELECT rp.login, {month} AS month, r.currency, \
         CAST(COALESCE(SUM(CASE WHEN r.kind = 'new' THEN r.amount_cents END), 0) AS BIGINT) AS new_business, \
         CAST(COALESCE(SUM(CASE WHEN r.kind = 'repeat' THEN r.amount_cents END), 0) AS BIGINT) AS repeat_business, \
         COUNT(DISTINCT CASE WHEN r.kind = 'new' THEN r.client_id END) AS new_clients \
         FROM results r JOIN reps rp ON rp.id = r.rep_id \
         WHERE r.ordered_on >= $1 AND r.ordered_on <= $2 AND {reps_on_r_rep_id} \
         GROUP BY rp.login, {month}, r.currency ORDER BY rp.login, month, r.currency"
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.from).bind(period.to).bind(reps.id).fetch_all(pool).await?
    }))
}

/// The table of [`Kind::NewBusiness`](super::Kind::NewBusiness).
pub(super) async fn build(ctx: &Ctx<'_>) -> Result<Table, CrmError> {
    let period = *ctx.period();
    let rows = per_month(ctx.store, &period, &ctx.reps).await?;
    let currencies: BTreeSet<String> = rows.iter().map(|r| r.currency.clone()).collect();
    let mut figures: HashMap<(String, NaiveDate, String), Figures> = HashMap::new();
    for row in rows {
        let Some(month) = parse_day(&row.month) else { continue };
        figures.insert(
            (row.login, month, row.currency),
            Figures {
                new_business: row.new_business,
                repeat_business: row.repeat_business,
                new_clients: row.new_clients,
            },
        );
    }
    let logins = ctx.logins(figures.keys().map(|(login, _, _)| login)).await?;
    let months = bucket_starts(Unit::Month, &period);
    // A month's last day within the period: partial when it is today or later.
    let partial = |month: NaiveDate| {
        let month_end = month + Months::new(1) - Days::new(1);
        ctx.partial(month_end.min(period.to))
    };
    let get = |login: &str, month: NaiveDate, currency: &str| {
        figures.get(&(login.to_string(), month, currency.to_string())).copied().unwrap_or_default()
    };
    let mut table =
        Table::new(&["rep", "month_start", "currency", "new_clients", "new_business", "repeat_business", "partial"]);
    for login in &logins {
        for month in &months {
            for currency in &currencies {
                let f = get(login, *month, currency);
                table.rows.push(vec![
                    text(login),
                    Value::Date(*month),
                    text(currency),
                    Value::Int(f.new_clients),
                    units(f.new_business),
                    units(f.repeat_business),
                    Value::Bool(partial(*month)),
                ]);
            }
        }
    }
    // The chart shows one currency: EUR when there is, else the first.
    if let Some(currency) = currencies.get("EUR").or_else(|| currencies.first()) {
        table.chart.value_title = format!("New business ({currency})");
        table.chart.series = logins
            .iter()
            .enumerate()
            .map(|(i, login)| Series {
                name: login.clone(),
                values: months.iter().map(|m| Some(get(login, *m, currency).new_business as f64 / 100.0)).collect(),
                color: i,
                faded: false,
            })
            .collect();
        if currencies.len() > 1 {
            table.chart.subtitle = format!("{currency} only; the table has every currency");
        }
    }
    table.chart.categories = months
        .iter()
        .map(|m| {
            let label = m.format("%Y-%m").to_string();
            if partial(*m) { format!("{label} (partial)") } else { label }
        })
        .collect();
    table.chart.partial_last = months.last().is_some_and(|m| partial(*m));
    table.chart.style = Style::Lines;
    table.chart.x_title = "Month".into();
    Ok(table)
}
