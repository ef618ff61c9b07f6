//! Refusals in the standard form: each says no with the status and the `DAV:error` precondition
//! the RFCs give (RFC 4918 9.3.1 and 16, RFC 4791 5.3.1 and 5.3.2, RFC 6352 6.3.2), keeps its
//! sentence for people in `crm:message`, and leaves the CRM as it was.

mod common;

use common::{Backend, DavErrorBody, TestServer, parse_dav_error, responses};

const EVENTS: &str = "/dav/calendars/alice/activities/";
const TASKS: &str = "/dav/calendars/alice/follow-ups/";
const BOOK: &str = "/dav/addressbooks/alice/clients/";
const DAV: &str = "DAV:";
const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";

/// Whether the error names exactly this one precondition.
fn names(error: &DavErrorBody, ns: &str, name: &str) -> bool {
    matches!(error.preconditions.as_slice(), [only] if only.is(ns, name))
}

/// What no refusal may change: the CRM rows a DAV write could touch, and the audit aside.
async fn fingerprint(server: &TestServer) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM activities",
        "SELECT COALESCE(SUM(LENGTH(uid) + LENGTH(href) + LENGTH(subject) + LENGTH(status) + LENGTH(COALESCE(ical, ''))), 0) FROM activities",
        "SELECT COUNT(*) FROM contacts",
        "SELECT COALESCE(SUM(LENGTH(uid) + LENGTH(href) + LENGTH(first_name) + LENGTH(last_name) + LENGTH(email)), 0) FROM contacts",
        "SELECT COUNT(*) FROM collections",
    ] {
        out.push(server.db.count(sql).await);
    }
    out
}

/// Sends `request`, checks its status and that nothing was written; returns the `DAV:error`.
async fn refused(server: &TestServer, request: reqwest::RequestBuilder, status: u16) -> DavErrorBody {
    let before = fingerprint(server).await;
    let response = request.send().await.unwrap();
    let got = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert_eq!(fingerprint(server).await, before, "a refused request wrote something: {body}");
    let error = parse_dav_error(&body);
    assert!(!error.message.is_empty(), "a sentence for people: {body}");
    error
}

