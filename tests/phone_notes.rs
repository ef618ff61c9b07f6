//! Notes from the phone, over HTTP on both databases: a note typed on a contact card becomes a
//! client note, and a new card for an unknown organisation files a prospect (without revealing
//! clients the rep cannot see).

mod common;

use common::{Backend, TestServer, responses, sync_body, sync_token};
use crmdav::config::Config;
use crmdav::crm::demo::DemoSize;

const BOOK: &str = "/dav/addressbooks/alice/clients/";
const ADDED: &str = "Met her at the Hannover fair: wants a quote for 40 pallets by Friday.";

/// A contact of one of alice's active clients: (card name, client id).
async fn alice_contact(server: &TestServer) -> (String, i64) {
    let href = server
        .db
        .text(
            "SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.account_manager_id = \
             (SELECT id FROM reps WHERE login = 'alice') AND c.status = 'active' ORDER BY k.id LIMIT 1",
        )
        .await
        .expect("alice has a contact");
    let client = server.db.count(&format!("SELECT client_id FROM contacts WHERE href = '{href}'")).await;
    (href, client)
}

async fn get(server: &TestServer, path: &str) -> (u16, Option<String>, String) {
    let response = server.as_user("GET", path, "alice").send().await.unwrap();
    let etag = response.headers().get("ETag").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), etag, response.text().await.unwrap())
}

/// PUT of a card: (status, ETag header, body).
async fn put(server: &TestServer, path: &str, body: &str, if_match: Option<&str>) -> (u16, Option<String>, String) {
    let mut request =
        server.as_user("PUT", path, "alice").header("Content-Type", "text/vcard; charset=utf-8").body(body.to_string());
    request = match if_match {
        Some(etag) => request.header("If-Match", etag),
        None => request.header("If-None-Match", "*"),
    };
    let response = request.send().await.unwrap();
    let etag = response.headers().get("ETag").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), etag, response.text().await.unwrap())
}

/// The value of a property of a served card, as written (escaped), unfolded.
fn raw_value(card: &str, name: &str) -> Option<String> {
    card.replace("\r\n ", "").lines().find_map(|line| {
        let (head, value) = line.split_once(':')?;
        let property = head.split(';').next()?;
        property.eq_ignore_ascii_case(name).then(|| value.to_string())
    })
}

/// The iOS card of the fixtures (a line added at the top of the NOTE) for the card `served`.
fn ios_card_with_added_note(served: &str) -> String {
    let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vcard/ios-17-note-added.vcf"))
        .expect("fixture");
    let mut text = fixture;
    for (placeholder, property) in [
        ("{{N}}", "N"),
        ("{{FN}}", "FN"),
        ("{{TITLE}}", "TITLE"),
        ("{{EMAIL}}", "EMAIL"),
        ("{{NOTE}}", "NOTE"),
        ("{{UID}}", "UID"),
    ] {
        text = text.replace(placeholder, &raw_value(served, property).unwrap_or_default());
    }
    let org = raw_value(served, "ORG").unwrap();
    text.replace("{{ORG}};", &format!("{};", org.trim_end_matches(';')))
}

async fn notes_of(server: &TestServer, client_id: i64) -> Vec<(String, String, String)> {
    crmdav::on_db!(server.db.store, read, |pool| {
        sqlx::query_as(&format!(
        "SELECT n.body, n.source, r.login FROM notes n JOIN reps r ON r.id = n.rep_id WHERE n.client_id = {client_id} ORDER BY n.id"
    ))
    .fetch_all(pool)
    .await
    .unwrap()
    })
}

async fn sync(server: &TestServer, token: &str) -> String {
    let response = server.as_user("REPORT", BOOK, "alice").body(sync_body(token)).send().await.unwrap();
    assert_eq!(response.status(), 207);
    response.text().await.unwrap()
}

