//! Round trips of real client objects, and the reading and writing rules one by one.

use calcard::icalendar::{ICalendar, ICalendarComponentType, ICalendarEntry, ICalendarProperty, ICalendarValue};
use chrono::{DateTime, TimeZone, Utc};

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

/// The activity row the server would store for a device's object, with the object kept. The
/// client is linked by its code alone: what the server shows of a client is added on top (see
/// `shown` and `what_the_server_shows_comes_back_and_changes_nothing`).
fn stored_activity(text: &str, kind: ComponentKind) -> (Activity, RenderContext) {
    let parsed = parse_as(text, kind);
    let mut activity =
        Activity { kind: kind.default_activity_kind().into(), ical: Some(text.to_owned()), ..Activity::default() };
    parsed.apply_to(&mut activity, now());
    let ctx = RenderContext {
        client: parsed.x_crm_client.as_deref().map(|code| client(code, "")),
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
    let master =
        event.components.iter().find(|component| component.component_type == ICalendarComponentType::VEvent).unwrap();
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
        client: Some(client("C-1001", "Müller GmbH")),
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
    let masters = event("")
        .replace("END:VCALENDAR", "BEGIN:VEVENT\r\nUID:e\r\nDTSTART:20240302T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR");
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

/// The components of `calendar` in the order they are written (the root first, each followed by
/// its subcomponents), with their properties: what the object says, whatever the numbering of its
/// components (an added VTIMEZONE is numbered last in memory but written before the events).
fn written_tree(calendar: &ICalendar) -> Vec<(usize, &ICalendarComponentType, &[ICalendarEntry])> {
    fn walk<'a>(
        calendar: &'a ICalendar,
        id: usize,
        depth: usize,
        out: &mut Vec<(usize, &'a ICalendarComponentType, &'a [ICalendarEntry])>,
    ) {
        let component = &calendar.components[id];
        out.push((depth, &component.component_type, &component.entries));
        for &child in &component.component_ids {
            walk(calendar, child as usize, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(calendar, 0, 0, &mut out);
    out
}

/// Queries evaluate the object [`render_calendar`] builds instead of parsing the text [`render`]
/// writes; both must say the same, for device objects the CRM changed in every modeled way and
/// for objects generated from rows alone.
#[test]
fn the_rendered_object_is_what_its_text_reads_as() {
    let reads_as_its_text = |activity: &Activity, ctx: &RenderContext, label: &str| {
        let object = render_calendar(activity, ctx);
        let text = render(activity, ctx);
        assert_eq!(object.to_string(), text, "{label}");
        assert_eq!(written_tree(&calendar(&text)), written_tree(&object), "{label}");
    };
    for &(name, kind) in CORPUS {
        let (mut activity, mut ctx) = stored_activity(&fixture(name), kind);
        reads_as_its_text(&activity, &ctx, name);
        activity.subject = "Renamed; with a comma, too".into();
        activity.location = String::new();
        activity.kind = if kind == ComponentKind::Todo { "task" } else { "call" }.into();
        activity.start_at = Some(Ts(utc(2024, 4, 16, 12, 0, 0)));
        activity.end_at = Some(Ts(utc(2024, 4, 16, 13, 30, 0)));
        activity.timezone = "America/New_York".into();
        ctx.client = Some(client("C-2002", "Schmidt & Söhne"));
        ctx.note = Some("New note\nwith two lines".into());
        reads_as_its_text(&activity, &ctx, &format!("{name}, changed"));
        activity.status = "completed".into();
        activity.completed_at = Some(Ts(utc(2024, 4, 16, 14, 0, 0)));
        reads_as_its_text(&activity, &ctx, &format!("{name}, completed"));
        activity.status = "cancelled".into();
        activity.completed_at = None;
        activity.all_day = true;
        activity.end_at = Some(Ts(utc(2024, 4, 18, 0, 0, 0)));
        ctx.client = None;
        reads_as_its_text(&activity, &ctx, &format!("{name}, cancelled all-day"));
    }
    for (kind, all_day, status) in [
        ("meeting", false, "planned"),
        ("visit", true, "completed"),
        ("task", false, "completed"),
        ("task", true, "planned"),
    ] {
        let activity = Activity {
            uid: "generated".into(),
            kind: kind.into(),
            subject: "Generated".into(),
            start_at: Some(Ts(utc(2024, 9, 2, if all_day { 0 } else { 8 }, 0, 0))),
            end_at: Some(Ts(utc(2024, 9, if all_day { 3 } else { 2 }, 9, 30, 0))),
            all_day,
            timezone: if all_day { "" } else { "Europe/Berlin" }.into(),
            status: status.into(),
            completed_at: (status == "completed").then_some(Ts(utc(2024, 9, 2, 10, 0, 0))),
            ..Activity::default()
        };
        let ctx = RenderContext {
            client: Some(client("C-1001", "Müller GmbH")),
            note: Some("Note".into()),
            stamp: Some(utc(2024, 8, 1, 0, 0, 0)),
            ..RenderContext::default()
        };
        reads_as_its_text(&activity, &ctx, &format!("generated {kind}, all-day {all_day}, {status}"));
    }
}

fn client(code: &str, name: &str) -> super::shown::ClientShown {
    super::shown::ClientShown { code: code.into(), name: name.into(), ..Default::default() }
}

/// A device that sends back exactly what it received (with the client's name in the title, its
/// block in the description, the address of a visit) changes nothing: the stored row keeps its
/// own subject, place and text, and renders to the same object (no loop of edits).
#[test]
fn what_the_server_shows_comes_back_and_changes_nothing() {
    for (file, kind) in CORPUS {
        let text = fixture(file);
        let (mut activity, mut ctx) = stored_activity(&text, *kind);
        let mut meridian = client("C-1001", "Meridian Logistics AG");
        meridian.address = "Bahnhofstrasse 1, 8001 Zürich".into();
        meridian.contact =
            Some(super::shown::ContactShown { name: "Jane Doe".into(), phone: "+41 1".into(), ..Default::default() });
        ctx.client = Some(meridian.clone());
        if *kind == ComponentKind::Event {
            activity.kind = "visit".into();
            activity.location = String::new();
        }
        let shown = render(&activity, &ctx);
        assert!(shown.contains("Meridian Logistics AG"), "{file}: {shown}");
        let back = parse_as(&shown, *kind);
        assert_eq!(back.summary, activity.subject.trim(), "{file}: the title without the client's name");
        assert_eq!(back.description, ctx.note.as_deref().unwrap_or("").trim(), "{file}: the text without the block");
        let mut stored = activity.clone();
        back.apply_to(&mut stored, now());
        stored.location = super::shown::strip_location(&stored.location, Some(&meridian.address));
        stored.ical = Some(shown.clone());
        assert_eq!(stored.location, activity.location, "{file}: the address is no place of the activity's own");
        assert_eq!(render(&stored, &ctx), shown, "{file}: rendered again, the same object");
    }
}
