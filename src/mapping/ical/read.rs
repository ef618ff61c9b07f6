//! Reading a device's object: the checks a PUT body must pass ([`super::parse`]) and the modeled
//! values of a master component, which the writer compares the CRM's values against.

use calcard::common::timezone::Tz;
use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarDuration, ICalendarParameterName,
    ICalendarProperty, ICalendarValue,
};
use calcard::{Entry, Parser};
use chrono::{DateTime, TimeDelta, Utc};

use super::recurrence;
use super::value::{DateValue, ZoneName, date_value, first_text, other, value_text};
use super::{ComponentKind, IcalError, X_CRM_CLIENT, X_CRM_KIND, X_CRM_NAME, X_CRM_STATUS};

pub(super) fn parse_one_calendar(text: &str) -> Result<ICalendar, IcalError> {
    let mut parser = Parser::new(text);
    let calendar = match parser.entry() {
        Entry::ICalendar(calendar) => calendar,
        Entry::Eof => return Err(IcalError::Syntax("the body is empty".into())),
        Entry::VCard(_) => {
            return Err(IcalError::Syntax("it is a vCard, not an iCalendar object".into()));
        }
        Entry::InvalidLine(line) => {
            return Err(IcalError::Syntax(format!(
                "unexpected line \"{}\"",
                line.chars().take(80).collect::<String>()
            )));
        }
        Entry::UnexpectedComponentEnd { expected, found } => {
            return Err(IcalError::Syntax(format!(
                "END:{} where END:{} was expected",
                found.as_str(),
                expected.as_str()
            )));
        }
        Entry::UnterminatedComponent(name) => {
            return Err(IcalError::Syntax(format!("BEGIN:{name} has no END")));
        }
        _ => return Err(IcalError::Syntax("too many components".into())),
    };
    if calendar.components.first().is_none_or(|root| root.component_type != ICalendarComponentType::VCalendar) {
        return Err(IcalError::Syntax("the object must start with BEGIN:VCALENDAR".into()));
    }
    // calcard closes components left open at the end of the text by itself; a body cut short (a
    // broken upload or client) must be refused, not stored as if it were whole.
    if !text.trim_end().rsplit('\n').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("END:VCALENDAR")) {
        return Err(IcalError::Syntax("the object is cut short: it does not end with END:VCALENDAR".into()));
    }
    match parser.entry() {
        Entry::Eof => Ok(calendar),
        _ => Err(IcalError::NotOneCalendar),
    }
}

/// The object, written as the server writes it, must read back the same: a property that does
/// not (a parameter with a stray quote, say `DTEND;TZID"Zone":...`, is written without it, and its
/// value is then lost) would be stored as one thing and served as another. Refused with its name.
pub(super) fn check_reads_back(calendar: &ICalendar) -> Result<(), IcalError> {
    let written = calendar.to_string();
    let again = match Parser::new(&written).entry() {
        Entry::ICalendar(again) => again,
        _ => return Err(IcalError::Syntax("the object does not read back once written".into())),
    };
    if again == *calendar {
        return Ok(());
    }
    let differing = calendar
        .components
        .iter()
        .zip(&again.components)
        .flat_map(|(sent, read)| sent.entries.iter().zip(&read.entries))
        .find(|(sent, read)| sent != read)
        .map(|(sent, _)| sent.name.as_str().to_string());
    Err(IcalError::Syntax(match differing {
        Some(name) => format!("the {name} property does not read back as it was sent (a malformed parameter?)"),
        None => "the object does not read back as it was sent".into(),
    }))
}

pub(super) fn is_calendar_component(component_type: &ICalendarComponentType) -> bool {
    matches!(
        component_type,
        ICalendarComponentType::VEvent
            | ICalendarComponentType::VTodo
            | ICalendarComponentType::VJournal
            | ICalendarComponentType::VFreebusy
    )
}

