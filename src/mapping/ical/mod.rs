//! CRM activity <-> iCalendar: meetings, calls and visits are VEVENTs of the "Activities"
//! calendar, tasks are VTODOs of "Follow-ups".
//!
//! Lossless: when a device wrote the object, [`render`] starts from that object (kept in
//! `activities.ical`) and only rewrites the properties the CRM models whose CRM value differs from
//! what the object says. Alarms, attendees, recurrence, overrides, time zones and X- properties
//! come back as the device sent them. Parsing, writing and recurrence are calcard's.
//!
//! Files: `read` (checks and modeled values of a device's object), `write` (the CRM's values into
//! an object), `recurrence` (instances of an object) and `value` (DATE/DATE-TIME and text values).
//! The last two serve the CalDAV queries too: `caldav` imports this module, never the reverse.
//!
//! Modeled properties of the master component: SUMMARY, LOCATION, DESCRIPTION (the note),
//! DTSTART, DTEND/DURATION (VEVENT) or DUE/DURATION (VTODO), STATUS and completion (VTODO:
//! STATUS/COMPLETED/PERCENT-COMPLETE; VEVENT: X-CRM-STATUS or the done category), X-CRM-CLIENT,
//! X-CRM-KIND.
//!
//! Times: the CRM keeps UTC instants plus the IANA zone of the start. All-day activities are
//! midnight-UTC instants with an exclusive end, like DTEND of a DATE event; a DATE-valued DUE names
//! the last day instead, so `DUE;VALUE=DATE:20240514` is the CRM end 2024-05-15T00:00:00Z.

pub mod attachments;
pub mod journal;
mod read;
pub(crate) mod recurrence;
mod report_task;
pub mod shown;
pub mod team;
#[cfg(test)]
mod tests;
pub(crate) mod value;
mod write;

use calcard::common::timezone::Tz;
use calcard::icalendar::{ICalendar, ICalendarComponentType};
use chrono::{DateTime, Utc};

use self::read::{
    Modeled, check_component, check_reads_back, check_timezones, find_master, parse_one_calendar, range_end,
};
pub use self::report_task::{ReportTask, X_CRM_REPORT_FOR, render_report_task};
use self::write::{Merge, skeleton};
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
    /// The linked client: X-CRM-CLIENT, and what the object shows of it (see `shown`).
    pub client: Option<shown::ClientShown>,
    /// The activity's note, shown as DESCRIPTION. `None` leaves a device's DESCRIPTION as it is;
    /// `Some("")` removes it.
    pub note: Option<String>,
    /// DTSTAMP of an object generated from the row alone: pass the row's last change so that the
    /// output, and so its ETag, stays the same between requests. `None`: the activity's start.
    pub stamp: Option<DateTime<Utc>>,
    /// The category that marks an event done (the same setting as [`ParseOptions::done_category`]);
    /// it is taken out of CATEGORIES when the CRM says the activity is not completed.
    pub done_category: String,
    /// The activity's voice notes, linked from its main component (`attachments::link_audio`).
    pub audio: Vec<attachments::AttachedAudio>,
}

impl Default for RenderContext {
    fn default() -> Self {
        Self {
            client: None,
            note: None,
            stamp: None,
            done_category: ParseOptions::default().done_category,
            audio: Vec::new(),
        }
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
    // What the server added to name the client is no part of the activity's own text.
    let rendered_name = modeled.x_crm_client_name.as_deref().unwrap_or("");
    Ok(ParsedObject {
        kind: expected,
        uid: modeled.uid.unwrap_or_default(),
        summary: shown::strip_summary(&modeled.summary, &[rendered_name]),
        description: shown::strip_description(&modeled.description),
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

/// The version of the objects [`render`] writes for the activities calendar (VEVENT), stored with
/// the texts it wrote. Bump it with any change to those objects (here, in `write`, or in the
/// `ActivityView` and `RenderContext` that `crm::activities` and `caldav` build): each activities
/// calendar is then re-rendered on its next use, and devices fetch the events whose text changed.
pub const EVENT_RENDER_VERSION: i32 = 3;

/// [`EVENT_RENDER_VERSION`] for the follow-ups calendar (VTODO).
pub const TODO_RENDER_VERSION: i32 = 3;

/// The iCalendar object of an activity. Starts from the device's object in `activity.ical` when
/// there is one of the right component type, and changes only the modeled properties whose CRM
/// value differs from the object's; otherwise generates an object from the row. Changing its
/// output: bump [`EVENT_RENDER_VERSION`] or [`TODO_RENDER_VERSION`], or both.
pub fn render(activity: &Activity, ctx: &RenderContext) -> String {
    render_calendar(activity, ctx).to_string()
}

/// The DESCRIPTION of the object [`render`] gives: what the device was shown ("" for none).
pub fn rendered_description(activity: &Activity, ctx: &RenderContext) -> String {
    let calendar = render_calendar(activity, ctx);
    let kind = ComponentKind::for_activity_kind(&activity.kind);
    let Ok(master) = find_master(&calendar, kind) else { return String::new() };
    let zones = calendar.build_owned_tz_resolver().with_default(Tz::UTC);
    Modeled::read(&calendar, master, kind, &zones, &ctx.done_category).description
}

/// [`render`] before it is written out: for a query that reads the object (filters, busy time)
/// and may not need its text at all. Reads the same as the text [`render`] gives.
pub fn render_calendar(activity: &Activity, ctx: &RenderContext) -> ICalendar {
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
    if let Some(component) = calendar.components.get_mut(master) {
        attachments::link_audio(component, &ctx.audio);
    }
    calendar
}

#[cfg(test)]
pub(crate) mod test_support {
    use calcard::icalendar::ICalendar;
    use chrono::{DateTime, TimeZone, Utc};

    /// Parses a test object written with `\n` line ends and two-space indentation.
    pub fn calendar(text: &str) -> ICalendar {
        let text: String =
            text.lines().map(str::trim).filter(|line| !line.is_empty()).map(|line| format!("{line}\r\n")).collect();
        ICalendar::parse(&text).expect("test calendar parses")
    }

    pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }
}
