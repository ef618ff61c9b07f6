//! The instances of one calendar object, each with its RFC 4791 9.9 time-range shape.
//!
//! Instance start times come from calcard's `ICalendar::expand_dates` (RRULE, RDATE, EXDATE,
//! RECURRENCE-ID overrides, VTIMEZONE / IANA / Windows TZIDs). This module adds what the mapping
//! (the end of a series) and the CalDAV queries need on top of it: the shape of each instance (an
//! interval, an instant, or one of the VTODO cases), the RECURRENCE-ID of each instance, and
//! whether the expansion was cut short by the instance limit and from when on instances may be
//! missing. Whether a shape meets a requested time range is the query's rule
//! (`caldav::time_range`).

use calcard::common::timezone::Tz;
use calcard::icalendar::dates::{CalendarError, TimeOrDelta};
use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarProperty};
use chrono::{DateTime, TimeDelta, Utc};

use super::value::{date_value, date_value_in, local_to_utc};

/// How one instance is tested against a time range (RFC 4791 9.9). Open bounds of the range are
/// infinitely far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// A VEVENT with a positive duration, or an all-day one: `start < range.end && end > range.start`.
    Interval { start: DateTime<Utc>, end: DateTime<Utc> },
    /// A zero-length VEVENT or VJOURNAL, or a VTODO with only DTSTART:
    /// `range.start <= at && range.end > at`.
    Instant(DateTime<Utc>),
    /// A VTODO with DUE, and with or without DTSTART.
    TodoDue { start: Option<DateTime<Utc>>, due: DateTime<Utc> },
    /// A VTODO with DTSTART and DURATION (`end` = DTSTART + DURATION).
    TodoDuration { start: DateTime<Utc>, end: DateTime<Utc> },
    /// A VTODO with neither DTSTART nor DUE: decided by COMPLETED and CREATED, and matching every
    /// range when it has neither.
    TodoUndated { completed: Option<DateTime<Utc>>, created: Option<DateTime<Utc>> },
}

impl Span {
    /// When the instance begins, if it has a start.
    pub fn start(&self) -> Option<DateTime<Utc>> {
        match *self {
            Span::Interval { start, .. } | Span::TodoDuration { start, .. } => Some(start),
            Span::Instant(at) => Some(at),
            Span::TodoDue { start, due } => Some(start.unwrap_or(due)),
            Span::TodoUndated { completed, created } => created.or(completed),
        }
    }

    /// The latest time at which the instance can still meet a time range; `None` when a range
    /// arbitrarily far in the future can match it.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        match *self {
            Span::Interval { end, .. } | Span::TodoDuration { end, .. } => Some(end),
            Span::Instant(at) => Some(at),
            Span::TodoDue { due, .. } => Some(due),
            Span::TodoUndated { completed: Some(completed), created: None } => Some(completed),
            Span::TodoUndated { .. } => None,
        }
    }
}

/// One occurrence of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instance {
    /// The component that describes this occurrence: the master for generated instances, the
    /// override for an overridden one.
    pub comp_id: u32,
    pub span: Span,
    /// The component's DTSTART (or, for an undated VTODO, DUE) is a DATE.
    pub is_date: bool,
    /// The original start of the occurrence within its recurrence set; `None` for a
    /// non-recurring object.
    pub recurrence_id: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Expansion {
    /// Sorted by start.
    pub instances: Vec<Instance>,
    /// `Some(t)` when the instance limit cut the expansion: instances of a recurrence rule that
    /// start after `t` are missing.
    pub truncated_after: Option<DateTime<Utc>>,
}

impl Expansion {
    /// Whether every instance that starts before `end` (an open end: ever) is present.
    pub fn covers(&self, end: Option<DateTime<Utc>>) -> bool {
        match (self.truncated_after, end) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(last), Some(end)) => last >= end,
        }
    }

    pub fn of_component(&self, comp_id: u32) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(move |instance| instance.comp_id == comp_id)
    }
}

