//! The report queries. Every figure is computed by the database (GROUP BY, COUNT DISTINCT, FILTER,
//! EXISTS); Rust only receives the aggregated rows. The same SQL runs on SQLite and PostgreSQL,
//! except the calendar bucketing expressions of [`bucket`].

use anyhow::Result;
use chrono::NaiveDate;

use super::Period;
use crate::crm::visibility::visible_condition_on;
use crate::on_db;
use crate::store::{Dialect, Store, Ts};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Week,
    Month,
    Year,
}

/// The SQL text of the calendar bucket (in UTC) of the timestamp `column`: the ISO week's Monday
/// (`YYYY-MM-DD`), the first day of the month (`YYYY-MM-01`) or the year (`YYYY`).
/// SQLite timestamps are TEXT (`YYYY-MM-DDTHH:MM:SSZ`, which its date functions read);
/// PostgreSQL's are TIMESTAMPTZ, taken in UTC whatever the session time zone.
pub fn bucket(dialect: Dialect, unit: Unit, column: &str) -> String {
    match (dialect, unit) {
        // 'weekday 0' moves forward to the Sunday ending the ISO week (or stays on it); six days back is its Monday.
        (Dialect::Sqlite, Unit::Week) => format!("strftime('%Y-%m-%d', {column}, 'weekday 0', '-6 days')"),
        (Dialect::Sqlite, Unit::Month) => format!("strftime('%Y-%m-01', {column})"),
        (Dialect::Sqlite, Unit::Year) => format!("strftime('%Y', {column})"),
        (Dialect::Postgres, Unit::Week) => {
            format!("to_char(date_trunc('week', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')")
        }
        (Dialect::Postgres, Unit::Month) => {
            format!("to_char(date_trunc('month', {column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')")
        }
        (Dialect::Postgres, Unit::Year) => format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY')"),
    }
}

/// The date an activity counts on when it is not about completion: its start; an undated task
/// counts on the day it was created.
const ACTIVITY_DAY: &str = "COALESCE(a.start_at, a.created_at)";

pub fn parse_day(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// Active reps of role `rep`: the rows of a report that names no rep, even when they have no data.
pub async fn rep_logins(store: &Store) -> Result<Vec<String>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_scalar("SELECT login FROM reps WHERE role = 'rep' AND active = TRUE ORDER BY login")
            .fetch_all(pool)
            .await?
    }))
}

/// Distinct clients with an activity completed in the period, per rep and bucket:
/// `(login, bucket, clients)`.
pub async fn clients_seen(
    store: &Store,
    unit: Unit,
    period: &Period,
    rep_id: Option<i64>,
) -> Result<Vec<(String, String, i64)>> {
    let b = bucket(store.dialect(), unit, "a.completed_at");
    let sql = format!(
        "SELECT rp.login, {b} AS bucket, COUNT(DISTINCT a.client_id) AS clients \
         FROM activities a JOIN reps rp ON rp.id = a.rep_id \
         WHERE a.status = 'completed' AND a.client_id IS NOT NULL \
         AND a.completed_at >= $1 AND a.completed_at < $2 AND ($3 IS NULL OR a.rep_id = $3) \
         GROUP BY rp.login, {b} ORDER BY rp.login, bucket"
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.start()).bind(period.end()).bind(rep_id).fetch_all(pool).await?
    }))
}

/// Activities of each client per year, by status: `(code, name, year, total, completed, cancelled, planned)`.
pub type ClientYear = (String, String, String, i64, i64, i64, i64);

pub async fn activities_per_client(store: &Store, period: &Period, rep_id: Option<i64>) -> Result<Vec<ClientYear>> {
    let year = bucket(store.dialect(), Unit::Year, ACTIVITY_DAY);
    let sql = format!(
        "SELECT c.code, c.name, {year} AS yr, COUNT(*) AS total, \
         COUNT(*) FILTER (WHERE a.status = 'completed') AS completed, \
         COUNT(*) FILTER (WHERE a.status = 'cancelled') AS cancelled, \
         COUNT(*) FILTER (WHERE a.status = 'planned') AS planned \
         FROM activities a JOIN clients c ON c.id = a.client_id \
         WHERE {ACTIVITY_DAY} >= $1 AND {ACTIVITY_DAY} < $2 AND ($3 IS NULL OR a.rep_id = $3) \
         GROUP BY c.code, c.name, {year} ORDER BY c.code, yr"
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.start()).bind(period.end()).bind(rep_id).fetch_all(pool).await?
    }))
}

