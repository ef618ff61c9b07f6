//! CALDAV:filter evaluation (RFC 4791 9.7) against one parsed calendar object.
//!
//! A comp-filter applies to each component of its name under the parent; it matches when one of
//! them passes its time-range, prop-filters and nested comp-filters. A time-range on a VEVENT,
//! VTODO or VJOURNAL is tested per recurrence instance: a master matches through its own
//! (generated, not excluded, not overridden) instances, an override through its instance.
//!
//! A time-range on a VALARM matches when one of its trigger times falls in the range (RFC 4791
//! 9.9): the trigger of each instance of its parent (relative to the instance's start or end), or
//! its absolute trigger, and each repetition (REPEAT, DURATION) of either.
//!
//! A time-range on VFREEBUSY or VAVAILABILITY never matches: those components are not stored here.

use std::cell::OnceCell;

use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarParameterName,
    ICalendarParameterValue, ICalendarProperty, ICalendarRelated, ICalendarValue,
};
use chrono::{DateTime, TimeDelta, Utc};

use super::{CalendarQueryError, Limits};
use crate::dav::filter::{CompFilter, ParamFilter, PropFilter, TextMatch, TimeRange};
use crate::mapping::ical::recurrence::{self, Expansion, Span};
use crate::mapping::ical::value::{date_value, value_text};

/// Whether `calendar` satisfies `filter`, the top comp-filter (VCALENDAR) of a calendar-query.
pub fn matches(calendar: &ICalendar, filter: &CompFilter, limits: &Limits) -> Result<bool, CalendarQueryError> {
    let Some(root) = calendar.components.first() else {
        return Ok(false);
    };
    if filter.is_not_defined || !has_name(root, &filter.name) {
        return Ok(false);
    }
    let evaluation = Evaluation {
        calendar,
        limits,
        zones: calendar.build_tz_resolver().with_default(limits.floating()),
        expansion: OnceCell::new(),
    };
    evaluation.component_matches(0, None, filter)
}

struct Evaluation<'a> {
    calendar: &'a ICalendar,
    limits: &'a Limits,
    zones: TzResolver<&'a str>,
    /// Expanded on the first time-range that needs it, once per object.
    expansion: OnceCell<Result<Expansion, String>>,
}

