//! Results on cards, on SQLite and PostgreSQL: a card's figures are computed from the client's
//! results (this year to date and last year, per currency, and the last order), a result written
//! by any program reaches the client's cards at the next sync, and calendars are not touched.

mod common;

use common::{Backend, TestServer, responses, sync_body, sync_token};
use crmdav::crm::demo;

const BOOK: &str = "/dav/addressbooks/alice/clients/";
const EVENTS: &str = "/dav/calendars/alice/activities/";

/// The demo CRM as of its reference day (2026-11-01), so that "this year" is 2026 whatever the
/// clock says.
async fn server(backend: Backend) -> TestServer {
    assert_eq!(demo::reference_day().to_string(), "2026-11-01");
    TestServer::demo(backend).await
}

async fn sync(server: &TestServer, path: &str, token: &str) -> (Vec<common::DavResponse>, String) {
    let response = server.as_user("REPORT", path, "alice").body(sync_body(token)).send().await.unwrap();
    assert_eq!(response.status(), 207);
    let body = response.text().await.unwrap();
    (responses(&body), sync_token(&body))
}

/// The unfolded NOTE of a card.
fn note(card: &str) -> String {
    let unfolded = card.replace("\r\n ", "").replace("\n ", "");
    unfolded.lines().find_map(|l| l.strip_prefix("NOTE:")).unwrap_or_default().to_string()
}

async fn a_result_reaches_its_clients_cards_only(backend: Backend) {
    let server = server(backend).await;
    // A client of alice's with contacts and no results of 2026 in the demo data... or with some:
    // the figures are read from the database and compared with what the card says.
    let client: i64 = server
        .db
        .count(
            "SELECT MIN(c.id) FROM clients c JOIN reps r ON r.id = c.account_manager_id \
             WHERE r.login = 'alice' AND c.status = 'active' AND EXISTS (SELECT 1 FROM contacts k WHERE k.client_id = c.id)",
        )
        .await;
    let href = server.db.text(&format!("SELECT MIN(href) FROM contacts WHERE client_id = {client}")).await.unwrap();
    let (_, book_token) = sync(&server, BOOK, "").await;
    let (_, events_token) = sync(&server, EVENTS, "").await;

    server
        .db
        .exec(&format!(
            "INSERT INTO results (reference, client_id, rep_id, ordered_on, amount_cents, currency, kind) \
             VALUES ('T-1', {client}, (SELECT id FROM reps WHERE login = 'alice'), '2026-10-30', 123456789, 'USD', 'repeat')"
        ))
        .await;
    let (changed, _) = sync(&server, BOOK, &book_token).await;
    let cards = server.db.count(&format!("SELECT COUNT(*) FROM contacts WHERE client_id = {client}")).await;
    assert_eq!(changed.len() as i64, cards, "every card of the client, and only those");
    let card = server.as_user("GET", &format!("{BOOK}{href}"), "alice").send().await.unwrap().text().await.unwrap();
    let note = note(&card);
    assert!(note.contains("USD 1\\,234\\,567"), "the new figure, in its currency: {note}");
    assert!(note.contains("Sales YTD 2026: ") && note.contains("| 2025: "), "{note}");
    assert!(note.contains("Last order: 2026-10-30"), "{note}");

    // What the figures are: the demo's EUR results of 2026 up to the day, and of 2025.
    let eur_2026 = server
        .db
        .count(&format!(
            "SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM results WHERE client_id = {client} AND currency = 'EUR' \
             AND ordered_on >= '2026-01-01' AND ordered_on <= '2026-11-01'"
        ))
        .await;
    if eur_2026 != 0 {
        let units = eur_2026 / 100;
        let grouped = format!("{units}")
            .as_bytes()
            .rchunks(3)
            .rev()
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\\,");
        assert!(note.contains(&format!("EUR {grouped} + USD 1\\,234\\,567")), "{note}");
    }

    // Results change no event: the calendar's token stays.
    let (events, token) = sync(&server, EVENTS, &events_token).await;
    assert!(events.is_empty());
    assert_eq!(token, events_token);

    // Deleting it takes the figure off again.
    server.db.exec("DELETE FROM results WHERE reference = 'T-1'").await;
    let card = server.as_user("GET", &format!("{BOOK}{href}"), "alice").send().await.unwrap().text().await.unwrap();
    assert!(!note_contains(&card, "USD"), "{card}");
    server.stop().await;
}

fn note_contains(card: &str, text: &str) -> bool {
    note(card).contains(text)
}

/// The demo has results and monthly objectives, and a client's results add up to the figures it
/// had as columns before results existed.
async fn the_demo_has_results_and_objectives(backend: Backend) {
    let server = server(backend).await;
    let db = &server.db;
    assert!(db.count("SELECT COUNT(*) FROM results WHERE source = 'demo'").await > 20);
    assert_eq!(db.count("SELECT COUNT(*) FROM objectives").await, 3 * 24, "3 reps, 24 months");
    assert!(db.count("SELECT COUNT(*) FROM results WHERE kind = 'new'").await > 0);
    let mismatched = db
        .count(
            "SELECT COUNT(*) FROM clients c WHERE c.sales_ytd_cents + c.sales_last_year_cents <> \
             (SELECT COALESCE(SUM(amount_cents), 0) FROM results r WHERE r.client_id = c.id)",
        )
        .await;
    assert_eq!(mismatched, 0);
    server.stop().await;
}

on_both_databases!(a_result_reaches_its_clients_cards_only, the_demo_has_results_and_objectives);
