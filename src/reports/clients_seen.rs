//! Clients seen: the distinct clients with an activity completed in each week or month, per rep;
//! the reps side by side, or the period against the same weeks or months a year earlier.
//!
//! A period that runs on past today ends at the week or month holding today: that one is marked
//! `partial` (a column, "(partial)" on the chart, a dashed last segment), and the weeks or months
//! after it are left out rather than shown as zeros.

use std::collections::HashMap;

use chrono::{Datelike, Days, Months, NaiveDate};

use super::chart::{Series, Style};
use super::query::Reps;
use super::query::{Unit, bucket, parse_day};
use super::table::{Table, Value, text};
use super::{Compare, Ctx, Period};
use crate::crm::CrmError;
use crate::on_db;
use crate::store::Store;

/// Distinct clients with an activity completed in one bucket, by one rep.
#[derive(sqlx::FromRow)]
struct SeenRow {
    login: String,
    /// The bucket's first day, as [`bucket`] writes it.
    bucket: String,
    clients: i64,
}

/// Distinct clients with an activity completed in the period, per rep and bucket.
async fn seen_per_bucket(store: &Store, unit: Unit, period: &Period, reps: &Reps) -> anyhow::Result<Vec<SeenRow>> {
    let b = bucket(store.dialect(), unit, "a.completed_at");
    let reps_on_a_rep_id = reps.condition("a.rep_id");
    let sql = format!(
        "SELECT rp.login, {b} AS bucket, COUNT(DISTINCT a.client_id) AS clients \
         FROM activities a JOIN reps rp ON rp.id = a.rep_id \
         WHERE a.status = 'completed' AND a.client_id IS NOT NULL \
         AND a.completed_at >= $1 AND a.completed_at < $2 AND {reps_on_a_rep_id} \
         GROUP BY rp.login, {b} ORDER BY rp.login, bucket"
    );
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&sql).bind(period.start()).bind(period.end()).bind(reps.id).fetch_all(pool).await?
    }))
}

