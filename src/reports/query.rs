//! SQL shared by the report kinds. Every figure is computed by the database (GROUP BY, COUNT
//! DISTINCT, FILTER, EXISTS); Rust only receives the aggregated rows. The same SQL runs on SQLite
//! and PostgreSQL, except the calendar bucketing expressions of [`bucket`].

use anyhow::Result;
use chrono::NaiveDate;

use crate::on_db;
use crate::store::{Dialect, Store};

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
pub const ACTIVITY_DAY: &str = "COALESCE(a.start_at, a.created_at)";

/// The day a bucket names (`YYYY-MM-DD`, or longer text that starts with it).
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

/// The first instant (UTC) of the day in the date column `column`, comparable with a timestamp
/// column: SQLite compares the texts (`2026-01-31` sorts before `2026-01-31T...`), PostgreSQL
/// takes the date at midnight UTC whatever the session time zone.
pub fn day_start(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::Sqlite => column.to_string(),
        Dialect::Postgres => format!("({column}::timestamp AT TIME ZONE 'UTC')"),
    }
}

/// The first instant (UTC) after the day in the date column `column` (see [`day_start`]).
pub fn day_after(dialect: Dialect, column: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("date({column}, '+1 day')"),
        Dialect::Postgres => format!("(({column} + 1)::timestamp AT TIME ZONE 'UTC')"),
    }
}

/// Which reps a report covers: the one asked for (bound as `$3`), within a manager's teams when
/// `scope` is given (a manager's "all reps" is their teams' reps, never everyone's figures).
#[derive(Clone, Debug, Default)]
pub struct Reps {
    pub id: Option<i64>,
    pub scope: Option<Vec<i64>>,
}

impl Reps {
    /// The SQL condition on `column` (a rep id), with `$3` bound to [`Reps::id`]. The scope is a
    /// list of ids written in the statement (integers only, so nothing to escape).
    pub fn condition(&self, column: &str) -> String {
        let mut condition = format!("($3 IS NULL OR {column} = $3)");
        if let Some(scope) = &self.scope {
            let ids: Vec<String> = scope.iter().map(i64::to_string).collect();
            let ids = if ids.is_empty() { "NULL".to_string() } else { ids.join(", ") };
            condition.push_str(&format!(" AND {column} IN ({ids})"));
        }
        condition
    }
}

/// The ids of the reps `logins` (unknown logins are left out).
pub async fn rep_ids(store: &Store, logins: &[String]) -> Result<Vec<i64>> {
    let rows: Vec<(i64,)> = crate::rows_where_in_only!(store, "SELECT id FROM reps WHERE login", logins);
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