/// Expands every VEVENT, VTODO and VJOURNAL of `calendar`, generating at most `max_instances`
/// recurrence-rule occurrences (more are reported through [`Expansion::truncated_after`]).
/// Floating times and DATE values are read in `floating`. An `Err` explains why the object cannot
/// be expanded (e.g. an RRULE calcard rejects).
pub(crate) fn expand(calendar: &ICalendar, floating: Tz, max_instances: usize) -> Result<Expansion, String> {
    let normalized = without_sequences(calendar);
    // One more than allowed, so that reaching the limit means "more than max_instances".
    let limit = max_instances.saturating_add(1);
    let truncated_after = truncation_point(&normalized, floating, limit);
    let expanded = normalized.expand_dates(floating, limit);
    if let Some(error) = expanded.errors.first() {
        return Err(describe_error(calendar, error));
    }

    let zones = calendar.build_tz_resolver().with_default(floating);
    let recurring_set = calendar
        .components
        .iter()
        .any(|component| component.component_type.has_time_ranges() && component.is_recurrent_or_override());
    let mut instances = Vec::with_capacity(expanded.events.len());
    for event in expanded.events {
        let Some(component) = calendar.components.get(event.comp_id as usize) else {
            continue;
        };
        let undated_todo = component.component_type == ICalendarComponentType::VTodo
            && !component.has_property(&ICalendarProperty::Dtstart);
        let timed = matches!(
            component.component_type,
            ICalendarComponentType::VEvent | ICalendarComponentType::VTodo | ICalendarComponentType::VJournal
        );
        if !timed || undated_todo {
            continue;
        }
        let start = event.start.with_timezone(&Utc);
        let (end, explicit_end) = match event.end {
            TimeOrDelta::Time(end) => (end.with_timezone(&Utc), true),
            TimeOrDelta::Delta(delta) => (add_wall_clock(event.start, delta), false),
        };
        let is_date = component
            .property(&ICalendarProperty::Dtstart)
            .and_then(|entry| date_value(entry, &zones))
            .is_some_and(|value| value.is_date);
        instances.push(Instance {
            comp_id: event.comp_id,
            span: span_of(component, start, end, is_date, explicit_end),
            is_date,
            recurrence_id: recurrence_id(component, start, &zones, recurring_set),
        });
    }

    // calcard dates a VTODO without DTSTART by its DUE, COMPLETED or CREATED as if it were a
    // start; RFC 4791 has its own table for those, so they are built here instead.
    for (comp_id, component) in calendar.components.iter().enumerate() {
        if component.component_type != ICalendarComponentType::VTodo
            || component.has_property(&ICalendarProperty::Dtstart)
        {
            continue;
        }
        let read =
            |property: ICalendarProperty| component.property(&property).and_then(|entry| date_value(entry, &zones));
        let due = read(ICalendarProperty::Due);
        let span = match due {
            Some(due) => Span::TodoDue { start: None, due: due.utc },
            None => Span::TodoUndated {
                completed: read(ICalendarProperty::Completed).map(|value| value.utc),
                created: read(ICalendarProperty::Created).map(|value| value.utc),
            },
        };
        let recurrence_id = component
            .property(&ICalendarProperty::RecurrenceId)
            .and_then(|entry| date_value(entry, &zones))
            .map(|value| value.utc);
        instances.push(Instance {
            comp_id: comp_id as u32,
            span,
            is_date: due.is_some_and(|due| due.is_date),
            recurrence_id,
        });
    }

    instances.sort_by_key(|instance| (instance.span.start(), instance.comp_id));
    Ok(Expansion { instances, truncated_after })
}

/// calcard pairs an override with its instance only when both carry the same SEQUENCE, but
/// clients routinely bump SEQUENCE on the override alone; without SEQUENCE they always pair.
fn without_sequences(calendar: &ICalendar) -> ICalendar {
    let mut normalized = calendar.clone();
    for component in &mut normalized.components {
        if component.component_type.has_time_ranges() {
            component.entries.retain(|entry| entry.name != ICalendarProperty::Sequence);
        }
    }
    normalized
}

