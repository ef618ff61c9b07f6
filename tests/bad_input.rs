//! The bad-input matrix and the security boundaries, over HTTP against a real server (SQLite: none
//! of this depends on the database). Every refusal is checked for its status, for a message that
//! says what is wrong, and for leaving the CRM exactly as it was.
//!
//! Requests that an HTTP client library would normalise before sending (dot segments, encoded
//! slashes) go over a raw TCP connection, so that the server sees exactly those bytes.

mod common;

use common::{Backend, TestServer, responses, sync_body, sync_token};
use crmdav::config::Config;
use crmdav::crm::credentials::{self, TokenKind};
use crmdav::crm::demo::DemoSize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The body limit of these servers: small, so that "huge" stays cheap.
const LIMIT: usize = 64 * 1024;
const BOOK: &str = "/dav/addressbooks/alice/clients/";
const EVENTS: &str = "/dav/calendars/alice/activities/";
const TASKS: &str = "/dav/calendars/alice/follow-ups/";
/// `alice:demo`
const ALICE_BASIC: &str = "Basic YWxpY2U6ZGVtbw==";

fn config() -> Config {
    let defaults = Config::default();
    Config {
        max_body_bytes: LIMIT,
        auth: crmdav::config::AuthConfig { max_failures: 3, ..defaults.auth.clone() },
        ..defaults
    }
}

async fn server() -> TestServer {
    TestServer::with_config(Backend::Sqlite, config(), Some(DemoSize::SMALL)).await
}

/// What a refused request must leave as it was: the CRM rows (counts and contents) and the
/// collections' display settings.
async fn fingerprint(server: &TestServer) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM activities",
        "SELECT COALESCE(SUM(LENGTH(uid) + LENGTH(href) + LENGTH(subject) + LENGTH(status) + LENGTH(COALESCE(ical, ''))), 0) FROM activities",
        "SELECT COUNT(*) FROM contacts",
        "SELECT COALESCE(SUM(LENGTH(first_name) + LENGTH(last_name) + LENGTH(email) + LENGTH(phone) + LENGTH(COALESCE(vcard_extra, ''))), 0) FROM contacts",
        "SELECT COUNT(*) FROM notes",
        "SELECT COUNT(*) FROM clients",
        "SELECT COUNT(*) FROM reps",
        "SELECT COUNT(*) FROM credentials",
        "SELECT COUNT(*) FROM collections WHERE displayname IS NOT NULL OR color IS NOT NULL",
    ] {
        out.push(server.db.count(sql).await);
    }
    out
}

/// Sends `request` and checks the refusal: its status, that the body contains `says`
/// (case-insensitive), and that nothing was stored.
async fn refused(server: &TestServer, request: reqwest::RequestBuilder, status: u16, says: &str) -> String {
    let before = fingerprint(server).await;
    let response = request.send().await.expect("request sent");
    let got = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(got, status, "expected {status} saying {says:?}, got {got}: {body}");
    assert!(body.to_lowercase().contains(&says.to_lowercase()), "a {status} should say {says:?}; it said: {body}");
    assert_eq!(fingerprint(server).await, before, "a refused request changed the CRM ({says})");
    body
}

/// One request over a fresh TCP connection, bytes exactly as given; (status, body).
async fn raw(server: &TestServer, head: &str, body: &[u8]) -> (u16, String) {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // A server may answer (413) and close before the whole body is sent: a failed write is fine.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no answer within 10 s to {head}"),
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn raw_head(method: &str, path: &str, extra: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {ALICE_BASIC}\r\nConnection: close\r\n{extra}\r\n"
    )
}