/// Bullet 1: the line added on an iPhone becomes a client note by alice (source dav); the card
/// then shows it first among the last notes, the PUT answer has no ETag, and the next sync lists
/// the card. Sending it again, or editing or removing the summary, adds nothing.
async fn a_line_added_to_a_cards_note_becomes_a_client_note(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (href, client_id) = alice_contact(&server).await;
    let path = format!("{BOOK}{href}");
    let token = sync_token(&sync(&server, "").await);
    let notes_before = notes_of(&server, client_id).await.len();
    let (status, etag, served) = get(&server, &path).await;
    assert_eq!(status, 200);
    let sent = ios_card_with_added_note(&served);
    let (status, put_etag, body) = put(&server, &path, &sent, etag.as_deref()).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(put_etag, None, "the stored card is not what was sent: the device must fetch it");
    let notes = notes_of(&server, client_id).await;
    assert_eq!(notes.len(), notes_before + 1, "{notes:?}");
    assert_eq!(notes.last().unwrap(), &(ADDED.to_string(), "dav".to_string(), "alice".to_string()));

    let delta = sync(&server, &token).await;
    assert!(responses(&delta).iter().any(|r| r.href.ends_with(&href)), "the next sync brings the card: {delta}");
    let (_, new_etag, shown) = get(&server, &path).await;
    assert_ne!(new_etag, etag);
    let note = raw_value(&shown, "NOTE").unwrap();
    let first = note.split("\\n").next().unwrap();
    assert!(first.ends_with(&format!("(Alice Martin): {ADDED}")), "the newest note comes first: {note}");
    assert!(first.starts_with(&chrono::Utc::now().format("%Y-%m-%d").to_string()), "dated today: {note}");

    // The same card again (a retry, or a later edit before the phone fetched the card back).
    let (status, _, body) = put(&server, &path, &sent, new_etag.as_deref()).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(notes_of(&server, client_id).await.len(), notes_before + 1, "no second note");

    // Editing the summary, or removing it, changes nothing (and still no ETag).
    let (_, etag, served) = get(&server, &path).await;
    let served = served.replace("\r\n ", "");
    let summary = raw_value(&served, "NOTE").unwrap();
    let figures_edited = served.replace(&summary, &summary.replace("Sales YTD: ", "Sales YTD: 9"));
    let (status, put_etag, _) = put(&server, &path, &figures_edited, etag.as_deref()).await;
    assert_eq!((status, put_etag), (204, None));
    let removed: String = served.lines().filter(|l| !l.starts_with("NOTE")).map(|l| format!("{l}\r\n")).collect();
    let (status, put_etag, _) = put(&server, &path, &removed, etag.as_deref()).await;
    assert_eq!((status, put_etag), (204, None));
    assert_eq!(notes_of(&server, client_id).await.len(), notes_before + 1);
    let (_, etag_after, _) = get(&server, &path).await;
    assert_eq!(etag_after, etag, "the card is as it was");
    assert_eq!(
        server
            .db
            .count("SELECT COUNT(*) FROM audit_log WHERE action = 'card.put' AND after_data LIKE '%Hannover%'")
            .await,
        1,
        "the note is audited with the write that made it"
    );
    server.stop().await;
}

