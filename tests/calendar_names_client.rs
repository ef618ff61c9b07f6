//! A rep's calendar entries say which client they are about (title, address of a visit, contact
//! person), and what the server adds is taken off again when a device writes the entry back: a
//! title renamed on a phone renames the activity, the address is not stored as the visit's own
//! place, and the added block never becomes part of the activity's text or a note.

mod common;

use common::{Backend, TestServer};

/// One of alice's planned visits with a client she sees, with a contact person: (href, subject,
/// client name).
async fn a_visit(server: &TestServer) -> (String, String, String) {
    let row: (String, String, String) = crmdav::on_db!(server.db.store, read, |pool| {
        sqlx::query_as(
            "SELECT a.href, a.subject, c.name FROM activities a JOIN clients c ON c.id = a.client_id \
             JOIN reps r ON r.id = a.rep_id WHERE r.login = 'alice' AND a.kind = 'visit' AND a.status = 'planned' \
             AND a.recurring = FALSE AND a.ical IS NULL AND c.account_manager_id = r.id AND c.status IN ('active', 'prospect') \
             AND a.contact_id IS NOT NULL AND a.location = '' ORDER BY a.id LIMIT 1",
        )
        .fetch_one(pool)
        .await
        .expect("the demo has a planned visit of alice's with a contact and no place of its own")
    });
    (format!("/dav/calendars/alice/activities/{}", row.0), row.1, row.2)
}

fn property<'a>(object: &'a str, name: &str) -> Option<&'a str> {
    object
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_once(':'))
        .map(|(_, value)| value)
}

/// The object as an app shows it, unfolded.
async fn get(server: &TestServer, href: &str) -> (String, String) {
    let response = server.as_user("GET", href, "alice").send().await.unwrap();
    assert_eq!(response.status(), 200, "GET {href}");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    (etag, response.text().await.unwrap().replace("\r\n ", ""))
}

async fn put(server: &TestServer, href: &str, etag: &str, object: &str) -> u16 {
    let response = server
        .as_user("PUT", href, "alice")
        .header("If-Match", etag)
        .header("Content-Type", "text/calendar")
        .body(object.replace("\r\n", "\n").replace('\n', "\r\n"))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn column(server: &TestServer, href: &str, column: &str) -> String {
    let name = href.rsplit('/').next().unwrap();
    server.db.text(&format!("SELECT {column} FROM activities WHERE href = '{name}'")).await.unwrap_or_default()
}

async fn an_entry_names_its_client_and_a_phone_edit_keeps_only_what_the_rep_wrote(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (href, subject, client) = a_visit(&server).await;
    let (etag, object) = get(&server, &href).await;
    assert_eq!(property(&object, "SUMMARY"), Some(format!("{subject} · {client}").as_str()), "{object}");
    let location = property(&object, "LOCATION").expect("a visit goes to the client's address");
    assert!(!location.is_empty() && location.contains(", "), "{location}");
    assert!(object.contains("— CRM —\\nClient: "), "the block about the client: {object}");
    assert!(property(&object, "CONTACT").is_some_and(|c| !c.is_empty()), "the contact person: {object}");
    let notes_before = server.db.count("SELECT COUNT(*) FROM notes").await;

    // The phone sends the object back as it got it: nothing changes, nothing is stored twice.
    assert_eq!(put(&server, &href, &etag, &object).await, 204);
    assert_eq!(column(&server, &href, "subject").await, subject);
    assert_eq!(column(&server, &href, "location").await, "", "the client's address is not the visit's own place");
    let (etag, again) = get(&server, &href).await;
    assert_eq!(property(&again, "SUMMARY"), property(&object, "SUMMARY"));
    assert_eq!(again.matches("— CRM —").count(), 1, "the block once: {again}");

    // Renamed on the phone (iOS keeps the suffix as shown; the rep edits the part before it).
    let renamed = object.replace(&format!("SUMMARY:{subject} · {client}"), &format!("SUMMARY:Price talk · {client}"));
    assert_eq!(put(&server, &href, &etag, &renamed).await, 204);
    assert_eq!(column(&server, &href, "subject").await, "Price talk");
    let (etag, shown) = get(&server, &href).await;
    assert_eq!(property(&shown, "SUMMARY"), Some(format!("Price talk · {client}").as_str()));

    // ... or deletes the suffix, and moves the visit to a place of its own.
    let moved = shown
        .replace(&format!("SUMMARY:Price talk · {client}"), "SUMMARY:Price talk at the fair")
        .replace(&format!("LOCATION:{}", property(&shown, "LOCATION").unwrap()), "LOCATION:Messe Hall 3");
    assert_eq!(put(&server, &href, &etag, &moved).await, 204);
    assert_eq!(column(&server, &href, "subject").await, "Price talk at the fair");
    assert_eq!(column(&server, &href, "location").await, "Messe Hall 3");
    let (_, shown) = get(&server, &href).await;
    assert_eq!(property(&shown, "SUMMARY"), Some(format!("Price talk at the fair · {client}").as_str()));
    assert_eq!(property(&shown, "LOCATION"), Some("Messe Hall 3"));
    assert_eq!(server.db.count("SELECT COUNT(*) FROM notes").await, notes_before, "no note from the block");

    // The client is renamed in the CRM: the entry follows.
    server
        .db
        .exec(&format!("UPDATE clients SET name = 'Renamed Client AG' WHERE name = '{}'", client.replace('\'', "''")))
        .await;
    let (_, shown) = get(&server, &href).await;
    assert_eq!(property(&shown, "SUMMARY"), Some("Price talk at the fair · Renamed Client AG"));
    server.stop().await;
}

on_both_databases!(an_entry_names_its_client_and_a_phone_edit_keeps_only_what_the_rep_wrote);