impl Evaluation<'_> {
    /// `parent`: the component holding this one (a VALARM's trigger is relative to it).
    fn component_matches(
        &self,
        comp_id: u32,
        parent: Option<u32>,
        filter: &CompFilter,
    ) -> Result<bool, CalendarQueryError> {
        let Some(component) = self.calendar.components.get(comp_id as usize) else {
            return Ok(false);
        };
        let in_range = |range| match (&component.component_type, parent) {
            (ICalendarComponentType::VAlarm, Some(parent)) => self.alarm_in_range(parent, component, range),
            _ => self.component_in_range(comp_id, component, range),
        };
        if let Some(range) = &filter.time_range
            && !in_range(range)?
        {
            return Ok(false);
        }
        for prop_filter in &filter.prop_filters {
            if !self.property_matches(component, prop_filter) {
                return Ok(false);
            }
        }
        for child_filter in &filter.comp_filters {
            let mut children = component.component_ids.iter().copied().filter(|child_id| {
                self.calendar
                    .components
                    .get(*child_id as usize)
                    .is_some_and(|child| has_name(child, &child_filter.name))
            });
            let satisfied = if child_filter.is_not_defined {
                children.next().is_none()
            } else {
                let mut any = false;
                for child_id in children {
                    if self.component_matches(child_id, Some(comp_id), child_filter)? {
                        any = true;
                        break;
                    }
                }
                any
            };
            if !satisfied {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn component_in_range(
        &self,
        comp_id: u32,
        component: &ICalendarComponent,
        range: &TimeRange,
    ) -> Result<bool, CalendarQueryError> {
        if !matches!(
            component.component_type,
            ICalendarComponentType::VEvent | ICalendarComponentType::VTodo | ICalendarComponentType::VJournal
        ) {
            return Ok(false);
        }
        let expansion = self.expansion()?;
        if expansion.of_component(comp_id).any(|instance| instance.span.overlaps(range)) {
            return Ok(true);
        }
        // No instance found, but the ones after the cut were never generated.
        if component.has_property(&ICalendarProperty::Rrule) && !expansion.covers(range.end) {
            return Err(CalendarQueryError::TooManyInstances { max_instances: self.limits.max_instances });
        }
        Ok(false)
    }

    fn expansion(&self) -> Result<&Expansion, CalendarQueryError> {
        self.expansion
            .get_or_init(|| recurrence::expand(self.calendar, self.limits.floating(), self.limits.max_instances))
            .as_ref()
            .map_err(|message| CalendarQueryError::InvalidObject(message.clone()))
    }

    /// RFC 4791 9.9 for a VALARM: one of its trigger times t has `range.start <= t < range.end`.
    fn alarm_in_range(
        &self,
        parent_id: u32,
        alarm: &ICalendarComponent,
        range: &TimeRange,
    ) -> Result<bool, CalendarQueryError> {
        let Some(trigger) = alarm.property(&ICalendarProperty::Trigger) else {
            return Ok(false);
        };
        let repetitions = Repetitions::of(alarm);
        let hits = |first: DateTime<Utc>| repetitions.times(first).any(|t| Span::Instant(t).overlaps(range));
        let offset = match trigger.values.first() {
            Some(ICalendarValue::Duration(duration)) => duration.to_time_delta().unwrap_or_default(),
            // An absolute trigger (VALUE=DATE-TIME, in UTC) fires once, whatever the recurrence.
            _ => return Ok(date_value(trigger, &self.zones).is_some_and(|at| hits(at.utc))),
        };
        let from_end = matches!(
            trigger.parameter(&ICalendarParameterName::Related),
            Some(ICalendarParameterValue::Related(ICalendarRelated::End))
        );
        let Some(parent) = self.calendar.components.get(parent_id as usize) else {
            return Ok(false);
        };
        if !matches!(parent.component_type, ICalendarComponentType::VEvent | ICalendarComponentType::VTodo) {
            return Ok(false);
        }
        let expansion = self.expansion()?;
        let found = expansion.of_component(parent_id).any(|instance| {
            let base = match instance.span {
                // A relative trigger needs DTSTART or DUE (RFC 5545 3.8.6.3).
                Span::TodoUndated { .. } => None,
                span if from_end => span.end(),
                span => span.start(),
            };
            base.is_some_and(|base| hits(base + offset))
        });
        if found {
            return Ok(true);
        }
        // An instance after the cut of the expansion may ring inside the range (earlier, by a
        // negative offset, than it starts).
        let latest_start = range.end.map(|end| end - offset.min(TimeDelta::zero()));
        if parent.has_property(&ICalendarProperty::Rrule) && !expansion.covers(latest_start) {
            return Err(CalendarQueryError::TooManyInstances { max_instances: self.limits.max_instances });
        }
        Ok(false)
    }

    fn property_matches(&self, component: &ICalendarComponent, filter: &PropFilter) -> bool {
        let mut properties =
            component.entries.iter().filter(|entry| entry.name.as_str().eq_ignore_ascii_case(&filter.name));
        if filter.is_not_defined {
            return properties.next().is_none();
        }
        properties.any(|entry| {
            filter.time_range.as_ref().is_none_or(|range| self.property_in_range(entry, range))
                && filter.text_match.as_ref().is_none_or(|text_match| text_match.matches(&value_text(entry)))
                && filter.param_filters.iter().all(|param_filter| parameter_matches(entry, param_filter))
        })
    }

    /// RFC 4791 9.9 for DATE-TIME properties such as COMPLETED, CREATED, DTSTAMP, LAST-MODIFIED:
    /// the value lies in the range; a DATE covers its whole day.
    fn property_in_range(&self, entry: &ICalendarEntry, range: &TimeRange) -> bool {
        let Some(value) = date_value(entry, &self.zones) else {
            return false;
        };
        let span = if value.is_date {
            recurrence::Span::Interval { start: value.utc, end: value.utc + TimeDelta::days(1) }
        } else {
            recurrence::Span::Instant(value.utc)
        };
        span.overlaps(range)
    }
}

/// An alarm's REPEAT and DURATION: it rings at its trigger, then `count` more times `interval` apart.
struct Repetitions {
    count: u32,
    interval: TimeDelta,
}

impl Repetitions {
    /// More repetitions than this are not looked at: an alarm is not a recurrence rule.
    const MAX: u32 = 1000;

    fn of(alarm: &ICalendarComponent) -> Repetitions {
        let count = alarm
            .property(&ICalendarProperty::Repeat)
            .and_then(|entry| entry.values.first()?.as_integer())
            .map_or(0, |n| n.clamp(0, Self::MAX as i64) as u32);
        let interval = alarm
            .property(&ICalendarProperty::Duration)
            .and_then(|entry| match entry.values.first()? {
                ICalendarValue::Duration(duration) => duration.to_time_delta(),
                _ => None,
            })
            .filter(|interval| *interval > TimeDelta::zero());
        match interval {
            Some(interval) => Repetitions { count, interval },
            None => Repetitions { count: 0, interval: TimeDelta::zero() },
        }
    }

    fn times(&self, first: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        (0..=self.count).map(move |k| first + self.interval * k as i32)
    }
}

fn has_name(component: &ICalendarComponent, name: &str) -> bool {
    component.component_type.as_str().eq_ignore_ascii_case(name)
}

fn parameter_matches(entry: &ICalendarEntry, filter: &ParamFilter) -> bool {
    let mut values = entry
        .params
        .iter()
        .filter(|param| param.name.as_str().eq_ignore_ascii_case(&filter.name))
        .map(|param| &param.value);
    if filter.is_not_defined {
        return values.next().is_none();
    }
    match &filter.text_match {
        None => values.next().is_some(),
        Some(text_match) => values.any(|value| parameter_text_matches(value, text_match)),
    }
}

fn parameter_text_matches(value: &ICalendarParameterValue, text_match: &TextMatch) -> bool {
    match value {
        ICalendarParameterValue::Integer(number) => text_match.matches(&number.to_string()),
        ICalendarParameterValue::Duration(duration) => text_match.matches(&duration.to_string()),
        other => other.as_text().is_some_and(|text| text_match.matches(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::test_support::{calendar, range, utc};
    use crate::dav::filter::{Collation, MatchType};

    fn filter_for(component: &str, time_range: Option<TimeRange>) -> CompFilter {
        CompFilter {
            name: "VCALENDAR".into(),
            is_not_defined: false,
            time_range: None,
            prop_filters: vec![],
            comp_filters: vec![CompFilter {
                name: component.into(),
                is_not_defined: false,
                time_range,
                prop_filters: vec![],
                comp_filters: vec![],
            }],
        }
    }

    fn in_range(object: &ICalendar, component: &str, range: TimeRange) -> bool {
        matches(object, &filter_for(component, Some(range)), &Limits::default()).unwrap()
    }

    fn text(text: &str) -> TextMatch {
        TextMatch {
            text: text.into(),
            collation: Collation::AsciiCasemap,
            negate: false,
            match_type: MatchType::Contains,
        }
    }

    const WEEKLY: &str = "
        BEGIN:VCALENDAR
        VERSION:2.0
        PRODID:test
        BEGIN:VTIMEZONE
        TZID:Europe/Berlin
        BEGIN:STANDARD
        DTSTART:19701025T030000
        RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
        TZOFFSETFROM:+0200
        TZOFFSETTO:+0100
        END:STANDARD
        BEGIN:DAYLIGHT
        DTSTART:19700329T020000
        RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
        TZOFFSETFROM:+0100
        TZOFFSETTO:+0200
        END:DAYLIGHT
        END:VTIMEZONE
        BEGIN:VEVENT
        UID:jour-fixe
        SEQUENCE:0
        SUMMARY:Jour fixe
        DTSTART;TZID=Europe/Berlin:20240108T090000
        DTEND;TZID=Europe/Berlin:20240108T093000
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

    #[test]
    fn an_overridden_instance_matches_at_its_new_time_only() {
        let object = calendar(WEEKLY);
        // The override's new slot: Wednesday 31 January, 14:00-14:30 Berlin (13:00 UTC).
        assert!(in_range(&object, "VEVENT", range(utc(2024, 1, 31, 12, 0), utc(2024, 1, 31, 16, 0))));
        // The original slot of that instance: Monday 29 January, 09:00 Berlin (08:00 UTC).
        assert!(!in_range(&object, "VEVENT", range(utc(2024, 1, 29, 7, 0), utc(2024, 1, 29, 10, 0))));
        // The instance before and after are still there.
        assert!(in_range(&object, "VEVENT", range(utc(2024, 1, 15, 8, 0), utc(2024, 1, 15, 8, 1))));
        assert!(in_range(&object, "VEVENT", range(utc(2024, 2, 5, 8, 29), utc(2024, 2, 5, 9, 0))));
        // Touching the end of an instance is not an overlap.
        assert!(!in_range(&object, "VEVENT", range(utc(2024, 2, 5, 8, 30), utc(2024, 2, 5, 9, 0))));
    }

    #[test]
    fn an_excluded_instance_does_not_match() {
        let object = calendar(WEEKLY);
        assert!(!in_range(&object, "VEVENT", range(utc(2024, 1, 22, 0, 0), utc(2024, 1, 23, 0, 0))));
        // COUNT=10 counts the excluded date: the last instance is 11 March, nothing after.
        assert!(in_range(&object, "VEVENT", range(utc(2024, 3, 11, 0, 0), utc(2024, 3, 12, 0, 0))));
        assert!(!in_range(&object, "VEVENT", range(utc(2024, 3, 18, 0, 0), utc(2024, 3, 19, 0, 0))));
    }

    #[test]
    fn time_range_and_prop_filter_hold_for_the_same_component() {
        let object = calendar(WEEKLY);
        let mut filter = filter_for("VEVENT", Some(range(utc(2024, 1, 31, 0, 0), utc(2024, 2, 1, 0, 0))));
        filter.comp_filters[0].prop_filters.push(PropFilter {
            name: "SUMMARY".into(),
            is_not_defined: false,
            time_range: None,
            text_match: Some(text("moved")),
            param_filters: vec![],
        });
        assert!(matches(&object, &filter, &Limits::default()).unwrap());
        // The master's summary is not "moved", and its instances are elsewhere.
        filter.comp_filters[0].time_range = Some(range(utc(2024, 2, 5, 0, 0), utc(2024, 2, 6, 0, 0)));
        assert!(!matches(&object, &filter, &Limits::default()).unwrap());
    }

    #[test]
    fn all_day_events_cover_their_days_exactly() {
        let object = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:fair
             DTSTART;VALUE=DATE:20240705
             DTEND;VALUE=DATE:20240707
             END:VEVENT
             END:VCALENDAR",
        );
        assert!(in_range(&object, "VEVENT", range(utc(2024, 7, 6, 23, 0), utc(2024, 7, 7, 0, 0))));
        assert!(in_range(&object, "VEVENT", range(utc(2024, 7, 4, 0, 0), utc(2024, 7, 5, 0, 1))));
        assert!(!in_range(&object, "VEVENT", range(utc(2024, 7, 7, 0, 0), utc(2024, 7, 8, 0, 0))));
        assert!(!in_range(&object, "VEVENT", range(utc(2024, 7, 4, 0, 0), utc(2024, 7, 5, 0, 0))));

        // Read in the request's time zone, the days start at local midnight.
        let berlin = Limits {
            floating_timezone: Some(calcard::common::timezone::Tz::Tz(chrono_tz::Europe::Berlin)),
            ..Limits::default()
        };
        let filter = filter_for("VEVENT", Some(range(utc(2024, 7, 4, 22, 0), utc(2024, 7, 4, 22, 30))));
        assert!(matches(&object, &filter, &berlin).unwrap());
        assert!(!matches(&object, &filter, &Limits::default()).unwrap());
    }

    #[test]
    fn todos_follow_the_rfc_4791_table() {
        let todo = |properties: &str| {
            calendar(&format!("BEGIN:VCALENDAR\nBEGIN:VTODO\nUID:t\n{properties}\nEND:VTODO\nEND:VCALENDAR"))
        };
        let due_only = todo("DUE:20240510T170000Z");
        assert!(in_range(&due_only, "VTODO", range(utc(2024, 5, 10, 16, 0), utc(2024, 5, 10, 17, 0))));
        assert!(!in_range(&due_only, "VTODO", range(utc(2024, 5, 10, 17, 0), utc(2024, 5, 10, 18, 0))));
        assert!(!in_range(&due_only, "VTODO", range(utc(2024, 5, 10, 15, 0), utc(2024, 5, 10, 16, 0))));

        let completed_only = todo("COMPLETED:20240512T080000Z");
        assert!(in_range(&completed_only, "VTODO", range(utc(2024, 5, 12, 8, 0), utc(2024, 5, 12, 9, 0))));
        assert!(in_range(&completed_only, "VTODO", range(utc(2024, 5, 12, 7, 0), utc(2024, 5, 12, 8, 0))));
        assert!(!in_range(&completed_only, "VTODO", range(utc(2024, 5, 12, 8, 1), utc(2024, 5, 12, 9, 0))));

        let undated = todo("SUMMARY:Someday");
        assert!(in_range(&undated, "VTODO", range(utc(1990, 1, 1, 0, 0), utc(1990, 1, 2, 0, 0))));

        let created_only = todo("CREATED:20240501T000000Z");
        assert!(!in_range(&created_only, "VTODO", range(utc(2024, 4, 1, 0, 0), utc(2024, 5, 1, 0, 0))));
        assert!(in_range(&created_only, "VTODO", range(utc(2024, 4, 1, 0, 0), utc(2024, 5, 1, 0, 1))));

        let start_and_due = todo("DTSTART:20240510T090000Z\nDUE:20240513T170000Z");
        assert!(in_range(&start_and_due, "VTODO", range(utc(2024, 5, 11, 0, 0), utc(2024, 5, 12, 0, 0))));
        assert!(!in_range(&start_and_due, "VTODO", range(utc(2024, 5, 14, 0, 0), utc(2024, 5, 15, 0, 0))));
    }

    #[test]
    fn an_unbounded_rule_beyond_the_limit_is_refused() {
        let object = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:daily
             SUMMARY:Stand-up
             DTSTART:20200101T090000Z
             DURATION:PT15M
             RRULE:FREQ=DAILY
             END:VEVENT
             END:VCALENDAR",
        );
        let limits = Limits::new(50);
        let far = filter_for("VEVENT", Some(range(utc(2030, 1, 1, 0, 0), utc(2030, 1, 2, 0, 0))));
        assert_eq!(matches(&object, &far, &limits), Err(CalendarQueryError::TooManyInstances { max_instances: 50 }));
        // Within reach of the limit the answer is exact, and a hit needs no further instances.
        let near = filter_for("VEVENT", Some(range(utc(2020, 1, 10, 0, 0), utc(2020, 1, 11, 0, 0))));
        assert_eq!(matches(&object, &near, &limits), Ok(true));
        let open = filter_for("VEVENT", Some(TimeRange { start: Some(utc(2020, 1, 5, 0, 0)), end: None }));
        assert_eq!(matches(&object, &open, &limits), Ok(true));
        let gap = filter_for("VEVENT", Some(range(utc(2020, 1, 10, 10, 0), utc(2020, 1, 10, 11, 0))));
        assert_eq!(matches(&object, &gap, &limits), Ok(false));
        // The prop-filters alone need no expansion.
        let no_range = filter_for("VEVENT", None);
        assert_eq!(matches(&object, &no_range, &limits), Ok(true));
    }

    #[test]
    fn windows_time_zone_names_are_resolved() {
        // CalDav Synchronizer writes the Windows zone name; no VTIMEZONE needed (RFC 7809).
        let object = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:outlook
             DTSTART;TZID=\"W. Europe Standard Time\":20240610T090000
             DTEND;TZID=\"W. Europe Standard Time\":20240610T100000
             END:VEVENT
             END:VCALENDAR",
        );
        // 09:00 CEST is 07:00 UTC.
        assert!(in_range(&object, "VEVENT", range(utc(2024, 6, 10, 7, 0), utc(2024, 6, 10, 7, 30))));
        assert!(!in_range(&object, "VEVENT", range(utc(2024, 6, 10, 8, 0), utc(2024, 6, 10, 9, 0))));
    }

    #[test]
    fn prop_param_and_nested_component_filters() {
        let object = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:meeting
             SUMMARY:Contract negotiation
             DTSTART:20240415T120000Z
             ATTENDEE;PARTSTAT=ACCEPTED;CN=Anna:mailto:anna@example.com
             ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:kunde@example.org
             CATEGORIES:Customer,C-1042
             COMPLETED:20240415T140000Z
             BEGIN:VALARM
             ACTION:DISPLAY
             TRIGGER:-PT30M
             END:VALARM
             END:VEVENT
             END:VCALENDAR",
        );
        let prop = |name: &str| PropFilter {
            name: name.into(),
            is_not_defined: false,
            time_range: None,
            text_match: None,
            param_filters: vec![],
        };
        let with_props = |props: Vec<PropFilter>| {
            let mut filter = filter_for("VEVENT", None);
            filter.comp_filters[0].prop_filters = props;
            matches(&object, &filter, &Limits::default()).unwrap()
        };
        assert!(with_props(vec![prop("SUMMARY")]));
        assert!(!with_props(vec![prop("LOCATION")]));
        assert!(with_props(vec![PropFilter { is_not_defined: true, ..prop("LOCATION") }]));
        assert!(with_props(vec![PropFilter { text_match: Some(text("c-1042")), ..prop("CATEGORIES") }]));
        assert!(with_props(vec![PropFilter {
            text_match: Some(TextMatch { negate: true, ..text("lunch") }),
            ..prop("SUMMARY")
        }]));
        // One ATTENDEE must satisfy the value test and the parameter test together.
        let attendee = |email: &str, partstat: &str| PropFilter {
            text_match: Some(text(email)),
            param_filters: vec![ParamFilter {
                name: "PARTSTAT".into(),
                is_not_defined: false,
                text_match: Some(text(partstat)),
            }],
            ..prop("ATTENDEE")
        };
        assert!(with_props(vec![attendee("kunde@", "NEEDS-ACTION")]));
        assert!(!with_props(vec![attendee("kunde@", "ACCEPTED")]));
        assert!(with_props(vec![PropFilter {
            param_filters: vec![ParamFilter { name: "RSVP".into(), is_not_defined: true, text_match: None }],
            ..prop("ATTENDEE")
        }]));
        // A time-range on a DATE-TIME property.
        assert!(with_props(vec![PropFilter {
            time_range: Some(range(utc(2024, 4, 15, 13, 0), utc(2024, 4, 15, 15, 0))),
            ..prop("COMPLETED")
        }]));
        assert!(!with_props(vec![PropFilter {
            time_range: Some(range(utc(2024, 4, 15, 14, 1), utc(2024, 4, 15, 15, 0))),
            ..prop("COMPLETED")
        }]));

        // Nested VALARM: present, and its time-range is its trigger's (30 minutes before 12:00).
        let mut filter = filter_for("VEVENT", None);
        filter.comp_filters[0].comp_filters.push(filter_for("VALARM", None).comp_filters.remove(0));
        assert!(matches(&object, &filter, &Limits::default()).unwrap());
        filter.comp_filters[0].comp_filters[0].time_range = Some(range(utc(2024, 1, 1, 0, 0), utc(2025, 1, 1, 0, 0)));
        assert!(matches(&object, &filter, &Limits::default()).unwrap());
        filter.comp_filters[0].comp_filters[0].time_range =
            Some(range(utc(2024, 4, 15, 11, 31), utc(2024, 4, 15, 13, 0)));
        assert!(!matches(&object, &filter, &Limits::default()).unwrap());
        // is-not-defined on a component.
        let mut filter = filter_for("VTODO", None);
        filter.comp_filters[0].is_not_defined = true;
        assert!(matches(&object, &filter, &Limits::default()).unwrap());
        // A VTODO filter does not match an event.
        assert!(!matches(&object, &filter_for("VTODO", None), &Limits::default()).unwrap());
    }

    #[test]
    fn alarms_ring_per_instance_relative_to_start_or_end_and_repeat() {
        let object = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VEVENT
             UID:weekly
             DTSTART:20240101T100000Z
             DTEND:20240101T110000Z
             RRULE:FREQ=WEEKLY;COUNT=4
             BEGIN:VALARM
             ACTION:DISPLAY
             TRIGGER;RELATED=END:PT10M
             REPEAT:2
             DURATION:PT5M
             END:VALARM
             END:VEVENT
             END:VCALENDAR",
        );
        let alarm_in = |start: DateTime<Utc>, end: DateTime<Utc>| {
            let mut filter = filter_for("VEVENT", None);
            let mut alarm = filter_for("VALARM", None).comp_filters.remove(0);
            alarm.time_range = Some(range(start, end));
            filter.comp_filters[0].comp_filters.push(alarm);
            matches(&object, &filter, &Limits::default()).unwrap()
        };
        // Third instance (15 January) ends at 11:00: rings at 11:10, 11:15, 11:20.
        assert!(alarm_in(utc(2024, 1, 15, 11, 10), utc(2024, 1, 15, 11, 11)));
        assert!(alarm_in(utc(2024, 1, 15, 11, 19), utc(2024, 1, 15, 11, 21)));
        assert!(!alarm_in(utc(2024, 1, 15, 11, 21), utc(2024, 1, 15, 12, 0)));
        assert!(!alarm_in(utc(2024, 1, 15, 10, 0), utc(2024, 1, 15, 11, 10)));
        // No fifth instance.
        assert!(!alarm_in(utc(2024, 1, 29, 11, 0), utc(2024, 1, 29, 12, 0)));

        let absolute = calendar(
            "BEGIN:VCALENDAR
             BEGIN:VTODO
             UID:call-back
             DUE:20240301T090000Z
             BEGIN:VALARM
             ACTION:DISPLAY
             TRIGGER;VALUE=DATE-TIME:20240228T080000Z
             END:VALARM
             END:VTODO
             END:VCALENDAR",
        );
        let mut filter = filter_for("VTODO", None);
        let mut alarm = filter_for("VALARM", None).comp_filters.remove(0);
        alarm.time_range = Some(range(utc(2024, 2, 28, 7, 0), utc(2024, 2, 28, 9, 0)));
        filter.comp_filters[0].comp_filters.push(alarm);
        assert!(matches(&absolute, &filter, &Limits::default()).unwrap());
        filter.comp_filters[0].comp_filters[0].time_range = Some(range(utc(2024, 3, 1, 0, 0), utc(2024, 3, 2, 0, 0)));
        assert!(!matches(&absolute, &filter, &Limits::default()).unwrap());
    }
}
