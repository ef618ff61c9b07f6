//! A report task as a phone receives it (see `crm::report_tasks`): a VTODO generated from its
//! activity, due when the activity ended, RELATED-TO its event, with instructions in its notes.

use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarParameter, ICalendarParameterName,
    ICalendarProperty, ICalendarStatus, ICalendarValue,
};
use chrono::{DateTime, TimeDelta, Utc};

use super::value::{self, other};
use super::{PRODID, X_CRM_CLIENT, X_CRM_NAME};

/// Names the activity a report task closes (its event's path), for programs reading the task.
pub const X_CRM_REPORT_FOR: &str = "X-CRM-REPORT-FOR";

/// What a report task shows.
#[derive(Debug, Clone)]
pub struct ReportTask {
    pub uid: String,
    pub summary: String,
    /// The instructions, or what the rep wrote so far.
    pub description: String,
    /// The activity's end (or start).
    pub due: Option<DateTime<Utc>>,
    pub all_day: bool,
    /// The event's UID.
    pub related_to: String,
    /// The event's path.
    pub report_for: String,
    /// `(code, name)` of the activity's client.
    pub client: Option<(String, String)>,
    /// DTSTAMP: when the report was asked for, so that the text (and ETag) stays the same.
    pub stamp: DateTime<Utc>,
}

/// The report task as an iCalendar object.
pub fn render_report_task(task: &ReportTask) -> ICalendar {
    let mut root = ICalendarComponent::new(ICalendarComponentType::VCalendar);
    root.add_property(ICalendarProperty::Version, "2.0".to_owned());
    root.add_property(ICalendarProperty::Prodid, PRODID.to_owned());
    root.component_ids.push(1);
    let mut todo = ICalendarComponent::new(ICalendarComponentType::VTodo);
    todo.add_uid(&task.uid);
    todo.add_dtstamp(value::partial_utc(task.stamp));
    let text = |name: ICalendarProperty, text: &str| ICalendarEntry::new(name).with_value(text.to_owned());
    todo.entries.push(text(ICalendarProperty::Summary, &task.summary));
    if let Some(due) = task.due {
        // A DATE-valued DUE names the last day of an all-day activity (its end is exclusive).
        todo.entries.push(match task.all_day {
            true => value::date_entry(
                ICalendarProperty::Due,
                value::partial_date((due - TimeDelta::seconds(1)).date_naive()),
                true,
                None,
            ),
            false => value::date_entry(ICalendarProperty::Due, value::partial_utc(due), false, None),
        });
    }
    todo.entries.push(ICalendarEntry::new(ICalendarProperty::Status).with_value(ICalendarStatus::NeedsAction));
    todo.entries.push(text(ICalendarProperty::RelatedTo, &task.related_to));
    todo.entries.push(text(ICalendarProperty::Description, &task.description));
    if let Some((code, name)) = &task.client {
        let mut entry = text(other(X_CRM_CLIENT), code.trim());
        if !name.trim().is_empty() {
            entry.add_param(ICalendarParameter::new(
                ICalendarParameterName::Other(X_CRM_NAME.into()),
                name.trim().to_owned(),
            ));
        }
        todo.entries.push(entry);
    }
    todo.entries.push(
        ICalendarEntry::new(other(X_CRM_REPORT_FOR)).with_values(vec![ICalendarValue::Text(task.report_for.clone())]),
    );
    ICalendar { components: vec![root, todo] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::ical::test_support::utc;
    use crate::mapping::ical::{ComponentKind, ParseOptions, parse};

    #[test]
    fn a_report_task_reads_back_as_an_open_task_due_at_the_end() {
        let task = ReportTask {
            uid: "crmdav-report-abc".into(),
            summary: "Report: Renewal call".into(),
            description: "Write what happened, then tick this done.".into(),
            due: Some(utc(2026, 11, 20, 10, 30)),
            all_day: false,
            related_to: "abc".into(),
            report_for: "/dav/calendars/alice/activities/abc.ics".into(),
            client: Some(("C001".into(), "Meridian Logistics AG".into())),
            stamp: utc(2026, 11, 20, 10, 31),
        };
        let text = render_report_task(&task).to_string();
        assert!(text.contains("RELATED-TO:abc\r\n") && text.contains("DUE:20261120T103000Z\r\n"), "{text}");
        let parsed = parse(&text, ComponentKind::Todo, &ParseOptions::default()).expect("reads back");
        assert_eq!((parsed.uid.as_str(), parsed.summary.as_str()), ("crmdav-report-abc", "Report: Renewal call"));
        assert!(!parsed.completes && parsed.end == task.due);
        let all_day = ReportTask { all_day: true, due: Some(utc(2026, 11, 21, 0, 0)), ..task };
        assert!(render_report_task(&all_day).to_string().contains("DUE;VALUE=DATE:20261120\r\n"));
    }
}