/// Activities of each client in the period, per rep: `(code, name, login, activities)`.
pub async fn activities_per_client_and_rep(
    store: &Store,
    period: &Period,
) -> Result<Vec<(String, String, String, i64)>> {
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

/// What became of each rep's activities dated in the period: `(login, completed, cancelled, planned)`.
pub async fn results(store: &Store, period: &Period, rep_id: Option<i64>) -> Result<Vec<(String, i64, i64, i64)>> {
    let sql = format!(
        "SELECT rp.login, \
         COUNT(*) FILTER (WHERE a.status = 'completed') AS completed, \
         COUNT(*) FILTER (WHERE a.status = 'cancelled') AS cancelled, \
         COUNT(*) FILTER (WHERE a.status = 'planned') AS planned \
         FROM activities a JOIN reps rp ON rp.id = a.rep_id \
         WHERE {ACTIVITY_DAY} >= $1 AND {ACTIVITY_DAY} < $2 AND ($3 IS NULL OR a.rep_id = $3) \
         GROUP BY rp.login ORDER BY rp.login"
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.start()).bind(period.end()).bind(rep_id).fetch_all(pool).await?
    }))
}

/// SQL condition: client `c` has an activity (by anyone) completed between the two parameters.
fn touched(from: &str, to: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM activities t WHERE t.client_id = c.id AND t.status = 'completed' \
         AND t.completed_at >= {from} AND t.completed_at < {to})"
    )
}

/// The reps a visibility report covers, joined to the clients each sees (`rp` and `c`): active
/// reps, or the one asked for. The rules are evaluated in SQL per rep, as for the address books.
fn reps_and_visible_clients() -> String {
    format!(
        "FROM reps rp JOIN clients c ON {} WHERE rp.active = TRUE AND ($3 IS NULL OR rp.id = $3)",
        visible_condition_on("c", "rp.id")
    )
}

/// Clients a rep sees that have no activity completed in the period, with the last completion
/// before the period's end: `(login, code, name, status, territory, last_completed)`.
pub type Untouched = (String, String, String, String, String, Option<Ts>);

pub async fn untouched_clients(store: &Store, period: &Period, rep_id: Option<i64>) -> Result<Vec<Untouched>> {
    let sql = format!(
        "SELECT rp.login, c.code, c.name, c.status, c.territory, \
         (SELECT MAX(l.completed_at) FROM activities l WHERE l.client_id = c.id AND l.status = 'completed' AND l.completed_at < $2) AS last_completed \
         {} AND NOT {} ORDER BY rp.login, c.code",
        reps_and_visible_clients(),
        touched("$1", "$2")
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.start()).bind(period.end()).bind(rep_id).fetch_all(pool).await?
    }))
}

/// Per rep: clients seen, and how many of them were untouched in `period` and in `previous`:
/// `(login, visible, untouched, untouched_previous)`.
pub async fn untouched_summary(
    store: &Store,
    period: &Period,
    previous: &Period,
    rep_id: Option<i64>,
) -> Result<Vec<(String, i64, i64, i64)>> {
    let sql = format!(
        "SELECT rp.login, COUNT(*) AS visible, \
         SUM(CASE WHEN {} THEN 0 ELSE 1 END) AS untouched, \
         SUM(CASE WHEN {} THEN 0 ELSE 1 END) AS untouched_previous \
         {} GROUP BY rp.login ORDER BY rp.login",
        touched("$1", "$2"),
        touched("$4", "$5"),
        reps_and_visible_clients()
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql)
            .bind(period.start())
            .bind(period.end())
            .bind(rep_id)
            .bind(previous.start())
            .bind(previous.end())
            .fetch_all(pool)
            .await?
    }))
}