fn event(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n\
         DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nSUMMARY:Bad input test {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn put_event(server: &TestServer, name: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    server.as_user("PUT", &format!("{EVENTS}{name}"), "alice").header("Content-Type", "text/calendar").body(body)
}

fn put_card(server: &TestServer, name: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    server.as_user("PUT", &format!("{BOOK}{name}"), "alice").header("Content-Type", "text/vcard").body(body)
}

async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

/// The names (last path segment) of the members of a collection, as `login` sees them.
async fn member_names(server: &TestServer, login: &str, collection: &str) -> Vec<String> {
    let body = server
        .as_user("REPORT", collection, login)
        .header("Depth", "1")
        .body(sync_body(""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    responses(&body)
        .into_iter()
        .filter(|r| !r.href.ends_with('/'))
        .map(|r| r.href.rsplit('/').next().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_hostile_xml_is_refused_with_a_reason() {
    let server = server().await;
    let propfind = |body: &str| server.as_user("PROPFIND", BOOK, "alice").header("Depth", "0").body(body.to_string());
    let report = |body: &str| server.as_user("REPORT", BOOK, "alice").header("Depth", "1").body(body.to_string());
    let proppatch = |body: &str| server.as_user("PROPPATCH", EVENTS, "alice").body(body.to_string());

    refused(&server, propfind(r#"<d:propfind xmlns:d="DAV:"><d:prop>"#), 400, "malformed XML").await;
    refused(&server, propfind(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:propfind>"#), 400, "malformed XML")
        .await;
    refused(&server, propfind("this is not XML at all"), 400, "invalid XML request body").await;
    refused(&server, report(r#"<d:sync-collection xmlns:d="DAV:"><x:y/></d:sync-collection>"#), 400, "undeclared")
        .await;
    refused(&server, report(r#"<d:a xmlns:d="DAV:"/><d:b xmlns:d="DAV:"/>"#), 400, "more than one root").await;
    refused(&server, proppatch(r#"<d:propfind xmlns:d="DAV:"/>"#), 400, "expected root element").await;
    refused(&server, report("  \r\n"), 400, "needs an XML body").await;

    // DOCTYPEs are refused before anything is interpreted: no entity is defined, none expanded.
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>&lol2;</d:displayname></d:prop></d:set></d:propertyupdate>"#;
    let body = refused(&server, proppatch(laughs), 400, "DOCTYPE").await;
    assert!(!body.contains("lollol"), "no entity was expanded: {body}");
    let external = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&xxe;</d:displayname></d:prop></d:propfind>"#;
    let body = refused(&server, propfind(external), 400, "DOCTYPE").await;
    assert!(!body.contains("root:"), "{body}");
    let parameter = r#"<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><d:propfind xmlns:d="DAV:"/>"#;
    refused(&server, propfind(parameter), 400, "DOCTYPE").await;
    // Without a DOCTYPE an entity reference is simply undefined.
    refused(
        &server,
        report(r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>&xxe;</d:sync-token></d:sync-collection>"#),
        400,
        "malformed XML",
    )
    .await;

    // Deep nesting: just past the bound, and far past it (no stack exhaustion either way).
    let nested = |depth: usize| {
        format!(
            r#"<d:propfind xmlns:d="DAV:"><d:prop>{}{}</d:prop></d:propfind>"#,
            "<d:x>".repeat(depth),
            "</d:x>".repeat(depth)
        )
    };
    refused(&server, propfind(&nested(63)), 400, "nesting deeper than 64").await;
    refused(&server, propfind(&nested(5_000)), 400, "nesting deeper than 64").await;
    assert_eq!(status_of(propfind(&nested(40))).await, 207, "reasonable nesting is fine");

    // Only UTF-8.
    let latin1 = br#"<?xml version="1.0" encoding="ISO-8859-1"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname/></d:prop></d:propfind>"#;
    refused(
        &server,
        server.as_user("PROPFIND", BOOK, "alice").header("Depth", "0").body(latin1.to_vec()),
        400,
        "encoding",
    )
    .await;
    let not_utf8 = b"<d:propertyupdate xmlns:d=\"DAV:\"><d:set><d:prop><d:displayname>Caf\xe9</d:displayname></d:prop></d:set></d:propertyupdate>";
    refused(&server, server.as_user("PROPPATCH", BOOK, "alice").body(not_utf8.to_vec()), 400, "not valid UTF-8").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_bodies_get_413_at_the_configured_limit() {
    let server = server().await;
    let limit = LIMIT.to_string();
    // An event padded past the limit, with a Content-Length: refused before it is read.
    let padding = "X".repeat(LIMIT);
    let huge_event = event("huge").replace("SUMMARY:", &format!("DESCRIPTION:{padding}\r\nSUMMARY:"));
    refused(&server, put_event(&server, "huge.ics", huge_event.clone()), 413, &limit).await;
    // A multiget listing many hrefs.
    let hrefs: String = (0..2_000).map(|i| format!("<d:href>{BOOK}card-{i}.vcf</d:href>")).collect();
    let multiget = format!(
        r#"<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop>{hrefs}</c:addressbook-multiget>"#
    );
    assert!(multiget.len() > LIMIT);
    refused(&server, server.as_user("REPORT", BOOK, "alice").header("Depth", "1").body(multiget), 413, &limit).await;

    // Without a Content-Length (chunked): counted while read, refused at the limit.
    let before = fingerprint(&server).await;
    let mut chunked = Vec::new();
    for piece in huge_event.as_bytes().chunks(8192) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = raw_head(
        "PUT",
        &format!("{EVENTS}huge-chunked.ics"),
        "Content-Type: text/calendar\r\nTransfer-Encoding: chunked\r\n",
    );
    let (status, body) = raw(&server, &head, &chunked).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains(&limit), "{body}");
    assert_eq!(fingerprint(&server).await, before);

    // A body of exactly the limit is accepted.
    let open = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop><!--"#;
    let close = "--></d:propfind>";
    let exact = format!("{open}{}{close}", "x".repeat(LIMIT - open.len() - close.len()));
    assert_eq!(exact.len(), LIMIT);
    assert_eq!(status_of(server.as_user("PROPFIND", BOOK, "alice").header("Depth", "0").body(exact)).await, 207);

    for name in ["huge.ics", "huge-chunked.ics"] {
        assert_eq!(
            status_of(server.as_user("GET", &format!("{EVENTS}{name}"), "alice")).await,
            404,
            "{name} was not stored"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_calendar_and_card_data_is_refused_and_nothing_is_stored() {
    let server = server().await;
    let ok = event("good-uid");
    let cases: &[(&str, String, u16, &str)] = &[
        ("not iCalendar", "hello, this is not a calendar".into(), 403, "valid-calendar-data"),
        ("empty VCALENDAR", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n".into(), 403, "no VEVENT"),
        ("no UID", ok.replace("UID:good-uid\r\n", ""), 403, "has no UID"),
        ("unterminated", ok.replace("END:VEVENT\r\nEND:VCALENDAR\r\n", ""), 403, "cut short"),
        ("two calendars", format!("{ok}{ok}"), 403, "exactly one VCALENDAR"),
        ("bad DTSTART", ok.replace("DTSTART:20261210T090000Z", "DTSTART:tomorrow morning"), 403, "DTSTART"),
        ("end before start", ok.replace("DTEND:20261210T100000Z", "DTEND:20261209T100000Z"), 403, "before DTSTART"),
        (
            "unknown zone",
            ok.replace("DTSTART:20261210T090000Z", "DTSTART;TZID=Mars/Olympus:20261210T090000"),
            403,
            "Mars/Olympus",
        ),
        (
            "a NUL in a parameter",
            ok.replace("DTSTART:20261210T090000Z", "DTSTART;TZ\0ID=UTC:20261210T090000Z"),
            403,
            "control character U+0000",
        ),
        (
            "a parameter with a stray quote",
            ok.replace("DTEND:20261210T100000Z", "DTEND;TZID\"Europe/Paris\":20261210T110000"),
            403,
            "DTEND property does not read back",
        ),
        (
            "a task in the events calendar",
            ok.replace("BEGIN:VEVENT", "BEGIN:VTODO").replace("END:VEVENT", "END:VTODO"),
            403,
            "supported-calendar-component",
        ),
        (
            "a card in the events calendar",
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nEND:VCARD\r\n".into(),
            403,
            "valid-calendar-data",
        ),
    ];
    for (what, body, status, says) in cases {
        let name = format!("bad-{}.ics", what.replace(' ', "-"));
        eprintln!("PUT of an invalid event: {what}");
        let text = refused(&server, put_event(&server, &name, body.clone()), *status, says).await;
        assert!(text.contains("<d:error"), "{what}: a DAV:error body: {text}");
        assert_eq!(status_of(server.as_user("GET", &format!("{EVENTS}{name}"), "alice")).await, 404, "{what}");
    }
    // A follow-up that is an event.
    refused(
        &server,
        server
            .as_user("PUT", &format!("{TASKS}event.ics"), "alice")
            .header("Content-Type", "text/calendar")
            .body(ok.clone()),
        403,
        "supported-calendar-component",
    )
    .await;
    // Not UTF-8, and the wrong media type.
    let latin1 = ok.replace("Bad input test", "Caf\u{e9}").chars().map(|c| c as u32 as u8).collect::<Vec<u8>>();
    refused(&server, put_event(&server, "latin1.ics", latin1.clone()), 403, "not UTF-8").await;
    refused(
        &server,
        server
            .as_user("PUT", &format!("{EVENTS}json.ics"), "alice")
            .header("Content-Type", "application/json")
            .body(ok.clone()),
        403,
        "text/calendar",
    )
    .await;

    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:new-card\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nEND:VCARD\r\n";
    let card_cases: &[(&str, String, u16, &str)] = &[
        ("not a vCard", "hello".into(), 403, "invalid vCard"),
        ("no N", card.replace("N:Doe;Jane;;;\r\n", ""), 403, "no N"),
        ("unterminated", card.replace("END:VCARD\r\n", ""), 403, "cut short"),
        ("a control character", card.replace("FN:Jane", "FN:Ja\u{7}ne"), 403, "control character U+0007"),
        ("an event", ok.clone(), 403, "iCalendar object was sent where a vCard was expected"),
    ];
    for (what, body, status, says) in card_cases {
        let name = format!("bad-{}.vcf", what.replace(' ', "-"));
        eprintln!("PUT of an invalid card: {what}");
        let text = refused(&server, put_card(&server, &name, body.clone()), *status, says).await;
        assert!(text.contains("valid-address-data"), "{what}: {text}");
        assert_eq!(status_of(server.as_user("GET", &format!("{BOOK}{name}"), "alice")).await, 404, "{what}");
    }
    let latin1_card = card.replace("Jane", "J\u{f6}rg").chars().map(|c| c as u32 as u8).collect::<Vec<u8>>();
    refused(&server, put_card(&server, "latin1.vcf", latin1_card), 403, "not UTF-8").await;
    refused(
        &server,
        server.as_user("PUT", &format!("{BOOK}typed.vcf"), "alice").header("Content-Type", "text/calendar").body(card),
        403,
        "text/vcard",
    )
    .await;
    // The valid event is accepted (the matrix above failed for its one defect each).
    assert_eq!(status_of(put_event(&server, "good.ics", ok)).await, 201);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_depth_unknown_reports_and_bad_sync_tokens_are_refused() {
    let server = server().await;
    let getetag = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"#;
    for depth in ["2", "one", "-1", ""] {
        refused(&server, server.as_user("PROPFIND", BOOK, "alice").header("Depth", depth).body(getetag), 400, "Depth")
            .await;
    }
    refused(
        &server,
        server.as_user("REPORT", EVENTS, "alice").header("Depth", "infinite").body(sync_body("")),
        400,
        "Depth",
    )
    .await;

    let unknown = r#"<x:whatever xmlns:x="urn:example:unknown"/>"#;
    let expand = r#"<d:expand-property xmlns:d="DAV:"><d:property name="displayname"/></d:expand-property>"#;
    let calendar_query = r#"<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>"#;
    for (path, body) in [
        (BOOK, unknown),
        (EVENTS, unknown),
        (TASKS, expand),
        ("/dav/principals/alice/", expand),
        (BOOK, calendar_query),
    ] {
        refused(
            &server,
            server.as_user("REPORT", path, "alice").header("Depth", "0").body(body),
            403,
            "supported-report",
        )
        .await;
    }

    for collection in [BOOK, EVENTS, TASKS] {
        let first = server
            .as_user("REPORT", collection, "alice")
            .header("Depth", "1")
            .body(sync_body(""))
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 207);
        let token = sync_token(&first.text().await.unwrap());
        let (collection_part, seq) = token.rsplit_once('/').unwrap();
        let seq: i64 = seq.parse().unwrap();
        for bad in [
            "garbage".to_string(),
            "http://example.com/sync/1".to_string(),
            format!("{collection_part}/{}", seq + 1_000_000),
            "urn:crmdav:sync:-5".to_string(),
            "urn:crmdav:sync:1:%FF%FE".to_string(),
            "urn:crmdav:sync:99999999999999999999999".to_string(),
        ] {
            refused(
                &server,
                server.as_user("REPORT", collection, "alice").header("Depth", "1").body(sync_body(&bad)),
                403,
                "valid-sync-token",
            )
            .await;
        }
        // The issued token still works.
        let again = server.as_user("REPORT", collection, "alice").header("Depth", "1").body(sync_body(&token));
        assert_eq!(status_of(again).await, 207);
    }
    let level_two = r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>2</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#;
    refused(&server, server.as_user("REPORT", BOOK, "alice").header("Depth", "1").body(level_two), 400, "sync-level")
        .await;
    let bad_limit = r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:limit><d:nresults>lots</d:nresults></d:limit><d:prop><d:getetag/></d:prop></d:sync-collection>"#;
    refused(&server, server.as_user("REPORT", EVENTS, "alice").header("Depth", "1").body(bad_limit), 400, "nresults")
        .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_and_encoded_slashes_never_reach_another_resource() {
    let server = server().await;
    let bob_cards = member_names(&server, "bob", "/dav/addressbooks/bob/clients/").await;
    let bob_card = bob_cards.first().expect("bob has cards").clone();
    let bob_events = member_names(&server, "bob", "/dav/calendars/bob/activities/").await;
    let bob_event = bob_events.first().expect("bob has events").clone();
    let before = fingerprint(&server).await;

    let ics = event("traversal");
    let ics_head = |method: &str, path: &str| {
        raw_head(method, path, &format!("Content-Type: text/calendar\r\nContent-Length: {}\r\n", ics.len()))
    };
    let probes: Vec<(String, String)> = vec![
        ("GET".into(), format!("/dav/addressbooks/alice/../bob/clients/{bob_card}")),
        ("PROPFIND".into(), "/dav/addressbooks/alice/../bob/clients/".into()),
        ("GET".into(), format!("/dav/addressbooks/alice/clients/..%2F..%2Fbob%2Fclients%2F{bob_card}")),
        ("GET".into(), format!("/dav/calendars/alice/activities/%2e%2e/%2e%2e/bob/activities/{bob_event}")),
        ("GET".into(), format!("/dav/calendars/alice/activities/..%5C..%5Cbob%5Cactivities%5C{bob_event}")),
        ("DELETE".into(), format!("/dav/calendars/alice/%2E%2E/bob/activities/{bob_event}")),
        ("GET".into(), "/dav/calendars/alice/activities/%FF%FE.ics".into()),
        ("GET".into(), "/dav/calendars/alice/activities/a%00.ics".into()),
        ("GET".into(), "/dav/calendars/alice/./activities/".into()),
    ];
    for (method, path) in &probes {
        let (status, body) = raw(&server, &raw_head(method, path, "Content-Length: 0\r\n"), b"").await;
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert!(body.contains("not a valid resource name") || body.contains("not UTF-8"), "{method} {path}: {body}");
    }
    for path in [
        "/dav/calendars/alice/activities/a%2Fb.ics".to_string(),
        "/dav/calendars/alice/activities/..%2Fx.ics".to_string(),
        format!("/dav/calendars/alice/activities/..%2F..%2Fbob%2Factivities%2F{bob_event}"),
        "/dav/calendars/alice/activities/x%5C..%5Cy.ics".to_string(),
        "/dav/calendars/alice/activities/%2e%2e".to_string(),
    ] {
        let (status, body) = raw(&server, &ics_head("PUT", &path), ics.as_bytes()).await;
        assert_eq!(status, 400, "PUT {path}: {body}");
    }
    assert_eq!(fingerprint(&server).await, before, "nothing was written through a crafted path");

    // Multiget hrefs that climb out of the collection, or name another rep's items, give 404s.
    let sneaky = [
        format!("/dav/addressbooks/alice/clients/../../bob/clients/{bob_card}"),
        format!("/dav/addressbooks/alice/clients/..%2F..%2Fbob%2Fclients%2F{bob_card}"),
        format!("/dav/addressbooks/bob/clients/{bob_card}"),
        format!("http://elsewhere.example/dav/addressbooks/bob/clients/{bob_card}"),
        format!("{BOOK}%3Cscript%3E%26.vcf"),
    ];
    let hrefs: String = sneaky.iter().map(|h| format!("<d:href>{}</d:href>", h.replace('&', "&amp;"))).collect();
    let body = format!(
        r#"<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop>{hrefs}</c:addressbook-multiget>"#
    );
    let response = server.as_user("REPORT", BOOK, "alice").header("Depth", "1").body(body).send().await.unwrap();
    assert_eq!(response.status(), 207);
    let text = response.text().await.unwrap();
    assert!(!text.contains("BEGIN:VCARD"), "no card of bob's leaked: {text}");
    assert!(!text.contains("<script>"), "hrefs are escaped in the answer: {text}");
    let answers = responses(&text);
    assert_eq!(answers.len(), sneaky.len(), "{text}");
    assert!(answers.iter().all(|r| r.status() == Some(404)), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_reps_collections_and_items_are_404_on_every_method() {
    let server = server().await;
    let bob_card = member_names(&server, "bob", "/dav/addressbooks/bob/clients/").await.remove(0);
    let bob_event = member_names(&server, "bob", "/dav/calendars/bob/activities/").await.remove(0);
    let bob_task = member_names(&server, "bob", "/dav/calendars/bob/follow-ups/").await.first().cloned();
    let bob_card_before = server
        .as_user("GET", &format!("/dav/addressbooks/bob/clients/{bob_card}"), "bob")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let before = fingerprint(&server).await;

    let mut targets = vec![
        "/dav/principals/bob/".to_string(),
        "/dav/addressbooks/bob/".to_string(),
        "/dav/addressbooks/bob/clients/".to_string(),
        format!("/dav/addressbooks/bob/clients/{bob_card}"),
        "/dav/addressbooks/bob/clients/no-such-card.vcf".to_string(),
        "/dav/calendars/bob/".to_string(),
        "/dav/calendars/bob/activities/".to_string(),
        format!("/dav/calendars/bob/activities/{bob_event}"),
        "/dav/calendars/bob/activities/no-such-event.ics".to_string(),
        "/dav/calendars/bob/follow-ups/".to_string(),
        // A rep that does not exist looks the same as one that does.
        "/dav/calendars/nobody/activities/".to_string(),
    ];
    if let Some(task) = &bob_task {
        targets.push(format!("/dav/calendars/bob/follow-ups/{task}"));
    }
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x-rep\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nEND:VCARD\r\n";
    let proppatch = r#"<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>pwned</d:displayname></d:prop></d:set></d:propertyupdate>"#;
    let mut bodies_of_404 = std::collections::HashSet::new();
    for target in &targets {
        for method in ["GET", "HEAD", "PUT", "DELETE", "PROPFIND", "PROPPATCH", "REPORT"] {
            let mut request = server.as_user(method, target, "alice");
            request = match method {
                "PUT" if target.contains("/addressbooks/") => request.header("Content-Type", "text/vcard").body(card),
                "PUT" => request.header("Content-Type", "text/calendar").body(event("x-rep")),
                "PROPFIND" => request.header("Depth", "1"),
                "PROPPATCH" => request.body(proppatch),
                "REPORT" => request.header("Depth", "1").body(sync_body("")),
                _ => request,
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_eq!(status, 404, "alice {method} {target}: {body}");
            assert!(!body.contains("BEGIN:V") && !body.contains("<d:multistatus"), "{method} {target}: {body}");
            if method == "GET" {
                bodies_of_404.insert(body.replace(target.as_str(), "PATH"));
            }
        }
    }
    assert_eq!(bodies_of_404.len(), 1, "every 404 says the same, existing or not: {bodies_of_404:?}");
    assert_eq!(fingerprint(&server).await, before, "nothing of bob's changed");
    let bob_card_after = server
        .as_user("GET", &format!("/dav/addressbooks/bob/clients/{bob_card}"), "bob")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(bob_card_after, bob_card_before);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_reps_on_the_admin_api_and_brute_force_are_refused() {
    let server = server().await;
    // A revoked app token stops working at once.
    let (id, token) = credentials::create_token(&server.db.store, "alice", TokenKind::App, "lost phone").await.unwrap();
    let with_token = || server.request("PROPFIND", BOOK).basic_auth("alice", Some(&token)).header("Depth", "0");
    assert_eq!(status_of(with_token()).await, 207);
    credentials::revoke_token(&server.db.store, id).await.unwrap();
    let response = with_token().send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    // So does a proven (cached) password of a rep disabled since, on the reads a device makes.
    let sync =
        || server.as_user("REPORT", "/dav/addressbooks/bob/clients/", "bob").header("Depth", "1").body(sync_body(""));
    assert_eq!(status_of(sync()).await, 207);
    crmdav::crm::reps::set_active(&server.db.store, "bob", false).await.unwrap();
    let refused = sync().send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(!refused.text().await.unwrap().contains("BEGIN:VCARD"), "a refused read carries no card");
    crmdav::crm::reps::set_active(&server.db.store, "bob", true).await.unwrap();
    assert_eq!(status_of(sync()).await, 207);

    // The admin API is refused to reps, and what they tried did not happen.
    let before = fingerprint(&server).await;
    for (method, path, body) in [
        ("GET", "/admin/api/reps", None),
        (
            "POST",
            "/admin/api/reps",
            Some(r#"{"login":"mallory","display_name":"M","password":"secret123","role":"admin"}"#),
        ),
        ("POST", "/admin/api/reps/bob/password", Some(r#"{"password":"mine-now"}"#)),
        ("POST", "/admin/api/reps/alice/tokens", Some(r#"{"label":"x"}"#)),
        ("POST", "/admin/api/rules", Some(r#"{"effect":"allow","rep":"alice"}"#)),
        ("GET", "/admin/api/reps/bob/visible-clients", None),
    ] {
        let mut request = server.as_user(method, path, "alice");
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, 403, "alice {method} {path}: {text}");
        assert!(text.contains("admin"), "the refusal says why: {text}");
    }
    assert_eq!(fingerprint(&server).await, before);
    assert_eq!(server.db.count("SELECT COUNT(*) FROM visibility_rules").await, 1);

    // Brute force: after `max_failures` (3) failed logins since the last success the login's
    // password guesses are throttled (a password already proven, cached, is not a guess).
    for attempt in 1..=3 {
        let wrong = server
            .request("PROPFIND", BOOK)
            .basic_auth("alice", Some(&format!("guess{attempt}")))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "attempt {attempt}");
    }
    let throttled =
        server.request("PROPFIND", BOOK).basic_auth("alice", Some("guess4")).header("Depth", "0").send().await.unwrap();
    assert_eq!(throttled.status(), 429);
    let wait: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "Retry-After {wait}");
    assert!(throttled.text().await.unwrap().contains("too many failed logins"));
    for guess in ["hunter2", "password", "123456"] {
        let response = server.request("PROPFIND", BOOK).basic_auth("alice", Some(guess)).send().await.unwrap();
        assert_eq!(response.status(), 429, "{guess}: no more guesses are even checked");
    }
    assert_eq!(status_of(server.as_user("PROPFIND", BOOK, "alice").header("Depth", "0")).await, 207);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_text_basic_auth_is_refused_on_a_public_address() {
    let db = common::TestDb::new(Backend::Sqlite).await;
    let mut config = config();
    config.database = db.url.clone();
    config.listen = "0.0.0.0:0".parse().unwrap();
    let error = match crmdav::http::start(crmdav::http::AppState::new(config, db.store.clone())).await {
        Ok(_) => panic!("a plain-HTTP server with Basic auth on a public address must not start"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("refusing to serve HTTP Basic auth in clear text"), "{error}");
    assert!(error.contains("tls.cert"), "the message says what to do: {error}");
}
