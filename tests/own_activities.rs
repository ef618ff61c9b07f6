//! A rep's own activities reach them whatever their client's visibility (inactive, handed to
//! another rep, denied by a rule), and a client's reassignment moves or keeps its open activities
//! (admin API and CLI), audited; on SQLite and PostgreSQL.

mod common;

use chrono::{Duration, Utc};
use common::{Backend, TestServer, responses, sync_body, sync_token};
use serde_json::{Value, json};

const EVENTS: &str = "/dav/calendars/alice/activities/";
const TASKS: &str = "/dav/calendars/alice/follow-ups/";
const BOB_EVENTS: &str = "/dav/calendars/bob/activities/";
const BOB_TASKS: &str = "/dav/calendars/bob/follow-ups/";

/// A client of `manager` with one contact (`{code}-contact.vcf`).
async fn client(server: &TestServer, code: &str, name: &str, manager: &str) -> i64 {
    server
        .db
        .exec(&format!(
            "INSERT INTO clients (code, name, status, account_manager_id) \
             VALUES ('{code}', '{name}', 'active', (SELECT id FROM reps WHERE login = '{manager}'))"
        ))
        .await;
    let id = server.db.count(&format!("SELECT id FROM clients WHERE code = '{code}'")).await;
    server
        .db
        .exec(&format!(
            "INSERT INTO contacts (uid, href, client_id, first_name, last_name, email) \
             VALUES ('{code}-contact', '{code}-contact.vcf', {id}, 'Jo', 'Contact', '{code}@example.com')"
        ))
        .await;
    id
}

/// A planned event (or task) linked to `code` by a category, ten days ahead (inside the feed's
/// window); the server names the client back in X-CRM-CLIENT (code and name).
fn object(component: &str, uid: &str, summary: &str, code: &str) -> String {
    let start = (Utc::now() + Duration::days(10)).format("%Y%m%dT090000Z");
    let end = (Utc::now() + Duration::days(10)).format("%Y%m%dT100000Z");
    let times = if component == "VTODO" { format!("DUE:{end}") } else { format!("DTSTART:{start}\r\nDTEND:{end}") };
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:{component}\r\nUID:{uid}\r\nDTSTAMP:20260101T090000Z\r\n\
         {times}\r\nSUMMARY:{summary}\r\nCATEGORIES:{code}\r\nEND:{component}\r\nEND:VCALENDAR\r\n"
    )
}

async fn put(server: &TestServer, login: &str, path: &str, body: &str, if_match: Option<&str>) -> u16 {
    let mut request = server
        .as_user("PUT", path, login)
        .header("Content-Type", "text/calendar; charset=utf-8")
        .body(body.to_string());
    if let Some(etag) = if_match {
        request = request.header("If-Match", etag);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    assert!(status < 300, "PUT {path} as {login}: {status} {}", response.text().await.unwrap());
    status
}

/// GET as `login`: status, ETag and text.
async fn get(server: &TestServer, login: &str, path: &str) -> (u16, Option<String>, String) {
    let response = server.as_user("GET", path, login).send().await.unwrap();
    let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), etag, response.text().await.unwrap())
}

