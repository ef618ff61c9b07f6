//! Reviewed snapshots of canonical DAV exchanges (insta): discovery, multigets, sync-collection,
//! calendar-query with expand, and the standard refusals. Each snapshot is the whole exchange as a
//! person reads it: request line, the request headers that matter, the body, then the status, the
//! response headers that matter and the body, XML re-indented. What varies from run to run (sync
//! tokens, ETags, the port) is replaced by a [placeholder] before comparing.
//!
//! A changed answer fails here until someone reads the new snapshot and accepts it
//! (`cargo insta review`, or `INSTA_UPDATE=always` then `git diff`); under CI=true insta never
//! writes, it only compares.

mod common;

use common::{
    Backend, CALDAV_NS, CARDDAV_NS, DAV_NS, DavErrorBody, TestServer, parse_dav_error, parse_multistatus, pretty_xml,
};

const EVENTS: &str = "/dav/calendars/alice/activities/";
const TASKS: &str = "/dav/calendars/alice/follow-ups/";
const BOOK: &str = "/dav/addressbooks/alice/clients/";

/// The response headers a DAV client acts on; others (Date, Content-Length) say nothing here.
const SHOWN_HEADERS: [&str; 5] = ["content-type", "dav", "allow", "location", "etag"];

/// One request as the snapshot shows it (Authorization is always alice's Basic and not shown).
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: String,
}

impl<'a> Request<'a> {
    fn new(method: &'a str, path: &'a str) -> Self {
        Request { method, path, headers: &[], body: String::new() }
    }

    fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
}

/// The body as a person reads it: XML re-indented, iCalendar/vCard with plain line breaks.
fn readable_body(body: &str, content_type: &str) -> String {
    if body.trim().is_empty() {
        return String::new();
    }
    if content_type.contains("xml") || body.trim_start().starts_with('<') {
        pretty_xml(body)
    } else {
        body.replace("\r\n", "\n").trim_end().to_string()
    }
}

/// Sends `request` as alice; returns the exchange in readable form and the raw response body.
async fn exchange(server: &TestServer, request: Request<'_>) -> (String, String) {
    let mut out = format!("{} {}\n", request.method, request.path);
    let mut builder = server.as_user(request.method, request.path, "alice");
    let mut request_type = String::new();
    for (name, value) in request.headers {
        out.push_str(&format!("{name}: {value}\n"));
        if name.eq_ignore_ascii_case("content-type") {
            request_type = value.to_string();
        }
        builder = builder.header(*name, *value);
    }
    if !request.body.is_empty() {
        out.push_str(&format!("\n{}\n", readable_body(&request.body, &request_type)));
    }
    let response = builder.body(request.body.clone()).send().await.unwrap();
    let status = response.status();
    out.push_str(&format!("\n--> {} {}\n", status.as_u16(), status.canonical_reason().unwrap_or("")));
    for name in SHOWN_HEADERS {
        if let Some(value) = response.headers().get(name) {
            out.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
        }
    }
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    let body = response.text().await.unwrap();
    let readable = readable_body(&body, content_type.as_deref().unwrap_or(""));
    if !readable.is_empty() {
        out.push_str(&format!("\n{readable}\n"));
    }
    (normalise(server, &out), body)
}

/// Several exchanges, one after the other, in one snapshot.
async fn exchanges(server: &TestServer, requests: Vec<Request<'_>>) -> String {
    let mut out = Vec::new();
    for request in requests {
        out.push(exchange(server, request).await.0);
    }
    out.join("\n==========\n\n")
}

/// Replaces what differs between runs and databases by placeholders.
fn normalise(server: &TestServer, text: &str) -> String {
    let text = text.replace(&server.base, "http://[server]");
    let text = replace_after(&text, "urn:crmdav:sync:", &['<', '"', '\n', ' '], "[token]");
    let text = replace_between(&text, "<d:getetag>", "</d:getetag>", "\"[etag]\"");
    replace_after(&text, "\netag: ", &['\n'], "\"[etag]\"")
}

