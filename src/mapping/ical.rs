//! CRM activity <-> iCalendar: meetings, calls and visits are VEVENTs of the "Activities"
//! calendar, tasks are VTODOs of "Follow-ups".
//!
//! Lossless: when a device wrote the object, [`render`] starts from that object (kept in
//! `activities.ical`) and only rewrites the properties the CRM models whose CRM value differs from
//! what the object says. Alarms, attendees, recurrence, overrides, time zones and X- properties
//! come back as the device sent them. Parsing, writing and recurrence are calcard's.
//!
//! Modeled properties of the master component: SUMMARY, LOCATION, DESCRIPTION (the note),
//! DTSTART, DTEND/DURATION (VEVENT) or DUE/DURATION (VTODO), STATUS and completion (VTODO:
//! STATUS/COMPLETED/PERCENT-COMPLETE; VEVENT: X-CRM-STATUS or the done category), X-CRM-CLIENT,
//! X-CRM-KIND.
//!
//! Times: the CRM keeps UTC instants plus the IANA zone of the start. All-day activities are
//! midnight-UTC instants with an exclusive end, like DTEND of a DATE event; a DATE-valued DUE names
//! the last day instead, so `DUE;VALUE=DATE:20240514` is the CRM end 2024-05-15T00:00:00Z.

use std::str::FromStr;

use calcard::common::timezone::Tz;
use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarDuration, ICalendarEntry, ICalendarParameter,
    ICalendarParameterName, ICalendarProperty, ICalendarStatus, ICalendarValue,
};
use calcard::{Entry, Parser};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};

use crate::caldav::recurrence::{self, DateValue, ZoneName, date_value};
use crate::crm::activities::Activity;
use crate::store::Ts;

const PRODID: &str = "-//crmdav//CRM activities//EN";
const X_CRM_CLIENT: &str = "X-CRM-CLIENT";
const X_CRM_STATUS: &str = "X-CRM-STATUS";
const X_CRM_KIND: &str = "X-CRM-KIND";
/// Parameter of X-CRM-CLIENT with the client's name, for people reading the raw object.
const X_CRM_NAME: &str = "X-CRM-NAME";
const EVENT_KINDS: &[&str] = &["meeting", "call", "visit"];

/// The calendar component type a collection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    /// VEVENT, the "Activities" calendar.
    Event,
    /// VTODO, the "Follow-ups" calendar.
    Todo,
}

impl ComponentKind {
    /// Tasks are VTODOs; meetings, calls and visits are VEVENTs.
    pub fn for_activity_kind(kind: &str) -> Self {
        if kind == "task" { Self::Todo } else { Self::Event }
    }

    /// The activity kind of an object that does not name one (no valid X-CRM-KIND).
    pub fn default_activity_kind(self) -> &'static str {
        match self {
            Self::Event => "meeting",
            Self::Todo => "task",
        }
    }

    pub fn component_name(self) -> &'static str {
        match self {
            Self::Event => "VEVENT",
            Self::Todo => "VTODO",
        }
    }

    fn collection(self) -> &'static str {
        match self {
            Self::Event => "the activities calendar",
            Self::Todo => "the follow-ups calendar",
        }
    }

    fn component_type(self) -> ICalendarComponentType {
        match self {
            Self::Event => ICalendarComponentType::VEvent,
            Self::Todo => ICalendarComponentType::VTodo,
        }
    }

    fn fits_activity_kind(self, kind: &str) -> bool {
        match self {
            Self::Event => EVENT_KINDS.contains(&kind),
            Self::Todo => kind == "task",
        }
    }
}

/// CRM data shown in the object besides the activity row.
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// `(code, name)` of the linked client: X-CRM-CLIENT.
    pub client: Option<(String, String)>,
    /// The activity's note, shown as DESCRIPTION. `None` leaves a device's DESCRIPTION as it is;
    /// `Some("")` removes it.
    pub note: Option<String>,
    /// DTSTAMP of an object generated from the row alone: pass the row's last change so that the
    /// output, and so its ETag, stays the same between requests. `None`: the activity's start.
    pub stamp: Option<DateTime<Utc>>,
    /// The category that marks an event done (the same setting as [`ParseOptions::done_category`]);
    /// it is taken out of CATEGORIES when the CRM says the activity is not completed.
    pub done_category: String,
}

impl Default for RenderContext {
    fn default() -> Self {
        Self { client: None, note: None, stamp: None, done_category: ParseOptions::default().done_category }
    }
}

#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// A VEVENT with this category (case-insensitive) completes its activity.
    pub done_category: String,
    /// Most occurrences of a bounded recurrence rule the server accepts.
    pub max_instances: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self { done_category: "Completed".into(), max_instances: 3000 }
    }
}

/// What a device's object says, in CRM terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedObject {
    pub kind: ComponentKind,
    pub uid: String,
    pub summary: String,
    /// Trimmed; empty when there is none.
    pub description: String,
    pub location: String,
    /// VEVENT: always set. VTODO: DTSTART, if any.
    pub start: Option<DateTime<Utc>>,
    /// VEVENT: DTEND, DTSTART + DURATION, one day after a DATE start, or the start itself.
    /// VTODO: DUE (the day after a DATE-valued DUE), or DTSTART + DURATION.
    pub end: Option<DateTime<Utc>>,
    pub all_day: bool,
    /// IANA name of the start's zone (Windows names resolved); "" for UTC, floating and all-day.
    pub timezone: String,
    pub categories: Vec<String>,
    pub x_crm_client: Option<String>,
    pub x_crm_status: Option<String>,
    pub x_crm_kind: Option<String>,
    /// ATTENDEE addresses without `mailto:`, lower-cased, without duplicates.
    pub attendees: Vec<String>,
    /// STATUS as written, upper-cased.
    pub status: Option<String>,
    /// Whether the object marks the activity done: VTODO: STATUS:COMPLETED, PERCENT-COMPLETE:100
    /// or COMPLETED; VEVENT: the done category or X-CRM-STATUS:COMPLETED.
    pub completes: bool,
    /// VTODO: the COMPLETED time.
    pub completed_at: Option<DateTime<Utc>>,
    /// RRULE or RDATE present.
    pub recurring: bool,
    /// End of the last instance (for a zero-length one, its start). `None`: no upper bound (an
    /// unbounded rule, or a VTODO dated by neither DTSTART nor DUE). A time range starting at
    /// `s` can only match the object when `range_end >= s`.
    pub range_end: Option<DateTime<Utc>>,
}

impl ParsedObject {
    /// The activity kind: X-CRM-KIND when it fits the component, else `current` (the stored
    /// kind) when it fits, else meeting / task.
    pub fn activity_kind<'a>(&'a self, current: Option<&'a str>) -> &'a str {
        [self.x_crm_kind.as_deref(), current]
            .into_iter()
            .flatten()
            .find(|kind| self.kind.fits_activity_kind(kind))
            .unwrap_or(self.kind.default_activity_kind())
    }