/// Checks the component types and UIDs of the object and returns the index of its master: the
/// component without RECURRENCE-ID, or the first override of an object holding only overrides.
pub(super) fn find_master(calendar: &ICalendar, expected: ComponentKind) -> Result<usize, IcalError> {
    let mut uid: Option<&str> = None;
    let mut master = None;
    let mut first = None;
    for &comp_id in &calendar.components[0].component_ids {
        let Some(component) = calendar.components.get(comp_id as usize) else {
            continue;
        };
        if !is_calendar_component(&component.component_type) {
            continue;
        }
        let name = component.component_type.as_str();
        if component.component_type != expected.component_type() {
            return Err(IcalError::WrongComponent { found: name.to_owned(), expected });
        }
        let this_uid = component
            .uid()
            .map(str::trim)
            .filter(|uid| !uid.is_empty())
            .ok_or_else(|| IcalError::MissingUid(name.to_owned()))?;
        match uid {
            Some(first_uid) if first_uid != this_uid => {
                return Err(IcalError::UidConflict { first: first_uid.to_owned(), second: this_uid.to_owned() });
            }
            _ => uid = Some(this_uid),
        }
        first.get_or_insert(comp_id as usize);
        if !component.is_recurrence_override() {
            if master.is_some() {
                return Err(IcalError::TwoMasters { component: name.to_owned(), uid: this_uid.to_owned() });
            }
            master = Some(comp_id as usize);
        }
    }
    master.or(first).ok_or(IcalError::NoComponent(expected))
}

/// Every TZID of the object must name a zone: one of its VTIMEZONEs that calcard maps to a known
/// zone, or an IANA or Windows name (RFC 7809 lets clients leave out VTIMEZONEs).
pub(super) fn check_timezones(calendar: &ICalendar, zones: &TzResolver<&str>) -> Result<(), IcalError> {
    for component in &calendar.components {
        if matches!(
            component.component_type,
            ICalendarComponentType::VTimezone | ICalendarComponentType::Standard | ICalendarComponentType::Daylight
        ) {
            continue;
        }
        for entry in &component.entries {
            if let Some(tzid) = entry.tz_id()
                && zones.resolve(tzid).is_none()
            {
                return Err(IcalError::UnknownTimezone(tzid.to_owned()));
            }
        }
    }
    Ok(())
}

/// RFC 5545 rules for the dates of one VEVENT or VTODO.
pub(super) fn check_component(
    component: &ICalendarComponent,
    kind: ComponentKind,
    zones: &TzResolver<&str>,
) -> Result<(), IcalError> {
    let name = kind.component_name();
    let read = |property: ICalendarProperty| -> Result<Option<DateValue>, IcalError> {
        let Some(entry) = component.property(&property) else {
            return Ok(None);
        };
        date_value(entry, zones).map(Some).ok_or_else(|| IcalError::InvalidValue {
            property: property.as_str().to_owned(),
            value: value_text(entry),
            expected: "date or date-time",
        })
    };
    let start = read(ICalendarProperty::Dtstart)?;
    let end_property = match kind {
        ComponentKind::Event => ICalendarProperty::Dtend,
        ComponentKind::Todo => ICalendarProperty::Due,
    };
    let end = read(end_property.clone())?;
    let duration = match component.property(&ICalendarProperty::Duration) {
        None => None,
        Some(entry) => match entry.values.first() {
            Some(ICalendarValue::Duration(duration)) => Some(duration),
            _ => {
                return Err(IcalError::InvalidValue {
                    property: "DURATION".into(),
                    value: value_text(entry),
                    expected: "duration such as PT1H",
                });
            }
        },
    };
    for entry in component.properties(&ICalendarProperty::Rrule) {
        if !matches!(entry.values.first(), Some(ICalendarValue::RecurrenceRule(_))) {
            return Err(IcalError::InvalidValue {
                property: "RRULE".into(),
                value: value_text(entry),
                expected: "recurrence rule",
            });
        }
    }

    if kind == ComponentKind::Event && start.is_none() {
        return Err(IcalError::MissingStart(name.to_owned()));
    }
    if component.is_recurrent() && start.is_none() {
        return Err(IcalError::RecurrenceWithoutStart(name.to_owned()));
    }
    if end.is_some() && duration.is_some() {
        return Err(IcalError::EndAndDuration {
            component: name.to_owned(),
            end_property: end_property.as_str().to_owned(),
        });
    }
    if let Some(duration) = duration {
        if duration.neg {
            return Err(IcalError::NegativeDuration(format!("-{}", unsigned(duration))));
        }
        if start.is_none() {
            return Err(IcalError::DurationWithoutStart);
        }
    }
    if let (Some(start), Some(end)) = (start, end) {
        if start.is_date != end.is_date {
            return Err(IcalError::MixedValueTypes {
                start_property: "DTSTART".into(),
                end_property: end_property.as_str().to_owned(),
            });
        }
        if end.utc < start.utc {
            return Err(IcalError::EndBeforeStart {
                end_property: end_property.as_str().to_owned(),
                end: human_time(end),
                start: human_time(start),
            });
        }
    }
    Ok(())
}

