//! A UTC timestamp column type that reads and writes the same way on both databases.
//!
//! On PostgreSQL it is a TIMESTAMPTZ. On SQLite it is TEXT in one fixed form,
//! `YYYY-MM-DDTHH:MM:SSZ`, so that comparisons and ORDER BY on the raw column are correct; values
//! written by other programs in SQLite's other date forms (`YYYY-MM-DD HH:MM:SS`, RFC 3339 with an
//! offset, unix seconds) are still read.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type, ValueRef};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub DateTime<Utc>);

pub const SQLITE_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

impl Ts {
    pub fn now() -> Ts {
        Ts(Utc::now())
    }

    /// Parses the forms a SQLite column may hold.
    pub fn parse_sqlite_text(text: &str) -> Option<Ts> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(Ts(t.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                return Some(Ts(Utc.from_utc_datetime(&t)));
            }
        }
        if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Some(Ts(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?)));
        }
        None
    }
}

impl From<DateTime<Utc>> for Ts {
    fn from(t: DateTime<Utc>) -> Ts {
        Ts(t)
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty) || <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.0.format(SQLITE_FORMAT).to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.type_info().to_string() == "INTEGER" {
            let seconds = <i64 as Decode<Sqlite>>::decode(value)?;
            return Utc.timestamp_opt(seconds, 0).single().map(Ts).ok_or_else(|| "timestamp out of range".into());
        }
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ts::parse_sqlite_text(text).ok_or_else(|| format!("unreadable timestamp {text:?}").into())
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl<'q> Encode<'q, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts(<DateTime<Utc> as Decode<Postgres>>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_other_programs_write() {
        let expected = Utc.with_ymd_and_hms(2026, 3, 1, 14, 30, 0).unwrap();
        for text in
            ["2026-03-01T14:30:00Z", "2026-03-01 14:30:00", "2026-03-01T15:30:00+01:00", "2026-03-01 14:30:00.000"]
        {
            assert_eq!(Ts::parse_sqlite_text(text), Some(Ts(expected)), "{text}");
        }
        assert_eq!(Ts::parse_sqlite_text("yesterday"), None);
    }
}
