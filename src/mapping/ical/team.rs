//! A rep's event as their manager's team calendar shows it: the rep's own object (client, address,
//! contact as the rep sees them), with whose it is in the title and in `X-CRM-REP`, and without
//! the rep's alarms (a manager's phone does not ring for the team's meetings).

use calcard::icalendar::{
    ICalendar, ICalendarComponentType, ICalendarEntry, ICalendarParameter, ICalendarParameterName, ICalendarProperty,
    ICalendarValue,
};

use super::X_CRM_NAME;
use super::value::{other, same_property};

/// Names the rep of a team event (login, and display name as a parameter).
pub const X_CRM_REP: &str = "X-CRM-REP";

/// Separates the rep's name from the event's own title.
pub const REP_SEPARATOR: &str = ": ";

/// Marks every VEVENT of `calendar` (master and overrides) as `rep_name`'s and drops its alarms.
pub fn mark_team_event(calendar: &mut ICalendar, rep_login: &str, rep_name: &str) {
    let alarms: Vec<u32> = (0..calendar.components.len() as u32)
        .filter(|id| calendar.components[*id as usize].component_type == ICalendarComponentType::VAlarm)
        .collect();
    for component in calendar.components.iter_mut() {
        component.component_ids.retain(|id| !alarms.contains(id));
        if component.component_type != ICalendarComponentType::VEvent {
            continue;
        }
        let title = component
            .entries
            .iter()
            .find(|entry| entry.name == ICalendarProperty::Summary)
            .and_then(|entry| entry.values.first())
            .and_then(ICalendarValue::as_text)
            .unwrap_or("")
            .to_owned();
        let marked = match title.is_empty() {
            true => rep_name.to_owned(),
            false => format!("{rep_name}{REP_SEPARATOR}{title}"),
        };
        component
            .entries
            .retain(|entry| entry.name != ICalendarProperty::Summary && !same_property(&entry.name, &other(X_CRM_REP)));
        component.entries.push(ICalendarEntry::new(ICalendarProperty::Summary).with_value(marked));
        let mut rep = ICalendarEntry::new(other(X_CRM_REP)).with_value(rep_login.to_owned());
        rep.add_param(ICalendarParameter::new(ICalendarParameterName::Other(X_CRM_NAME.into()), rep_name.to_owned()));
        component.entries.push(rep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::ical::test_support::calendar;

    #[test]
    fn a_team_event_names_its_rep_and_rings_no_alarm() {
        let mut object = calendar(
            "BEGIN:VCALENDAR
             VERSION:2.0
             PRODID:x
             BEGIN:VEVENT
             UID:u1
             DTSTART:20260105T090000Z
             SUMMARY:Renewal · Meridian
             BEGIN:VALARM
             ACTION:DISPLAY
             TRIGGER:-PT15M
             END:VALARM
             END:VEVENT
             END:VCALENDAR",
        );
        mark_team_event(&mut object, "alice", "Alice Martin");
        let text = object.to_string();
        assert!(text.contains("SUMMARY:Alice Martin: Renewal · Meridian"), "{text}");
        assert!(text.contains("X-CRM-REP;X-CRM-NAME=\"Alice Martin\":alice"), "{text}");
        assert!(!text.contains("VALARM"), "{text}");
    }
}