/// Bullet 1 on an organisation card (a client without contacts): its note is the only thing on it
/// a rep can write. A note over `calendar.max_note_bytes` is refused and nothing is written.
async fn an_organisation_card_takes_a_note_and_a_long_note_is_refused(backend: Backend) {
    let server = TestServer::demo(backend).await;
    server
        .db
        .exec("INSERT INTO clients (code, name, status, account_manager_id) SELECT 'ORG1', 'Lone Org AG', 'active', id FROM reps WHERE login = 'alice'")
        .await;
    let client_id = server.db.count("SELECT id FROM clients WHERE code = 'ORG1'").await;
    let path = format!("{BOOK}client-ORG1.vcf");
    let (status, etag, served) = get(&server, &path).await;
    assert_eq!(status, 200, "{served}");
    let served = served.replace("\r\n ", "");
    let summary = raw_value(&served, "NOTE").unwrap();
    let with_note = served.replace(&format!("NOTE:{summary}"), &format!("NOTE:Owner retires in March.\\n{summary}"));
    assert_ne!(with_note, served);
    let (status, put_etag, body) = put(&server, &path, &with_note, etag.as_deref()).await;
    assert_eq!((status, put_etag), (204, None), "{body}");
    assert_eq!(notes_of(&server, client_id).await, [("Owner retires in March.".into(), "dav".into(), "alice".into())]);

    let (_, etag, served) = get(&server, &path).await;
    let served = served.replace("\r\n ", "");
    let summary = raw_value(&served, "NOTE").unwrap();
    let long = "word ".repeat(4000);
    let too_long = served.replace(&format!("NOTE:{summary}"), &format!("NOTE:{long}\\n{summary}"));
    let (status, _, body) = put(&server, &path, &too_long, etag.as_deref()).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("note-too-long") && body.contains("calendar.max_note_bytes"), "{body}");
    assert_eq!(notes_of(&server, client_id).await.len(), 1, "nothing written");
    server.stop().await;
}

fn new_card(uid: &str, org: &str, note: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.5.1//EN\r\nN:Lindqvist;Maja;;;\r\nFN:Maja Lindqvist\r\n\
         ORG:{org};\r\nEMAIL;type=INTERNET;type=WORK;type=pref:maja@example.org\r\nNOTE:{note}\r\nUID:{uid}\r\nEND:VCARD\r\n"
    )
}

/// Bullet 2: a new card whose ORG names no client alice sees files a prospect she manages, with
/// a generated code, the card as its contact and the card's NOTE as its first note; it is in her
/// next sync.
async fn a_card_for_a_new_organisation_files_a_prospect(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let token = sync_token(&sync(&server, "").await);
    let path = format!("{BOOK}maja.vcf");
    let (status, _, body) =
        put(&server, &path, &new_card("maja-1", "Fjord Pallets AB", "Met at the fair\\, booth 12."), None).await;
    assert_eq!(status, 201, "{body}");
    let client = "SELECT c.status, r.login, c.code FROM clients c JOIN reps r ON r.id = c.account_manager_id WHERE c.name = 'Fjord Pallets AB'";
    let (status, manager, code): (String, String, String) =
        crmdav::on_db!(server.db.store, read, |pool| sqlx::query_as(client).fetch_one(pool).await.unwrap());
    assert_eq!((status.as_str(), manager.as_str()), ("prospect", "alice"));
    assert!(code.starts_with('P') && code.len() == 9, "{code}");
    let client_id = server.db.count("SELECT id FROM clients WHERE name = 'Fjord Pallets AB'").await;
    assert_eq!(
        notes_of(&server, client_id).await,
        [("Met at the fair, booth 12.".into(), "dav".into(), "alice".into())]
    );
    let delta = sync(&server, &token).await;
    assert!(responses(&delta).iter().any(|r| r.href.ends_with("/maja.vcf")), "{delta}");
    let (status, _, shown) = get(&server, &path).await;
    assert_eq!(status, 200);
    assert!(
        shown.contains(&format!("X-CRM-CLIENT-CODE:{code}")) && shown.contains("X-CRM-CLIENT-STATUS:prospect"),
        "{shown}"
    );
    assert_eq!(
        server.db.count(&format!("SELECT COUNT(*) FROM audit_log WHERE action = 'client.create' AND target = '{code}' AND outcome = 'created'")).await,
        1
    );
    // A second card for the same organisation joins the prospect (now a visible client).
    let (status, _, body) =
        put(&server, &format!("{BOOK}olle.vcf"), &new_card("olle-1", "fjord pallets ab", "x"), None).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM clients WHERE LOWER(name) = 'fjord pallets ab'").await, 1);
    server.stop().await;
}

