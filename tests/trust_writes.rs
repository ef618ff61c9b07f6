//! Issue 12, device writes that could harm another rep or the server: names the server generates
//! are not writable, a hidden contact is not told from a missing one, notes and link lookups are
//! bounded, and a deleted calendar object's name and UID can be written again. SQLite and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestServer, responses};

const ALICE_BOOK: &str = "/dav/addressbooks/alice/clients/";
const BOB_BOOK: &str = "/dav/addressbooks/bob/clients/";
const EVENTS: &str = "/dav/calendars/alice/activities/";

/// An active client of `manager` (visible to them alone under the demo's rule), without contacts.
async fn add_client(server: &TestServer, code: &str, name: &str, manager: &str) {
    server
        .db
        .exec(&format!(
            "INSERT INTO clients (code, name, status, account_manager_id) \
             SELECT '{code}', '{name}', 'active', id FROM reps WHERE login = '{manager}'"
        ))
        .await;
}

/// Lets `login` see the client `code` as well.
async fn also_show(server: &TestServer, login: &str, code: &str) {
    server
        .db
        .exec(&format!(
            "INSERT INTO visibility_rules (position, rep_id, effect, client_id) \
             SELECT 7, r.id, 'allow', c.id FROM reps r, clients c WHERE r.login = '{login}' AND c.code = '{code}'"
        ))
        .await;
}

fn card(uid: &str, org: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Eve Mallory\r\nN:Mallory;Eve;;;\r\nORG:{org}\r\nEND:VCARD\r\n"
    )
}

