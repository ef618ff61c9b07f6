//! The notes collection (`/dav/calendars/LOGIN/notes/`), over HTTP on both databases: client
//! notes as VJOURNAL entries, read-only for the notes of others, and a jtx Board entry becoming a
//! client note.

mod common;

use common::{Backend, TestServer, parse_multistatus, responses, sync_body, sync_token};

const NOTES: &str = "/dav/calendars/alice/notes/";
const ICAL: &str = "text/calendar; charset=utf-8";

/// (id, code, name) of an active client alice manages.
async fn alice_client(server: &TestServer) -> (i64, String, String) {
    let sql = "SELECT id, code, name FROM clients WHERE status = 'active' AND account_manager_id = \
               (SELECT id FROM reps WHERE login = 'alice') ORDER BY id LIMIT 1";
    crmdav::on_db!(server.db.store, read, |pool| sqlx::query_as(sql).fetch_one(pool).await.unwrap())
}

async fn note(server: &TestServer, client: i64, login: &str, body: &str, created: &str) -> i64 {
    server
        .db
        .exec(&format!(
            "INSERT INTO notes (client_id, rep_id, body, source, created_at) SELECT {client}, id, '{body}', 'crm', '{created}' FROM reps WHERE login = '{login}'"
        ))
        .await;
    server.db.count(&format!("SELECT MAX(id) FROM notes WHERE body = '{body}'")).await
}