    /// planned | completed | cancelled.
    pub fn activity_status(&self) -> &'static str {
        if self.completes {
            "completed"
        } else if self.status.as_deref() == Some("CANCELLED") {
            "cancelled"
        } else {
            "planned"
        }
    }

    /// Copies the object's values into the activity row: uid, kind, subject, location, times,
    /// recurrence, status and completion time (the object's COMPLETED, else the time the row
    /// already had, else `now`). Client link, note and `ical` are for the caller.
    pub fn apply_to(&self, activity: &mut Activity, now: DateTime<Utc>) {
        activity.uid = self.uid.clone();
        activity.kind = self.activity_kind(Some(&activity.kind)).to_owned();
        activity.subject = self.summary.clone();
        activity.location = self.location.clone();
        activity.start_at = self.start.map(Ts);
        activity.end_at = self.end.map(Ts);
        activity.all_day = self.all_day;
        activity.timezone = self.timezone.clone();
        activity.recurring = self.recurring;
        activity.range_end = self.range_end.map(Ts);
        activity.status = self.activity_status().to_owned();
        activity.completed_at =
            self.completes.then(|| Ts(self.completed_at.or(activity.completed_at.map(|at| at.0)).unwrap_or(now)));
    }
}

/// Why a device's object was refused; the message is for the person using the device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IcalError {
    #[error("the body is not a readable iCalendar object: {0}")]
    Syntax(String),
    #[error("the body must hold exactly one VCALENDAR object")]
    NotOneCalendar,
    #[error("the object holds a {found} but {} only takes {}", .expected.collection(), .expected.component_name())]
    WrongComponent { found: String, expected: ComponentKind },
    #[error("the object holds no {}", .0.component_name())]
    NoComponent(ComponentKind),
    #[error("the {0} has no UID")]
    MissingUid(String),
    #[error("two different UIDs in one object: {first} and {second}")]
    UidConflict { first: String, second: String },
    #[error("two {component}s with UID {uid} have no RECURRENCE-ID; a changed occurrence of a series needs one")]
    TwoMasters { component: String, uid: String },
    #[error("the {0} has no DTSTART")]
    MissingStart(String),
    #[error("the {0} repeats (RRULE or RDATE) but has no DTSTART to repeat from")]
    RecurrenceWithoutStart(String),
    #[error("{property} \"{value}\" is not a valid {expected}")]
    InvalidValue { property: String, value: String, expected: &'static str },
    #[error("{start_property} and {end_property} must both be dates or both date-times")]
    MixedValueTypes { start_property: String, end_property: String },
    #[error("{end_property} {end} is before DTSTART {start}")]
    EndBeforeStart { end_property: String, end: String, start: String },
    #[error("the {component} has both {end_property} and DURATION; use only one of them")]
    EndAndDuration { component: String, end_property: String },
    #[error("DURATION {0} is negative")]
    NegativeDuration(String),
    #[error("the VTODO has a DURATION but no DTSTART")]
    DurationWithoutStart,
    #[error(
        "the time zone \"{0}\" is unknown: no VTIMEZONE of the object maps to a known zone and it is not an IANA or Windows zone name"
    )]
    UnknownTimezone(String),
    #[error(
        "the recurrence has more than {0} occurrences; the server accepts at most {0}: shorten the series or make it open-ended"
    )]
    TooManyInstances(usize),
    #[error("the recurrence cannot be expanded: {0}")]
    Recurrence(String),
}

/// Validates a device's object for a collection of `expected` components and reads it in CRM
/// terms.
pub fn parse(text: &str, expected: ComponentKind, options: &ParseOptions) -> Result<ParsedObject, IcalError> {
    // What a device sends is checked here, once; render() reads the stored text without these
    // checks, as it does for every member of every refresh.
    if let Some(found) = super::forbidden_control(text) {
        return Err(IcalError::Syntax(super::describe_control(found)));
    }
    let calendar = parse_one_calendar(text)?;
    check_reads_back(&calendar)?;
    let master = find_master(&calendar, expected)?;
    let zones = calendar.build_tz_resolver().with_default(Tz::UTC);
    check_timezones(&calendar, &zones)?;
    for component in calendar.components.iter() {
        if component.component_type == expected.component_type() {
            check_component(component, expected, &zones)?;
        }
    }

    let modeled = Modeled::read(&calendar, master, expected, &zones, &options.done_category);
    let master_component = &calendar.components[master];
    let recurring = master_component.is_recurrent();
    let range_end = range_end(&calendar, expected, &modeled, options.max_instances)?;
    Ok(ParsedObject {
        kind: expected,
        uid: modeled.uid.unwrap_or_default(),
        summary: modeled.summary,
        description: modeled.description,
        location: modeled.location,
        start: modeled.start.map(|start| start.utc),
        end: modeled.end,
        all_day: modeled.all_day,
        timezone: modeled.timezone,
        categories: modeled.categories,
        x_crm_client: modeled.x_crm_client,
        x_crm_status: modeled.x_crm_status,
        x_crm_kind: modeled.x_crm_kind,
        attendees: modeled.attendees,
        status: modeled.status,
        completes: modeled.completes,
        completed_at: modeled.completed_at,
        recurring,
        range_end,
    })
}

/// The iCalendar object of an activity. Starts from the device's object in `activity.ical` when
/// there is one of the right component type, and changes only the modeled properties whose CRM
/// value differs from the object's; otherwise generates an object from the row.
pub fn render(activity: &Activity, ctx: &RenderContext) -> String {
    let kind = ComponentKind::for_activity_kind(&activity.kind);
    let stored = activity.ical.as_deref().and_then(|text| {
        let calendar = parse_one_calendar(text).ok()?;
        let master = find_master(&calendar, kind).ok()?;
        Some((calendar, master))
    });
    let (mut calendar, master, generated) = match stored {
        Some((calendar, master)) => (calendar, master, false),
        None => {
            let (calendar, master) = skeleton(activity, ctx, kind);
            (calendar, master, true)
        }
    };
    Merge { calendar: &mut calendar, master, kind, activity, ctx, generated, written_tzid: None }.apply();
    calendar.to_string()
}

// ---------------------------------------------------------------------------------------------
// Reading