/// Whether expanding with `limit` cuts some recurrence rule short, and if so, the start of the
/// earliest "last generated occurrence" among the rules. calcard shares one limit between all
/// rules and does not say whether it ran out, so the rules are expanded alone (no RDATE, EXDATE
/// or overrides): then every generated date is one step of the limit.
fn truncation_point(calendar: &ICalendar, floating: Tz, limit: usize) -> Option<DateTime<Utc>> {
    let ruled: Vec<u32> = calendar
        .components
        .iter()
        .enumerate()
        .filter(|(_, component)| {
            component.component_type.has_time_ranges() && component.has_property(&ICalendarProperty::Rrule)
        })
        .map(|(comp_id, _)| comp_id as u32)
        .collect();
    if ruled.is_empty() {
        return None;
    }
    let mut probe = calendar.clone();
    for (comp_id, component) in probe.components.iter_mut().enumerate() {
        if !component.component_type.has_time_ranges() {
            continue;
        }
        if ruled.contains(&(comp_id as u32)) {
            component
                .entries
                .retain(|entry| !matches!(entry.name, ICalendarProperty::Rdate | ICalendarProperty::Exdate));
        } else {
            // Hidden from the expansion without renumbering the components.
            component.component_type = ICalendarComponentType::Other("X-CRMDAV-PROBE".into());
        }
    }
    let events = probe.expand_dates(floating, limit).events;
    if events.len() < limit {
        return None;
    }
    ruled
        .iter()
        .map(|comp_id| {
            events
                .iter()
                .filter(|event| event.comp_id == *comp_id)
                .map(|event| event.start.with_timezone(&Utc))
                .max()
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        })
        .min()
}

/// `start + delta` on the wall clock of the start's zone, as calcard computes instance ends.
fn add_wall_clock(start: DateTime<Tz>, delta: TimeDelta) -> DateTime<Utc> {
    start
        .naive_local()
        .checked_add_signed(delta)
        .and_then(|local| local_to_utc(local, start.timezone()))
        .unwrap_or_else(|| start.with_timezone(&Utc) + delta)
}

fn span_of(
    component: &ICalendarComponent,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    is_date: bool,
    explicit_end: bool,
) -> Span {
    let has = |property: ICalendarProperty| component.has_property(&property);
    if component.component_type == ICalendarComponentType::VTodo {
        return if has(ICalendarProperty::Due) {
            Span::TodoDue { start: Some(start), due: end }
        } else if has(ICalendarProperty::Duration) {
            Span::TodoDuration { start, end }
        } else {
            Span::Instant(start)
        };
    }
    // Without DTEND or DURATION a DATE-TIME event is an instant (calcard would stretch it to the
    // end of its day) and a DATE event lasts one day.
    let has_end = explicit_end || has(ICalendarProperty::Dtend) || has(ICalendarProperty::Duration);
    if (has_end || is_date) && end > start { Span::Interval { start, end } } else { Span::Instant(start) }
}

/// The RECURRENCE-ID of an instance starting at `start`: an override's own RECURRENCE-ID (shifted
/// like the instance for RANGE=THISANDFUTURE), or the start of a generated instance.
fn recurrence_id(
    component: &ICalendarComponent,
    start: DateTime<Utc>,
    zones: &TzResolver<&str>,
    recurring_set: bool,
) -> Option<DateTime<Utc>> {
    let dtstart = component.property(&ICalendarProperty::Dtstart);
    match component.property(&ICalendarProperty::RecurrenceId) {
        Some(rid) => {
            let tzid = rid.tz_id().or_else(|| dtstart.and_then(|entry| entry.tz_id()));
            let rid = date_value_in(rid, tzid, zones)?.utc;
            let moved_by = dtstart
                .and_then(|entry| date_value(entry, zones))
                .map_or(TimeDelta::zero(), |dtstart| dtstart.utc - rid);
            Some(start - moved_by)
        }
        None if recurring_set => Some(start),
        None => None,
    }
}

