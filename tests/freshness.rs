//! Freshness and visibility: every change that alters what a rep sees reaches that rep's next
//! sync, and only that rep's; several server processes on one PostgreSQL database agree.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Backend, TestDb, TestServer, responses, sync_body, sync_token};

fn book(login: &str) -> String {
    format!("/dav/addressbooks/{login}/clients/")
}

async fn sync(server: &TestServer, login: &str, path: &str, token: &str) -> (Vec<common::DavResponse>, String) {
    let response = server.as_user("REPORT", path, login).body(sync_body(token)).send().await.unwrap();
    assert_eq!(response.status(), 207);
    let body = response.text().await.unwrap();
    (responses(&body), sync_token(&body))
}

async fn a_status_change_removes_cards_from_exactly_the_reps_who_lost_them(backend: Backend) {
    let server = TestServer::demo(backend).await;
    // An active client of alice's with contacts; bob also sees its territory's prospects and active
    // clients; carol sees that territory whatever the status.
    let (client, territory) = {
        let id = server.db.count("SELECT MIN(c.id) FROM clients c WHERE c.status = 'active' AND c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND EXISTS (SELECT 1 FROM contacts k WHERE k.client_id = c.id)").await;
        (id, server.db.text(&format!("SELECT territory FROM clients WHERE id = {id}")).await.unwrap())
    };
    server.db.exec(&format!("INSERT INTO visibility_rules (position, rep_id, effect, territory, statuses) SELECT 2, id, 'allow', '{territory}', 'prospect,active' FROM reps WHERE login = 'bob'")).await;
    server.db.exec(&format!("INSERT INTO visibility_rules (position, rep_id, effect, territory) SELECT 3, id, 'allow', '{territory}' FROM reps WHERE login = 'carol'")).await;
    let cards = server.db.count(&format!("SELECT COUNT(*) FROM contacts WHERE client_id = {client}")).await;
    let mut tokens = std::collections::HashMap::new();
    for login in ["alice", "bob", "carol", "admin"] {
        let (_, token) = sync(&server, login, &book(login), "").await;
        tokens.insert(login, token);
    }
    server.db.exec(&format!("UPDATE clients SET status = 'closed' WHERE id = {client}")).await;
    for login in ["alice", "bob"] {
        let (changes, _) = sync(&server, login, &book(login), &tokens[login]).await;
        let gone: Vec<_> = changes.iter().filter(|r| r.status() == Some(404)).collect();
        assert_eq!(gone.len() as i64, cards, "{login} lost the client's cards");
        for card in &gone {
            let name = card.href.rsplit('/').next().unwrap();
            assert_eq!(
                server
                    .db
                    .count(&format!("SELECT COUNT(*) FROM contacts WHERE client_id = {client} AND href = '{name}'"))
                    .await,
                1
            );
        }
    }
    // Carol still sees the client (her rule ignores status): its cards change (the status is on
    // them), none is deleted.
    let (changes, _) = sync(&server, "carol", &book("carol"), &tokens["carol"]).await;
    assert_eq!(changes.len() as i64, cards);
    assert!(changes.iter().all(|r| r.status() == Some(200)));
    // The admin never saw it: nothing at all.
    let (changes, _) = sync(&server, "admin", &book("admin"), &tokens["admin"]).await;
    assert!(changes.is_empty());
    server.stop().await;
}