/// Replaces what follows each `marker` up to the first of `stops` by `placeholder`.
fn replace_after(text: &str, marker: &str, stops: &[char], placeholder: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        out.push_str(&rest[..start]);
        out.push_str(placeholder);
        rest = &rest[start..];
        rest = &rest[rest.find(stops).unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

fn replace_between(text: &str, open: &str, close: &str, placeholder: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(open) {
        let start = at + open.len();
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let Some(end) = rest.find(close) else { break };
        out.push_str(placeholder);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

const XML: (&str, &str) = ("Content-Type", "application/xml; charset=utf-8");
const ICAL: (&str, &str) = ("Content-Type", "text/calendar; charset=utf-8");

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//snapshot test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20261101T090000Z\r\nDTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nSUMMARY:{summary}\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn put_event(server: &TestServer, path: &str, body: &str) {
    let response = server.as_user("PUT", path, "alice").header(ICAL.0, ICAL.1).body(body.to_string()).send().await;
    assert_eq!(response.unwrap().status(), 201, "PUT {path}");
}

/// The first `n` member hrefs of a collection, in href order (the demo data is deterministic).
async fn first_members(server: &TestServer, collection: &str, n: usize) -> Vec<String> {
    let (_, body) = exchange(
        server,
        Request::new("PROPFIND", collection)
            .headers(&[("Depth", "1"), XML])
            .body(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#),
    )
    .await;
    let mut hrefs: Vec<String> =
        parse_multistatus(&body).responses.into_iter().map(|r| r.href).filter(|h| h != collection).collect();
    hrefs.sort();
    hrefs.truncate(n);
    assert_eq!(hrefs.len(), n, "{collection} has {n} members");
    hrefs
}

// --- discovery ---------------------------------------------------------------------------------

async fn discovery(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let snapshot = exchanges(
        &server,
        vec![
            Request::new("PROPFIND", "/").headers(&[("Depth", "0"), XML]).body(
                r#"<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/><d:resourcetype/></d:prop></d:propfind>"#,
            ),
            Request::new("PROPFIND", "/dav/principals/alice/").headers(&[("Depth", "0"), XML]).body(
                r#"<d:propfind xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:ietf:params:xml:ns:carddav"><d:prop><d:displayname/><d:principal-URL/><C:calendar-home-set/><A:addressbook-home-set/><C:calendar-user-address-set/></d:prop></d:propfind>"#,
            ),
            Request::new("PROPFIND", "/dav/calendars/alice/").headers(&[("Depth", "1"), XML]).body(
                r#"<d:propfind xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"><d:prop><d:resourcetype/><d:displayname/><C:supported-calendar-component-set/><d:sync-token/><CS:getctag/><d:current-user-privilege-set/></d:prop></d:propfind>"#,
            ),
            Request::new("PROPFIND", "/dav/addressbooks/alice/").headers(&[("Depth", "1"), XML]).body(
                r#"<d:propfind xmlns:d="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav"><d:prop><d:resourcetype/><d:displayname/><A:supported-address-data/><d:sync-token/></d:prop></d:propfind>"#,
            ),
        ],
    )
    .await;
    insta::assert_snapshot!("discovery", snapshot);
    server.stop().await;
}

// --- multiget ----------------------------------------------------------------------------------

async fn addressbook_multiget(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let members = first_members(&server, BOOK, 2).await;
    let hrefs: String = members.iter().map(|h| format!("<d:href>{h}</d:href>")).collect();
    let body = format!(
        r#"<A:addressbook-multiget xmlns:d="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><A:address-data/></d:prop>{hrefs}<d:href>{BOOK}missing.vcf</d:href></A:addressbook-multiget>"#
    );
    let (snapshot, raw) =
        exchange(&server, Request::new("REPORT", BOOK).headers(&[("Depth", "1"), XML]).body(body)).await;
    let answer = parse_multistatus(&raw);
    for href in &members {
        let card = answer.response(href).and_then(|r| r.prop(CARDDAV_NS, "address-data")).expect("address data");
        assert!(card.text.starts_with("BEGIN:VCARD"), "{raw}");
    }
    assert_eq!(answer.response(&format!("{BOOK}missing.vcf")).and_then(|r| r.status), Some(404), "{raw}");
    insta::assert_snapshot!("addressbook_multiget", snapshot);
    server.stop().await;
}

async fn calendar_multiget(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let own = format!("{EVENTS}snapshot-meeting.ics");
    put_event(&server, &own, &event("snapshot-meeting", "Quarterly review")).await;
    let demo = first_members(&server, EVENTS, 1).await.remove(0);
    let body = format!(
        r#"<C:calendar-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><C:calendar-data/></d:prop><d:href>{own}</d:href><d:href>{demo}</d:href><d:href>{EVENTS}missing.ics</d:href></C:calendar-multiget>"#
    );
    let (snapshot, raw) =
        exchange(&server, Request::new("REPORT", EVENTS).headers(&[("Depth", "1"), XML]).body(body)).await;
    let answer = parse_multistatus(&raw);
    let data = answer.response(&own).and_then(|r| r.prop(CALDAV_NS, "calendar-data")).expect("calendar data");
    assert!(data.text.contains("SUMMARY:Quarterly review"), "{raw}");
    assert_eq!(answer.response(&format!("{EVENTS}missing.ics")).and_then(|r| r.status), Some(404), "{raw}");
    insta::assert_snapshot!("calendar_multiget", snapshot);
    server.stop().await;
}

// --- sync-collection ---------------------------------------------------------------------------

fn sync_collection(token: &str) -> String {
    format!(
        r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    )
}

/// Initial sync of the follow-ups calendar, then a delta after one PUT and one DELETE.
async fn sync_initial_and_delta(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (initial, raw) =
        exchange(&server, Request::new("REPORT", TASKS).headers(&[XML]).body(sync_collection(""))).await;
    let first = parse_multistatus(&raw);
    let token = first.sync_token.clone().expect("a sync token");
    assert!(first.responses.iter().all(|r| r.prop(DAV_NS, "getetag").is_some()), "{raw}");
    insta::assert_snapshot!("sync_collection_initial", initial);

    let removed = first_members(&server, TASKS, 1).await.remove(0);
    let added = format!("{TASKS}snapshot-task.ics");
    let todo = event("snapshot-task", "Send the quote")
        .replace("VEVENT", "VTODO")
        .replace("DTEND:20261210T100000Z", "DUE:20261210T100000Z");
    let response = server.as_user("PUT", &added, "alice").header(ICAL.0, ICAL.1).body(todo).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let response = server.as_user("DELETE", &removed, "alice").send().await.unwrap();
    assert_eq!(response.status(), 204, "DELETE {removed}");

    let (delta, raw) =
        exchange(&server, Request::new("REPORT", TASKS).headers(&[XML]).body(sync_collection(&token))).await;
    let changes = parse_multistatus(&raw);
    assert!(changes.response(&added).and_then(|r| r.prop(DAV_NS, "getetag")).is_some(), "{raw}");
    assert_eq!(changes.response(&removed).and_then(|r| r.status), Some(404), "{raw}");
    assert_eq!(changes.responses.len(), 2, "{raw}");
    insta::assert_snapshot!("sync_collection_delta", delta);
    server.stop().await;
}

// --- calendar-query with expand ----------------------------------------------------------------

async fn calendar_query_with_expand(backend: Backend) {
    let server = TestServer::demo(backend).await;
    // Weekly on Mondays 09:00 UTC from 2027-01-04, 4 times; the 2027-01-11 one moved to Wednesday.
    let series = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//snapshot test//EN\r\nBEGIN:VEVENT\r\nUID:weekly\r\n\
        DTSTAMP:20261101T090000Z\r\nDTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n\
        SUMMARY:Weekly review\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20261101T090000Z\r\n\
        RECURRENCE-ID:20270111T090000Z\r\nDTSTART:20270113T150000Z\r\nDTEND:20270113T160000Z\r\n\
        SUMMARY:Weekly review (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    put_event(&server, &format!("{EVENTS}weekly.ics"), series).await;
    let (start, end) = ("20270110T000000Z", "20270120T000000Z");
    let body = format!(
        r#"<C:calendar-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data></d:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#
    );
    let (snapshot, raw) =
        exchange(&server, Request::new("REPORT", EVENTS).headers(&[("Depth", "1"), XML]).body(body)).await;
    let answer = parse_multistatus(&raw);
    let weekly = answer.response(&format!("{EVENTS}weekly.ics")).expect("the series matches");
    let data = &weekly.prop(CALDAV_NS, "calendar-data").expect("expanded data").text;
    assert!(!data.contains("RRULE") && data.matches("BEGIN:VEVENT").count() == 2, "{data}");
    insta::assert_snapshot!("calendar_query_expand", snapshot);
    server.stop().await;
}

// --- refusals ----------------------------------------------------------------------------------

/// Checks a refusal's body with the XML reader: exactly the precondition `ns`:`local`, and a
/// sentence for people.
fn assert_precondition(raw: &str, ns: &str, local: &str) -> DavErrorBody {
    let error = parse_dav_error(raw);
    assert_eq!(error.preconditions.len(), 1, "{raw}");
    assert!(error.preconditions[0].is(ns, local), "{raw}");
    assert!(!error.message.is_empty(), "{raw}");
    error
}

async fn refusal_mkcalendar_in_home(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (snapshot, raw) = exchange(&server, Request::new("MKCALENDAR", "/dav/calendars/alice/new/")).await;
    assert_precondition(&raw, CALDAV_NS, "calendar-collection-location-ok");
    insta::assert_snapshot!("refusal_mkcalendar_in_home", snapshot);
    server.stop().await;
}

async fn refusal_wrong_component(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let todo = event("wrong-task", "A task")
        .replace("VEVENT", "VTODO")
        .replace("DTEND:20261210T100000Z", "DUE:20261210T100000Z");
    let path = format!("{EVENTS}task.ics");
    let (snapshot, raw) = exchange(&server, Request::new("PUT", &path).headers(&[ICAL]).body(todo)).await;
    assert_precondition(&raw, CALDAV_NS, "supported-calendar-component");
    insta::assert_snapshot!("refusal_wrong_component", snapshot);
    server.stop().await;
}

async fn refusal_invalid_calendar_data(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let path = format!("{EVENTS}broken.ics");
    let body = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n";
    let (snapshot, raw) = exchange(&server, Request::new("PUT", &path).headers(&[ICAL]).body(body)).await;
    assert_precondition(&raw, CALDAV_NS, "valid-calendar-data");
    insta::assert_snapshot!("refusal_invalid_calendar_data", snapshot);
    server.stop().await;
}

async fn refusal_uid_conflict(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let first = format!("{EVENTS}first.ics");
    put_event(&server, &first, &event("held", "First")).await;
    let path = format!("{EVENTS}second.ics");
    let (snapshot, raw) =
        exchange(&server, Request::new("PUT", &path).headers(&[ICAL]).body(event("held", "Second"))).await;
    // RFC 4791 5.3.2.1: the precondition names the resource that holds the UID.
    assert_eq!(assert_precondition(&raw, CALDAV_NS, "no-uid-conflict").hrefs, [first], "{raw}");
    insta::assert_snapshot!("refusal_no_uid_conflict", snapshot);
    server.stop().await;
}

async fn refusal_delete_collection(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (snapshot, _) = exchange(&server, Request::new("DELETE", EVENTS)).await;
    let allow = snapshot.lines().find_map(|line| line.strip_prefix("allow: ")).expect("a 405 says what is allowed");
    assert!(!allow.contains("DELETE") && allow.contains("PROPFIND"), "{snapshot}");
    insta::assert_snapshot!("refusal_delete_collection_405", snapshot);
    server.stop().await;
}

on_both_databases!(
    discovery,
    addressbook_multiget,
    calendar_multiget,
    sync_initial_and_delta,
    calendar_query_with_expand,
    refusal_mkcalendar_in_home,
    refusal_wrong_component,
    refusal_invalid_calendar_data,
    refusal_uid_conflict,
    refusal_delete_collection,
);

/// The reader resolves namespaces, not prefixes: a default namespace and other prefixes than the
/// server's read the same.
#[test]
fn the_multistatus_reader_is_namespace_aware() {
    let body = r#"<?xml version="1.0"?>
        <multistatus xmlns="DAV:" xmlns:X="urn:ietf:params:xml:ns:caldav">
          <response><href>/a%20b/</href>
            <propstat><prop><resourcetype><collection/><X:calendar/></resourcetype>
              <X:calendar-home-set><href>/home/</href></X:calendar-home-set></prop>
              <status>HTTP/1.1 200 OK</status></propstat>
            <propstat><prop><X:calendar-data/></prop><status>HTTP/1.1 404 Not Found</status></propstat>
          </response>
          <response><href>/gone</href><status>HTTP/1.1 404 Not Found</status></response>
          <sync-token>t1</sync-token>
        </multistatus>"#;
    let ms = parse_multistatus(body);
    assert_eq!(ms.sync_token.as_deref(), Some("t1"));
    let a = ms.response("/a b/").expect("percent-decoded href");
    let kinds = &a.prop(DAV_NS, "resourcetype").unwrap().children;
    assert!(kinds.iter().any(|k| k.is(DAV_NS, "collection")) && kinds.iter().any(|k| k.is(CALDAV_NS, "calendar")));
    assert_eq!(a.prop(CALDAV_NS, "calendar-home-set").unwrap().hrefs, ["/home/"]);
    assert_eq!(a.prop_status(CALDAV_NS, "calendar-data"), Some(404));
    assert!(a.prop(CARDDAV_NS, "calendar-data").is_none(), "same local name, other namespace");
    assert_eq!(ms.response("/gone").unwrap().status, Some(404));
}
