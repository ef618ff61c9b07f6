//! Calendar-query evaluation (RFC 4791 9.7), time ranges on recurring components (9.9),
//! `<C:expand>` / `<C:limit-recurrence-set>` (9.6.5, 9.6.6) and free-busy periods (7.10).
//!
//! Everything here works on a parsed `calcard` [`ICalendar`]: recurrence expansion is calcard's
//! (`ICalendar::expand_dates`), so there is no RRULE engine in this crate. `mapping::ical::recurrence` turns its
//! output into instances with the RFC 4791 time-range shape of each one.
//!
//! Expansion is bounded by [`Limits::max_instances`]. When a request needs instances beyond that
//! bound the answer is [`CalendarQueryError::TooManyInstances`] (the server answers 403), never a
//! silently shortened result.

pub mod attachments;
pub mod calendar;
pub mod expand;
pub mod filter;
pub mod notes;
mod report_task;
pub mod team;
mod time_range;

use calcard::common::timezone::Tz;
use calcard::icalendar::{ICalendar, ICalendarComponentType};

pub use expand::{Period, busy_periods, expand, limit_recurrence_set, merge_periods};
pub use filter::matches;

/// Bounds and settings of one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most recurrence-rule occurrences generated for one calendar object. calcard expands from
    /// DTSTART on, so evaluating an open-ended series costs this many steps whatever the range.
    pub max_instances: usize,
    /// How floating times (no `Z`, no TZID) and DATE values are read: the request's
    /// CALDAV:timezone if it sent one (see [`timezone_from_vtimezone`]); `None` reads them as UTC.
    pub floating_timezone: Option<Tz>,
}

impl Limits {
    pub fn new(max_instances: usize) -> Self {
        Self { max_instances, floating_timezone: None }
    }

    pub(crate) fn floating(&self) -> Tz {
        self.floating_timezone.unwrap_or(Tz::UTC)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(3000)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarQueryError {
    /// The request needs more recurrence instances of one object than the server expands.
    #[error(
        "a recurring event would need more than {max_instances} instances to cover the requested \
         time range; ask for a shorter time range"
    )]
    TooManyInstances { max_instances: usize },
    /// A stored object that cannot be evaluated (e.g. written to the database by another
    /// program). The caller may skip it and log the message.
    #[error("the calendar object cannot be evaluated: {0}")]
    InvalidObject(String),
}

/// The time zone of a CALDAV:timezone element (a VCALENDAR holding one VTIMEZONE), for
/// [`Limits::floating_timezone`]. `None` when the text holds no VTIMEZONE calcard can map to a
/// known zone (IANA name, Windows name, X-LIC-LOCATION or Microsoft CDO id).
pub fn timezone_from_vtimezone(text: &str) -> Option<Tz> {
    let calendar = ICalendar::parse(text).ok()?;
    calendar
        .components
        .iter()
        .filter(|component| component.component_type == ICalendarComponentType::VTimezone)
        .find_map(|component| component.timezone().map(|(_, tz)| tz))
}

#[cfg(test)]
pub(crate) mod test_support {
    use chrono::{DateTime, Utc};

    pub use crate::mapping::ical::test_support::{calendar, utc};

    use crate::dav::filter::TimeRange;

    pub fn range(start: DateTime<Utc>, end: DateTime<Utc>) -> TimeRange {
        TimeRange { start: Some(start), end: Some(end) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caldav_timezone_element_gives_its_zone() {
        let tz = timezone_from_vtimezone(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\n\
             BEGIN:STANDARD\r\nDTSTART:16011028T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n\
             END:VTIMEZONE\r\nEND:VCALENDAR\r\n",
        );
        assert_eq!(tz, Some(Tz::Tz(chrono_tz::Europe::Berlin)));
        assert_eq!(timezone_from_vtimezone("not a calendar"), None);
    }
}
