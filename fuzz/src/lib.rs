//! What the fuzz targets check, shared with the corpus replay that runs under plain `cargo test`
//! (`tests/fuzz_smoke.rs` includes this file), so every input the fuzzer ever kept is re-checked by
//! CI on the stable toolchain, along with a bounded run of random mutations of those inputs.
//!
//! - `xml_request`: the three request-body parsers never panic, and their errors say something.
//! - `icalendar`: a device's object either is refused with a message, or is accepted; an accepted
//!   object is stored and rendered back the way the server does on every read, and what the server
//!   renders it accepts again as the same activity; recurrence expansion over it stays bounded.
//! - `vcard`: the same for cards: an accepted card renders (3.0 and 4.0), and the rendered card
//!   parses back to the same editable fields.

use chrono::{TimeZone, Utc};
use crmdav::caldav::{Limits, busy_periods, expand};
use crmdav::crm::activities::Activity;
use crmdav::crm::addressbook::{Card, Client, Contact};
use crmdav::dav::filter::TimeRange;
use crmdav::dav::request::{PropfindRequest, ProppatchRequest, ReportRequest};
use crmdav::mapping::ical::{self, ComponentKind, ParseOptions, RenderContext};
use crmdav::mapping::vcard::{self, Version};

/// Fuzzed objects are small; the server's own bound is 3,000 instances.
const MAX_INSTANCES: usize = 300;

pub fn xml_request(data: &[u8]) {
    if let Err(e) = PropfindRequest::parse(data) {
        assert!(!e.message.is_empty());
    }
    if let Err(e) = ReportRequest::parse(data) {
        assert!(!e.message.is_empty());
    }
    if let Err(e) = ProppatchRequest::parse(data) {
        assert!(!e.message.is_empty());
    }
}

pub fn icalendar(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let options = ParseOptions { max_instances: MAX_INSTANCES, ..ParseOptions::default() };
    for kind in [ComponentKind::Event, ComponentKind::Todo] {
        let parsed = match ical::parse(text, kind, &options) {
            Ok(parsed) => parsed,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                continue;
            }
        };
        // Store it as the server does (the row from the parsed values, the text kept as sent) ...
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        let mut activity = Activity { id: 1, href: "fuzz.ics".into(), rep_id: 1, ..Activity::default() };
        activity.kind = kind.default_activity_kind().into();
        parsed.apply_to(&mut activity, now);
        activity.ical = Some(text.to_string());
        // ... and serve it: rendered, then read back, it is the same activity.
        let rendered = ical::render(&activity, &RenderContext::default());
        let again = ical::parse(&rendered, kind, &options)
            .unwrap_or_else(|e| panic!("the server refuses what it serves ({e}):\n{rendered}"));
        assert_eq!(again.uid, parsed.uid, "{rendered}");
        assert_eq!(again.start, parsed.start, "{rendered}");
        assert_eq!(again.recurring, parsed.recurring, "{rendered}");
        // Time-range queries and free-busy expand stored objects: bounded, never a panic.
        if let Ok(calendar) = calcard::icalendar::ICalendar::parse(&rendered) {
            let range = TimeRange {
                start: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
                end: Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()),
            };
            let limits = Limits::new(MAX_INSTANCES);
            let _ = expand(&calendar, &range, &limits);
            let _ = busy_periods(&calendar, &range, &limits);
        }
    }
}

fn client() -> Client {
    Client {
        id: 1,
        code: "C00001".into(),
        name: "Fuzz Industries GmbH".into(),
        category: "Retail".into(),
        status: "active".into(),
        territory: "North".into(),
        street: "Hauptstrasse 1".into(),
        postal_code: "20095".into(),
        city: "Hamburg".into(),
        country: "Germany".into(),
        phone: "+49 40 1234567".into(),
        website: "https://fuzz.example".into(),
    }
}

pub fn vcard(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = match vcard::parse(text) {
        Ok(parsed) => parsed,
        Err(message) => {
            assert!(!message.is_empty());
            return;
        }
    };
    let card = Card {
        client: client().into(),
        contact: Some(Contact {
            id: 1,
            uid: parsed.uid.clone().unwrap_or_else(|| "fuzz-uid".into()),
            href: "fuzz.vcf".into(),
            fields: parsed.fields.clone(),
        }),
        notes: Default::default(),
        voice_notes: Default::default(),
        figures: Default::default(),
    };
    let _ = vcard::render(&card, Version::V4);
    let rendered = vcard::render(&card, Version::V3);
    let again =
        vcard::parse(&rendered).unwrap_or_else(|e| panic!("the server refuses the card it serves ({e}):\n{rendered}"));
    let (a, b) = (&parsed.fields, &again.fields);
    assert_eq!(
        (&a.first_name, &a.last_name, &a.title, &a.email, &a.phone, &a.mobile),
        (&b.first_name, &b.last_name, &b.title, &b.email, &b.phone, &b.mobile),
        "editable fields survive a round trip:\n{text}\n---\n{rendered}"
    );
    assert_eq!(
        (&a.street, &a.city, &a.postal_code, &a.country),
        (&b.street, &b.city, &b.postal_code, &b.country),
        "the address survives a round trip:\n{text}\n---\n{rendered}"
    );
}
