//! The address book and the two calendars answer alike where DAV says the same thing: one
//! implementation of each method over the `Collection` trait, so the halves cannot drift.

mod common;

use common::{Backend, TestServer, responses};

const EVENTS: &str = "/dav/calendars/alice/activities/";
const TASKS: &str = "/dav/calendars/alice/follow-ups/";
const BOOK: &str = "/dav/addressbooks/alice/clients/";

fn task(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\nSUMMARY:Send the quote\r\nDUE:20261201T170000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
}

async fn put(server: &TestServer, path: &str, body: &str) -> (u16, Option<String>) {
    let response = server
        .as_user("PUT", path, "alice")
        .header("Content-Type", "text/calendar; charset=utf-8")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), etag)
}

async fn send(server: &TestServer, method: &str, path: &str, body: &str) -> (u16, String) {
    let response =
        server.as_user(method, path, "alice").header("Depth", "1").body(body.to_string()).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Drift: the follow-ups calendar said its VTODOs were `component=vevent`.
async fn members_are_typed_by_the_component_their_calendar_takes(backend: Backend) {
    let server = TestServer::demo(backend).await;
    assert_eq!(put(&server, &format!("{TASKS}typed.ics"), &task("typed-1")).await.0, 201);
    let ask = r#"<propfind xmlns="DAV:"><prop><getcontenttype/></prop></propfind>"#;
    let (status, body) = send(&server, "PROPFIND", TASKS, ask).await;
    assert_eq!(status, 207);
    let member = responses(&body).into_iter().find(|r| r.href.ends_with("typed.ics")).expect("the task is listed");
    assert_eq!(member.prop("d:getcontenttype").as_deref(), Some("text/calendar; charset=utf-8; component=vtodo"));
    let (_, body) = send(&server, "PROPFIND", EVENTS, ask).await;
    for event in responses(&body).into_iter().filter(|r| r.href != EVENTS) {
        assert_eq!(event.prop("d:getcontenttype").as_deref(), Some("text/calendar; charset=utf-8; component=vevent"));
    }
    server.stop().await;
}

/// Drift: an unknown href sent as an absolute URL was answered by that URL in a calendar-multiget
/// and by its path in an addressbook-multiget; both now name it by path, as found members are.
async fn multiget_names_an_unknown_absolute_href_by_its_path(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let calendar = format!(
        r#"<C:calendar-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><d:href>http://example.com{EVENTS}missing.ics</d:href></C:calendar-multiget>"#
    );
    let book = format!(
        r#"<C:addressbook-multiget xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><d:href>http://example.com{BOOK}missing.vcf</d:href></C:addressbook-multiget>"#
    );
    for (collection, ask) in [(EVENTS, calendar), (BOOK, book)] {
        let (status, body) = send(&server, "REPORT", collection, &ask).await;
        assert_eq!(status, 207, "{body}");
        let answers = responses(&body);
        assert_eq!(answers.len(), 1, "{body}");
        assert!(answers[0].href.starts_with(collection), "{collection}: {body}");
        assert_eq!(answers[0].status(), Some(404), "{body}");
    }
    server.stop().await;
}

/// Drift: a calendar object sent with bare LF line endings, stored exactly as sent, got no ETag
/// (the calendars compared bytes, the address book compared text).
async fn a_put_stored_as_sent_gets_its_etag_whatever_its_line_endings(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let path = format!("{TASKS}lines.ics");
    assert_eq!(put(&server, &path, &task("lines-1")).await.0, 201);
    let stored = server.as_user("GET", &path, "alice").send().await.unwrap().text().await.unwrap();
    let (status, etag) = put(&server, &path, &stored.replace("\r\n", "\n")).await;
    assert_eq!(status, 204);
    let current = server.as_user("GET", &path, "alice").send().await.unwrap();
    let current = current.headers().get("etag").unwrap().to_str().unwrap().to_string();
    assert_eq!(etag.as_deref(), Some(current.as_str()));
    server.stop().await;
}

/// Drift: when the audit of a refusal could not be written, CalDAV answered 500 and CardDAV
/// answered the refusal as if it had been recorded. No refusal goes unrecorded now.
async fn a_refusal_that_cannot_be_audited_is_a_server_error_in_both(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let card: String = server
        .db
        .text(
            "SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice') \
             AND c.status = 'active' ORDER BY k.id LIMIT 1",
        )
        .await
        .expect("alice has a contact");
    let refused_audit_fails = match backend {
        Backend::Sqlite => vec![
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log WHEN NEW.outcome = 'refused' BEGIN SELECT RAISE(ABORT, 'audit down'); END",
        ],
        Backend::Postgres => vec![
            "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit down'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.outcome = 'refused') EXECUTE FUNCTION audit_down()",
        ],
    };
    for sql in refused_audit_fails {
        server.db.exec(sql).await;
    }
    let delete = server.as_user("DELETE", &format!("{BOOK}{card}"), "alice").send().await.unwrap();
    assert_eq!(delete.status().as_u16(), 500);
    let wrong_place = format!("{EVENTS}todo.ics");
    assert_eq!(put(&server, &wrong_place, &task("wrong-place")).await.0, 500);
    server.stop().await;
}

on_both_databases!(
    members_are_typed_by_the_component_their_calendar_takes,
    multiget_names_an_unknown_absolute_href_by_its_path,
    a_put_stored_as_sent_gets_its_etag_whatever_its_line_endings,
    a_refusal_that_cannot_be_audited_is_a_server_error_in_both,
);
