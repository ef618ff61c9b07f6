//! CalDAV over HTTP: the rep's activities and follow-ups, device writes as CRM data, and the
//! CRM's rule that an activity is not completed without a note, on SQLite and PostgreSQL.

mod common;

use common::{Backend, TestServer, responses, sync_body, sync_token};

const EVENTS: &str = "/dav/calendars/alice/activities/";
const TASKS: &str = "/dav/calendars/alice/follow-ups/";

async fn put(server: &TestServer, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String, Option<String>) {
    let mut request = server
        .as_user("PUT", path, "alice")
        .header("Content-Type", "text/calendar; charset=utf-8")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), response.text().await.unwrap(), etag)
}

async fn report(server: &TestServer, path: &str, body: &str) -> (u16, String) {
    let response =
        server.as_user("REPORT", path, "alice").header("Depth", "1").body(body.to_string()).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn task(uid: &str, extra: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\nSUMMARY:Send the quote\r\nDUE:20261201T170000Z\r\n{extra}END:VTODO\r\nEND:VCALENDAR\r\n"
    )
}

async fn calendars_are_discoverable_with_their_components(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (status, body) = {
        let r = server.as_user("PROPFIND", "/dav/calendars/alice/", "alice").header("Depth", "1").body(r#"<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><prop><resourcetype/><C:supported-calendar-component-set/><sync-token/></prop></propfind>"#).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(status, 207);
    let all = responses(&body);
    let events = all.iter().find(|r| r.href == EVENTS).expect("activities calendar");
    assert!(events.body.contains("<cal:calendar/>") && events.body.contains(r#"<cal:comp name="VEVENT"/>"#));
    let tasks = all.iter().find(|r| r.href == TASKS).expect("follow-ups calendar");
    assert!(tasks.body.contains(r#"<cal:comp name="VTODO"/>"#));
    let principal = server.as_user("PROPFIND", "/dav/principals/alice/", "alice").header("Depth", "0").body(r#"<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><prop><C:calendar-home-set/></prop></propfind>"#).send().await.unwrap().text().await.unwrap();
    assert!(principal.contains("<cal:calendar-home-set><d:href>/dav/calendars/alice/</d:href>"));
    // Exactly the rep's own activities are listed, whatever their client's visibility.
    let (_, body) = report(&server, EVENTS, &sync_body("")).await;
    let expected = server
        .db
        .count(
            "SELECT COUNT(*) FROM activities a WHERE a.rep_id = (SELECT id FROM reps WHERE login = 'alice') \
         AND a.kind <> 'task' AND a.status <> 'cancelled'",
        )
        .await;
    assert_eq!(responses(&body).len() as i64, expected);
    server.stop().await;
}

async fn a_device_event_becomes_a_linked_activity_and_keeps_what_the_crm_does_not_model(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let code = server.db.text("SELECT code FROM clients WHERE account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND status = 'active' ORDER BY id LIMIT 1").await.unwrap();
    let event = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//iOS 17//EN\r\nBEGIN:VEVENT\r\nUID:dev-event-1\r\nDTSTAMP:20261101T090000Z\r\n\
         DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nSUMMARY:Visit planning\r\nLOCATION:Head office\r\nX-CRM-CLIENT:{code}\r\n\
         X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let (status, body, _) = put(&server, &format!("{EVENTS}dev-event-1.ics"), &event, &[("If-None-Match", "*")]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        server
            .db
            .text("SELECT c.code FROM activities a JOIN clients c ON c.id = a.client_id WHERE a.uid = 'dev-event-1'")
            .await,
        Some(code)
    );
    assert_eq!(
        server.db.text("SELECT subject FROM activities WHERE uid = 'dev-event-1'").await.as_deref(),
        Some("Visit planning")
    );
    let stored =
        server.as_user("GET", &format!("{EVENTS}dev-event-1.ics"), "alice").send().await.unwrap().text().await.unwrap();
    assert!(
        stored.contains("BEGIN:VALARM")
            && stored.contains("TRIGGER:-PT15M")
            && stored.contains("X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC"),
        "{stored}"
    );
    // The CRM moves it (another program, plain SQL): the device sees the new time at its next GET.
    server.db.exec("UPDATE activities SET subject = 'Visit planning (moved)' WHERE uid = 'dev-event-1'").await;
    let moved =
        server.as_user("GET", &format!("{EVENTS}dev-event-1.ics"), "alice").send().await.unwrap().text().await.unwrap();
    assert!(moved.contains("SUMMARY:Visit planning (moved)") && moved.contains("BEGIN:VALARM"));
    // Same UID at another name: 409 no-uid-conflict naming the existing object.
    let (status, body, _) = put(&server, &format!("{EVENTS}other.ics"), &event, &[]).await;
    assert_eq!(status, 409);
    assert!(body.contains("no-uid-conflict") && body.contains("dev-event-1.ics"));
    // Malformed data is refused with valid-calendar-data, the wrong component with
    // supported-calendar-component (RFC 4791 5.3.2), nothing stored.
    let (status, body, _) =
        put(&server, &format!("{EVENTS}bad.ics"), "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n", &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("valid-calendar-data"));
    let (status, body, _) = put(&server, &format!("{EVENTS}todo.ics"), &task("wrong-place", ""), &[]).await;
    assert_eq!(status, 403);
    assert!(body.contains("supported-calendar-component"), "{body}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM activities WHERE uid IN ('x', 'wrong-place')").await, 0);
    server.stop().await;
}

async fn completing_without_a_note_is_refused_and_changes_nothing(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let path = format!("{TASKS}quote.ics");
    let (status, _, _) = put(&server, &path, &task("task-quote", ""), &[]).await;
    assert_eq!(status, 201);
    let before = server.as_user("GET", &path, "alice").send().await.unwrap();
    let etag = before.headers()["etag"].to_str().unwrap().to_string();

    let (status, body, _) = put(
        &server,
        &path,
        &task("task-quote", "STATUS:COMPLETED\r\nCOMPLETED:20261120T100000Z\r\nPERCENT-COMPLETE:100\r\n"),
        &[("If-Match", &etag)],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<crm:note-required/>") && body.contains("write at least 3 words"), "{body}");
    assert_eq!(
        server.db.text("SELECT status FROM activities WHERE uid = 'task-quote'").await.as_deref(),
        Some("planned")
    );
    let after = server.as_user("GET", &path, "alice").send().await.unwrap();
    assert_eq!(after.headers()["etag"].to_str().unwrap(), etag, "the activity stays exactly as it was");
    assert!(
        server.db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'activity.put' AND outcome = 'refused'").await
            >= 1
    );

    let (status, _, _) = put(&server, &path, &task("task-quote", "STATUS:COMPLETED\r\nCOMPLETED:20261120T100000Z\r\nDESCRIPTION:Quote sent\\, customer will answer by Friday.\r\n"), &[("If-Match", &etag)]).await;
    assert_eq!(status, 204);
    assert_eq!(
        server.db.text("SELECT status FROM activities WHERE uid = 'task-quote'").await.as_deref(),
        Some("completed")
    );
    assert_eq!(
        server
            .db
            .text("SELECT n.body FROM notes n JOIN activities a ON a.id = n.activity_id WHERE a.uid = 'task-quote'")
            .await
            .as_deref(),
        Some("Quote sent, customer will answer by Friday.")
    );
    // A stale ETag is refused.
    let (status, _, _) = put(&server, &path, &task("task-quote", ""), &[("If-Match", &etag)]).await;
    assert_eq!(status, 412);
    server.stop().await;
}

async fn a_planned_events_description_is_no_client_note_and_its_closing_report_is(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let code = server.db.text("SELECT code FROM clients WHERE account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND status = 'active' ORDER BY id LIMIT 1").await.unwrap();
    let event = |description: &str, extra: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:noted\r\nDTSTAMP:20261101T090000Z\r\nDTSTART:20261110T090000Z\r\nDTEND:20261110T100000Z\r\nSUMMARY:Call\r\nX-CRM-CLIENT:{code}\r\nDESCRIPTION:{description}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    };
    let path = format!("{EVENTS}noted.ics");
    assert_eq!(put(&server, &path, &event("Wants the new price list", ""), &[]).await.0, 201);
    assert_eq!(put(&server, &path, &event("Wants the new price list by Monday", ""), &[]).await.0, 204);
    let notes = server
        .db
        .count("SELECT COUNT(*) FROM notes n JOIN activities a ON a.id = n.activity_id WHERE a.uid = 'noted'")
        .await;
    assert_eq!(notes, 0, "a planned event's description stays on the event");
    let shown = server.as_user("GET", &path, "alice").send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("DESCRIPTION:Wants the new price list by Monday"), "{shown}");
    // Completing with that description alone is refused: it is no report.
    let prep = "Wants the new price list by Monday";
    assert_eq!(put(&server, &path, &event(prep, "CATEGORIES:Completed\r\n"), &[]).await.0, 403);
    // With a report added, the report alone becomes the client note.
    let report = format!("{prep}\\nSent it\\, they order 40 units by Monday.");
    assert_eq!(put(&server, &path, &event(&report, "CATEGORIES:Completed\r\n"), &[]).await.0, 204);
    assert_eq!(server.db.text("SELECT status FROM activities WHERE uid = 'noted'").await.as_deref(), Some("completed"));
    let client_note = server.db.text(&format!("SELECT n.body FROM notes n JOIN clients c ON c.id = n.client_id WHERE c.code = '{code}' AND n.source = 'dav'")).await;
    assert_eq!(client_note.as_deref(), Some("Sent it, they order 40 units by Monday."));
    // The client's cards show the note among the last three.
    let card = server
        .db
        .text(&format!(
            "SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.code = '{code}' LIMIT 1"
        ))
        .await;
    if let Some(card) = card {
        let text = server
            .as_user("GET", &format!("/dav/addressbooks/alice/clients/{card}"), "alice")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let text = text.replace("\r\n ", "");
        assert!(text.contains("Sent it") && !text.contains("Wants the new price list"), "{text}");
    }
    server.stop().await;
}

async fn time_range_queries_see_recurrence_overrides(backend: Backend) {
    let server = TestServer::demo(backend).await;
    // Weekly on Mondays 09:00 UTC from 2027-01-04, 4 times; the 2027-01-11 instance moved to Wednesday 2027-01-13 15:00.
    let series = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20261101T090000Z\r\n\
        DTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Weekly review\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20261101T090000Z\r\nRECURRENCE-ID:20270111T090000Z\r\nDTSTART:20270113T150000Z\r\nDTEND:20270113T160000Z\r\n\
        SUMMARY:Weekly review (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(put(&server, &format!("{EVENTS}weekly.ics"), series, &[]).await.0, 201);
    let query = |start: &str, end: &str, expand: bool| {
        let data = if expand {
            format!(r#"<C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data>"#)
        } else {
            String::new()
        };
        format!(
            r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>{data}</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#
        )
    };
    let weekly = |body: &str| responses(body).into_iter().filter(|r| r.href.ends_with("weekly.ics")).count();
    // Only the override's new slot: matches.
    let (status, body) = report(&server, EVENTS, &query("20270113T140000Z", "20270113T170000Z", true)).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(weekly(&body), 1);
    let data = responses(&body)
        .into_iter()
        .find(|r| r.href.ends_with("weekly.ics"))
        .unwrap()
        .prop("cal:calendar-data")
        .unwrap();
    assert!(data.contains("Weekly review (moved)") && !data.contains("RRULE"), "expanded: {data}");
    // The original slot of the moved instance: no match.
    let (_, body) = report(&server, EVENTS, &query("20270111T080000Z", "20270111T110000Z", false)).await;
    assert_eq!(weekly(&body), 0);
    // A regular instance: matches; after the last one: nothing.
    let (_, body) = report(&server, EVENTS, &query("20270118T080000Z", "20270118T110000Z", false)).await;
    assert_eq!(weekly(&body), 1);
    let (_, body) = report(&server, EVENTS, &query("20270201T000000Z", "20270301T000000Z", false)).await;
    assert_eq!(weekly(&body), 0);
    server.stop().await;
}

/// Multiget (plain and expanded) answers from the text stored at the last refresh: it is what GET
/// serves, and a change made in the CRM since is never answered with the stale text.
async fn multiget_serves_current_text_plain_or_expanded(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let series = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:stored-weekly\r\nDTSTAMP:20261101T090000Z\r\n\
        DTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Weekly review\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let path = format!("{EVENTS}stored-weekly.ics");
    assert_eq!(put(&server, &path, series, &[]).await.0, 201);
    report(&server, EVENTS, &sync_body("")).await;
    let multiget = |data: &str| {
        format!(
            r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data>{data}</C:calendar-data></D:prop><D:href>{path}</D:href></C:calendar-multiget>"#
        )
    };
    let one = |body: &str| {
        let r = responses(body).into_iter().find(|r| r.href == path).unwrap_or_else(|| panic!("{body}"));
        (r.prop("d:getetag").unwrap(), r.prop("cal:calendar-data").unwrap())
    };
    let (status, body) = report(&server, EVENTS, &multiget("")).await;
    assert_eq!(status, 207, "{body}");
    let (etag, text) = one(&body);
    let get = server.as_user("GET", &path, "alice").send().await.unwrap();
    assert_eq!(get.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(get.text().await.unwrap(), text);
    let (_, body) =
        report(&server, EVENTS, &multiget(r#"<C:expand start="20270101T000000Z" end="20270201T000000Z"/>"#)).await;
    let (_, expanded) = one(&body);
    assert!(!expanded.contains("RRULE") && expanded.matches("BEGIN:VEVENT").count() == 4, "{expanded}");

    server
        .db
        .exec("UPDATE activities SET subject = 'Weekly review, renamed in the CRM' WHERE href = 'stored-weekly.ics'")
        .await;
    let (_, body) = report(&server, EVENTS, &multiget("")).await;
    let (new_etag, new_text) = one(&body);
    assert_ne!(new_etag, etag);
    assert!(new_text.contains("renamed in the CRM"), "{new_text}");
    server.stop().await;
}

async fn delete_cancels_and_sync_follows(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (_, body) = report(&server, TASKS, &sync_body("")).await;
    let token = sync_token(&body);
    let path = format!("{TASKS}to-drop.ics");
    assert_eq!(put(&server, &path, &task("to-drop", ""), &[]).await.0, 201);
    let (_, body) = report(&server, TASKS, &sync_body(&token)).await;
    let added = responses(&body);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].href, path);
    let token = sync_token(&body);
    let delete = server.as_user("DELETE", &path, "alice").send().await.unwrap();
    assert_eq!(delete.status(), 204);
    assert_eq!(
        server.db.text("SELECT status FROM activities WHERE uid = 'to-drop'").await.as_deref(),
        Some("cancelled"),
        "kept for reporting"
    );
    let (_, body) = report(&server, TASKS, &sync_body(&token)).await;
    let gone = responses(&body);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].status(), Some(404));
    assert_eq!(server.as_user("GET", &path, "alice").send().await.unwrap().status(), 404);
    // Bob cannot see or touch alice's calendars.
    assert_eq!(server.as_user("PROPFIND", TASKS, "bob").header("Depth", "0").send().await.unwrap().status(), 404);
    server.stop().await;
}

async fn proppatch_free_busy_and_content_types(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let patch = r#"<d:propertyupdate xmlns:d="DAV:" xmlns:A="http://apple.com/ns/ical/"><d:set><d:prop><d:displayname>Visits</d:displayname><A:calendar-color>#00AA00FF</A:calendar-color></d:prop></d:set></d:propertyupdate>"#;
    let response = server.as_user("PROPPATCH", EVENTS, "alice").body(patch).send().await.unwrap();
    assert_eq!(response.status(), 207);
    let body = response.text().await.unwrap();
    assert!(body.contains("200 OK") && !body.contains("403"), "{body}");
    let props = server.as_user("PROPFIND", EVENTS, "alice").header("Depth", "0").body(r#"<d:propfind xmlns:d="DAV:" xmlns:A="http://apple.com/ns/ical/"><d:prop><d:displayname/><A:calendar-color/></d:prop></d:propfind>"#).send().await.unwrap().text().await.unwrap();
    assert!(props.contains("<d:displayname>Visits</d:displayname>") && props.contains("#00AA00FF"), "{props}");
    // Bob's view of his own calendar keeps the defaults: settings are per rep.
    let bob = server
        .as_user("PROPFIND", "/dav/calendars/bob/activities/", "bob")
        .header("Depth", "0")
        .body(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/></d:prop></d:propfind>"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(bob.contains("CRM activities"));
    // A property that cannot be set fails the whole PROPPATCH (atomic) and changes nothing.
    let refused = server.as_user("PROPPATCH", EVENTS, "alice").body(r#"<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>X</d:displayname><d:getetag>"x"</d:getetag></d:prop></d:set></d:propertyupdate>"#).send().await.unwrap().text().await.unwrap();
    assert!(refused.contains("403") && refused.contains("424"), "{refused}");

    let event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:busy-1\r\nDTSTAMP:20261101T090000Z\r\nDTSTART:20270301T090000Z\r\nDTEND:20270301T110000Z\r\nSUMMARY:Busy\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(put(&server, &format!("{EVENTS}busy.ics"), event, &[]).await.0, 201);
    let (status, body) = report(&server, EVENTS, r#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20270301T000000Z" end="20270302T000000Z"/></C:free-busy-query>"#).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("BEGIN:VFREEBUSY") && body.contains("FREEBUSY;FBTYPE=BUSY:20270301T090000Z/20270301T110000Z"),
        "{body}"
    );

    let wrong = server
        .as_user("PUT", &format!("{EVENTS}json.ics"), "alice")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    assert!(wrong.text().await.unwrap().contains("supported-calendar-data"));
    server.stop().await;
}

async fn expansion_past_the_bound_is_an_error_not_a_truncation(backend: Backend) {
    let mut config = crmdav::config::Config::default();
    config.calendar.max_instances = 50;
    let server = TestServer::with_config(backend, config, Some(crmdav::crm::demo::DemoSize::SMALL)).await;
    let daily = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:daily\r\nDTSTAMP:20261101T090000Z\r\nDTSTART:20260101T080000Z\r\nDTEND:20260101T081500Z\r\nRRULE:FREQ=DAILY\r\nSUMMARY:Stand-up\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(put(&server, &format!("{EVENTS}daily.ics"), daily, &[]).await.0, 201);
    let query = |start: &str, end: &str| {
        format!(
            r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#
        )
    };
    // Within the first 50 days: answered.
    let (status, body) = report(&server, EVENTS, &query("20260110T000000Z", "20260111T000000Z")).await;
    assert_eq!(status, 207);
    assert!(responses(&body).iter().any(|r| r.href.ends_with("daily.ics")));
    // A year later the rule would need more instances than allowed: a clear error, not a silent miss.
    let (status, body) = report(&server, EVENTS, &query("20270110T000000Z", "20270111T000000Z")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("instances"), "{body}");
    // A bounded rule with more instances than allowed is refused at PUT.
    let (status, body, _) = put(
        &server,
        &format!("{EVENTS}long.ics"),
        &daily.replace("UID:daily", "UID:long").replace("FREQ=DAILY", "FREQ=DAILY;COUNT=500"),
        &[],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("max-instances"), "{body}");
    server.stop().await;
}

async fn activities_inserted_with_plain_sql_show_at_the_next_sync(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (_, body) = report(&server, EVENTS, &sync_body("")).await;
    let token = sync_token(&body);
    server
        .db
        .exec("INSERT INTO activities (uid, href, rep_id, kind, subject, start_at, end_at) SELECT 'from-erp', 'from-erp.ics', id, 'call', 'Call from the ERP', '2026-12-01T10:00:00Z', '2026-12-01T10:30:00Z' FROM reps WHERE login = 'alice'")
        .await;
    let (_, body) = report(&server, EVENTS, &sync_body(&token)).await;
    let added = responses(&body);
    assert_eq!(added.len(), 1, "{body}");
    assert!(added[0].href.ends_with("from-erp.ics"));
    let text =
        server.as_user("GET", &format!("{EVENTS}from-erp.ics"), "alice").send().await.unwrap().text().await.unwrap();
    assert!(text.contains("SUMMARY:Call from the ERP") && text.contains("UID:from-erp"), "{text}");
    server.stop().await;
}

on_both_databases!(
    proppatch_free_busy_and_content_types,
    expansion_past_the_bound_is_an_error_not_a_truncation,
    activities_inserted_with_plain_sql_show_at_the_next_sync,
    calendars_are_discoverable_with_their_components,
    a_device_event_becomes_a_linked_activity_and_keeps_what_the_crm_does_not_model,
    completing_without_a_note_is_refused_and_changes_nothing,
    a_planned_events_description_is_no_client_note_and_its_closing_report_is,
    time_range_queries_see_recurrence_overrides,
    multiget_serves_current_text_plain_or_expanded,
    delete_cancels_and_sync_follows,
);