async fn rules_added_and_removed_show_at_the_next_sync(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (initial, token) = sync(&server, "alice", &book("alice"), "").await;
    // Deny alice one of her clients: its cards leave; delete the rule: they come back.
    let client = server.db.count("SELECT MIN(c.id) FROM clients c WHERE c.status = 'active' AND c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice')").await;
    let code = server.db.text(&format!("SELECT code FROM clients WHERE id = {client}")).await.unwrap();
    server.db.exec(&format!("INSERT INTO visibility_rules (position, rep_id, effect, client_id) SELECT 9, id, 'deny', {client} FROM reps WHERE login = 'alice'")).await;
    let (changes, token2) = sync(&server, "alice", &book("alice"), &token).await;
    let n = changes.len();
    assert!(n >= 1 && changes.iter().all(|r| r.status() == Some(404)), "denied client leaves");
    // Alice's own activities with that client stay in her calendar (tests/own_activities.rs).
    let linked = server
        .db
        .text(&format!("SELECT MIN(href) FROM activities WHERE client_id = {client} AND rep_id = (SELECT id FROM reps WHERE login = 'alice') AND kind <> 'task' AND status <> 'cancelled'"))
        .await;
    if let Some(href) = linked {
        let (events, _) = sync(&server, "alice", "/dav/calendars/alice/activities/", "").await;
        assert!(events.iter().any(|r| r.href.ends_with(&href)), "her own activity of a client outside the view stays");
        let get =
            server.as_user("GET", &format!("/dav/calendars/alice/activities/{href}"), "alice").send().await.unwrap();
        assert_eq!(get.status(), 200);
    }
    server.db.exec(&format!("DELETE FROM visibility_rules WHERE effect = 'deny' AND client_id = {client}")).await;
    let (changes, _) = sync(&server, "alice", &book("alice"), &token2).await;
    assert_eq!(changes.len(), n);
    assert!(changes.iter().all(|r| r.status() == Some(200)), "the client's cards come back ({code})");
    let (again, _) = sync(&server, "alice", &book("alice"), "").await;
    assert_eq!(again.len(), initial.len());
    server.stop().await;
}

on_both_databases!(
    a_status_change_removes_cards_from_exactly_the_reps_who_lost_them,
    rules_added_and_removed_show_at_the_next_sync
);

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_process(database: &str) -> (Process, String) {
    let port = free_port();
    // Killed and waited for by `Process`'s Drop.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_crmdav"))
        .args(["--database", database, "serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CRMDAV_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start crmdav");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status() == 200) {
            return (Process(child), base);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("crmdav did not start on {base}");
}

/// Two crmdav processes on one PostgreSQL database: a write through one is seen by a sync through
/// the other, and so is a change made with plain SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_database_agree() {
    let db = TestDb::new(Backend::Postgres).await;
    crmdav::crm::demo::load(&db.store, crmdav::crm::demo::DemoSize::SMALL).await.unwrap();
    let (_first, a) = start_process(&db.url).await;
    let (_second, b) = start_process(&db.url).await;
    let http = reqwest::Client::new();
    let sync_via = |base: String, token: String| {
        let http = http.clone();
        async move {
            let body = http
                .request(reqwest::Method::from_bytes(b"REPORT").unwrap(), format!("{base}{}", book("alice")))
                .basic_auth("alice", Some("demo"))
                .body(sync_body(&token))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            (responses(&body), sync_token(&body))
        }
    };
    let (_, token) = sync_via(b.clone(), String::new()).await;
    // Edit a card through instance A.
    let href = db.text("SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND c.status = 'active' ORDER BY k.id LIMIT 1").await.unwrap();
    let url = format!("{a}{}{href}", book("alice"));
    let card = http.get(&url).basic_auth("alice", Some("demo")).send().await.unwrap().text().await.unwrap();
    let edited: String = card
        .replace("\r\n ", "")
        .lines()
        .map(|l| if l.starts_with("TITLE") { "TITLE:Head of Purchasing".to_string() } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\r\n")
        + "\r\n";
    let edited = if edited.contains("TITLE:") {
        edited
    } else {
        edited.replace("END:VCARD", "TITLE:Head of Purchasing\r\nEND:VCARD")
    };
    let put = http
        .put(&url)
        .basic_auth("alice", Some("demo"))
        .header("Content-Type", "text/vcard")
        .body(edited)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    // Sync through instance B sees it.
    let (changes, token) = sync_via(b.clone(), token).await;
    assert_eq!(changes.len(), 1);
    assert!(changes[0].href.ends_with(&href));
    let via_b = http
        .get(format!("{b}{}{href}", book("alice")))
        .basic_auth("alice", Some("demo"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(via_b.contains("TITLE:Head of Purchasing"));
    // A plain SQL change is seen by both.
    db.exec(&format!("UPDATE contacts SET mobile = '+49 170 0000000' WHERE href = '{href}'")).await;
    let (via_a, _) = sync_via(a.clone(), token.clone()).await;
    let (via_b, _) = sync_via(b.clone(), token).await;
    assert_eq!(via_a.len(), 1);
    assert_eq!(via_b.len(), 1);
}
