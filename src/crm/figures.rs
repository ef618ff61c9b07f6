//! A client's key figures, computed from its results (orders and won deals): this year to date and
//! last year, per currency, and the day of its last order. Cards show them (`mapping::vcard`).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::visibility::visible_condition;
use crate::store::{Db, Store};

/// The figures of one client as of `today`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// The year "to date" is of (today's).
    pub year: i32,
    /// Amounts (cents) of this year up to today, per currency, in currency order.
    pub this_year: Vec<(String, i64)>,
    /// Amounts (cents) of last year, per currency.
    pub last_year: Vec<(String, i64)>,
    /// The day of the newest order up to today (totals moved in by the migration do not count).
    pub last_order: Option<NaiveDate>,
}

impl Figures {
    /// A client without results.
    pub fn none(today: NaiveDate) -> Figures {
        Figures { year: today.year(), ..Figures::default() }
    }
}

#[derive(sqlx::FromRow)]
struct FigureRow {
    client_id: i64,
    currency: String,
    this_year: i64,
    last_year: i64,
    last_order: Option<NaiveDate>,
}

/// The aggregate, grouped by client and currency; `{clients}` is replaced by the selection. The
/// days are written into the text (they come from a `NaiveDate`, never from input), so that the
/// selection alone is bound.
fn figures_sql(today: NaiveDate, clients: &str) -> String {
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    let last_year_start = NaiveDate::from_ymd_opt(today.year() - 1, 1, 1).unwrap_or(today);
    format!(
        "SELECT client_id, currency, \
         CAST(SUM(CASE WHEN ordered_on >= '{year_start}' THEN amount_cents ELSE 0 END) AS BIGINT) AS this_year, \
         CAST(SUM(CASE WHEN ordered_on < '{year_start}' THEN amount_cents ELSE 0 END) AS BIGINT) AS last_year, \
         MAX(CASE WHEN source <> 'migration' THEN ordered_on END) AS last_order \
         FROM results WHERE ordered_on >= '{last_year_start}' AND ordered_on <= '{today}' AND client_id {clients} \
         GROUP BY client_id, currency ORDER BY client_id, currency"
    )
}

/// The figures of `client_ids`; clients without results are left out (see [`Figures::none`]).
pub async fn of_clients(store: &Store, client_ids: &[i64], today: NaiveDate) -> Result<HashMap<i64, Arc<Figures>>> {
    if client_ids.is_empty() {
        return Ok(HashMap::new());
    }
    // The list is one bound value, as in `rows_where_in!`.
    let rows: Vec<FigureRow> = match store.db() {
        Db::Sqlite { read, .. } => {
            let sql = figures_sql(today, "IN (SELECT value FROM json_each($1))");
            sqlx::query_as(&sql).bind(serde_json::to_string(client_ids)?).fetch_all(read).await?
        }
        Db::Postgres(pool) => sqlx::query_as(&figures_sql(today, "= ANY($1)")).bind(client_ids).fetch_all(pool).await?,
    };
    Ok(group(rows, today))
}

/// The figures of every client `rep_id` sees.
pub async fn of_visible(store: &Store, rep_id: i64, today: NaiveDate) -> Result<HashMap<i64, Arc<Figures>>> {
    let sql = figures_sql(today, &format!("IN (SELECT c.id FROM clients c WHERE {})", visible_condition("$1")));
    let rows: Vec<FigureRow> =
        crate::on_db!(store, read, |pool| sqlx::query_as(&sql).bind(rep_id).fetch_all(pool).await?);
    Ok(group(rows, today))
}

fn group(rows: Vec<FigureRow>, today: NaiveDate) -> HashMap<i64, Arc<Figures>> {
    let mut grouped: HashMap<i64, Figures> = HashMap::new();
    for row in rows {
        let figures = grouped.entry(row.client_id).or_insert_with(|| Figures::none(today));
        if row.this_year != 0 {
            figures.this_year.push((row.currency.clone(), row.this_year));
        }
        if row.last_year != 0 {
            figures.last_year.push((row.currency, row.last_year));
        }
        figures.last_order = figures.last_order.max(row.last_order);
    }
    grouped.into_iter().map(|(id, figures)| (id, Arc::new(figures))).collect()
}