async fn send(server: &TestServer, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = server.as_user(method, path, "alice").body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

const PRIVILEGES: &str = r#"<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:current-user-privilege-set/><c:supported-calendar-component-set/><d:resourcetype/></d:prop></d:propfind>"#;

fn now_stamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Notes of the clients alice sees, of the window of days, as journal entries linked to their
/// client; another rep's note is read-only (its privileges say so; PUT and DELETE get 403); the
/// collection syncs like the others.
async fn client_notes_are_journal_entries_and_others_notes_are_read_only(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (client, code, name) = alice_client(&server).await;
    let now = now_stamp();
    let own = note(&server, client, "alice", "Signed the renewal, two years.", &now).await;
    let bobs = note(&server, client, "bob", "Bob met their CFO.", &now).await;
    let old = note(&server, client, "alice", "Years ago.", "2001-01-01T00:00:00Z").await;

    let (status, body) = send(&server, "PROPFIND", NOTES, PRIVILEGES, &[("Depth", "0")]).await;
    assert_eq!(status, 207, "{body}");
    assert!(body.contains(r#"name="VJOURNAL""#) && body.contains("calendar"), "{body}");
    let (status, listing) = send(&server, "REPORT", NOTES, &sync_body(""), &[]).await;
    assert_eq!(status, 207, "{listing}");
    let token = sync_token(&listing);
    let names: Vec<String> =
        responses(&listing).iter().map(|r| r.href.rsplit('/').next().unwrap().to_string()).collect();
    for id in [own, bobs] {
        assert!(names.contains(&format!("note-{id}.ics")), "note {id} listed: {names:?}");
    }
    assert!(!names.contains(&format!("note-{old}.ics")), "a note older than calendar.notes_days_back is not");

    let (status, entry) = send(&server, "GET", &format!("{NOTES}note-{bobs}.ics"), "", &[]).await;
    assert_eq!(status, 200, "{entry}");
    let unfolded = entry.replace("\r\n ", "");
    for line in [
        "BEGIN:VJOURNAL".to_string(),
        format!("UID:crmdav-note-{bobs}"),
        "DESCRIPTION:Bob met their CFO.".to_string(),
        "X-CRM-AUTHOR:Bob Keller".to_string(),
    ] {
        assert!(unfolded.contains(&line), "{line} in {entry}");
    }
    assert!(unfolded.contains(&format!(":{code}\r\n")) && unfolded.contains("X-CRM-CLIENT"), "{entry}");
    assert!(unfolded.contains(&format!("CATEGORIES:{}", name.replace(',', "\\,"))), "{entry}");

    // RFC 3744: bob's entry is read-only for alice, her own is writable.
    let privileges = |body: &str| {
        let parsed = parse_multistatus(body);
        let response = parsed.responses.first().unwrap();
        response.prop("DAV:", "current-user-privilege-set").expect("privileges").inner_xml.clone()
    };
    let (status, theirs) =
        send(&server, "PROPFIND", &format!("{NOTES}note-{bobs}.ics"), PRIVILEGES, &[("Depth", "0")]).await;
    assert_eq!(status, 207);
    let (_, mine) = send(&server, "PROPFIND", &format!("{NOTES}note-{own}.ics"), PRIVILEGES, &[("Depth", "0")]).await;
    assert!(privileges(&theirs).contains("read") && !privileges(&theirs).contains("write-content"), "{theirs}");
    assert!(privileges(&mine).contains("write-content"), "{mine}");
    let edited = entry.replace("Bob met their CFO.", "Alice rewrote it.");
    let (status, body) =
        send(&server, "PUT", &format!("{NOTES}note-{bobs}.ics"), &edited, &[("Content-Type", ICAL)]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("need-privileges") && body.contains("only its author"), "{body}");
    let (status, _) = send(&server, "DELETE", &format!("{NOTES}note-{bobs}.ics"), "", &[]).await;
    assert_eq!(status, 403);
    assert_eq!(
        server.db.count(&format!("SELECT COUNT(*) FROM notes WHERE id = {bobs} AND body = 'Bob met their CFO.'")).await,
        1
    );

    // Her own note she may edit; the next sync brings the change, and a note of a hidden client is
    // not in her collection.
    let (_, own_entry) = send(&server, "GET", &format!("{NOTES}note-{own}.ics"), "", &[]).await;
    let edited = own_entry.replace("Signed the renewal\\, two years.", "Signed the renewal for three years.");
    let (status, body) =
        send(&server, "PUT", &format!("{NOTES}note-{own}.ics"), &edited, &[("Content-Type", ICAL)]).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        server.db.text(&format!("SELECT body FROM notes WHERE id = {own}")).await.as_deref(),
        Some("Signed the renewal for three years.")
    );
    server
        .db
        .exec("INSERT INTO clients (code, name, status, account_manager_id) SELECT 'HIDN', 'Hidden Note AG', 'active', id FROM reps WHERE login = 'bob'")
        .await;
    let hidden = server.db.count("SELECT id FROM clients WHERE code = 'HIDN'").await;
    let hidden_note = note(&server, hidden, "bob", "Not for alice.", &now).await;
    let (_, delta) = send(&server, "REPORT", NOTES, &sync_body(&token), &[]).await;
    let changed: Vec<String> = responses(&delta).iter().map(|r| r.href.clone()).collect();
    assert!(changed.iter().any(|h| h.ends_with(&format!("note-{own}.ics"))), "{delta}");
    assert!(!changed.iter().any(|h| h.ends_with(&format!("note-{hidden_note}.ics"))), "{delta}");
    let (status, _) = send(&server, "GET", &format!("{NOTES}note-{hidden_note}.ics"), "", &[]).await;
    assert_eq!(status, 404);
    server.stop().await;
}

fn jtx_journal(uid: &str, client: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ical/jtx_board_journal.ics"))
        .unwrap()
        .replace("{{UID}}", uid)
        .replace("{{CLIENT}}", client)
}

/// A jtx Board entry becomes a client note by alice, linked by its category; it is served under
/// its own name, edited and deleted by her; entries that name no client of hers, other components
/// and the server's own names are refused, and nothing is written.
async fn a_jtx_board_entry_becomes_a_client_note(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (client, code, name) = alice_client(&server).await;
    let path = format!("{NOTES}jtx-1.ics");
    let (status, body) = send(
        &server,
        "PUT",
        &path,
        &jtx_journal("jtx-uid-1", &name),
        &[("Content-Type", ICAL), ("If-None-Match", "*")],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let stored: (String, String, i64, String) = crmdav::on_db!(server.db.store, read, |pool| {
        sqlx::query_as(
        "SELECT n.body, n.source, n.client_id, r.login FROM notes n JOIN reps r ON r.id = n.rep_id WHERE n.uid = 'jtx-uid-1'"
    )
    .fetch_one(pool)
    .await
    .unwrap()
    });
    assert_eq!(
        stored,
        (
            "Talk at the fair\nWants 40 pallets by Friday, asks for the 2027 price list.".to_string(),
            "dav".to_string(),
            client,
            "alice".to_string()
        )
    );
    let (status, entry) = send(&server, "GET", &path, "", &[]).await;
    assert_eq!(status, 200);
    assert!(entry.contains("UID:jtx-uid-1") && entry.replace("\r\n ", "").contains(&format!(":{code}\r\n")), "{entry}");
    let (_, listing) = send(&server, "REPORT", NOTES, &sync_body(""), &[]).await;
    assert!(responses(&listing).iter().any(|r| r.href == path), "{listing}");
    // The card of the client shows it among its last notes.
    let card_note = server
        .db
        .count(&format!("SELECT COUNT(*) FROM notes WHERE client_id = {client} AND body LIKE 'Talk at the fair%'"))
        .await;
    assert_eq!(card_note, 1);

    // Linked by X-CRM-CLIENT (the code) too.
    let by_code =
        jtx_journal("jtx-uid-2", "Fair").replace("X-JTX-COLOR", &format!("X-CRM-CLIENT:{code}\r\nX-JTX-COLOR"));
    let (status, body) = send(&server, "PUT", &format!("{NOTES}jtx-2.ics"), &by_code, &[("Content-Type", ICAL)]).await;
    assert_eq!(status, 201, "{body}");
    // Edited on the device: the note changes; deleted: it goes.
    let edited = entry.replace("Wants 40 pallets", "Wants 60 pallets");
    let (status, body) = send(&server, "PUT", &path, &edited, &[("Content-Type", ICAL)]).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM notes WHERE body LIKE '%60 pallets%'").await, 1);
    let (status, _) = send(&server, "DELETE", &format!("{NOTES}jtx-2.ics"), "", &[]).await;
    assert_eq!(status, 204);
    assert_eq!(server.db.count("SELECT COUNT(*) FROM notes WHERE uid = 'jtx-uid-2'").await, 0);

    let notes_before = server.db.count("SELECT COUNT(*) FROM notes").await;
    let refusals = [
        (jtx_journal("jtx-uid-3", "No Such Client"), "x.ics", "client-required"),
        (jtx_journal("jtx-uid-4", &name).replace("VJOURNAL", "VEVENT"), "y.ics", "supported-calendar-component"),
        (jtx_journal("jtx-uid-5", &name), "note-1.ics", "reserved-name"),
        (jtx_journal("jtx-uid-1", &name), "z.ics", "no-uid-conflict"),
        (
            jtx_journal("jtx-uid-6", &name)
                .replace("SUMMARY:Talk at the fair\r\n", "")
                .replace("DESCRIPTION:Wants 40 pallets by Friday\\, asks for the 2027 price list.\r\n", ""),
            "e.ics",
            "refused",
        ),
    ];
    for (text, name, precondition) in refusals {
        let (status, body) = send(&server, "PUT", &format!("{NOTES}{name}"), &text, &[("Content-Type", ICAL)]).await;
        assert!(status == 403 || status == 409, "{name}: {status} {body}");
        assert!(body.contains(precondition), "{name}: {body}");
    }
    assert_eq!(server.db.count("SELECT COUNT(*) FROM notes").await, notes_before, "refused entries wrote nothing");
    assert!(
        server.db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'note.put' AND outcome = 'refused'").await >= 5
    );
    server.stop().await;
}

on_both_databases!(
    client_notes_are_journal_entries_and_others_notes_are_read_only,
    a_jtx_board_entry_becomes_a_client_note
);
