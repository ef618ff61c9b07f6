//! One CSV cell as a database value, and back (export writes what import reads).

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};

use super::columns::{Column, Kind};
use crate::store::Ts;
use crate::store::rows::SqlValue;

/// A cell read for a column: a value, or a reference (code, login, UID) resolved to an id later.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Value(SqlValue),
    Ref(Option<String>),
}

/// Reads `text` for `column`; `Err` is the reason, naming the column.
pub fn parse(column: &Column, text: &str) -> Result<Cell, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        if column.required {
            return Err(format!("{}: a value is required", column.name));
        }
        return Ok(empty(column));
    }
    let bad = |what: &str| format!("{}: {trimmed:?} is not {what}", column.name);
    Ok(Cell::Value(match column.kind {
        Kind::Id => SqlValue::from(trimmed),
        Kind::Text => SqlValue::from(text),
        Kind::OneOf(words) => match words.iter().find(|w| w.eq_ignore_ascii_case(trimmed)) {
            Some(word) => SqlValue::from(*word),
            None => return Err(bad(&format!("one of {}", words.join(", ")))),
        },
        Kind::Count => match trimmed.parse::<i64>() {
            Ok(n) if n >= 0 => SqlValue::from(n),
            _ => return Err(bad("a whole number (0 or more)")),
        },
        Kind::Money => SqlValue::from(parse_money(trimmed).ok_or_else(|| bad("an amount like 1234.50"))?),
        Kind::Currency => {
            if trimmed.len() == 3 && trimmed.chars().all(|c| c.is_ascii_alphabetic()) {
                SqlValue::from(trimmed.to_ascii_uppercase())
            } else {
                return Err(bad("a currency code like EUR"));
            }
        }
        Kind::Date => {
            SqlValue::from(NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").map_err(|_| bad("a date like 2026-03-31"))?)
        }
        Kind::Time => SqlValue::from(parse_time(trimmed).ok_or_else(|| bad("a time like 2026-03-02T09:00:00Z"))?),
        Kind::Bool => SqlValue::from(match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(bad("true or false")),
        }),
        Kind::ClientCode | Kind::RepLogin | Kind::ContactUid | Kind::ActivityUid => {
            return Ok(Cell::Ref(Some(trimmed.to_string())));
        }
    }))
}

/// What an empty cell of an optional column means: the table's default.
fn empty(column: &Column) -> Cell {
    Cell::Value(match column.kind {
        Kind::Text | Kind::Id => SqlValue::from(""),
        Kind::OneOf(words) => SqlValue::from(words[0]),
        Kind::Count | Kind::Money => SqlValue::from(0i64),
        Kind::Currency => SqlValue::from("EUR"),
        Kind::Bool => SqlValue::from(false),
        Kind::Date => SqlValue::Date(None),
        Kind::Time => SqlValue::Time(None),
        Kind::ClientCode | Kind::RepLogin | Kind::ContactUid | Kind::ActivityUid => return Cell::Ref(None),
    })
}

/// `1234`, `1234.5`, `-1234.50` as cents; at most two decimals, no thousands separators.
pub fn parse_money(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (units, cents) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if units.is_empty() || !all_digits(units) || !all_digits(cents) || cents.len() > 2 || units.len() > 15 {
        return None;
    }
    let cents: i64 = format!("{cents:0<2}").parse().ok()?;
    let value = units.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents)?;
    Some(if negative { -value } else { value })
}

/// Cents as `1234.50`.
pub fn format_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (cents / 100).abs(), (cents % 100).abs())
}

/// RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DD` in UTC; to the second (as SQLite stores).
fn parse_time(text: &str) -> Option<Ts> {
    let ts = Ts::parse_sqlite_text(text)?;
    Some(Ts(ts.0.with_nanosecond(0)?))
}

/// A time as export writes it: `2026-03-02T09:00:00Z`.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::columns::{Entity, find};

    #[test]
    fn money_round_trips_and_refuses_what_is_ambiguous() {
        assert_eq!(parse_money("1234.5"), Some(123_450));
        assert_eq!(parse_money("-0.05"), Some(-5));
        assert_eq!(parse_money("12"), Some(1_200));
        for bad in ["1,234.50", "12.345", "", "-", "1e3", ".5", "12.3.4"] {
            assert_eq!(parse_money(bad), None, "{bad}");
        }
        for cents in [0, 5, -5, 123_450, -100] {
            assert_eq!(parse_money(&format_money(cents)), Some(cents));
        }
    }

    #[test]
    fn cells_are_checked_against_their_column() {
        let status = find(Entity::Clients, "status").unwrap();
        assert_eq!(parse(status, "Active"), Ok(Cell::Value(SqlValue::from("active"))));
        assert_eq!(parse(status, ""), Ok(Cell::Value(SqlValue::from("active"))), "the table's default");
        assert_eq!(
            parse(status, "gone").unwrap_err(),
            "status: \"gone\" is not one of active, prospect, inactive, closed"
        );
        let code = find(Entity::Clients, "code").unwrap();
        assert_eq!(parse(code, " "), Err("code: a value is required".into()));
        let start = find(Entity::Activities, "start").unwrap();
        let parsed = parse(start, "2026-03-02 09:00").unwrap();
        assert_eq!(parsed, parse(start, "2026-03-02T10:00:00+01:00").unwrap());
        assert!(parse(start, "next monday").unwrap_err().starts_with("start:"));
    }
}