fn parse_one_calendar(text: &str) -> Result<ICalendar, IcalError> {
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
fn check_reads_back(calendar: &ICalendar) -> Result<(), IcalError> {
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

fn is_calendar_component(component_type: &ICalendarComponentType) -> bool {
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
fn find_master(calendar: &ICalendar, expected: ComponentKind) -> Result<usize, IcalError> {
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
fn check_timezones(calendar: &ICalendar, zones: &TzResolver<&str>) -> Result<(), IcalError> {
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
fn check_component(
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
            value: value_as_text(entry),
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
                    value: value_as_text(entry),
                    expected: "duration such as PT1H",
                });
            }
        },
    };
    for entry in component.properties(&ICalendarProperty::Rrule) {
        if !matches!(entry.values.first(), Some(ICalendarValue::RecurrenceRule(_))) {
            return Err(IcalError::InvalidValue {
                property: "RRULE".into(),
                value: value_as_text(entry),
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

fn value_as_text(entry: &ICalendarEntry) -> String {
    crate::caldav::filter::value_text(entry)
}

/// `range_end` of a parsed object; see [`ParsedObject::range_end`].
fn range_end(
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
struct Modeled {
    uid: Option<String>,
    summary: String,
    description: String,
    location: String,
    start: Option<DateValue>,
    end: Option<DateTime<Utc>>,
    all_day: bool,
    timezone: String,
    categories: Vec<String>,
    x_crm_client: Option<String>,
    x_crm_status: Option<String>,
    x_crm_kind: Option<String>,
    attendees: Vec<String>,
    status: Option<String>,
    completes: bool,
    completed_at: Option<DateTime<Utc>>,
}

impl Modeled {
    fn read<Z: ZoneName>(
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
            start,
            end,
            all_day,
            timezone,
            categories,
            x_crm_client: text(other(X_CRM_CLIENT)),
            x_crm_status,
            x_crm_kind: text(other(X_CRM_KIND)).map(|kind| kind.to_ascii_lowercase()),
            attendees,
            status,
            completes,
            completed_at: if kind == ComponentKind::Todo { completed_at } else { None },
        }
    }

    fn is_cancelled(&self) -> bool {
        self.status.as_deref() == Some("CANCELLED")
    }
}

fn other(name: &str) -> ICalendarProperty {
    ICalendarProperty::Other(name.to_owned())
}

/// Entries of `property`; X- names compare case-insensitively.
fn entries_named<'a>(
    component: &'a ICalendarComponent,
    property: &'a ICalendarProperty,
) -> impl Iterator<Item = &'a ICalendarEntry> + 'a {
    component.entries.iter().filter(move |entry| same_property(&entry.name, property))
}

fn same_property(a: &ICalendarProperty, b: &ICalendarProperty) -> bool {
    match (a, b) {
        (ICalendarProperty::Other(a), ICalendarProperty::Other(b)) => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

/// The first value of the first `property`, trimmed; `None` when absent or empty.
fn first_text(component: &ICalendarComponent, property: &ICalendarProperty) -> Option<String> {
    entries_named(component, property)
        .next()
        .and_then(|entry| entry.values.first())
        .and_then(ICalendarValue::as_text)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn percent_complete(component: &ICalendarComponent) -> Option<i64> {
    component.property(&ICalendarProperty::PercentComplete).and_then(|entry| entry.values.first()).and_then(|value| {
        match value {
            ICalendarValue::Integer(percent) => Some(*percent),
            other => other.as_text().and_then(|text| text.trim().parse().ok()),
        }
    })
}

/// The CRM's name for a zone: its IANA name, "" for UTC and zones without one.
fn zone_name(zone: Tz) -> String {
    match zone {
        Tz::Tz(_) if !zone.is_utc() => zone.name().map(|name| name.into_owned()).unwrap_or_default(),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// A VCALENDAR with one component holding UID and DTSTAMP, for an activity without device data.
fn skeleton(activity: &Activity, ctx: &RenderContext, kind: ComponentKind) -> (ICalendar, usize) {
    let stamp = ctx.stamp.or(activity.start_at.map(|at| at.0)).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut root = ICalendarComponent::new(ICalendarComponentType::VCalendar);
    root.add_property(ICalendarProperty::Version, "2.0".to_owned());
    root.add_property(ICalendarProperty::Prodid, PRODID.to_owned());
    root.component_ids.push(1);
    let mut component = ICalendarComponent::new(kind.component_type());
    component.add_uid(&activity.uid);
    component.add_dtstamp(recurrence::partial_utc(stamp));
    (ICalendar { components: vec![root, component] }, 1)
}

/// How the CRM's times are written: as DATEs, local times with a TZID, or UTC.
#[derive(Debug, Clone)]
enum TimeForm {
    Date,
    Zoned { tzid: String, zone: Tz },
    Utc,
}

impl TimeForm {
    fn tzid(&self) -> Option<&str> {
        match self {
            TimeForm::Zoned { tzid, .. } => Some(tzid),
            _ => None,
        }
    }

    fn entry(&self, property: ICalendarProperty, at: DateTime<Utc>) -> ICalendarEntry {
        match self {
            TimeForm::Date => recurrence::date_entry(property, recurrence::partial_date(at.date_naive()), true, None),
            TimeForm::Zoned { tzid, zone } => recurrence::date_entry(
                property,
                recurrence::partial_local(at.with_timezone(zone).naive_local()),
                false,
                Some(tzid),
            ),
            TimeForm::Utc => recurrence::date_entry(property, recurrence::partial_utc(at), false, None),
        }
    }

    /// Whether an existing value is written in this form.
    fn describes(&self, value: &DateValue, entry: &ICalendarEntry) -> bool {
        match self {
            TimeForm::Date => value.is_date,
            TimeForm::Zoned { tzid, .. } => !value.is_date && entry.tz_id() == Some(tzid.as_str()),
            TimeForm::Utc => !value.is_date && value.zone.is_utc() && entry.tz_id().is_none(),
        }
    }
}

/// Writes the CRM's values into the master component. With `generated`, every modeled property is
/// written; otherwise only those whose value differs from what the object says.
struct Merge<'a> {
    calendar: &'a mut ICalendar,
    master: usize,
    kind: ComponentKind,
    activity: &'a Activity,
    ctx: &'a RenderContext,
    generated: bool,
    /// A TZID this merge wrote, which may need a VTIMEZONE.
    written_tzid: Option<String>,
}

impl Merge<'_> {
    fn apply(mut self) {
        let zones = self.calendar.build_owned_tz_resolver().with_default(Tz::UTC);
        let current = Modeled::read(self.calendar, self.master, self.kind, &zones, &self.ctx.done_category);
        let activity = self.activity;

        if !activity.uid.is_empty() && current.uid.as_deref() != Some(activity.uid.as_str()) {
            self.set_uid(&activity.uid);
        }
        if self.generated || current.summary != activity.subject.trim() {
            self.set_text(ICalendarProperty::Summary, activity.subject.trim());
        }
        if self.generated || current.location != activity.location.trim() {
            self.set_text(ICalendarProperty::Location, activity.location.trim());
        }
        if let Some(note) = &self.ctx.note
            && (self.generated || current.description != note.trim())
        {
            // Rich-text copies of the old description would be shown instead of the new one.
            self.remove(&other("X-ALT-DESC"));
            self.remove(&ICalendarProperty::StyledDescription);
            self.set_text(ICalendarProperty::Description, note.trim());
        }
        self.write_times(&current, &zones);
        match self.kind {
            ComponentKind::Event => self.write_event_status(&current),
            ComponentKind::Todo => self.write_todo_status(&current),
        }
        self.write_client(&current);
        let object_kind = current
            .x_crm_kind
            .as_deref()
            .filter(|kind| self.kind.fits_activity_kind(kind))
            .unwrap_or(self.kind.default_activity_kind());
        if self.generated || object_kind != activity.kind {
            self.set_text(other(X_CRM_KIND), &activity.kind);
        }
        if let Some(tzid) = self.written_tzid.take() {
            self.add_timezone(&tzid);
        }
    }

    fn component(&mut self) -> &mut ICalendarComponent {
        &mut self.calendar.components[self.master]
    }

    // -- times

    /// Rewrites DTSTART and the end when they differ.
    fn write_times<Z: ZoneName>(&mut self, current: &Modeled, zones: &TzResolver<Z>) {
        let activity = self.activity;
        let form = self.time_form(zones);
        let zone_name_wanted = if activity.all_day {
            String::new()
        } else {
            form.tzid().map(|_| activity_zone_name(activity)).unwrap_or_default()
        };
        let start_wanted = activity.start_at.map(|at| at.0);
        let start_same = current.start.map(|start| start.utc) == start_wanted
            && current.all_day == activity.all_day
            && (activity.all_day || current.timezone == zone_name_wanted);

        let mut start_rewritten = false;
        if self.generated || !start_same {
            match start_wanted {
                Some(start) => {
                    self.set_time(&form, ICalendarProperty::Dtstart, start);
                    start_rewritten = true;
                }
                // A VEVENT cannot lose its DTSTART: the object's start stays.
                None if self.kind == ComponentKind::Todo => {
                    self.remove(&ICalendarProperty::Dtstart);
                    start_rewritten = true;
                }
                None => {}
            }
        }

        match self.kind {
            ComponentKind::Event => self.write_event_end(&form, zones, start_rewritten),
            ComponentKind::Todo => self.write_due(&form, zones, start_rewritten),
        }
    }

    fn set_time(&mut self, form: &TimeForm, property: ICalendarProperty, at: DateTime<Utc>) {
        if let Some(tzid) = form.tzid() {
            self.written_tzid = Some(tzid.to_owned());
        }
        self.set_entry(form.entry(property, at));
    }

    /// The form for new time values: DATE for all-day; the activity's zone with the TZID the
    /// object already uses for it (e.g. a Windows name), or its IANA name; UTC otherwise.
    fn time_form<Z: ZoneName>(&self, zones: &TzResolver<Z>) -> TimeForm {
        let activity = self.activity;
        if activity.all_day {
            return TimeForm::Date;
        }
        let Ok(zone) = Tz::from_str(activity.timezone.trim()) else {
            return TimeForm::Utc;
        };
        if zone.is_utc() || zone.is_floating() {
            return TimeForm::Utc;
        }
        let existing_tzid = self.calendar.components[self.master]
            .property(&ICalendarProperty::Dtstart)
            .and_then(ICalendarEntry::tz_id)
            .filter(|tzid| zones.resolve(tzid).and_then(|tz| tz.name()) == zone.name());
        TimeForm::Zoned {
            tzid: existing_tzid
                .map(str::to_owned)
                .or_else(|| zone.name().map(|name| name.into_owned()))
                .unwrap_or_else(|| activity.timezone.trim().to_owned()),
            zone,
        }
    }

    fn write_event_end<Z: ZoneName>(&mut self, form: &TimeForm, zones: &TzResolver<Z>, start_rewritten: bool) {
        let activity = self.activity;
        let Some(start) = activity.start_at.map(|at| at.0) else {
            return;
        };
        let wanted = match activity.end_at {
            Some(end) => end.0.max(start),
            None if activity.all_day => start + TimeDelta::days(1),
            None => start,
        };
        let implied = self.implied_end(zones);
        let dtend = self.component().property(&ICalendarProperty::Dtend).cloned();
        let form_fits = !start_rewritten
            || dtend
                .as_ref()
                .is_none_or(|entry| date_value(entry, zones).is_some_and(|value| form.describes(&value, entry)));
        if !self.generated && implied == Some(wanted) && form_fits {
            return;
        }
        if self.component().has_property(&ICalendarProperty::Duration) {
            self.set_entry(ICalendarEntry::new(ICalendarProperty::Duration).with_value(duration_between(
                start,
                wanted,
                activity.all_day,
            )));
        } else if activity.all_day {
            let last_day = last_day(wanted).max(start.date_naive());
            self.set_time(form, ICalendarProperty::Dtend, midnight(next_day(last_day)));
        } else if wanted == start && dtend.is_none() {
            // An instant: no end property says it best.
        } else {
            self.set_time(form, ICalendarProperty::Dtend, wanted);
        }
    }

    fn write_due<Z: ZoneName>(&mut self, form: &TimeForm, zones: &TzResolver<Z>, start_rewritten: bool) {
        let activity = self.activity;
        let Some(wanted) = activity.end_at.map(|at| at.0) else {
            self.remove(&ICalendarProperty::Due);
            self.remove(&ICalendarProperty::Duration);
            return;
        };
        let implied = self.implied_end(zones);
        let due = self.component().property(&ICalendarProperty::Due).cloned();
        let has_start = self.component().has_property(&ICalendarProperty::Dtstart);
        let has_duration = self.component().has_property(&ICalendarProperty::Duration);
        let form_fits = (!start_rewritten
            || due
                .as_ref()
                .is_none_or(|entry| date_value(entry, zones).is_some_and(|value| form.describes(&value, entry))))
            && (has_start || !has_duration);
        if !self.generated && implied == Some(wanted) && form_fits {
            return;
        }
        match (has_duration && has_start, activity.start_at) {
            (true, Some(start)) => {
                self.set_entry(ICalendarEntry::new(ICalendarProperty::Duration).with_value(duration_between(
                    start.0,
                    wanted.max(start.0),
                    activity.all_day,
                )))
            }
            _ => {
                self.remove(&ICalendarProperty::Duration);
                let due_at = if activity.all_day { midnight(last_day(wanted)) } else { wanted };
                self.set_time(form, ICalendarProperty::Due, due_at);
            }
        }
    }

    /// The end the master component says now (after DTSTART may have changed).
    fn implied_end<Z: ZoneName>(&self, zones: &TzResolver<Z>) -> Option<DateTime<Utc>> {
        Modeled::read(self.calendar, self.master, self.kind, zones, "").end
    }

    fn add_timezone(&mut self, tzid: &str) {
        let defined = self.calendar.timezones().any(|timezone| {
            timezone
                .property(&ICalendarProperty::Tzid)
                .and_then(|entry| entry.values.first())
                .and_then(ICalendarValue::as_text)
                == Some(tzid)
        });
        if defined {
            return;
        }
        let activity = self.activity;
        let Some(start) = activity.start_at.map(|at| at.0) else {
            return;
        };
        let last =
            [activity.end_at, activity.range_end].into_iter().flatten().map(|at| at.0).fold(start, DateTime::max);
        // The observances the object's dates need, with a margin; an open series gets ten years.
        let years = if activity.recurring && activity.range_end.is_none() { 10 } else { 1 };
        let from = (start - TimeDelta::days(366)).timestamp();
        let to = (last + TimeDelta::days(366 * years)).timestamp();
        self.calendar.add_timezone(tzid, from, to);
    }

    // -- status

    fn write_event_status(&mut self, current: &Modeled) {
        let ctx = self.ctx;
        let status = self.activity.status.as_str();
        let cancelled = status == "cancelled";
        if self.generated || current.is_cancelled() != cancelled {
            let value = if cancelled { ICalendarStatus::Cancelled } else { ICalendarStatus::Confirmed };
            self.set_entry(ICalendarEntry::new(ICalendarProperty::Status).with_value(value));
        }
        let completed = status == "completed";
        if completed && (self.generated || !current.completes) {
            self.set_text(other(X_CRM_STATUS), "COMPLETED");
        } else if !completed && current.completes {
            // Neither marker may stay, or the next upload would complete the activity again.
            self.remove(&other(X_CRM_STATUS));
            self.remove_category(&ctx.done_category);
        }
    }

    fn write_todo_status(&mut self, current: &Modeled) {
        let activity = self.activity;
        let status = activity.status.as_str();
        let completed = status == "completed";
        if completed {
            if self.generated || !current.completes {
                self.set_entry(ICalendarEntry::new(ICalendarProperty::Status).with_value(ICalendarStatus::Completed));
                self.set_entry(ICalendarEntry::new(ICalendarProperty::PercentComplete).with_value(100i64));
            }
            if let Some(at) = activity.completed_at.map(|at| at.0)
                && (self.generated || current.completed_at != Some(at))
            {
                self.set_entry(
                    ICalendarEntry::new(ICalendarProperty::Completed).with_value(recurrence::partial_utc(at)),
                );
            }
            return;
        }
        let cancelled = status == "cancelled";
        if current.completes {
            self.remove(&ICalendarProperty::Completed);
            if percent_complete(&self.calendar.components[self.master]) == Some(100) {
                self.remove(&ICalendarProperty::PercentComplete);
            }
        }
        let status_wrong = current.completes || current.is_cancelled() != cancelled;
        if self.generated || status_wrong {
            let value = if cancelled { ICalendarStatus::Cancelled } else { ICalendarStatus::NeedsAction };
            self.set_entry(ICalendarEntry::new(ICalendarProperty::Status).with_value(value));
        }
    }

    fn write_client(&mut self, current: &Modeled) {
        let ctx = self.ctx;
        let code = ctx.client.as_ref().map(|(code, _)| code.trim());
        if !self.generated && current.x_crm_client.as_deref() == code {
            return;
        }
        match &ctx.client {
            Some((code, name)) => {
                let mut entry = ICalendarEntry::new(other(X_CRM_CLIENT)).with_value(code.trim().to_owned());
                if !name.trim().is_empty() {
                    entry.add_param(ICalendarParameter::new(
                        ICalendarParameterName::Other(X_CRM_NAME.into()),
                        name.trim().to_owned(),
                    ));
                }
                self.set_entry(entry);
            }
            None => self.remove(&other(X_CRM_CLIENT)),
        }
    }

    // -- property edits

    fn set_uid(&mut self, uid: &str) {
        let calendar = &mut *self.calendar;
        for component in calendar.components.iter_mut() {
            if is_calendar_component(&component.component_type) {
                for entry in component.properties_mut(&ICalendarProperty::Uid) {
                    entry.values = vec![ICalendarValue::Text(uid.to_owned())];
                }
            }
        }
    }

    /// Replaces the text of `property`, keeping its parameters (LANGUAGE...) and place; an empty
    /// text removes it.
    fn set_text(&mut self, property: ICalendarProperty, text: &str) {
        if text.is_empty() {
            self.remove(&property);
            return;
        }
        let value = ICalendarValue::Text(text.to_owned());
        let component = self.component();
        match component.entries.iter().position(|entry| same_property(&entry.name, &property)) {
            Some(index) => {
                component.entries[index].values = vec![value];
                let mut seen = 0;
                component.entries.retain(|entry| {
                    if !same_property(&entry.name, &property) {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => component.entries.push(ICalendarEntry::new(property).with_values(vec![value])),
        }
    }

    /// Puts `entry` in place of the first property of its name (dropping any others) or at the
    /// end.
    fn set_entry(&mut self, entry: ICalendarEntry) {
        let component = self.component();
        match component.entries.iter().position(|existing| same_property(&existing.name, &entry.name)) {
            Some(index) => {
                let name = entry.name.clone();
                component.entries[index] = entry;
                let mut seen = 0;
                component.entries.retain(|existing| {
                    if !same_property(&existing.name, &name) {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => component.entries.push(entry),
        }
    }

    fn remove(&mut self, property: &ICalendarProperty) {
        self.component().entries.retain(|entry| !same_property(&entry.name, property));
    }

    fn remove_category(&mut self, category: &str) {
        let category = category.trim();
        let component = self.component();
        for entry in component.properties_mut(&ICalendarProperty::Categories) {
            entry.values.retain(|value| value.as_text().is_none_or(|text| !text.trim().eq_ignore_ascii_case(category)));
        }
        component.entries.retain(|entry| entry.name != ICalendarProperty::Categories || !entry.values.is_empty());
    }
}

/// The activity's zone as [`Modeled::timezone`] would name it.
fn activity_zone_name(activity: &Activity) -> String {
    Tz::from_str(activity.timezone.trim()).map(zone_name).unwrap_or_default()
}

/// The last day an interval ending (exclusively) at `end` touches.
fn last_day(end: DateTime<Utc>) -> NaiveDate {
    (end - TimeDelta::seconds(1)).date_naive()
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn duration_between(start: DateTime<Utc>, end: DateTime<Utc>, all_day: bool) -> ICalendarDuration {
    if all_day {
        let days = (last_day(end.max(start + TimeDelta::days(1))).num_days_from_ce()
            - start.date_naive().num_days_from_ce()
            + 1)
        .max(1);
        ICalendarDuration::from_days(i64::from(days))
    } else {
        ICalendarDuration::from_seconds((end - start).num_seconds())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/ical/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn now() -> DateTime<Utc> {
        utc(2024, 12, 1, 12, 0, 0)
    }

    fn parse_as(text: &str, kind: ComponentKind) -> ParsedObject {
        parse(text, kind, &ParseOptions::default()).unwrap_or_else(|error| panic!("{error}"))
    }

    /// The activity row the server would store for a device's object, with the object kept.
    fn stored_activity(text: &str, kind: ComponentKind) -> (Activity, RenderContext) {
        let parsed = parse_as(text, kind);
        let mut activity =
            Activity { kind: kind.default_activity_kind().into(), ical: Some(text.to_owned()), ..Activity::default() };
        parsed.apply_to(&mut activity, now());
        let ctx = RenderContext {
            client: parsed.x_crm_client.clone().map(|code| (code, "Müller GmbH".to_owned())),
            note: Some(parsed.description.clone()),
            ..RenderContext::default()
        };
        (activity, ctx)
    }

    fn calendar(text: &str) -> ICalendar {
        ICalendar::parse(text).unwrap_or_else(|error| panic!("{error:?}"))
    }

    /// "Equal" for the round trip: both texts parse with calcard to the same components in the
    /// same order, each with the same properties in the same order (name, every parameter, every
    /// value; DTSTAMP included) and the same subcomponents. Line folding, the letter case of
    /// names and parameter quoting may differ on the wire.
    fn assert_same_object(expected: &str, actual: &str, label: &str) {
        let (expected, actual) = (calendar(expected), calendar(actual));
        assert_eq!(expected.components.len(), actual.components.len(), "{label}: components");
        for (index, (want, got)) in expected.components.iter().zip(&actual.components).enumerate() {
            assert_eq!(want.component_type, got.component_type, "{label}: component {index}");
            assert_eq!(want.component_ids, got.component_ids, "{label}: component {index}");
            assert_eq!(want.entries.len(), got.entries.len(), "{label}: entries of {index}");
            for (want, got) in want.entries.iter().zip(&got.entries) {
                assert_eq!(want, got, "{label}: component {index}");
            }
        }
        assert_eq!(expected, actual, "{label}");
    }

    const CORPUS: &[(&str, ComponentKind)] = &[
        ("ios_event_valarm.ics", ComponentKind::Event),
        ("thunderbird_event_attendees.ics", ComponentKind::Event),
        ("davx5_task.ics", ComponentKind::Todo),
        ("davx5_task_completed.ics", ComponentKind::Todo),
        ("outlook_caldavsync_windows_tz.ics", ComponentKind::Event),
        ("recurring_weekly_exdate_override.ics", ComponentKind::Event),
        ("allday_event.ics", ComponentKind::Event),
    ];

    #[test]
    fn real_client_objects_come_back_unchanged() {
        for &(name, kind) in CORPUS {
            let text = fixture(name);
            let (activity, ctx) = stored_activity(&text, kind);
            let rendered = render(&activity, &ctx);
            assert_same_object(&text, &rendered, name);
            // And once more: the server's own output is stable.
            let again = Activity { ical: Some(rendered.clone()), ..activity };
            assert_eq!(render(&again, &ctx), rendered, "{name}");
        }
    }

    #[test]
    fn real_client_objects_read_in_crm_terms() {
        let ios = parse_as(&fixture("ios_event_valarm.ics"), ComponentKind::Event);
        assert_eq!(ios.uid, "6A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D");
        assert_eq!(ios.summary, "Quarterly review");
        assert_eq!(ios.location, "Müller GmbH\nHauptstraße 5, 80331 München");
        assert_eq!((ios.start, ios.end), (Some(utc(2024, 3, 12, 9, 0, 0)), Some(utc(2024, 3, 12, 10, 0, 0))));
        assert_eq!(ios.timezone, "Europe/Berlin");
        assert!(!ios.all_day && !ios.recurring && !ios.completes);
        assert_eq!(ios.range_end, ios.end);
        assert_eq!(ios.activity_kind(None), "meeting");
        assert_eq!(ios.activity_status(), "planned");

        let thunderbird = parse_as(&fixture("thunderbird_event_attendees.ics"), ComponentKind::Event);
        assert_eq!(thunderbird.attendees, ["anna.rep@example.com", "j.kunde@example.org", "einkauf@example.org"]);
        assert_eq!(thunderbird.categories, ["Customer", "C-1042"]);
        assert_eq!(thunderbird.description, "Agenda:\n- prices 2025\n- delivery terms; samples");

        let task = parse_as(&fixture("davx5_task.ics"), ComponentKind::Todo);
        assert_eq!((task.start, task.end), (Some(utc(2024, 5, 10, 7, 0, 0)), Some(utc(2024, 5, 13, 15, 0, 0))));
        assert_eq!(task.x_crm_client.as_deref(), Some("C-2001"));
        assert_eq!(task.status.as_deref(), Some("IN-PROCESS"));
        assert!(!task.completes);
        assert_eq!(task.activity_kind(Some("meeting")), "task");

        let done = parse_as(&fixture("davx5_task_completed.ics"), ComponentKind::Todo);
        assert!(done.completes && done.all_day);
        assert_eq!(done.completed_at, Some(utc(2024, 5, 14, 10, 14, 55)));
        // DUE;VALUE=DATE:20240514 is due that day: the CRM end is the end of that day.
        assert_eq!((done.start, done.end), (None, Some(utc(2024, 5, 15, 0, 0, 0))));
        assert_eq!(done.activity_status(), "completed");

        let outlook = parse_as(&fixture("outlook_caldavsync_windows_tz.ics"), ComponentKind::Event);
        assert_eq!(outlook.timezone, "Europe/Berlin");
        assert_eq!(outlook.start, Some(utc(2024, 6, 10, 7, 0, 0)));
        assert_eq!(outlook.description, "Prices for the second half-year");

        let series = parse_as(&fixture("recurring_weekly_exdate_override.ics"), ComponentKind::Event);
        assert!(series.recurring);
        assert_eq!(series.start, Some(utc(2024, 1, 8, 8, 0, 0)));
        // COUNT=10 from 8 January: the last Monday is 11 March, 09:00-09:30 CET.
        assert_eq!(series.range_end, Some(utc(2024, 3, 11, 8, 30, 0)));

        let fair = parse_as(&fixture("allday_event.ics"), ComponentKind::Event);
        assert!(fair.all_day);
        assert_eq!((fair.start, fair.end), (Some(utc(2024, 7, 5, 0, 0, 0)), Some(utc(2024, 7, 7, 0, 0, 0))));
        assert_eq!(fair.timezone, "");
    }

    #[test]
    fn crm_changes_show_and_everything_else_stays() {
        let text = fixture("thunderbird_event_attendees.ics");
        let (mut activity, ctx) = stored_activity(&text, ComponentKind::Event);
        activity.subject = "Contract negotiation (final round)".into();
        activity.start_at = Some(Ts(utc(2024, 4, 16, 12, 0, 0)));
        activity.end_at = Some(Ts(utc(2024, 4, 16, 13, 30, 0)));
        let rendered = render(&activity, &ctx);

        let (before, after) = (calendar(&text), calendar(&rendered));
        assert_eq!(before.components.len(), after.components.len());
        for (index, (old, new)) in before.components.iter().zip(&after.components).enumerate() {
            if old.component_type != ICalendarComponentType::VEvent {
                // VTIMEZONE and its rules, VALARM: untouched.
                assert_eq!(old, new, "component {index}");
                continue;
            }
            assert_eq!(old.entries.len(), new.entries.len());
            for (old, new) in old.entries.iter().zip(&new.entries) {
                assert_eq!(old.name, new.name, "properties keep their order");
                match old.name {
                    ICalendarProperty::Summary => {
                        assert_eq!(new.values, [ICalendarValue::Text("Contract negotiation (final round)".into())])
                    }
                    ICalendarProperty::Dtstart | ICalendarProperty::Dtend => assert_ne!(old, new),
                    // ATTENDEE, ORGANIZER, X-MOZ-*, CATEGORIES, DTSTAMP...
                    _ => assert_eq!(old, new),
                }
            }
        }
        assert!(rendered.contains("DTSTART;TZID=Europe/Berlin:20240416T140000"));
        assert!(rendered.contains("DTEND;TZID=Europe/Berlin:20240416T153000"));
        let reread = parse_as(&rendered, ComponentKind::Event);
        assert_eq!(reread.start, Some(utc(2024, 4, 16, 12, 0, 0)));
        assert_eq!(reread.summary, "Contract negotiation (final round)");
    }

    #[test]
    fn a_moved_outlook_event_keeps_its_windows_zone_name() {
        let text = fixture("outlook_caldavsync_windows_tz.ics");
        let (mut activity, ctx) = stored_activity(&text, ComponentKind::Event);
        activity.start_at = Some(Ts(utc(2024, 6, 11, 8, 0, 0)));
        activity.end_at = Some(Ts(utc(2024, 6, 11, 9, 0, 0)));
        let rendered = render(&activity, &ctx);
        let event = calendar(&rendered);
        let master = event
            .components
            .iter()
            .find(|component| component.component_type == ICalendarComponentType::VEvent)
            .unwrap();
        let dtstart = master.property(&ICalendarProperty::Dtstart).unwrap();
        assert_eq!(dtstart.tz_id(), Some("W. Europe Standard Time"));
        assert!(rendered.contains(":20240611T100000"));
        assert_eq!(rendered.matches("BEGIN:VTIMEZONE").count(), 1);

        // Another zone in the CRM: its TZID, and a VTIMEZONE for it.
        activity.timezone = "America/New_York".into();
        let rendered = render(&activity, &ctx);
        assert!(rendered.contains("DTSTART;TZID=America/New_York:20240611T040000"));
        assert!(rendered.contains("TZID:America/New_York"));
        assert_eq!(rendered.matches("BEGIN:VTIMEZONE").count(), 2);
        assert_eq!(parse_as(&rendered, ComponentKind::Event).timezone, "America/New_York");
    }

    #[test]
    fn a_duration_stays_a_duration() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:d\r\nDTSTAMP:20240101T000000Z\r\n\
                    DTSTART:20240301T100000Z\r\nDURATION:PT45M\r\nSUMMARY:Call\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let (mut activity, ctx) = stored_activity(text, ComponentKind::Event);
        assert_eq!(activity.end_at, Some(Ts(utc(2024, 3, 1, 10, 45, 0))));
        assert_same_object(text, &render(&activity, &ctx), "duration");
        activity.end_at = Some(Ts(utc(2024, 3, 1, 11, 30, 0)));
        let rendered = render(&activity, &ctx);
        assert!(rendered.contains("DURATION:PT1H30M"), "{rendered}");
        assert!(!rendered.contains("DTEND"));
    }

    #[test]
    fn generated_objects_carry_the_crm_values() {
        let meeting = Activity {
            uid: "a1".into(),
            kind: "visit".into(),
            subject: "Visit; bring samples".into(),
            location: "Munich, plant 2".into(),
            start_at: Some(Ts(utc(2024, 9, 2, 8, 0, 0))),
            end_at: Some(Ts(utc(2024, 9, 2, 9, 30, 0))),
            timezone: "Europe/Berlin".into(),
            status: "planned".into(),
            ..Activity::default()
        };
        let ctx = RenderContext {
            client: Some(("C-1001".into(), "Müller GmbH".into())),
            note: Some("Ask about the 2025 volumes".into()),
            stamp: Some(utc(2024, 8, 1, 0, 0, 0)),
            ..RenderContext::default()
        };
        let rendered = render(&meeting, &ctx);
        assert_eq!(render(&meeting, &ctx), rendered, "the same row gives the same bytes");
        for expected in [
            "BEGIN:VTIMEZONE",
            "TZID:Europe/Berlin",
            "DTSTART;TZID=Europe/Berlin:20240902T100000",
            "DTEND;TZID=Europe/Berlin:20240902T113000",
            "DTSTAMP:20240801T000000Z",
            "STATUS:CONFIRMED",
            "X-CRM-KIND:visit",
            "X-CRM-CLIENT;X-CRM-NAME=\"Müller GmbH\":C-1001",
            "SUMMARY:Visit\\; bring samples",
        ] {
            assert!(rendered.contains(expected), "{expected} in {rendered}");
        }
        let parsed = parse_as(&rendered, ComponentKind::Event);
        assert_eq!(parsed.uid, "a1");
        assert_eq!((parsed.start, parsed.end), (Some(utc(2024, 9, 2, 8, 0, 0)), Some(utc(2024, 9, 2, 9, 30, 0))));
        assert_eq!(parsed.timezone, "Europe/Berlin");
        assert_eq!(parsed.description, "Ask about the 2025 volumes");
        assert_eq!(parsed.x_crm_client.as_deref(), Some("C-1001"));
        assert_eq!(parsed.activity_kind(None), "visit");
        assert_eq!(parsed.activity_status(), "planned");
        // Stored back as the device's object, it renders to itself.
        let stored = Activity { ical: Some(rendered.clone()), ..meeting.clone() };
        assert_eq!(render(&stored, &ctx), rendered);

        let task = Activity {
            uid: "t1".into(),
            kind: "task".into(),
            subject: "Send quote".into(),
            start_at: Some(Ts(utc(2024, 9, 2, 0, 0, 0))),
            end_at: Some(Ts(utc(2024, 9, 3, 0, 0, 0))),
            all_day: true,
            status: "completed".into(),
            completed_at: Some(Ts(utc(2024, 9, 2, 15, 0, 0))),
            ..Activity::default()
        };
        let rendered = render(&task, &RenderContext::default());
        for expected in [
            "BEGIN:VTODO",
            "DTSTART;VALUE=DATE:20240902",
            "DUE;VALUE=DATE:20240902",
            "STATUS:COMPLETED",
            "PERCENT-COMPLETE:100",
            "COMPLETED:20240902T150000Z",
            "X-CRM-KIND:task",
        ] {
            assert!(rendered.contains(expected), "{expected} in {rendered}");
        }
        assert!(!rendered.contains("VTIMEZONE"));
        let parsed = parse_as(&rendered, ComponentKind::Todo);
        assert!(parsed.all_day && parsed.completes);
        assert_eq!((parsed.start, parsed.end), (task.start_at.map(|at| at.0), task.end_at.map(|at| at.0)));
        assert_eq!(parsed.completed_at, Some(utc(2024, 9, 2, 15, 0, 0)));

        let done_call = Activity {
            uid: "c1".into(),
            kind: "call".into(),
            start_at: Some(Ts(utc(2024, 9, 2, 8, 0, 0))),
            end_at: Some(Ts(utc(2024, 9, 2, 8, 0, 0))),
            status: "completed".into(),
            ..Activity::default()
        };
        let rendered = render(&done_call, &RenderContext::default());
        assert!(rendered.contains("X-CRM-STATUS:COMPLETED"));
        assert!(rendered.contains("DTSTART:20240902T080000Z"));
        assert!(!rendered.contains("DTEND"), "an instant has no end: {rendered}");
        assert!(parse_as(&rendered, ComponentKind::Event).completes);
    }

    fn event(properties: &str) -> String {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:e\r\nDTSTAMP:20240101T000000Z\r\n\
             DTSTART:20240301T100000Z\r\nDTEND:20240301T110000Z\r\n{}END:VEVENT\r\nEND:VCALENDAR\r\n",
            properties.lines().map(|line| format!("{}\r\n", line.trim())).collect::<String>()
        )
    }

    fn todo(properties: &str) -> String {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20240101T000000Z\r\n\
             {}END:VTODO\r\nEND:VCALENDAR\r\n",
            properties.lines().map(|line| format!("{}\r\n", line.trim())).collect::<String>()
        )
    }

    #[test]
    fn what_completes_an_activity() {
        let completes = |text: &str, kind, options: &ParseOptions| parse(text, kind, options).unwrap().completes;
        let default = ParseOptions::default();
        assert!(completes(&event("CATEGORIES:Customer,completed"), ComponentKind::Event, &default));
        assert!(completes(&event("X-CRM-STATUS:Completed"), ComponentKind::Event, &default));
        assert!(!completes(&event("CATEGORIES:Erledigt"), ComponentKind::Event, &default));
        let german = ParseOptions { done_category: "Erledigt".into(), ..ParseOptions::default() };
        assert!(completes(&event("CATEGORIES:Erledigt"), ComponentKind::Event, &german));
        // STATUS:COMPLETED is not a VEVENT status: it does not count there.
        assert!(!completes(&event("STATUS:COMPLETED"), ComponentKind::Event, &default));

        assert!(completes(&todo("STATUS:COMPLETED"), ComponentKind::Todo, &default));
        assert!(completes(&todo("PERCENT-COMPLETE:100"), ComponentKind::Todo, &default));
        assert!(!completes(&todo("PERCENT-COMPLETE:99"), ComponentKind::Todo, &default));
        let by_timestamp = parse(&todo("COMPLETED:20240301T120000Z"), ComponentKind::Todo, &default).unwrap();
        assert!(by_timestamp.completes);
        assert_eq!(by_timestamp.completed_at, Some(utc(2024, 3, 1, 12, 0, 0)));
        let cancelled = parse(&todo("STATUS:CANCELLED"), ComponentKind::Todo, &default).unwrap();
        assert_eq!(cancelled.activity_status(), "cancelled");
    }

    #[test]
    fn reopening_in_the_crm_removes_the_completion_markers() {
        let text = event("CATEGORIES:Customer,Completed\nX-CRM-STATUS:COMPLETED");
        let (mut activity, ctx) = stored_activity(&text, ComponentKind::Event);
        assert_eq!(activity.status, "completed");
        activity.status = "planned".into();
        let rendered = render(&activity, &ctx);
        assert!(rendered.contains("CATEGORIES:Customer\r\n"), "{rendered}");
        assert!(!rendered.contains("X-CRM-STATUS"));
        assert!(!parse_as(&rendered, ComponentKind::Event).completes);

        let text = fixture("davx5_task_completed.ics");
        let (mut activity, ctx) = stored_activity(&text, ComponentKind::Todo);
        activity.status = "planned".into();
        activity.completed_at = None;
        let rendered = render(&activity, &ctx);
        assert!(rendered.contains("STATUS:NEEDS-ACTION"));
        assert!(!rendered.contains("PERCENT-COMPLETE") && !rendered.contains("COMPLETED:"));
        assert!(!parse_as(&rendered, ComponentKind::Todo).completes);

        // Cancelled in the CRM: STATUS:CANCELLED, in place of the device's CONFIRMED.
        let text = fixture("allday_event.ics");
        let (mut activity, ctx) = stored_activity(&text, ComponentKind::Event);
        activity.status = "cancelled".into();
        let rendered = render(&activity, &ctx);
        assert!(rendered.contains("STATUS:CANCELLED") && !rendered.contains("CONFIRMED"));
    }

    #[test]
    fn the_crm_note_replaces_the_description_and_its_rich_copy() {
        let text = event("DESCRIPTION:old\nX-ALT-DESC;FMTTYPE=text/html:<p>old</p>");
        let (activity, mut ctx) = stored_activity(&text, ComponentKind::Event);
        ctx.note = None;
        assert_same_object(&text, &render(&activity, &ctx), "no note: untouched");
        ctx.note = Some("  old \n".into());
        assert_same_object(&text, &render(&activity, &ctx), "same note: untouched");
        ctx.note = Some("Customer wants a second quote".into());
        let rendered = render(&activity, &ctx);
        assert!(rendered.contains("DESCRIPTION:Customer wants a second quote"));
        assert!(!rendered.contains("X-ALT-DESC"));
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let error = |text: &str, kind| parse(text, kind, &ParseOptions::default()).unwrap_err().to_string();
        assert_eq!(
            error(&todo("SUMMARY:x"), ComponentKind::Event),
            "the object holds a VTODO but the activities calendar only takes VEVENT"
        );
        assert_eq!(
            error(&event(""), ComponentKind::Todo),
            "the object holds a VEVENT but the follow-ups calendar only takes VTODO"
        );
        let two_uids = event("").replace(
            "END:VCALENDAR",
            "BEGIN:VEVENT\r\nUID:other\r\nDTSTART:20240302T100000Z\r\nRECURRENCE-ID:20240302T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR",
        );
        assert_eq!(error(&two_uids, ComponentKind::Event), "two different UIDs in one object: e and other");
        let reversed = event("").replace("DTEND:20240301T110000Z", "DTEND:20240301T090000Z");
        assert_eq!(
            error(&reversed, ComponentKind::Event),
            "DTEND 2024-03-01T09:00:00Z is before DTSTART 2024-03-01T10:00:00Z"
        );
        let no_start = event("").replace("DTSTART:20240301T100000Z\r\n", "");
        assert_eq!(error(&no_start, ComponentKind::Event), "the VEVENT has no DTSTART");
        let mixed = event("").replace("DTEND:20240301T110000Z", "DTEND;VALUE=DATE:20240302");
        assert_eq!(error(&mixed, ComponentKind::Event), "DTSTART and DTEND must both be dates or both date-times");
        assert!(error(&event("DURATION:PT1H"), ComponentKind::Event).contains("both DTEND and DURATION"));
        let unknown_zone = event("").replace("DTSTART:", "DTSTART;TZID=Mars/Olympus_Mons:");
        assert!(error(&unknown_zone, ComponentKind::Event).contains("\"Mars/Olympus_Mons\" is unknown"));
        assert_eq!(
            error(&todo("DUE:20240301T090000Z\nRRULE:FREQ=WEEKLY"), ComponentKind::Todo),
            "the VTODO repeats (RRULE or RDATE) but has no DTSTART to repeat from"
        );
        assert_eq!(error(&todo("DURATION:PT1H"), ComponentKind::Todo), "the VTODO has a DURATION but no DTSTART");
        let due_first = todo("DTSTART:20240301T100000Z\nDUE:20240301T090000Z");
        assert!(error(&due_first, ComponentKind::Todo).starts_with("DUE 2024-03-01T09:00:00Z is before DTSTART"));
        let two = format!("{}{}", event(""), event(""));
        assert_eq!(error(&two, ComponentKind::Event), "the body must hold exactly one VCALENDAR object");
        assert!(error("hello", ComponentKind::Event).starts_with("the body is not a readable iCalendar object"));
        let masters = event("").replace(
            "END:VCALENDAR",
            "BEGIN:VEVENT\r\nUID:e\r\nDTSTART:20240302T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR",
        );
        assert!(error(&masters, ComponentKind::Event).contains("have no RECURRENCE-ID"));
        assert_eq!(
            error(&event("RRULE:FREQ=SOMETIMES"), ComponentKind::Event),
            "RRULE \"FREQ=SOMETIMES\" is not a valid recurrence rule"
        );
    }

    #[test]
    fn time_zones_by_reference_and_windows_names_are_accepted() {
        // RFC 7809: no VTIMEZONE; the names are resolved without one.
        for (tzid, expected) in [
            ("Europe/Berlin", "Europe/Berlin"),
            ("W. Europe Standard Time", "Europe/Berlin"),
            ("Eastern Standard Time", "America/New_York"),
        ] {
            let text = event("")
                .replace("DTSTART:20240301T100000Z", &format!("DTSTART;TZID=\"{tzid}\":20240301T100000"))
                .replace("DTEND:20240301T110000Z", &format!("DTEND;TZID=\"{tzid}\":20240301T110000"));
            let parsed = parse_as(&text, ComponentKind::Event);
            assert_eq!(parsed.timezone, expected, "{tzid}");
            let (activity, ctx) = stored_activity(&text, ComponentKind::Event);
            // Unchanged values: still no VTIMEZONE added.
            assert_same_object(&text, &render(&activity, &ctx), tzid);
        }
    }

    #[test]
    fn recurrence_bounds() {
        let daily = |rule: &str| event(&format!("RRULE:{rule}"));
        let open = parse_as(&daily("FREQ=DAILY"), ComponentKind::Event);
        assert!(open.recurring);
        assert_eq!(open.range_end, None);

        let options = ParseOptions { max_instances: 100, ..ParseOptions::default() };
        assert_eq!(
            parse(&daily("FREQ=DAILY;COUNT=101"), ComponentKind::Event, &options),
            Err(IcalError::TooManyInstances(100))
        );
        let hundred = parse(&daily("FREQ=DAILY;COUNT=100"), ComponentKind::Event, &options).unwrap();
        assert_eq!(hundred.range_end, Some(utc(2024, 6, 8, 11, 0, 0)));
        let until = parse(&daily("FREQ=WEEKLY;UNTIL=20240331T235959Z"), ComponentKind::Event, &options).unwrap();
        assert_eq!(until.range_end, Some(utc(2024, 3, 29, 11, 0, 0)));

        let rdates = parse_as(&event("RDATE:20240310T100000Z,20240320T100000Z"), ComponentKind::Event);
        assert!(rdates.recurring);
        assert_eq!(rdates.range_end, Some(utc(2024, 3, 20, 11, 0, 0)));
    }
}