/// The table of [`Kind::ClientsSeenWeekly`](super::Kind::ClientsSeenWeekly) (`unit` week) or
/// [`Kind::ClientsSeenMonthly`](super::Kind::ClientsSeenMonthly) (`unit` month).
pub(super) async fn build(ctx: &Ctx<'_>, unit: Unit) -> Result<Table, CrmError> {
    let load = |period: Period| async move {
        let rows = seen_per_bucket(ctx.store, unit, &period, &ctx.reps).await?;
        Ok::<_, CrmError>(
            rows.into_iter()
                .filter_map(|row| Some(((row.login, parse_day(&row.bucket)?), row.clients)))
                .collect::<HashMap<(String, NaiveDate), i64>>(),
        )
    };
    let period = *ctx.period();
    let counts = load(period).await?;
    let buckets = bucket_starts_until(unit, &period, ctx.params.today);
    // The last bucket is not over when its last day (within the period) is today or later.
    let partial_last = buckets.last().is_some_and(|d| ctx.partial(bucket_end(unit, *d).min(period.to)));
    let is_partial = |i: usize| partial_last && i + 1 == buckets.len();
    let get = |counts: &HashMap<(String, NaiveDate), i64>, login: &str, day: NaiveDate| {
        counts.get(&(login.to_string(), day)).copied().unwrap_or(0)
    };
    let column = if unit == Unit::Week { "week_start" } else { "month_start" };
    let x_title = if unit == Unit::Week { "Week (starting Monday)" } else { "Month" };
    let labels: Vec<String> =
        buckets.iter().enumerate().map(|(i, d)| partial_label(bucket_label(unit, *d), is_partial(i))).collect();

    let mut table;
    match ctx.params.compare {
        None | Some(Compare::Reps) => {
            let logins = ctx.logins(counts.keys().map(|(login, _)| login)).await?;
            if ctx.params.compare.is_none() {
                table = Table::new(&["rep", column, "clients_seen", "partial"]);
                for login in &logins {
                    for (i, day) in buckets.iter().enumerate() {
                        table.rows.push(vec![
                            text(login),
                            Value::Date(*day),
                            Value::Int(get(&counts, login, *day)),
                            Value::Bool(is_partial(i)),
                        ]);
                    }
                }
            } else {
                let mut columns = vec![column];
                columns.extend(logins.iter().map(String::as_str));
                columns.push("partial");
                table = Table::new(&columns);
                for (i, day) in buckets.iter().enumerate() {
                    let mut row = vec![Value::Date(*day)];
                    row.extend(logins.iter().map(|login| Value::Int(get(&counts, login, *day))));
                    row.push(Value::Bool(is_partial(i)));
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
            let previous = ctx.previous();
            let previous_counts = load(previous).await?;
            // As far as this period goes: the same weeks or months a year earlier.
            let mut previous_buckets = bucket_starts(unit, &previous);
            if period.to >= ctx.params.today {
                previous_buckets.truncate(buckets.len());
            }
            let logins = ctx.logins(counts.keys().chain(previous_counts.keys()).map(|(login, _)| login)).await?;
            let (this_label, previous_label) = (period.label(), previous.label());
            let previous_column = format!("previous_{column}");
            table = Table::new(&[
                "rep",
                column,
                &previous_column,
                &format!("clients_seen_{previous_label}"),
                &format!("clients_seen_{this_label}"),
                "change",
                "partial",
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
                        Value::Bool(is_partial(i)),
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
                    (Some(d), _) => partial_label(label(*d), is_partial(i)),
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
    table.chart.partial_last = partial_last;
    if partial_last {
        // Said in words too: a weekly chart names only some of its weeks on the axis.
        let bucket = if unit == Unit::Week { "week" } else { "month" };
        table.chart.subtitle = format!("the last {bucket} is partial: figures up to {}", ctx.params.today);
    }
    table.chart.style = Style::Lines;
    table.chart.x_title = x_title.into();
    table.chart.value_title = "Clients seen".into();
    Ok(table)
}

/// The Mondays (weeks) or first days (months) of the buckets that meet the period.
pub(super) fn bucket_starts(unit: Unit, period: &Period) -> Vec<NaiveDate> {
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

/// [`bucket_starts`] up to the bucket holding `today`: the later ones have no figures yet.
fn bucket_starts_until(unit: Unit, period: &Period, today: NaiveDate) -> Vec<NaiveDate> {
    let starts = bucket_starts(unit, period);
    let kept = starts.iter().filter(|start| **start <= today).count().max(1);
    starts.into_iter().take(kept).collect()
}

/// The last day of the bucket starting on `start`.
fn bucket_end(unit: Unit, start: NaiveDate) -> NaiveDate {
    match unit {
        Unit::Week => start + Days::new(6),
        Unit::Month => start + Months::new(1) - Days::new(1),
        Unit::Year => start + Months::new(12) - Days::new(1),
    }
}

fn partial_label(label: String, partial: bool) -> String {
    if partial { format!("{label} (partial)") } else { label }
}

fn bucket_label(unit: Unit, day: NaiveDate) -> String {
    match unit {
        Unit::Month => day.format("%Y-%m").to_string(),
        _ => day.format("%Y-%m-%d").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::parse_date;

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

    #[test]
    fn a_period_running_past_today_ends_with_the_bucket_holding_today() {
        let year = Period { from: day("2026-01-01"), to: day("2026-12-31") };
        let months = bucket_starts_until(Unit::Month, &year, day("2026-03-10"));
        assert_eq!(months.last(), Some(&day("2026-03-01")));
        assert_eq!(bucket_end(Unit::Month, day("2026-02-01")), day("2026-02-28"));
        assert_eq!(bucket_end(Unit::Week, day("2026-03-09")), day("2026-03-15"));
        // A period wholly in the future keeps its first bucket (its figures are zeros so far).
        let later = Period { from: day("2027-01-01"), to: day("2027-01-31") };
        assert_eq!(bucket_starts_until(Unit::Month, &later, day("2026-03-10")), vec![day("2027-01-01")]);
    }
}