/// Bullet 2: a name equal to a client alice cannot see gets the same answer as a new name, files a
/// new prospect (the hidden client's card stays out of her book) and flags it in the audit for an
/// admin; a UID in use elsewhere rolls the whole write back.
async fn a_hidden_clients_name_files_a_flagged_prospect_and_reveals_nothing(backend: Backend) {
    let server = TestServer::demo(backend).await;
    server
        .db
        .exec("INSERT INTO clients (code, name, status, account_manager_id) SELECT 'HID1', 'Bob Secret Ltd', 'active', id FROM reps WHERE login = 'bob'")
        .await;
    server
        .db
        .exec("INSERT INTO contacts (uid, href, client_id, first_name) SELECT 'secret-uid', 'secret.vcf', id, 'Sven' FROM clients WHERE code = 'HID1'")
        .await;
    let hidden = put(&server, &format!("{BOOK}a.vcf"), &new_card("a-1", "Bob Secret Ltd", "x"), None).await;
    let fresh = put(&server, &format!("{BOOK}b.vcf"), &new_card("b-1", "Brand New Ltd", "x"), None).await;
    assert_eq!((hidden.0, hidden.1.is_some(), hidden.2.as_str()), (fresh.0, fresh.1.is_some(), fresh.2.as_str()));
    assert_eq!(hidden.0, 201);
    assert_eq!(server.db.count("SELECT COUNT(*) FROM clients WHERE name = 'Bob Secret Ltd'").await, 2);
    let (_, _, shown) = get(&server, &format!("{BOOK}a.vcf")).await;
    assert!(!shown.contains("HID1") && shown.contains("X-CRM-CLIENT-CODE:P"), "{shown}");
    let (status, _, _) = get(&server, &format!("{BOOK}secret.vcf")).await;
    assert_eq!(status, 404, "the hidden client's contact stays hidden");
    let flagged = server
        .db
        .text("SELECT after_data FROM audit_log WHERE action = 'client.create' AND outcome = 'possible-duplicate'")
        .await
        .expect("flagged for an admin");
    assert!(flagged.contains("HID1") && flagged.contains("merge"), "{flagged}");
    assert_eq!(
        server
            .db
            .count("SELECT COUNT(*) FROM audit_log WHERE action = 'client.create' AND outcome = 'possible-duplicate'")
            .await,
        1,
        "a new name is not flagged"
    );
    // A UID taken by a contact alice cannot see: 409 naming nothing, and no prospect is left over.
    let clients = server.db.count("SELECT COUNT(*) FROM clients").await;
    let (status, _, body) =
        put(&server, &format!("{BOOK}c.vcf"), &new_card("secret-uid", "Another New Ltd", "x"), None).await;
    assert_eq!(status, 409, "{body}");
    assert!(!body.contains("secret.vcf") && !body.contains("Bob Secret"), "{body}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM clients").await, clients, "the prospect was rolled back");
    server.stop().await;
}

/// Bullet 2 switched off (`carddav.create_prospects = false`): today's refusal.
async fn without_prospects_an_unknown_organisation_is_refused(backend: Backend) {
    let mut config = Config::default();
    config.carddav.create_prospects = false;
    let server = TestServer::with_config(backend, config, Some(DemoSize::SMALL)).await;
    let clients = server.db.count("SELECT COUNT(*) FROM clients").await;
    let (status, _, body) =
        put(&server, &format!("{BOOK}maja.vcf"), &new_card("maja-1", "Fjord Pallets AB", "x"), None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("client-required") && body.contains("Fjord Pallets AB"), "{body}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM clients").await, clients);
    assert_eq!(server.db.count("SELECT COUNT(*) FROM notes WHERE body = 'x'").await, 0);
    server.stop().await;
}

on_both_databases!(
    a_line_added_to_a_cards_note_becomes_a_client_note,
    an_organisation_card_takes_a_note_and_a_long_note_is_refused,
    a_card_for_a_new_organisation_files_a_prospect,
    a_hidden_clients_name_files_a_flagged_prospect_and_reveals_nothing,
    without_prospects_an_unknown_organisation_is_refused
);
