//! iCalendar property values the mapping and the CalDAV queries share: DATE / DATE-TIME values
//! resolved through the object's time zones, the values written back, a value as text, and
//! property lookup by name.

use calcard::common::PartialDateTime;
use calcard::common::timezone::Tz;
use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{
    ICalendarComponent, ICalendarEntry, ICalendarParameter, ICalendarProperty, ICalendarValue, ICalendarValueType,
};
use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};

/// A DATE or DATE-TIME property value, resolved to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateValue {
    pub utc: DateTime<Utc>,
    /// The value as written (midnight for a DATE).
    pub local: NaiveDateTime,
    /// The zone `local` is in: the TZID's, UTC for `Z`, a fixed offset, or the floating zone.
    pub zone: Tz,
    /// A DATE (all-day) value rather than a DATE-TIME.
    pub is_date: bool,
}

impl DateValue {
    /// `self + duration` on the wall clock of its zone, so that `P1D` across a DST change is the
    /// same time on the next day (RFC 5545 3.3.6).
    pub fn add_wall_clock(&self, duration: TimeDelta) -> Option<DateTime<Utc>> {
        local_to_utc(self.local.checked_add_signed(duration)?, self.zone)
    }
}

/// Reads the first value of a DATE/DATE-TIME property. DATE values and floating times are read in
/// the resolver's default zone; `Z` and numeric offsets are exact; a TZID is resolved through the
/// object's VTIMEZONEs or as an IANA or Windows zone name.
pub(crate) fn date_value<Z: ZoneName>(entry: &ICalendarEntry, zones: &TzResolver<Z>) -> Option<DateValue> {
    date_value_in(entry, entry.tz_id(), zones)
}

/// [`date_value`] with an explicit TZID, for values that inherit the zone of another property.
pub(crate) fn date_value_in<Z: ZoneName>(
    entry: &ICalendarEntry,
    tzid: Option<&str>,
    zones: &TzResolver<Z>,
) -> Option<DateValue> {
    let ICalendarValue::PartialDateTime(value) = entry.values.first()? else {
        return None;
    };
    if !value.has_date() {
        return None;
    }
    let is_date = !value.has_time();
    let parsed = value.to_date_time()?;
    let zone = match parsed.offset {
        Some(offset) if offset.local_minus_utc() == 0 => Tz::UTC,
        Some(offset) => Tz::Fixed(offset),
        // DATE values are floating by definition, whatever TZID they carry.
        None if is_date => zones.resolve_or_default(None),
        None => zones.resolve_or_default(tzid),
    };
    Some(DateValue { utc: local_to_utc(parsed.date_time, zone)?, local: parsed.date_time, zone, is_date })
}

/// The key type of a calcard time zone resolver (`&str` or `String`).
pub(crate) trait ZoneName: std::borrow::Borrow<str> + std::hash::Hash + Eq {}

impl<T: std::borrow::Borrow<str> + std::hash::Hash + Eq> ZoneName for T {}

/// A wall-clock time in a zone, as UTC. In the repeated hour of a DST change the first occurrence
/// is taken; a time inside the skipped hour is read with the offset before the gap (RFC 5545
/// 3.3.5), which moves it forward by the gap.
pub(crate) fn local_to_utc(local: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(time) | LocalResult::Ambiguous(time, _) => Some(time.with_timezone(&Utc)),
        LocalResult::None => {
            let later = local.checked_add_signed(TimeDelta::hours(1))?;
            zone.from_local_datetime(&later).earliest().map(|time| time.with_timezone(&Utc))
        }
    }
}

/// A UTC DATE-TIME value (`20240105T100000Z`).
pub(crate) fn partial_utc(at: DateTime<Utc>) -> PartialDateTime {
    PartialDateTime { tz_hour: Some(0), tz_minute: Some(0), ..partial_local(at.naive_utc()) }
}

/// A DATE-TIME value without zone, for a TZID parameter or a floating time.
pub(crate) fn partial_local(local: NaiveDateTime) -> PartialDateTime {
    PartialDateTime {
        hour: u8::try_from(local.hour()).ok(),
        minute: u8::try_from(local.minute()).ok(),
        second: u8::try_from(local.second()).ok(),
        ..partial_date(local.date())
    }
}

/// A DATE value (`20240105`).
pub(crate) fn partial_date(day: NaiveDate) -> PartialDateTime {
    PartialDateTime {
        year: u16::try_from(day.year()).ok(),
        month: u8::try_from(day.month()).ok(),
        day: u8::try_from(day.day()).ok(),
        ..PartialDateTime::default()
    }
}

/// A DTSTART-like property: `VALUE=DATE` for dates, `TZID` for zoned local times.
pub(crate) fn date_entry(
    name: ICalendarProperty,
    value: PartialDateTime,
    is_date: bool,
    tzid: Option<&str>,
) -> ICalendarEntry {
    let mut entry = ICalendarEntry::new(name).with_value(value);
    if let Some(tzid) = tzid {
        entry.add_param(ICalendarParameter::tzid(tzid.to_string()));
    }
    if is_date {
        entry.add_param(ICalendarParameter::value(ICalendarValueType::Date));
    }
    entry
}

/// The value of a property as text for text-match: text as written (unescaped), other values in
/// their iCalendar form (`20240105T100000Z`, `FREQ=WEEKLY`, `PT15M`), several values joined by
/// commas.
pub(crate) fn value_text(entry: &ICalendarEntry) -> String {
    let mut parts = Vec::with_capacity(entry.values.len());
    for value in &entry.values {
        let text = match value {
            ICalendarValue::PartialDateTime(date) => {
                let format = if date.has_time() { ICalendarValueType::DateTime } else { ICalendarValueType::Date };
                let mut text = String::new();
                match date.format_as_ical(&mut text, &format) {
                    Ok(()) => text,
                    Err(_) => continue,
                }
            }
            ICalendarValue::Uri(uri) => uri.to_unwrapped_string(),
            ICalendarValue::Binary(_) => continue,
            other => match other.clone().into_text() {
                Some(text) => text.into_owned(),
                None => continue,
            },
        };
        parts.push(text);
    }
    parts.join(",")
}

pub(crate) fn other(name: &str) -> ICalendarProperty {
    ICalendarProperty::Other(name.to_owned())
}

/// Entries of `property`; X- names compare case-insensitively.
pub(crate) fn entries_named<'a>(
    component: &'a ICalendarComponent,
    property: &'a ICalendarProperty,
) -> impl Iterator<Item = &'a ICalendarEntry> + 'a {
    component.entries.iter().filter(move |entry| same_property(&entry.name, property))
}

pub(crate) fn same_property(a: &ICalendarProperty, b: &ICalendarProperty) -> bool {
    match (a, b) {
        (ICalendarProperty::Other(a), ICalendarProperty::Other(b)) => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

/// The first value of the first `property`, trimmed; `None` when absent or empty.
pub(crate) fn first_text(component: &ICalendarComponent, property: &ICalendarProperty) -> Option<String> {
    entries_named(component, property)
        .next()
        .and_then(|entry| entry.values.first())
        .and_then(ICalendarValue::as_text)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}
