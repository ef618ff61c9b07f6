//! Calendar data shaped by a request: `<C:expand>` (RFC 4791 9.6.5), `<C:limit-recurrence-set>`
//! (9.6.6), and the busy periods of a free-busy-query (7.10).

use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarParameterName, ICalendarProperty,
    ICalendarStatus, ICalendarTransparency, ICalendarValue,
};
use chrono::{DateTime, Utc};

use super::{CalendarQueryError, Limits};
use crate::dav::filter::TimeRange;
use crate::mapping::ical::recurrence::{self, Expansion, Instance, Span};
use crate::mapping::ical::value::{self, date_value};

/// The `<C:expand>` form of `calendar`: every instance overlapping `range` as its own component
/// with a RECURRENCE-ID, DTSTART/DTEND/DUE of that instance, all DATE-TIME values in UTC, no
/// RRULE/RDATE/EXDATE, and no VTIMEZONE. An overridden instance is the override's component.
/// DATE values (all-day) stay DATEs.
pub fn expand(calendar: &ICalendar, range: &TimeRange, limits: &Limits) -> Result<String, CalendarQueryError> {
    let expansion = expansion_of(calendar, limits)?;
    if !expansion.covers(range.end) {
        return Err(too_many(limits));
    }
    let zones = calendar.build_tz_resolver().with_default(limits.floating());
    let Some(root) = calendar.components.first() else {
        return Ok(String::new());
    };
    let mut output = ICalendar {
        components: vec![ICalendarComponent {
            component_type: root.component_type.clone(),
            entries: root.entries.clone(),
            component_ids: Vec::new(),
        }],
    };
    for instance in expansion.instances.iter().filter(|instance| instance.span.overlaps(range)) {
        let Some(source) = calendar.components.get(instance.comp_id as usize) else {
            continue;
        };
        let entries = instance_entries(source, instance, &zones, limits);
        let id = copy_subtree(&mut output, calendar, instance.comp_id, entries, &zones);
        output.components[0].component_ids.push(id);
    }
    Ok(output.to_string())
}

/// The `<C:limit-recurrence-set>` form of `calendar`: masters, time zones and other components
/// unchanged, and only the overrides whose instance overlaps `range` or whose RECURRENCE-ID falls
/// in it (RANGE=THISANDFUTURE overrides also when they start before the range ends).
pub fn limit_recurrence_set(
    calendar: &ICalendar,
    range: &TimeRange,
    limits: &Limits,
) -> Result<String, CalendarQueryError> {
    // Overrides are dated whether or not the rule's expansion reached them, so no coverage check.
    let expansion = expansion_of(calendar, limits)?;
    let zones = calendar.build_tz_resolver().with_default(limits.floating());
    let in_range = |at: DateTime<Utc>| Span::Instant(at).overlaps(range);
    let unwanted: Vec<u32> = calendar
        .components
        .iter()
        .enumerate()
        .filter_map(|(comp_id, component)| {
            let rid_entry = component.property(&ICalendarProperty::RecurrenceId)?;
            if !component.component_type.has_time_ranges() {
                return None;
            }
            let comp_id = comp_id as u32;
            let rid = date_value(rid_entry, &zones).map(|value| value.utc);
            let this_and_future = rid_entry.has_parameter(&ICalendarParameterName::Range);
            let wanted = expansion
                .of_component(comp_id)
                .any(|instance| instance.span.overlaps(range) || instance.recurrence_id.is_some_and(in_range))
                || rid.is_some_and(in_range)
                || (this_and_future && rid.is_some_and(|rid| range.end.is_none_or(|end| rid < end)));
            (!wanted).then_some(comp_id)
        })
        .collect();
    let mut limited = calendar.clone();
    limited.remove_component_ids(&unwanted);
    Ok(limited.to_string())
}

/// A busy period, `[start, end)` in UTC.
pub type Period = (DateTime<Utc>, DateTime<Utc>);

/// The busy time of `calendar` within `range` for a free-busy-query: the instances of opaque,
/// not cancelled VEVENTs, clipped to the range, sorted and merged. Zero-length events take no
/// time.
pub fn busy_periods(
    calendar: &ICalendar,
    range: &TimeRange,
    limits: &Limits,
) -> Result<Vec<Period>, CalendarQueryError> {
    let expansion = expansion_of(calendar, limits)?;
    if !expansion.covers(range.end) {
        return Err(too_many(limits));
    }
    let mut periods = Vec::new();
    for instance in &expansion.instances {
        let Some(component) = calendar.components.get(instance.comp_id as usize) else {
            continue;
        };
        let busy = component.component_type == ICalendarComponentType::VEvent
            && component.transparency() != Some(&ICalendarTransparency::Transparent)
            && component.status() != Some(&ICalendarStatus::Cancelled);
        if let (true, Span::Interval { start, end }) = (busy, instance.span)
            && instance.span.overlaps(range)
        {
            let start = range.start.map_or(start, |range_start| start.max(range_start));
            let end = range.end.map_or(end, |range_end| end.min(range_end));
            periods.push((start, end));
        }
    }
    Ok(merge_periods(periods))
}