fn unsigned(duration: &ICalendarDuration) -> String {
    ICalendarDuration { neg: false, ..duration.clone() }.to_string()
}

fn human_time(value: DateValue) -> String {
    if value.is_date {
        value.local.format("%Y-%m-%d").to_string()
    } else {
        value.utc.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

/// `range_end` of a parsed object; see [`ParsedObject::range_end`].
pub(super) fn range_end(
    calendar: &ICalendar,
    kind: ComponentKind,
    modeled: &Modeled,
    max_instances: usize,
) -> Result<Option<DateTime<Utc>>, IcalError> {
    let is_series = calendar
        .components
        .iter()
        .any(|component| is_calendar_component(&component.component_type) && component.is_recurrent_or_override());
    if !is_series {
        return Ok(match kind {
            ComponentKind::Event => modeled.end,
            ComponentKind::Todo => modeled.end.or(modeled.start.map(|start| start.utc)),
        });
    }
    let expansion = recurrence::expand(calendar, Tz::UTC, max_instances).map_err(IcalError::Recurrence)?;
    // Only calendar components: VTIMEZONE observances repeat forever by design.
    let unbounded = calendar
        .components
        .iter()
        .filter(|component| is_calendar_component(&component.component_type))
        .flat_map(|component| component.properties(&ICalendarProperty::Rrule))
        .any(|entry| {
            matches!(entry.values.first(),
                Some(ICalendarValue::RecurrenceRule(rule)) if rule.until.is_none() && rule.count.is_none())
        });
    if unbounded {
        return Ok(None);
    }
    if expansion.truncated_after.is_some() {
        return Err(IcalError::TooManyInstances(max_instances));
    }
    let mut last: Option<DateTime<Utc>> = modeled.end;
    for instance in &expansion.instances {
        let Some(end) = instance.span.end() else {
            return Ok(None);
        };
        // A DATE-valued DUE ends with its day, as in the CRM end.
        let end = match instance.span {
            recurrence::Span::TodoDue { .. } if instance.is_date => end + TimeDelta::days(1),
            _ => end,
        };
        last = Some(last.map_or(end, |last| last.max(end)));
    }
    Ok(last)
}

/// The modeled values of an object's master component, read leniently (a value that cannot be
/// read counts as absent).
#[derive(Debug, Clone, Default)]
pub(super) struct Modeled {
    pub(super) uid: Option<String>,
    pub(super) summary: String,
    pub(super) description: String,
    pub(super) location: String,
    pub(super) contact: String,
    pub(super) url: String,
    pub(super) start: Option<DateValue>,
    pub(super) end: Option<DateTime<Utc>>,
    pub(super) all_day: bool,
    pub(super) timezone: String,
    pub(super) categories: Vec<String>,
    pub(super) x_crm_client: Option<String>,
    /// The client's name the object was rendered with (X-CRM-CLIENT's X-CRM-NAME).
    pub(super) x_crm_client_name: Option<String>,
    pub(super) x_crm_status: Option<String>,
    pub(super) x_crm_kind: Option<String>,
    pub(super) attendees: Vec<String>,
    pub(super) status: Option<String>,
    pub(super) completes: bool,
    pub(super) completed_at: Option<DateTime<Utc>>,
}

impl Modeled {
    pub(super) fn read<Z: ZoneName>(
        calendar: &ICalendar,
        master: usize,
        kind: ComponentKind,
        zones: &TzResolver<Z>,
        done_category: &str,
    ) -> Self {
        let Some(component) = calendar.components.get(master) else {
            return Self::default();
        };
        let text = |property: ICalendarProperty| first_text(component, &property);
        let date =
            |property: ICalendarProperty| component.property(&property).and_then(|entry| date_value(entry, zones));
        let duration = component.property(&ICalendarProperty::Duration).and_then(|entry| match entry.values.first() {
            Some(ICalendarValue::Duration(duration)) => duration.to_time_delta(),
            _ => None,
        });

        let start = date(ICalendarProperty::Dtstart);
        let start_plus_duration = start.zip(duration).and_then(|(start, duration)| start.add_wall_clock(duration));
        let (end, all_day) = match kind {
            ComponentKind::Event => {
                let end = date(ICalendarProperty::Dtend).map(|end| end.utc).or(start_plus_duration).or_else(|| {
                    start.map(|start| if start.is_date { start.utc + TimeDelta::days(1) } else { start.utc })
                });
                (end, start.is_some_and(|start| start.is_date))
            }
            ComponentKind::Todo => {
                let due = date(ICalendarProperty::Due);
                let end = due
                    .map(|due| if due.is_date { due.utc + TimeDelta::days(1) } else { due.utc })
                    .or(start_plus_duration);
                let all_day = start.or(due).is_some_and(|value| value.is_date);
                (end, all_day)
            }
        };
        let timezone = match start {
            Some(start) if !start.is_date => zone_name(start.zone),
            _ => String::new(),
        };

        let categories: Vec<String> = component
            .properties(&ICalendarProperty::Categories)
            .flat_map(|entry| entry.values.iter())
            .filter_map(ICalendarValue::as_text)
            .map(str::trim)
            .filter(|category| !category.is_empty())
            .map(str::to_owned)
            .collect();
        // Distinct addresses in order; a set, since an object may carry thousands of attendees.
        let mut attendees: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for entry in component.properties(&ICalendarProperty::Attendee) {
            if let Some(address) = entry.calendar_address() {
                let address = address.trim().to_lowercase();
                if !address.is_empty() && seen.insert(address.clone()) {
                    attendees.push(address);
                }
            }
        }
        let status = text(ICalendarProperty::Status).map(|status| status.to_ascii_uppercase());
        let x_crm_status = text(other(X_CRM_STATUS));
        let completed_at = date(ICalendarProperty::Completed).map(|value| value.utc);
        let completes = match kind {
            ComponentKind::Todo => {
                status.as_deref() == Some("COMPLETED")
                    || percent_complete(component) == Some(100)
                    || component.has_property(&ICalendarProperty::Completed)
            }
            ComponentKind::Event => {
                categories.iter().any(|category| category.eq_ignore_ascii_case(done_category.trim()))
                    || x_crm_status.as_deref().is_some_and(|status| status.eq_ignore_ascii_case("COMPLETED"))
            }
        };

        Self {
            uid: component.uid().map(|uid| uid.trim().to_owned()),
            summary: text(ICalendarProperty::Summary).unwrap_or_default(),
            description: text(ICalendarProperty::Description).unwrap_or_default(),
            location: text(ICalendarProperty::Location).unwrap_or_default(),
            contact: text(ICalendarProperty::Contact).unwrap_or_default(),
            url: text(ICalendarProperty::Url).unwrap_or_default(),
            start,
            end,
            all_day,
            timezone,
            categories,
            x_crm_client: text(other(X_CRM_CLIENT)),
            x_crm_client_name: component
                .property(&other(X_CRM_CLIENT))
                .and_then(|entry| entry.parameter(&ICalendarParameterName::Other(X_CRM_NAME.into())))
                .and_then(|value| value.as_text())
                .map(|name| name.trim().to_owned()),
            x_crm_status,
            x_crm_kind: text(other(X_CRM_KIND)).map(|kind| kind.to_ascii_lowercase()),
            attendees,
            status,
            completes,
            completed_at: if kind == ComponentKind::Todo { completed_at } else { None },
        }
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.status.as_deref() == Some("CANCELLED")
    }
}

pub(super) fn percent_complete(component: &ICalendarComponent) -> Option<i64> {
    component.property(&ICalendarProperty::PercentComplete).and_then(|entry| entry.values.first()).and_then(|value| {
        match value {
            ICalendarValue::Integer(percent) => Some(*percent),
            other => other.as_text().and_then(|text| text.trim().parse().ok()),
        }
    })
}

/// The CRM's name for a zone: its IANA name, "" for UTC and zones without one.
pub(super) fn zone_name(zone: Tz) -> String {
    match zone {
        Tz::Tz(_) if !zone.is_utc() => zone.name().map(|name| name.into_owned()).unwrap_or_default(),
        _ => String::new(),
    }
}