fn event(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n\
         DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nSUMMARY:Refusal test\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn todo(uid: &str) -> String {
    event(uid).replace("VEVENT", "VTODO").replace("DTEND:20261210T100000Z", "DUE:20261210T100000Z")
}

fn journal(uid: &str) -> String {
    event(uid).replace("VEVENT", "VJOURNAL").replace("DTEND:20261210T100000Z\r\n", "")
}

fn put_calendar(server: &TestServer, path: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    server.as_user("PUT", path, "alice").header("Content-Type", "text/calendar; charset=utf-8").body(body)
}

fn put_card(server: &TestServer, path: &str, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    server.as_user("PUT", path, "alice").header("Content-Type", "text/vcard; charset=utf-8").body(body)
}

async fn status_of(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

fn extended_mkcol(resourcetype: &str) -> String {
    format!(
        r#"<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/>{resourcetype}</D:resourcetype><D:displayname>New</D:displayname></D:prop></D:set></D:mkcol>"#
    )
}

async fn collections_cannot_be_made_and_each_place_says_why(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let mk = |method: &str, path: &str| server.as_user(method, path, "alice");

    // In a home: the location precondition of the kind asked for, and a sentence saying why.
    let error = refused(&server, mk("MKCALENDAR", "/dav/calendars/alice/new/"), 403).await;
    assert!(names(&error, CALDAV, "calendar-collection-location-ok"), "{error:?}");
    assert!(error.message.contains("cannot be created"), "{error:?}");
    let error =
        refused(&server, mk("MKCOL", "/dav/calendars/alice/new/").body(extended_mkcol("<C:calendar/>")), 403).await;
    assert!(names(&error, CALDAV, "calendar-collection-location-ok"), "{error:?}");
    let error =
        refused(&server, mk("MKCOL", "/dav/addressbooks/alice/new/").body(extended_mkcol("<A:addressbook/>")), 403)
            .await;
    assert!(names(&error, CARDDAV, "addressbook-collection-location-ok"), "{error:?}");
    let error = refused(&server, mk("MKCOL", "/dav/addressbooks/alice/plain/"), 403).await;
    assert!(names(&error, DAV, "need-privileges"), "{error:?}");

    // Inside an existing collection: refused by the same preconditions, not "not found".
    let error = refused(&server, mk("MKCALENDAR", &format!("{EVENTS}inner/")), 403).await;
    assert!(names(&error, CALDAV, "calendar-collection-location-ok"), "{error:?}");
    let error = refused(&server, mk("MKCOL", &format!("{BOOK}inner/")), 403).await;
    assert!(names(&error, DAV, "need-privileges"), "{error:?}");

    // On a collection or member that exists: 405 for MKCOL, whose Allow does not offer it;
    // resource-must-be-null for MKCALENDAR.
    assert_eq!(status_of(put_calendar(&server, &format!("{EVENTS}taken.ics"), event("taken"))).await, 201);
    for path in [EVENTS, "/dav/addressbooks/alice/", "/dav/calendars/alice/", "/", &format!("{EVENTS}taken.ics")] {
        let before = fingerprint(&server).await;
        let response = mk("MKCOL", path).send().await.unwrap();
        assert_eq!(response.status(), 405, "MKCOL {path}");
        let allow = response.headers()["allow"].to_str().unwrap().to_string();
        assert!(!allow.contains("MKCOL") && allow.contains("PROPFIND"), "MKCOL {path}: Allow {allow}");
        assert!(response.text().await.unwrap().contains("already exists"), "MKCOL {path}");
        assert_eq!(fingerprint(&server).await, before);
    }
    let error = refused(&server, mk("MKCALENDAR", TASKS), 403).await;
    assert!(names(&error, DAV, "resource-must-be-null"), "{error:?}");

    // Where the parent does not exist: 409 (RFC 4918 9.3.1); another rep's tree stays unseen.
    assert_eq!(status_of(mk("MKCOL", "/dav/calendars/alice/nope/inner/")).await, 409);
    assert_eq!(status_of(mk("MKCALENDAR", "/dav/calendars/bob/new/")).await, 404);
    assert_eq!(status_of(mk("MKCOL", "/dav/calendars/bob/activities/")).await, 404);

    // The calendar home still holds its two calendars and the notes collection.
    let listing = server
        .as_user("PROPFIND", "/dav/calendars/alice/", "alice")
        .header("Depth", "1")
        .body(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(responses(&listing).len(), 4, "{listing}");
    server.stop().await;
}

async fn a_component_the_calendar_does_not_take_is_refused_as_unsupported(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let cases = [
        (format!("{EVENTS}task.ics"), todo("wrong-task")),
        (format!("{TASKS}event.ics"), event("wrong-event")),
        (format!("{EVENTS}journal.ics"), journal("wrong-journal-1")),
        (format!("{TASKS}journal.ics"), journal("wrong-journal-2")),
    ];
    for (path, body) in cases {
        let error = refused(&server, put_calendar(&server, &path, body), 403).await;
        assert!(names(&error, CALDAV, "supported-calendar-component"), "PUT {path}: {error:?}");
        assert!(error.message.contains("only takes"), "PUT {path}: {error:?}");
        assert_eq!(status_of(server.as_user("GET", &path, "alice")).await, 404, "{path}");
    }
    server.stop().await;
}

async fn invalid_or_mistyped_calendar_data_names_its_precondition(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let ok = event("good");
    let two_uids = ok.replace(
        "END:VCALENDAR",
        "BEGIN:VEVENT\r\nUID:other\r\nDTSTAMP:20261101T090000Z\r\nDTSTART:20261211T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR",
    );
    let latin1: Vec<u8> = ok.replace("Refusal", "Caf\u{e9}").chars().map(|c| c as u32 as u8).collect();
    let too_long = ok.replace("DTEND:20261210T100000Z", "DTEND:20261210T100000Z\r\nRRULE:FREQ=DAILY;COUNT=5000");
    let cases: Vec<(&str, reqwest::Body, &str, &str)> = vec![
        ("unparsable", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n".into(), "valid-calendar-data", "iCalendar"),
        ("two UIDs", two_uids.into(), "valid-calendar-data", "two different UIDs"),
        ("not UTF-8", latin1.into(), "valid-calendar-data", "UTF-8"),
        ("too many instances", too_long.into(), "max-instances", "occurrences"),
    ];
    for (what, body, precondition, says) in cases {
        let path = format!("{EVENTS}{}.ics", what.replace(' ', "-"));
        let error = refused(&server, put_calendar(&server, &path, body), 403).await;
        assert!(names(&error, CALDAV, precondition), "{what}: {error:?}");
        assert!(error.message.contains(says), "{what}: {error:?}");
        assert_eq!(status_of(server.as_user("GET", &path, "alice")).await, 404, "{what}");
    }
    let path = format!("{EVENTS}json.ics");
    let mistyped = server.as_user("PUT", &path, "alice").header("Content-Type", "application/json").body(ok);
    let error = refused(&server, mistyped, 403).await;
    assert!(names(&error, CALDAV, "supported-calendar-data"), "{error:?}");
    assert!(error.message.contains("text/calendar"), "{error:?}");
    assert_eq!(status_of(server.as_user("GET", &path, "alice")).await, 404);
    server.stop().await;
}

async fn invalid_or_mistyped_address_data_names_its_precondition(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let client = server
        .db
        .text("SELECT name FROM clients WHERE account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND status = 'active' ORDER BY id LIMIT 1")
        .await
        .unwrap();
    let card = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:new-card\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nORG:{client}\r\nEND:VCARD\r\n"
    );
    let latin1: Vec<u8> = card.replace("Jane", "J\u{f6}rg").chars().map(|c| c as u32 as u8).collect();
    let cases: Vec<(&str, reqwest::Body, &str)> = vec![
        ("unparsable", "BEGIN:VCARD\r\nFN:x\r\n".into(), "invalid vCard"),
        ("no UID", card.replace("UID:new-card\r\n", "").into(), "no UID"),
        ("not UTF-8", latin1.into(), "UTF-8"),
    ];
    for (what, body, says) in cases {
        let path = format!("{BOOK}{}.vcf", what.replace(' ', "-"));
        let error = refused(&server, put_card(&server, &path, body), 403).await;
        assert!(names(&error, CARDDAV, "valid-address-data"), "{what}: {error:?}");
        assert!(error.message.contains(says), "{what}: {error:?}");
        assert_eq!(status_of(server.as_user("GET", &path, "alice")).await, 404, "{what}");
    }
    let path = format!("{BOOK}typed.vcf");
    let mistyped = server.as_user("PUT", &path, "alice").header("Content-Type", "text/calendar").body(card);
    let error = refused(&server, mistyped, 403).await;
    assert!(names(&error, CARDDAV, "supported-address-data"), "{error:?}");
    assert!(error.message.contains("text/vcard"), "{error:?}");
    assert_eq!(status_of(server.as_user("GET", &path, "alice")).await, 404);
    server.stop().await;
}

async fn a_uid_conflict_names_the_resource_the_rep_can_see(backend: Backend) {
    let server = TestServer::demo(backend).await;
    // CalDAV: the object holding the UID, and the object whose UID a PUT would change.
    let first = format!("{EVENTS}first.ics");
    assert_eq!(status_of(put_calendar(&server, &first, event("held"))).await, 201);
    let error = refused(&server, put_calendar(&server, &format!("{EVENTS}second.ics"), event("held")), 409).await;
    assert!(names(&error, CALDAV, "no-uid-conflict"), "{error:?}");
    assert_eq!(error.hrefs.first().map(String::as_str), Some(first.as_str()));
    let error = refused(&server, put_calendar(&server, &first, event("changed")), 409).await;
    assert!(names(&error, CALDAV, "no-uid-conflict"), "{error:?}");
    assert_eq!(error.hrefs.first().map(String::as_str), Some(first.as_str()));
    assert!(error.message.contains("cannot change its UID"), "{error:?}");

    // CardDAV: a contact of alice's whose UID a PUT would change is named ...
    let own = server
        .db
        .text("SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice') ORDER BY k.id LIMIT 1")
        .await
        .unwrap();
    let own_path = format!("{BOOK}{own}");
    let text = server.as_user("GET", &own_path, "alice").send().await.unwrap().text().await.unwrap();
    let uid_line = text.lines().find(|line| line.starts_with("UID:")).unwrap().to_string();
    let changed = text.replace(&uid_line, "UID:a-new-uid");
    let error = refused(&server, put_card(&server, &own_path, changed), 409).await;
    assert!(names(&error, CARDDAV, "no-uid-conflict"), "{error:?}");
    assert_eq!(error.hrefs.first().map(String::as_str), Some(own_path.as_str()));

    // ... one alice cannot see is not: message only, nothing that points at it.
    let (hidden_href, hidden_uid) = (
        server
            .db
            .text("SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.account_manager_id <> (SELECT id FROM reps WHERE login = 'alice') ORDER BY k.id LIMIT 1")
            .await
            .unwrap(),
        server
            .db
            .text("SELECT k.uid FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.account_manager_id <> (SELECT id FROM reps WHERE login = 'alice') ORDER BY k.id LIMIT 1")
            .await
            .unwrap(),
    );
    assert_eq!(status_of(server.as_user("GET", &format!("{BOOK}{hidden_href}"), "alice")).await, 404);
    let client = server
        .db
        .text("SELECT name FROM clients WHERE account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND status = 'active' ORDER BY id LIMIT 1")
        .await
        .unwrap();
    let card = format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{hidden_uid}\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nORG:{client}\r\nEND:VCARD\r\n"
    );
    let error = refused(&server, put_card(&server, &format!("{BOOK}copy.vcf"), card), 409).await;
    assert!(names(&error, CARDDAV, "no-uid-conflict"), "{error:?}");
    assert!(error.hrefs.is_empty(), "{error:?}");
    assert!(!error.message.contains(&hidden_href), "{error:?}");
    server.stop().await;
}

async fn allow_lists_what_each_resource_answers(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let before = fingerprint(&server).await;
    for collection in [EVENTS, TASKS, BOOK] {
        let response = server.as_user("DELETE", collection, "alice").send().await.unwrap();
        assert_eq!(response.status(), 405, "DELETE {collection}");
        let allow = response.headers()["allow"].to_str().unwrap().to_string();
        assert!(!allow.contains("DELETE") && !allow.contains("PUT"), "DELETE {collection}: Allow {allow}");
        assert!(allow.contains("PROPFIND") && allow.contains("REPORT"), "DELETE {collection}: Allow {allow}");
    }
    assert_eq!(fingerprint(&server).await, before, "nothing was deleted");
    // OPTIONS says the same, before any login; a member takes PUT and DELETE.
    let allow_of = async |path: &str| {
        let response = server.request("OPTIONS", path).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.headers()["allow"].to_str().unwrap().to_string()
    };
    let calendar = allow_of(EVENTS).await;
    assert!(!calendar.contains("DELETE") && calendar.contains("REPORT"), "{calendar}");
    let member = allow_of(&format!("{EVENTS}x.ics")).await;
    assert!(member.contains("PUT") && member.contains("DELETE") && !member.contains("REPORT"), "{member}");
    let home = allow_of("/dav/calendars/alice/").await;
    assert!(!home.contains("PUT") && !home.contains("DELETE"), "{home}");
    server.stop().await;
}

async fn the_root_is_answered_with_the_href_asked_for(backend: Backend) {
    let server = TestServer::demo(backend).await;
    for (asked, answered) in [("/", "/"), ("/dav/", "/dav/")] {
        let body = server
            .as_user("PROPFIND", asked, "alice")
            .header("Depth", "0")
            .body(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"#)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let hrefs: Vec<String> = responses(&body).into_iter().map(|r| r.href).collect();
        assert_eq!(hrefs, [answered], "PROPFIND {asked}: {body}");
    }
    // PROPPATCH alike (the root has nothing to set: 403 for the property, in a 207).
    let body = server
        .as_user("PROPPATCH", "/", "alice")
        .body(r#"<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>x</d:displayname></d:prop></d:set></d:propertyupdate>"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answers = responses(&body);
    assert_eq!(answers.iter().map(|r| r.href.as_str()).collect::<Vec<_>>(), ["/"], "PROPPATCH /: {body}");
    assert_eq!(answers[0].status(), Some(403), "{body}");
    server.stop().await;
}

on_both_databases!(
    collections_cannot_be_made_and_each_place_says_why,
    a_component_the_calendar_does_not_take_is_refused_as_unsupported,
    invalid_or_mistyped_calendar_data_names_its_precondition,
    invalid_or_mistyped_address_data_names_its_precondition,
    a_uid_conflict_names_the_resource_the_rep_can_see,
);

/// Neither depends on the database: SQLite only.
mod without_storage {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn allow_is_computed_per_resource() {
        allow_lists_what_each_resource_answers(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_root_href_is_the_one_asked_for() {
        the_root_is_answered_with_the_href_asked_for(Backend::Sqlite).await
    }
}