/// A sync-collection from `token`: (member name, status) of each change, and the new token.
async fn sync(server: &TestServer, login: &str, path: &str, token: &str) -> (Vec<(String, u16)>, String) {
    let response = server
        .as_user("REPORT", path, login)
        .header("Depth", "1")
        .header("Content-Type", "application/xml")
        .body(sync_body(token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 207, "sync of {path}");
    let text = response.text().await.unwrap();
    let changes = responses(&text)
        .iter()
        .map(|r| (r.href.rsplit('/').next().unwrap().to_string(), r.status().unwrap_or(200)))
        .collect();
    (changes, sync_token(&text))
}

async fn reassign(server: &TestServer, code: &str, body: Value) -> (u16, Value) {
    let response = server
        .as_user("POST", &format!("/admin/api/clients/{code}/reassign"), "admin")
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn rep_of(server: &TestServer, uid: &str) -> String {
    server
        .db
        .text(&format!("SELECT r.login FROM activities a JOIN reps r ON r.id = a.rep_id WHERE a.uid = '{uid}'"))
        .await
        .unwrap()
}

async fn manager_of(server: &TestServer, code: &str) -> String {
    server
        .db
        .text(&format!(
            "SELECT r.login FROM clients c JOIN reps r ON r.id = c.account_manager_id WHERE c.code = '{code}'"
        ))
        .await
        .unwrap()
}

async fn own_activities_stay_whatever_the_clients_visibility(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let id = client(&server, "OWN1", "Own Test Client", "alice").await;
    put(&server, "alice", &format!("{EVENTS}own-1.ics"), &object("VEVENT", "own-1", "Renewal call", "OWN1"), None)
        .await;
    put(&server, "alice", &format!("{TASKS}own-t.ics"), &object("VTODO", "own-t", "Send the quote", "OWN1"), None)
        .await;
    let (_, mut events) = sync(&server, "alice", EVENTS, "").await;
    let (_, mut tasks) = sync(&server, "alice", TASKS, "").await;
    let card = "/dav/addressbooks/alice/clients/OWN1-contact.vcf";
    assert_eq!(get(&server, "alice", card).await.0, 200);
    let bob = server.db.count("SELECT id FROM reps WHERE login = 'bob'").await;
    let alice = server.db.count("SELECT id FROM reps WHERE login = 'alice'").await;
    // Each change hides the client from alice (made by another program), then is undone.
    let changes = [
        (
            "inactive",
            format!("UPDATE clients SET status = 'inactive' WHERE id = {id}"),
            format!("UPDATE clients SET status = 'active' WHERE id = {id}"),
        ),
        (
            "handed to bob",
            format!("UPDATE clients SET account_manager_id = {bob} WHERE id = {id}"),
            format!("UPDATE clients SET account_manager_id = {alice} WHERE id = {id}"),
        ),
        (
            "denied by a rule",
            format!(
                "INSERT INTO visibility_rules (position, rep_id, effect, client_id) VALUES (9, {alice}, 'deny', {id})"
            ),
            format!("DELETE FROM visibility_rules WHERE effect = 'deny' AND client_id = {id}"),
        ),
    ];
    for (what, hide, undo) in &changes {
        server.db.exec(hide).await;
        assert_eq!(get(&server, "alice", card).await.0, 404, "{what}: the address book hides the client");
        for (path, token, name) in [(EVENTS, &mut events, "own-1.ics"), (TASKS, &mut tasks, "own-t.ics")] {
            let (changed, next) = sync(&server, "alice", path, token).await;
            assert!(
                !changed.iter().any(|(n, status)| n == name && *status == 404),
                "{what}: {name} stays: {changed:?}"
            );
            *token = next;
            let (status, _, text) = get(&server, "alice", &format!("{path}{name}")).await;
            assert_eq!(status, 200, "{what}: {name}");
            assert!(text.contains("Own Test Client"), "{what}: {name} names its client: {text}");
        }
        let rep = crmdav::crm::reps::get(&server.db.store, "alice").await.unwrap();
        let feed =
            crmdav::feeds::activities_calendar(&server.db.store, &crmdav::config::Config::default(), &rep, Utc::now())
                .await
                .unwrap();
        assert!(feed.contains("UID:own-1") && feed.contains("UID:own-t"), "{what}: the feed agrees with the calendars");
        server.db.exec(undo).await;
    }
    // Written back from a device while the client is hidden: the link stays, the edit is taken.
    server.db.exec(&changes[0].1).await;
    server.db.exec("UPDATE activities SET contact_id = (SELECT id FROM contacts WHERE uid = 'OWN1-contact') WHERE uid = 'own-1'").await;
    let contact = server.db.count("SELECT id FROM contacts WHERE uid = 'OWN1-contact'").await;
    let (_, etag, text) = get(&server, "alice", &format!("{EVENTS}own-1.ics")).await;
    let edited = text.replace("SUMMARY:Renewal call", "SUMMARY:Renewal call (moved)");
    assert_ne!(edited, text);
    put(&server, "alice", &format!("{EVENTS}own-1.ics"), &edited, etag.as_deref()).await;
    let linked = server.db.count("SELECT client_id FROM activities WHERE uid = 'own-1'").await;
    assert_eq!(linked, id, "a PUT keeps the hidden client's link");
    assert_eq!(
        server.db.count("SELECT contact_id FROM activities WHERE uid = 'own-1'").await,
        contact,
        "and its contact"
    );
    let subject = server.db.text("SELECT subject FROM activities WHERE uid = 'own-1'").await.unwrap();
    assert!(subject.starts_with("Renewal call (moved)"), "{subject}");
    // ... also when the object no longer names it in X-CRM-CLIENT.
    let (_, etag, text) = get(&server, "alice", &format!("{TASKS}own-t.ics")).await;
    let stripped: String = text.split_inclusive("\r\n").filter(|line| !line.starts_with("X-CRM-CLIENT")).collect();
    put(&server, "alice", &format!("{TASKS}own-t.ics"), &stripped, etag.as_deref()).await;
    assert_eq!(server.db.count("SELECT client_id FROM activities WHERE uid = 'own-t'").await, id);
    // A new object cannot be linked to a client the rep does not see.
    put(&server, "alice", &format!("{EVENTS}own-new.ics"), &object("VEVENT", "own-new", "New", "OWN1"), None).await;
    assert_eq!(server.db.count("SELECT COUNT(*) FROM activities WHERE uid = 'own-new' AND client_id IS NULL").await, 1);
    server.stop().await;
}

/// OWN2 of alice: a planned event, a planned task and a completed event.
async fn open_and_closed_activities(server: &TestServer) {
    client(server, "OWN2", "Second Client", "alice").await;
    put(server, "alice", &format!("{EVENTS}p1.ics"), &object("VEVENT", "p1", "Quarterly review", "OWN2"), None).await;
    put(server, "alice", &format!("{TASKS}p2.ics"), &object("VTODO", "p2", "Send the offer", "OWN2"), None).await;
    server
        .db
        .exec(
            "INSERT INTO activities (uid, href, rep_id, client_id, kind, subject, status, start_at, end_at, completed_at) \
             VALUES ('done', 'done.ics', (SELECT id FROM reps WHERE login = 'alice'), (SELECT id FROM clients WHERE code = 'OWN2'), \
             'meeting', 'Kick-off', 'completed', '2026-01-05T09:00:00Z', '2026-01-05T10:00:00Z', '2026-01-05T10:00:00Z')",
        )
        .await;
}

async fn reassignment_moves_the_open_activities(backend: Backend) {
    let server = TestServer::demo(backend).await;
    open_and_closed_activities(&server).await;
    let mut tokens = Vec::new();
    for (login, path) in [("alice", EVENTS), ("alice", TASKS), ("bob", BOB_EVENTS), ("bob", BOB_TASKS)] {
        tokens.push(sync(&server, login, path, "").await.1);
    }
    let (status, done) = reassign(&server, "OWN2", json!({ "to": "bob", "open_activities": "move" })).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done,
        json!({ "client": "OWN2", "client_name": "Second Client", "from": "alice", "to": "bob", "open_activities": "move", "moved": 2, "kept": 0 })
    );
    assert_eq!(manager_of(&server, "OWN2").await, "bob");
    // The planned ones leave alice's calendars (404 in her sync) and reach bob's.
    let (changed, _) = sync(&server, "alice", EVENTS, &tokens[0]).await;
    assert!(changed.contains(&("p1.ics".into(), 404)), "{changed:?}");
    let (changed, _) = sync(&server, "alice", TASKS, &tokens[1]).await;
    assert!(changed.contains(&("p2.ics".into(), 404)), "{changed:?}");
    let (changed, _) = sync(&server, "bob", BOB_EVENTS, &tokens[2]).await;
    assert_eq!(changed, vec![("p1.ics".to_string(), 200)]);
    let (changed, _) = sync(&server, "bob", BOB_TASKS, &tokens[3]).await;
    assert_eq!(changed, vec![("p2.ics".to_string(), 200)]);
    let (status, _, text) = get(&server, "bob", &format!("{BOB_EVENTS}p1.ics")).await;
    assert!(status == 200 && text.contains("Second Client"), "{text}");
    assert_eq!(get(&server, "alice", &format!("{EVENTS}p1.ics")).await.0, 404);
    // The completed one never moves: it is alice's record, still in her calendar.
    assert_eq!(rep_of(&server, "done").await, "alice");
    assert_eq!(get(&server, "alice", &format!("{EVENTS}done.ics")).await.0, 200);
    // Bob now sees the client; the audit names who did what, from whom to whom, and how many moved.
    assert_eq!(get(&server, "bob", "/dav/addressbooks/bob/clients/OWN2-contact.vcf").await.0, 200);
    let admin = server.db.count("SELECT id FROM reps WHERE login = 'admin'").await;
    let audit = server
        .db
        .text(&format!(
            "SELECT before_data || ' ' || after_data FROM audit_log WHERE action = 'client.reassign' AND outcome = 'ok' \
             AND target = 'client:OWN2' AND rep_id = {admin}"
        ))
        .await
        .expect("an audit row");
    assert!(audit.contains(r#""account_manager":"alice""#) && audit.contains(r#""to":"bob""#), "{audit}");
    assert!(audit.contains(r#""moved":2"#) && audit.contains(r#""open_activities":"move""#), "{audit}");
    // Moving on again: bob's open ones go, alice's completed one stays.
    let (status, done) = reassign(&server, "OWN2", json!({ "to": "carol" })).await;
    assert_eq!((status, &done["moved"], &done["from"]), (200, &json!(2), &json!("bob")), "move is the default");
    assert_eq!((rep_of(&server, "p1").await, rep_of(&server, "done").await), ("carol".into(), "alice".into()));
    server.stop().await;
}

async fn reassignment_can_keep_the_open_activities_with_their_owner(backend: Backend) {
    let server = TestServer::demo(backend).await;
    open_and_closed_activities(&server).await;
    let (_, token) = sync(&server, "alice", EVENTS, "").await;
    let (status, done) = reassign(&server, "OWN2", json!({ "to": "bob", "open_activities": "keep" })).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!((&done["moved"], &done["kept"]), (&json!(0), &json!(2)));
    assert_eq!(manager_of(&server, "OWN2").await, "bob");
    // Alice keeps them (and sees them, though the client is now bob's); bob does not get them.
    let (changed, _) = sync(&server, "alice", EVENTS, &token).await;
    assert!(!changed.iter().any(|(_, status)| *status == 404), "{changed:?}");
    for uid in ["p1", "p2", "done"] {
        assert_eq!(rep_of(&server, uid).await, "alice");
    }
    let (status, _, text) = get(&server, "alice", &format!("{EVENTS}p1.ics")).await;
    assert!(status == 200 && text.contains("Second Client"), "{text}");
    assert_eq!(get(&server, "bob", &format!("{BOB_EVENTS}p1.ics")).await.0, 404);
    assert_eq!(get(&server, "alice", "/dav/addressbooks/alice/clients/OWN2-contact.vcf").await.0, 404);
    server.stop().await;
}

async fn refused_reassignments_change_nothing(backend: Backend) {
    let server = TestServer::demo(backend).await;
    open_and_closed_activities(&server).await;
    // Bob already has an object named p1.ics, and another with p2's UID.
    put(&server, "bob", &format!("{BOB_EVENTS}p1.ics"), &object("VEVENT", "bobs-own", "Bob's", "X"), None).await;
    put(&server, "bob", &format!("{BOB_TASKS}elsewhere.ics"), &object("VTODO", "p2", "Bob's task", "X"), None).await;
    let before = server.db.count("SELECT COUNT(*) FROM change_log").await;
    let (status, error) = reassign(&server, "OWN2", json!({ "to": "bob", "open_activities": "move" })).await;
    assert_eq!(status, 409, "{error}");
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("p1.ics (UID p1)") && message.contains("p2.ics (UID p2)"), "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM change_log").await, before, "nothing half-done");
    assert_eq!(manager_of(&server, "OWN2").await, "alice");
    assert_eq!((rep_of(&server, "p1").await, rep_of(&server, "bobs-own").await), ("alice".into(), "bob".into()));
    assert_eq!(
        server.db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'client.reassign' AND outcome = 'refused' AND target = 'client:OWN2'").await,
        1
    );
    // Keeping them needs no room at bob's.
    assert_eq!(reassign(&server, "OWN2", json!({ "to": "bob", "open_activities": "keep" })).await.0, 200);
    // Other refusals, each saying why.
    let cases = [
        ("NOPE", json!({ "to": "bob" }), 404, "no client with code \"NOPE\""),
        ("OWN2", json!({ "to": "nobody" }), 422, "no rep with login \"nobody\""),
        ("OWN2", json!({ "to": "bob" }), 422, "already the account manager"),
        ("OWN2", json!({ "to": "carol", "open_activities": "drop" }), 400, "use move or keep"),
        ("OWN2", json!({ "rep": "carol" }), 400, "rep: unknown field"),
    ];
    for (code, body, expected, says) in cases {
        let (status, error) = reassign(&server, code, body.clone()).await;
        assert_eq!(status, expected, "{body}: {error}");
        assert!(error["error"].as_str().unwrap().contains(says), "{body}: {error}");
    }
    server.db.exec("UPDATE reps SET active = FALSE WHERE login = 'carol'").await;
    let (status, error) = reassign(&server, "OWN2", json!({ "to": "carol" })).await;
    assert_eq!(status, 422);
    assert!(error["error"].as_str().unwrap().contains("carol is disabled"), "{error}");
    assert_eq!(manager_of(&server, "OWN2").await, "bob");
    // Admins only.
    let response = server
        .as_user("POST", "/admin/api/clients/OWN2/reassign", "alice")
        .header("Content-Type", "application/json")
        .body(r#"{"to": "alice"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(manager_of(&server, "OWN2").await, "bob");
    server.stop().await;
}

async fn the_cli_reassigns_too(backend: Backend) {
    let server = TestServer::demo(backend).await;
    open_and_closed_activities(&server).await;
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crmdav"))
            .args(["--database", &server.db.url, "client", "reassign"])
            .args(args)
            .output()
            .unwrap()
    };
    let output = run(&["OWN2", "--to", "bob", "--open-activities", "keep"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("OWN2 (Second Client): account manager alice -> bob; 2 planned activities stay with alice"),
        "{said}"
    );
    assert_eq!((manager_of(&server, "OWN2").await, rep_of(&server, "p1").await), ("bob".into(), "alice".into()));
    let output = run(&["OWN2", "--to", "carol"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("account manager bob -> carol; bob had no planned activities with it"), "{said}");
    assert_eq!(
        server
            .db
            .count(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'client.reassign' AND device = 'cli' AND rep_id IS NULL"
            )
            .await,
        2
    );
    let refused = run(&["NOPE", "--to", "bob"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no client with code \"NOPE\""));
    let refused = run(&["OWN2", "--to", "bob", "--open-activities", "drop"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("use move or keep"));
    server.stop().await;
}

on_both_databases!(
    own_activities_stay_whatever_the_clients_visibility,
    reassignment_moves_the_open_activities,
    reassignment_can_keep_the_open_activities_with_their_owner,
    refused_reassignments_change_nothing,
    the_cli_reassigns_too,
);