fn describe_error(calendar: &ICalendar, error: &CalendarError) -> String {
    let component = calendar.components.get(error.comp_id as usize);
    let kind = component.map_or("component", |component| component.component_type.as_str());
    match component.and_then(|component| component.uid()) {
        Some(uid) => format!("{kind} {uid}: {}", error.error),
        None => format!("{kind}: {}", error.error),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{calendar, utc};
    use super::*;

    const WEEKLY_WITH_OVERRIDE: &str = "
        BEGIN:VCALENDAR
        VERSION:2.0
        PRODID:test
        BEGIN:VEVENT
        UID:weekly
        SEQUENCE:0
        DTSTART;TZID=Europe/Berlin:20240108T090000
        DTEND;TZID=Europe/Berlin:20240108T093000
        RRULE:FREQ=WEEKLY;COUNT=4
        EXDATE;TZID=Europe/Berlin:20240115T090000
        END:VEVENT
        BEGIN:VEVENT
        UID:weekly
        SEQUENCE:3
        RECURRENCE-ID;TZID=Europe/Berlin:20240122T090000
        DTSTART;TZID=Europe/Berlin:20240124T140000
        DTEND;TZID=Europe/Berlin:20240124T150000
        END:VEVENT
        END:VCALENDAR";

    #[test]
    fn overrides_replace_their_instance_even_with_another_sequence() {
        let expansion = expand(&calendar(WEEKLY_WITH_OVERRIDE), Tz::UTC, 100).unwrap();
        let summary: Vec<_> = expansion
            .instances
            .iter()
            .map(|instance| (instance.comp_id, instance.span, instance.recurrence_id))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    1,
                    Span::Interval { start: utc(2024, 1, 8, 8, 0), end: utc(2024, 1, 8, 8, 30) },
                    Some(utc(2024, 1, 8, 8, 0))
                ),
                (
                    2,
                    Span::Interval { start: utc(2024, 1, 24, 13, 0), end: utc(2024, 1, 24, 14, 0) },
                    Some(utc(2024, 1, 22, 8, 0))
                ),
                (
                    1,
                    Span::Interval { start: utc(2024, 1, 29, 8, 0), end: utc(2024, 1, 29, 8, 30) },
                    Some(utc(2024, 1, 29, 8, 0))
                ),
            ]
        );
        assert!(expansion.covers(None));
    }

    #[test]
    fn the_limit_is_reported_not_hidden() {
        let daily = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:daily
             DTSTART:20240101T090000Z
             DURATION:PT1H
             RRULE:FREQ=DAILY
             END:VEVENT
             END:VCALENDAR",
        );
        let expansion = expand(&daily, Tz::UTC, 10).unwrap();
        assert_eq!(expansion.instances.len(), 11);
        assert_eq!(expansion.truncated_after, Some(utc(2024, 1, 11, 9, 0)));
        assert!(expansion.covers(Some(utc(2024, 1, 11, 9, 0))));
        assert!(!expansion.covers(Some(utc(2024, 1, 11, 9, 1))));
        assert!(!expansion.covers(None));

        // Exactly max_instances occurrences, some excluded: complete.
        let bounded = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:bounded
             DTSTART:20240101T090000Z
             RRULE:FREQ=DAILY;COUNT=10
             EXDATE:20240102T090000Z,20240103T090000Z
             END:VEVENT
             END:VCALENDAR",
        );
        let expansion = expand(&bounded, Tz::UTC, 10).unwrap();
        assert_eq!(expansion.instances.len(), 8);
        assert_eq!(expansion.truncated_after, None);
    }

    #[test]
    fn events_without_end_follow_rfc_4791() {
        let objects = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:a
             DTSTART:20240301T100000Z
             END:VEVENT
             BEGIN:VEVENT
             UID:b
             DTSTART;VALUE=DATE:20240301
             END:VEVENT
             BEGIN:VEVENT
             UID:c
             DTSTART:20240301T100000Z
             DURATION:PT0S
             END:VEVENT
             END:VCALENDAR",
        );
        let spans: Vec<_> = expand(&objects, Tz::UTC, 10)
            .unwrap()
            .instances
            .into_iter()
            .map(|instance| (instance.comp_id, instance.span, instance.is_date))
            .collect();
        assert!(spans.contains(&(1, Span::Instant(utc(2024, 3, 1, 10, 0)), false)));
        assert!(spans.contains(&(
            2,
            Span::Interval { start: utc(2024, 3, 1, 0, 0), end: utc(2024, 3, 2, 0, 0) },
            true
        )));
        assert!(spans.contains(&(3, Span::Instant(utc(2024, 3, 1, 10, 0)), false)));
    }
}