/// Sorts periods and merges those that overlap or touch, e.g. the busy periods of all objects of
/// a calendar into one FREEBUSY list.
pub fn merge_periods(mut periods: Vec<Period>) -> Vec<Period> {
    periods.sort();
    let mut merged: Vec<Period> = Vec::with_capacity(periods.len());
    for (start, end) in periods {
        match merged.last_mut() {
            Some((_, last_end)) if start <= *last_end => *last_end = (*last_end).max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

fn expansion_of(calendar: &ICalendar, limits: &Limits) -> Result<Expansion, CalendarQueryError> {
    recurrence::expand(calendar, limits.floating(), limits.max_instances).map_err(CalendarQueryError::InvalidObject)
}

fn too_many(limits: &Limits) -> CalendarQueryError {
    CalendarQueryError::TooManyInstances { max_instances: limits.max_instances }
}

/// The properties of one expanded instance, in the order of its source component.
fn instance_entries(
    source: &ICalendarComponent,
    instance: &Instance,
    zones: &TzResolver<&str>,
    limits: &Limits,
) -> Vec<ICalendarEntry> {
    let as_value = |at: DateTime<Utc>| {
        if instance.is_date {
            let local_day = at.with_timezone(&limits.floating()).date_naive();
            (value::partial_date(local_day), true)
        } else {
            (value::partial_utc(at), false)
        }
    };
    let time_entry = |name: ICalendarProperty, at: DateTime<Utc>| {
        let (value, is_date) = as_value(at);
        value::date_entry(name, value, is_date, None)
    };
    let start = instance.span.start();
    let end = match instance.span {
        Span::Interval { end, .. } | Span::TodoDuration { end, .. } => Some(end),
        Span::Instant(at) => Some(at),
        Span::TodoDue { due, .. } => Some(due),
        Span::TodoUndated { .. } => None,
    };

    let mut entries = Vec::with_capacity(source.entries.len() + 1);
    let mut has_recurrence_id = false;
    for entry in &source.entries {
        let replacement = match entry.name {
            ICalendarProperty::Rrule
            | ICalendarProperty::Rdate
            | ICalendarProperty::Exdate
            | ICalendarProperty::Exrule => None,
            ICalendarProperty::RecurrenceId => {
                has_recurrence_id = true;
                instance.recurrence_id.map(|rid| time_entry(ICalendarProperty::RecurrenceId, rid))
            }
            ICalendarProperty::Dtstart => start.map(|at| time_entry(ICalendarProperty::Dtstart, at)),
            ICalendarProperty::Dtend | ICalendarProperty::Due => end.map(|at| time_entry(entry.name.clone(), at)),
            _ => Some(in_utc(entry, zones)),
        };
        entries.extend(replacement);
    }
    if !has_recurrence_id && let Some(rid) = instance.recurrence_id {
        let position = entries
            .iter()
            .position(|entry| entry.name == ICalendarProperty::Dtstart)
            .map_or(entries.len(), |index| index + 1);
        entries.insert(position, time_entry(ICalendarProperty::RecurrenceId, rid));
    }
    entries
}

/// `entry` with its zoned and floating DATE-TIME values converted to UTC (the VTIMEZONEs are not
/// part of the expanded data). DATE values and other value types are kept.
fn in_utc(entry: &ICalendarEntry, zones: &TzResolver<&str>) -> ICalendarEntry {
    let needs_conversion = entry.values.iter().any(|value| {
        matches!(value, ICalendarValue::PartialDateTime(date)
            if date.has_time() && !matches!((date.tz_hour, date.tz_minute), (Some(0), Some(0) | None)))
    });
    if !needs_conversion {
        return entry.clone();
    }
    let tzid = entry.tz_id();
    let mut converted = entry.clone();
    for value in &mut converted.values {
        if let ICalendarValue::PartialDateTime(date) = value
            && date.has_time()
        {
            let single = ICalendarEntry {
                name: entry.name.clone(),
                params: Vec::new(),
                values: vec![ICalendarValue::PartialDateTime(date.clone())],
            };
            match value::date_value_in(&single, tzid, zones) {
                Some(resolved) => **date = value::partial_utc(resolved.utc),
                // Unreadable: leave the property as it was.
                None => return entry.clone(),
            }
        }
    }
    converted.params.retain(|param| param.name != ICalendarParameterName::Tzid);
    converted
}

/// Appends the component `comp_id` of `source`, with `entries`, and a copy of all its
/// subcomponents (VALARMs) to `output`; returns the new component's id.
fn copy_subtree(
    output: &mut ICalendar,
    source: &ICalendar,
    comp_id: u32,
    entries: Vec<ICalendarEntry>,
    zones: &TzResolver<&str>,
) -> u32 {
    let Some(component) = source.components.get(comp_id as usize) else {
        return 0;
    };
    let new_id = output.components.len() as u32;
    output.components.push(ICalendarComponent {
        component_type: component.component_type.clone(),
        entries,
        component_ids: Vec::new(),
    });
    // An explicit stack: nesting depth comes from the stored data.
    let mut pending = vec![(comp_id, new_id)];
    while let Some((old_parent, new_parent)) = pending.pop() {
        let Some(parent) = source.components.get(old_parent as usize) else {
            continue;
        };
        for &old_child in &parent.component_ids {
            let Some(child) = source.components.get(old_child as usize) else {
                continue;
            };
            let new_child = output.components.len() as u32;
            output.components.push(ICalendarComponent {
                component_type: child.component_type.clone(),
                entries: child.entries.iter().map(|entry| in_utc(entry, zones)).collect(),
                component_ids: Vec::new(),
            });
            output.components[new_parent as usize].component_ids.push(new_child);
            pending.push((old_child, new_child));
        }
    }
    new_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::test_support::{calendar, range, utc};

    const WEEKLY: &str = "
        BEGIN:VCALENDAR
        VERSION:2.0
        PRODID:test
        BEGIN:VTIMEZONE
        TZID:Europe/Berlin
        X-LIC-LOCATION:Europe/Berlin
        BEGIN:STANDARD
        DTSTART:19701025T030000
        RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
        TZOFFSETFROM:+0200
        TZOFFSETTO:+0100
        END:STANDARD
        END:VTIMEZONE
        BEGIN:VEVENT
        UID:jour-fixe
        SUMMARY:Jour fixe
        DTSTART;TZID=Europe/Berlin:20240108T090000
        DTEND;TZID=Europe/Berlin:20240108T093000
        CREATED;TZID=Europe/Berlin:20240102T090000
        RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10
        EXDATE;TZID=Europe/Berlin:20240122T090000
        BEGIN:VALARM
        ACTION:DISPLAY
        TRIGGER:-PT10M
        DESCRIPTION:Reminder
        END:VALARM
        END:VEVENT
        BEGIN:VEVENT
        UID:jour-fixe
        SEQUENCE:1
        SUMMARY:Jour fixe (moved)
        RECURRENCE-ID;TZID=Europe/Berlin:20240129T090000
        DTSTART;TZID=Europe/Berlin:20240131T140000
        DTEND;TZID=Europe/Berlin:20240131T143000
        END:VEVENT
        END:VCALENDAR";

    fn values(ical: &ICalendar, property: ICalendarProperty) -> Vec<String> {
        ical.components
            .iter()
            .filter(|component| component.component_type == ICalendarComponentType::VEvent)
            .filter_map(|component| component.property(&property))
            .map(value::value_text)
            .collect()
    }

    #[test]
    fn expand_gives_one_component_per_instance_in_utc() {
        let object = calendar(WEEKLY);
        let text = expand(&object, &range(utc(2024, 1, 1, 0, 0), utc(2024, 2, 6, 0, 0)), &Limits::default()).unwrap();
        let expanded = ICalendar::parse(&text).unwrap();
        // 8, 15 January, the override (29 → 31 January), 5 February; 22 January is excluded.
        assert_eq!(
            values(&expanded, ICalendarProperty::RecurrenceId),
            ["20240108T080000Z", "20240115T080000Z", "20240129T080000Z", "20240205T080000Z"]
        );
        assert_eq!(
            values(&expanded, ICalendarProperty::Dtstart),
            ["20240108T080000Z", "20240115T080000Z", "20240131T130000Z", "20240205T080000Z"]
        );
        assert_eq!(values(&expanded, ICalendarProperty::Dtend)[2], "20240131T133000Z");
        assert_eq!(values(&expanded, ICalendarProperty::Summary)[2], "Jour fixe (moved)");
        assert_eq!(values(&expanded, ICalendarProperty::Created)[0], "20240102T080000Z");
        for gone in ["RRULE", "EXDATE", "VTIMEZONE", "TZID="] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
        // The alarms come along with their instance.
        assert_eq!(text.matches("BEGIN:VALARM").count(), 3);
        assert_eq!(expanded.components[0].component_ids.len(), 4);
    }

    #[test]
    fn expand_keeps_all_day_instances_as_dates() {
        let object = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:review
             DTSTART;VALUE=DATE:20240701
             DTEND;VALUE=DATE:20240702
             RRULE:FREQ=MONTHLY;COUNT=3
             END:VEVENT
             END:VCALENDAR",
        );
        let text = expand(&object, &range(utc(2024, 7, 15, 0, 0), utc(2024, 9, 30, 0, 0)), &Limits::default()).unwrap();
        let expanded = ICalendar::parse(&text).unwrap();
        assert_eq!(values(&expanded, ICalendarProperty::RecurrenceId), ["20240801", "20240901"]);
        assert_eq!(values(&expanded, ICalendarProperty::Dtend), ["20240802", "20240902"]);
        assert!(text.contains("RECURRENCE-ID;VALUE=DATE:20240801"));
    }

    #[test]
    fn expand_refuses_a_range_beyond_the_limit() {
        let object = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:daily
             DTSTART:20240101T090000Z
             RRULE:FREQ=DAILY
             END:VEVENT
             END:VCALENDAR",
        );
        let limits = Limits::new(20);
        assert!(expand(&object, &range(utc(2024, 1, 1, 0, 0), utc(2024, 1, 10, 0, 0)), &limits).is_ok());
        assert_eq!(
            expand(&object, &range(utc(2024, 1, 1, 0, 0), utc(2024, 3, 1, 0, 0)), &limits),
            Err(CalendarQueryError::TooManyInstances { max_instances: 20 })
        );
    }

    #[test]
    fn limit_recurrence_set_keeps_the_master_and_overrides_in_range() {
        let object = calendar(WEEKLY);
        let outside =
            limit_recurrence_set(&object, &range(utc(2024, 2, 1, 0, 0), utc(2024, 3, 1, 0, 0)), &Limits::default())
                .unwrap();
        assert!(outside.contains("RRULE:"));
        assert!(outside.contains("BEGIN:VTIMEZONE"));
        assert!(!outside.contains("RECURRENCE-ID"));
        let inside =
            limit_recurrence_set(&object, &range(utc(2024, 1, 31, 0, 0), utc(2024, 2, 1, 0, 0)), &Limits::default())
                .unwrap();
        assert!(inside.contains("RECURRENCE-ID"));
        assert_eq!(ICalendar::parse(&inside).unwrap(), object);
    }

    #[test]
    fn busy_periods_skip_transparent_and_cancelled_and_clip() {
        let object = calendar(WEEKLY);
        let busy =
            busy_periods(&object, &range(utc(2024, 1, 8, 8, 15), utc(2024, 2, 1, 0, 0)), &Limits::default()).unwrap();
        assert_eq!(
            busy,
            [
                (utc(2024, 1, 8, 8, 15), utc(2024, 1, 8, 8, 30)),
                (utc(2024, 1, 15, 8, 0), utc(2024, 1, 15, 8, 30)),
                (utc(2024, 1, 31, 13, 0), utc(2024, 1, 31, 13, 30)),
            ]
        );
        for free in ["TRANSP:TRANSPARENT", "STATUS:CANCELLED"] {
            let object = calendar(&format!(
                "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20240108T080000Z\nDTEND:20240108T090000Z\n{free}\nEND:VEVENT\nEND:VCALENDAR"
            ));
            let busy = busy_periods(&object, &range(utc(2024, 1, 1, 0, 0), utc(2024, 2, 1, 0, 0)), &Limits::default())
                .unwrap();
            assert!(busy.is_empty(), "{free}");
        }
    }

    #[test]
    fn merging_periods() {
        let merged = merge_periods(vec![
            (utc(2024, 1, 1, 10, 0), utc(2024, 1, 1, 11, 0)),
            (utc(2024, 1, 1, 9, 0), utc(2024, 1, 1, 10, 0)),
            (utc(2024, 1, 1, 10, 30), utc(2024, 1, 1, 10, 45)),
            (utc(2024, 1, 1, 12, 0), utc(2024, 1, 1, 13, 0)),
        ]);
        assert_eq!(
            merged,
            [(utc(2024, 1, 1, 9, 0), utc(2024, 1, 1, 11, 0)), (utc(2024, 1, 1, 12, 0), utc(2024, 1, 1, 13, 0)),]
        );
    }
}