async fn put_card(server: &TestServer, login: &str, name: &str, body: &str) -> (u16, String) {
    let book = format!("/dav/addressbooks/{login}/clients/");
    let response = server
        .as_user("PUT", &format!("{book}{name}"), login)
        .header("Content-Type", "text/vcard; charset=utf-8")
        .header("If-None-Match", "*")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Every member of `book` with its card text, as `login` lists it.
async fn listing(server: &TestServer, login: &str, book: &str) -> (u16, Vec<(String, String)>) {
    let response = server
        .as_user("PROPFIND", book, login)
        .header("Depth", "1")
        .body(r#"<d:propfind xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><C:address-data/></d:prop></d:propfind>"#)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let members = responses(&body)
        .into_iter()
        .filter(|r| r.href != book)
        .map(|r| (r.href.clone(), r.prop("card:address-data").unwrap_or_default()))
        .collect();
    (status, members)
}

fn uid_of(card: &str) -> String {
    card.lines().find_map(|l| l.strip_prefix("UID:")).unwrap_or("").trim().to_string()
}

fn assert_unique(members: &[(String, String)]) {
    let mut hrefs: Vec<&str> = members.iter().map(|(h, _)| h.as_str()).collect();
    hrefs.sort();
    let before = hrefs.len();
    hrefs.dedup();
    assert_eq!(hrefs.len(), before, "two members under one href");
    let mut uids: Vec<String> = members.iter().map(|(_, c)| uid_of(c)).collect();
    uids.sort();
    let all = uids.clone();
    uids.dedup();
    assert_eq!(uids.len(), before, "two members with one UID: {all:?}");
}

/// Item 2: `client-CODE.vcf` and `crmdav-client-CODE` are the server's; a device cannot take them.
async fn server_generated_card_names_and_uids_are_not_writable(backend: Backend) {
    let server = TestServer::demo(backend).await;
    add_client(&server, "MINE1", "Alice Own Ltd", "alice").await;
    add_client(&server, "HIDX", "Bob Hidden Ltd", "bob").await;
    let (status, body) = put_card(&server, "alice", "client-HIDX.vcf", &card("eve-1", "Alice Own Ltd")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<d:error") && body.contains("reserved") && body.contains("client-HIDX.vcf"), "{body}");
    let (status, body) = put_card(&server, "alice", "eve-2.vcf", &card("crmdav-client-HIDX", "Alice Own Ltd")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<d:error") && body.contains("reserved") && body.contains("crmdav-client-HIDX"), "{body}");
    // Case does not get around it either.
    let (status, _) = put_card(&server, "alice", "Client-HIDX.VCF", &card("eve-3", "Alice Own Ltd")).await;
    assert_eq!(status, 403);
    assert_eq!(
        server
            .db
            .count("SELECT COUNT(*) FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.code = 'MINE1'")
            .await,
        0,
        "nothing was written"
    );
    // Bob, who sees both clients, still has one card per name and per UID.
    also_show(&server, "bob", "MINE1").await;
    let (status, members) = listing(&server, "bob", BOB_BOOK).await;
    assert_eq!(status, 207);
    assert_unique(&members);
    server.stop().await;
}

/// Item 2, defence in depth: rows written by another program into the server's names cannot break
/// (PostgreSQL) or shadow (SQLite) another rep's address book: the server's card keeps its name.
async fn a_colliding_row_cannot_break_another_reps_address_book(backend: Backend) {
    let server = TestServer::demo(backend).await;
    add_client(&server, "MINE1", "Alice Own Ltd", "alice").await;
    add_client(&server, "HIDX", "Bob Hidden Ltd", "bob").await;
    add_client(&server, "HIDY", "Bob Other Ltd", "bob").await;
    for (uid, href) in [("stray-1", "client-HIDX.vcf"), ("crmdav-client-HIDY", "stray-2.vcf")] {
        server
            .db
            .exec(&format!(
                "INSERT INTO contacts (uid, href, client_id, first_name) SELECT '{uid}', '{href}', id, 'Stray' FROM clients WHERE code = 'MINE1'"
            ))
            .await;
    }
    also_show(&server, "bob", "MINE1").await;
    let (status, members) = listing(&server, "bob", BOB_BOOK).await;
    assert_eq!(status, 207, "bob's address book still answers");
    assert_unique(&members);
    let sync = server.as_user("REPORT", BOB_BOOK, "bob").body(common::sync_body("")).send().await.unwrap();
    assert_eq!(sync.status(), 207);
    let org_card = server.as_user("GET", &format!("{BOB_BOOK}client-HIDX.vcf"), "bob").send().await.unwrap();
    assert_eq!(org_card.status(), 200);
    let text = org_card.text().await.unwrap();
    assert!(text.contains("UID:crmdav-client-HIDX") && text.contains("Bob Hidden Ltd"), "{text}");
    // Alice, who sees only her client, still sees those contacts: nothing of hers collides.
    let (status, members) = listing(&server, "alice", ALICE_BOOK).await;
    assert_eq!(status, 207);
    assert!(members.iter().any(|(h, _)| h.ends_with("/client-HIDX.vcf")), "{members:?}");
    server.stop().await;
}

/// Item 3: a new card whose UID or name is a hidden contact's gets the same answer as one whose
/// UID or name is unused. (With prospects from the phone off: such cards are refused; with them on,
/// tests/phone_notes.rs.)
async fn a_hidden_contact_is_not_told_from_a_missing_one(backend: Backend) {
    let mut config = crmdav::config::Config::default();
    config.carddav.create_prospects = false;
    let server = TestServer::with_config(backend, config, Some(crmdav::crm::demo::DemoSize::SMALL)).await;
    add_client(&server, "MINE1", "Alice Own Ltd", "alice").await;
    add_client(&server, "HIDX", "Bob Hidden Ltd", "bob").await;
    server
        .db
        .exec("INSERT INTO contacts (uid, href, client_id, first_name) SELECT 'hidden-uid', 'hidden.vcf', id, 'Hidden' FROM clients WHERE code = 'HIDX'")
        .await;
    for org in ["Bob Hidden Ltd", "No Such Client"] {
        let by_uid = put_card(&server, "alice", "probe-a.vcf", &card("hidden-uid", org)).await;
        let unused_uid = put_card(&server, "alice", "probe-a.vcf", &card("never-used-uid", org)).await;
        assert_eq!(by_uid, unused_uid, "UID probe with ORG {org}");
        assert_eq!(by_uid.0, 403);
        let by_name = put_card(&server, "alice", "hidden.vcf", &card("probe-b", org)).await;
        let unused_name = put_card(&server, "alice", "never-used.vcf", &card("probe-b", org)).await;
        assert_eq!(by_name, unused_name, "name probe with ORG {org}");
        assert_eq!(by_name.0, 403);
    }
    // With her own client the write is refused, and the answer names nothing of the hidden contact.
    let (status, body) = put_card(&server, "alice", "probe-c.vcf", &card("hidden-uid", "Alice Own Ltd")).await;
    assert_eq!(status, 409, "{body}");
    assert!(!body.contains("hidden.vcf") && !body.contains("Bob Hidden"), "{body}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM contacts WHERE first_name = 'Eve'").await, 0);
    server.stop().await;
}

fn event(uid: &str, extra: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n\
         DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nSUMMARY:Visit\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn put_event(server: &TestServer, name: &str, body: &str) -> (u16, String) {
    let response = server
        .as_user("PUT", &format!("{EVENTS}{name}"), "alice")
        .header("Content-Type", "text/calendar; charset=utf-8")
        .header("If-None-Match", "*")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// iCalendar text folded at 75 octets, so long values stay valid content lines.
fn folded(line: &str) -> String {
    let mut out = String::new();
    let mut width = 0;
    for ch in line.chars() {
        if width + ch.len_utf8() > 74 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += ch.len_utf8();
    }
    out.push_str("\r\n");
    out
}

/// Item 9: a note over `calendar.max_note_bytes` is refused and nothing is written.
async fn a_note_over_the_limit_is_refused(backend: Backend) {
    let server = TestServer::demo(backend).await;
    add_client(&server, "MINE1", "Alice Own Ltd", "alice").await;
    let limit = 16 * 1024; // the default of calendar.max_note_bytes
    let big = folded(&format!("DESCRIPTION:{}", "x".repeat(limit + 1)));
    let (status, body) =
        put_event(&server, "big.ics", &event("big-note", &format!("X-CRM-CLIENT:MINE1\r\n{big}"))).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("<d:error") && body.contains("16384"), "{body}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM activities WHERE uid = 'big-note'").await, 0);
    assert_eq!(server.db.count("SELECT COUNT(*) FROM notes WHERE LENGTH(body) > 16384").await, 0);
    let fits = folded(&format!("DESCRIPTION:{}", "x".repeat(limit)));
    let (status, body) =
        put_event(&server, "fits.ics", &event("fitting-note", &format!("X-CRM-CLIENT:MINE1\r\n{fits}"))).await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}

/// Item 9: a card carries each of the client's last notes cut to a few hundred characters.
async fn cards_carry_each_note_cut_short(backend: Backend) {
    let server = TestServer::demo(backend).await;
    add_client(&server, "MINE1", "Alice Own Ltd", "alice").await;
    let long = "Discussed the order. ".repeat(500);
    for _ in 0..3 {
        server
            .db
            .exec(&format!("INSERT INTO notes (client_id, body, source) SELECT id, '{long}', 'crm' FROM clients WHERE code = 'MINE1'"))
            .await;
    }
    let response = server.as_user("GET", &format!("{ALICE_BOOK}client-MINE1.vcf"), "alice").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.len() < 3 * 1024, "the card is {} bytes", text.len());
    assert!(text.contains("Discussed the order.") && text.contains('…'), "{text}");
    server.stop().await;
}

/// Item 10: thousands of CATEGORIES and ATTENDEE values cost a bounded number of lookups, and only
/// the first ones are considered for the client link.
async fn link_lookups_are_bounded(backend: Backend) {
    let server = TestServer::demo(backend).await;
    add_client(&server, "MINE1", "Alice Own Ltd", "alice").await;
    let many: Vec<String> = (0..50_000).map(|i| format!("c{i}")).collect();
    let attendees: String =
        (0..5_000).map(|i| format!("ATTENDEE:mailto:nobody{i}@example.com\r\n")).collect::<Vec<_>>().concat();
    let extra = format!("{}{attendees}", folded(&format!("CATEGORIES:{},MINE1", many.join(","))));
    let started = Instant::now();
    let (status, body) = put_event(&server, "many.ics", &event("many-categories", &extra)).await;
    let took = started.elapsed();
    eprintln!("{backend:?}: PUT with 50,000 categories and 5,000 attendees answered in {took:?}");
    assert_eq!(status, 201, "{body}");
    assert!(took < Duration::from_secs(10), "the PUT took {took:?}");
    assert_eq!(
        server.db.count("SELECT COUNT(*) FROM activities WHERE uid = 'many-categories' AND client_id IS NULL").await,
        1,
        "a category after the first fifty is not looked up"
    );
    let within: Vec<String> = (0..49).map(|i| format!("c{i}")).collect();
    let extra = format!("CATEGORIES:{},MINE1\r\n", within.join(","));
    assert_eq!(put_event(&server, "few.ics", &event("few-categories", &extra)).await.0, 201);
    assert_eq!(
        server
            .db
            .text("SELECT c.code FROM activities a JOIN clients c ON c.id = a.client_id WHERE a.uid = 'few-categories'")
            .await
            .as_deref(),
        Some("MINE1"),
        "the fiftieth category still links"
    );
    server.stop().await;
}

/// Item 11: after DELETE (the activity is cancelled), the same name takes the same UID again
/// (the activity comes back) or a new one (a new activity; the cancelled one stays for reporting).
async fn a_deleted_name_and_uid_can_be_written_again(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let delete = |name: &str| server.as_user("DELETE", &format!("{EVENTS}{name}"), "alice").send();
    assert_eq!(put_event(&server, "x.ics", &event("undo-me", "DESCRIPTION:agenda\r\n")).await.0, 201);
    assert_eq!(delete("x.ics").await.unwrap().status(), 204);
    let (status, body) = put_event(&server, "x.ics", &event("undo-me", "DESCRIPTION:agenda v2\r\n")).await;
    assert_eq!(status, 201, "same UID at the same name: {body}");
    assert_eq!(server.db.text("SELECT status FROM activities WHERE uid = 'undo-me'").await.as_deref(), Some("planned"));
    let get = server.as_user("GET", &format!("{EVENTS}x.ics"), "alice").send().await.unwrap();
    assert_eq!(get.status(), 200);
    assert!(get.text().await.unwrap().contains("agenda v2"));
    assert_eq!(
        server
            .db
            .count("SELECT COUNT(*) FROM notes n JOIN activities a ON a.id = n.activity_id WHERE a.uid = 'undo-me'")
            .await,
        0,
        "a planned event's description stays on the event: no client note"
    );

    assert_eq!(delete("x.ics").await.unwrap().status(), 204);
    let (status, body) = put_event(&server, "x.ics", &event("replacement", "")).await;
    assert_eq!(status, 201, "a new UID at a deleted name: {body}");
    assert_eq!(
        server.db.text("SELECT status FROM activities WHERE uid = 'undo-me'").await.as_deref(),
        Some("cancelled"),
        "the cancelled activity stays for reporting"
    );
    let get = server.as_user("GET", &format!("{EVENTS}x.ics"), "alice").send().await.unwrap();
    assert!(get.text().await.unwrap().contains("UID:replacement"));

    // The cancelled UID re-uploaded under another name comes back there.
    let (status, body) = put_event(&server, "y.ics", &event("undo-me", "")).await;
    assert_eq!(status, 201, "a cancelled UID under a new name: {body}");
    assert_eq!(server.db.text("SELECT href FROM activities WHERE uid = 'undo-me'").await.as_deref(), Some("y.ics"));
    assert_eq!(server.as_user("GET", &format!("{EVENTS}y.ics"), "alice").send().await.unwrap().status(), 200);
    server.stop().await;
}

on_both_databases!(
    server_generated_card_names_and_uids_are_not_writable,
    a_colliding_row_cannot_break_another_reps_address_book,
    a_hidden_contact_is_not_told_from_a_missing_one,
    a_note_over_the_limit_is_refused,
    cards_carry_each_note_cut_short,
    link_lookups_are_bounded,
    a_deleted_name_and_uid_can_be_written_again,
);
