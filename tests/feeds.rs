//! Subscription feeds over HTTP, on SQLite and PostgreSQL: the feed shows what the rep's DAV
//! collections show (same visibility, same calendar objects), in a window around today, behind a
//! token that stops working at once when revoked, with ETag/Last-Modified conditional GET.

mod common;

use chrono::{Duration, Utc};
use common::{Backend, TestServer};
use crmdav::crm::credentials::{self, TokenKind};
use serde_json::json;

/// A feed token of `login`, created through the admin API (which also returns the links).
async fn feed_token(server: &TestServer, login: &str) -> (i64, String, serde_json::Value) {
    let response = server
        .as_user("POST", &format!("/admin/api/reps/{login}/tokens"), "admin")
        .json(&json!({ "kind": "feed", "label": "Outlook subscription" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    (body["id"].as_i64().unwrap(), body["token"].as_str().unwrap().to_string(), body)
}

struct Got {
    status: u16,
    etag: Option<String>,
    last_modified: Option<String>,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Got {
    let mut request = server.request("GET", path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    let (status, etag, last_modified, headers) =
        (response.status().as_u16(), header("etag"), header("last-modified"), response.headers().clone());
    Got { status, etag, last_modified, headers, body: response.text().await.unwrap() }
}

/// The UIDs of the top-level VEVENT/VTODO components of a calendar.
fn uids(ics: &str) -> Vec<String> {
    let mut uids: Vec<String> = ics
        .split("\r\n")
        .scan(0, |depth, line| {
            let uid = (*depth == 2 && line.starts_with("UID:")).then(|| line[4..].to_string());
            if line.starts_with("BEGIN:") {
                *depth += 1;
            } else if line.starts_with("END:") {
                *depth -= 1;
            }
            Some(uid)
        })
        .flatten()
        .collect();
    uids.sort();
    uids
}

fn card_uids(vcf: &str) -> Vec<String> {
    let mut uids: Vec<String> = vcf.split("\r\n").filter_map(|l| l.strip_prefix("UID:")).map(str::to_string).collect();
    uids.sort();
    uids
}

/// The text of the first `BEGIN:{name}` ... `END:{name}` block holding `UID:{uid}`.
fn component(ics: &str, name: &str, uid: &str) -> String {
    let (begin, end) = (format!("BEGIN:{name}\r\n"), format!("END:{name}\r\n"));
    let mut rest = ics;
    while let Some(start) = rest.find(&begin) {
        let stop = rest[start..].find(&end).expect("terminated") + start + end.len();
        let block = &rest[start..stop];
        if block.contains(&format!("\r\nUID:{uid}\r\n")) {
            return block.to_string();
        }
        rest = &rest[stop..];
    }
    panic!("no {name} with UID {uid}");
}

async fn rep_id(server: &TestServer, login: &str) -> i64 {
    server.db.count(&format!("SELECT id FROM reps WHERE login = '{login}'")).await
}

/// An activity of `login` with its start `days` days from now (`None`: an undated task).
async fn insert_activity(server: &TestServer, login: &str, uid: &str, kind: &str, days: Option<i64>, zone: &str) {
    let rep = rep_id(server, login).await;
    let start = days.map(|d| (Utc::now() + Duration::days(d)).format("'%Y-%m-%dT10:00:00Z'").to_string());
    let end = days.map(|d| (Utc::now() + Duration::days(d)).format("'%Y-%m-%dT11:00:00Z'").to_string());
    server
        .db
        .exec(&format!(
            "INSERT INTO activities (uid, href, rep_id, kind, subject, start_at, end_at, range_end, timezone) \
             VALUES ('{uid}', '{uid}.ics', {rep}, '{kind}', 'Feed test {uid}', {s}, {e}, {e}, '{zone}')",
            s = start.as_deref().unwrap_or("NULL"),
            e = end.as_deref().unwrap_or("NULL"),
        ))
        .await;
}

async fn the_calendar_feed_is_the_reps_calendars_in_a_window(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (_, token, created) = feed_token(&server, "alice").await;
    // The admin API hands out the subscription link (webcal) and the plain URLs.
    let port = server.base.rsplit(':').next().unwrap();
    assert_eq!(
        created["feed"]["webcal"].as_str().unwrap(),
        format!("webcal://127.0.0.1:{port}/feeds/{token}/activities.ics")
    );
    assert_eq!(created["feed"]["clients"].as_str().unwrap(), format!("{}/feeds/{token}/clients.vcf", server.base));
    // Window: 90 days back, 365 ahead (the defaults).
    for (uid, days) in
        [("feed-old", Some(-120)), ("feed-recent", Some(-10)), ("feed-ahead", Some(300)), ("feed-far", Some(400))]
    {
        insert_activity(&server, "alice", uid, "meeting", days, "Europe/Berlin").await;
    }
    insert_activity(&server, "alice", "feed-ny", "call", Some(20), "America/New_York").await;
    insert_activity(&server, "alice", "feed-undated-task", "task", None, "").await;
    insert_activity(&server, "bob", "feed-bobs", "meeting", Some(5), "Europe/Berlin").await;

    let feed = get(&server, &format!("/feeds/{token}/activities.ics"), &[]).await;
    assert_eq!(feed.status, 200);
    assert_eq!(feed.headers["content-type"], "text/calendar; charset=utf-8");
    assert_eq!(feed.body.matches("BEGIN:VCALENDAR").count(), 1);
    assert!(
        feed.body.contains("METHOD:PUBLISH\r\n")
            && feed.body.contains("X-WR-CALNAME:CRM activities – Alice Martin\r\n")
    );
    let in_feed = uids(&feed.body);
    for uid in ["feed-recent", "feed-ahead", "feed-ny", "feed-undated-task"] {
        assert!(in_feed.contains(&uid.to_string()), "{uid} is in the window");
    }
    for uid in ["feed-old", "feed-far", "feed-bobs"] {
        assert!(!in_feed.contains(&uid.to_string()), "{uid} is not alice's or not in the window");
    }
    // Exactly the activities alice's calendars hold in the window (SQL as the CalDAV tests state
    // it: her own and not cancelled, whatever their client's visibility).
    let (start, end) = crmdav::feeds::window(&crmdav::config::Config::default(), Utc::now());
    let expected = server
        .db
        .count(&format!(
            "SELECT COUNT(*) FROM activities a WHERE a.rep_id = (SELECT id FROM reps WHERE login = 'alice') \
             AND a.status <> 'cancelled' \
             AND (a.start_at IS NULL OR (a.start_at < '{}' AND (a.range_end IS NULL OR a.range_end >= '{}')))",
            end.format("%Y-%m-%dT%H:%M:%SZ"),
            start.format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    assert_eq!(in_feed.len() as i64, expected);
    assert!(expected > 5, "the demo has activities in the window: {expected}");
    // One VTIMEZONE per zone used, before the events.
    assert_eq!(feed.body.matches("BEGIN:VTIMEZONE").count(), 2, "Berlin and New York");
    assert_eq!(feed.body.matches("TZID:Europe/Berlin\r\n").count(), 1);
    assert_eq!(feed.body.matches("TZID:America/New_York\r\n").count(), 1);
    assert!(feed.body.contains("DTSTART;TZID=America/New_York:"));
    // Each object as the CalDAV calendars serve it: a generated one and a device-written recurring one.
    let recurring_uid = server
        .db
        .text(&format!(
            "SELECT uid FROM activities a JOIN clients c ON c.id = a.client_id WHERE a.rep_id = (SELECT id FROM reps WHERE login = 'alice') \
             AND a.recurring = TRUE AND a.status <> 'cancelled' AND c.account_manager_id = a.rep_id AND c.status IN ('prospect', 'active') \
             AND a.range_end >= '{}' AND a.start_at < '{}' ORDER BY a.id LIMIT 1",
            start.format("%Y-%m-%dT%H:%M:%SZ"),
            end.format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    let mut samples = vec![("VEVENT", "feed-recent".to_string()), ("VTODO", "feed-undated-task".to_string())];
    if let Some(uid) = recurring_uid {
        samples.push(("VEVENT", uid));
    }
    for (name, uid) in samples {
        let calendar = if name == "VTODO" { "follow-ups" } else { "activities" };
        let href = server.db.text(&format!("SELECT href FROM activities WHERE uid = '{uid}'")).await.unwrap();
        let dav = server
            .as_user("GET", &format!("/dav/calendars/alice/{calendar}/{href}"), "alice")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(component(&feed.body, name, &uid), component(&dav, name, &uid), "{uid}");
    }
    server.stop().await;
}

async fn the_address_book_feed_follows_visibility(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (_, token, _) = feed_token(&server, "alice").await;
    let path = format!("/feeds/{token}/clients.vcf");
    let first = get(&server, &path, &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.headers["content-type"], "text/vcard; charset=utf-8");
    // The same cards as alice's address book over CardDAV.
    let sync = server
        .as_user("REPORT", "/dav/addressbooks/alice/clients/", "alice")
        .body(common::sync_body(""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cards_in_book = common::responses(&sync).len();
    assert_eq!(first.body.matches("BEGIN:VCARD").count(), cards_in_book);
    assert!(cards_in_book > 5);
    // A client of alice's closes: its cards leave the feed at once, and the feed's ETag changes.
    let client = server
        .db
        .text(
            "SELECT c.code FROM clients c JOIN contacts k ON k.client_id = c.id WHERE c.status = 'active' \
             AND c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice') ORDER BY c.id LIMIT 1",
        )
        .await
        .unwrap();
    let contact_uids: Vec<String> = {
        let n = server
            .db
            .count(&format!(
                "SELECT COUNT(*) FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.code = '{client}'"
            ))
            .await;
        let mut uids = Vec::new();
        for i in 0..n {
            uids.push(
                server
                    .db
                    .text(&format!(
                        "SELECT k.uid FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.code = '{client}' ORDER BY k.id LIMIT 1 OFFSET {i}"
                    ))
                    .await
                    .unwrap(),
            );
        }
        uids
    };
    let before = card_uids(&first.body);
    for uid in &contact_uids {
        assert!(before.contains(uid));
    }
    server.db.exec(&format!("UPDATE clients SET status = 'closed' WHERE code = '{client}'")).await;
    let etag = first.etag.clone().unwrap();
    let after = get(&server, &path, &[("If-None-Match", &etag)]).await;
    assert_eq!(after.status, 200, "changed: the old ETag no longer matches");
    assert_ne!(after.etag.as_deref(), Some(etag.as_str()));
    let after_uids = card_uids(&after.body);
    assert_eq!(after_uids.len(), before.len() - contact_uids.len());
    for uid in &contact_uids {
        assert!(!after_uids.contains(uid), "{uid} left with its client");
    }
    // A client-specific allow rule brings a client of bob's into alice's view, and so into her feed.
    let bobs = server
        .db
        .text("SELECT code FROM clients WHERE status = 'active' AND account_manager_id = (SELECT id FROM reps WHERE login = 'bob') ORDER BY id LIMIT 1")
        .await
        .unwrap();
    server
        .db
        .exec(&format!(
            "INSERT INTO visibility_rules (position, rep_id, effect, client_id) VALUES (5, (SELECT id FROM reps WHERE login = 'alice'), 'allow', (SELECT id FROM clients WHERE code = '{bobs}'))"
        ))
        .await;
    let widened = get(&server, &path, &[]).await;
    assert!(widened.body.contains(&format!("X-CRM-CLIENT-CODE:{bobs}\r\n")));
    server.stop().await;
}

async fn tokens_are_checked_on_every_request(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (alice_id, alice, _) = feed_token(&server, "alice").await;
    let (_, bob, _) = feed_token(&server, "bob").await;
    let alice_feed = get(&server, &format!("/feeds/{alice}/activities.ics"), &[]).await;
    let bob_feed = get(&server, &format!("/feeds/{bob}/activities.ics"), &[]).await;
    assert_eq!((alice_feed.status, bob_feed.status), (200, 200));
    assert!(bob_feed.body.contains("X-WR-CALNAME:CRM activities – Bob Keller"));
    // Bob's token shows bob's activities only.
    let bobs_uids = uids(&bob_feed.body);
    assert!(!bobs_uids.is_empty());
    for uid in uids(&alice_feed.body) {
        assert!(!bobs_uids.contains(&uid), "alice's {uid} is not in bob's feed");
    }
    let bob_id = rep_id(&server, "bob").await;
    for uid in bobs_uids.iter().take(20) {
        assert_eq!(server.db.count(&format!("SELECT rep_id FROM activities WHERE uid = '{uid}'")).await, bob_id);
    }
    let bob_cards = get(&server, &format!("/feeds/{bob}/clients.vcf"), &[]).await.body;
    let alice_cards = get(&server, &format!("/feeds/{alice}/clients.vcf"), &[]).await.body;
    let alice_card_uids = card_uids(&alice_cards);
    assert!(card_uids(&bob_cards).iter().all(|uid| !alice_card_uids.contains(uid)));

    // Revoked: 404 on the very next request, both feeds.
    let revoked = server.as_user("DELETE", &format!("/admin/api/tokens/{alice_id}"), "admin").send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    for file in ["activities.ics", "clients.vcf"] {
        assert_eq!(get(&server, &format!("/feeds/{alice}/{file}"), &[]).await.status, 404);
    }
    assert_eq!(get(&server, &format!("/feeds/{bob}/activities.ics"), &[]).await.status, 200, "others unaffected");
    // A disabled rep's feeds stop too, and come back when enabled again.
    crmdav::crm::reps::set_active(&server.db.store, "bob", false).await.unwrap();
    assert_eq!(get(&server, &format!("/feeds/{bob}/activities.ics"), &[]).await.status, 404);
    crmdav::crm::reps::set_active(&server.db.store, "bob", true).await.unwrap();
    assert_eq!(get(&server, &format!("/feeds/{bob}/activities.ics"), &[]).await.status, 200);
    // Unknown tokens, app tokens and other files: 404 without a hint.
    let (_, app) = credentials::create_token(&server.db.store, "carol", TokenKind::App, "phone").await.unwrap();
    for path in [
        "/feeds/crmdav_unknown/activities.ics".to_string(),
        format!("/feeds/{app}/activities.ics"),
        format!("/feeds/{bob}/other.ics"),
        format!("/feeds/{bob}"),
        format!("/feeds/{bob}/activities.ics/x"),
    ] {
        assert_eq!(get(&server, &path, &[]).await.status, 404, "{path}");
    }
    // A feed token is no password: it opens no DAV collection.
    let dav = server.request("PROPFIND", "/dav/").basic_auth("bob", Some(&bob)).send().await.unwrap();
    assert_eq!(dav.status(), 401);
    // Feeds are read-only.
    let put = server.request("PUT", &format!("/feeds/{bob}/activities.ics")).body("x").send().await.unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, HEAD");
    // Use is recorded (for `token list`).
    assert_eq!(
        server
            .db
            .count("SELECT COUNT(*) FROM credentials WHERE kind = 'feed-token' AND last_used_at IS NOT NULL")
            .await,
        2
    );
    server.stop().await;
}

async fn conditional_get_and_head(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (_, token, _) = feed_token(&server, "alice").await;
    let path = format!("/feeds/{token}/activities.ics");
    // Last-Modified is only given once its second is over (a later change in the same second would not show).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let first = get(&server, &path, &[]).await;
    let etag = first.etag.clone().expect("ETag");
    let last_modified = first.last_modified.clone().expect("Last-Modified");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "a strong ETag: {etag}");
    assert_eq!(first.headers["cache-control"], "private, no-cache");
    // The ETag is the body's hash: the same body, the same ETag.
    assert_eq!(get(&server, &path, &[]).await.etag.as_deref(), Some(etag.as_str()));

    let unchanged = get(&server, &path, &[("If-None-Match", &etag)]).await;
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.etag.as_deref(), Some(etag.as_str()));
    assert!(unchanged.body.is_empty());
    let weak = format!("\"other\", W/{etag}");
    assert_eq!(get(&server, &path, &[("If-None-Match", &weak)]).await.status, 304);
    assert_eq!(get(&server, &path, &[("If-Modified-Since", &last_modified)]).await.status, 304);
    // If-None-Match wins over If-Modified-Since (RFC 9110).
    let both = get(&server, &path, &[("If-None-Match", "\"stale\""), ("If-Modified-Since", &last_modified)]).await;
    assert_eq!(both.status, 200);

    let head = server.request("HEAD", &path).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(head.headers()["content-length"].to_str().unwrap(), first.body.len().to_string());
    assert!(head.text().await.unwrap().is_empty());

    // A change to one of alice's activities: a new body, a new ETag, a later Last-Modified.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let uid = uids(&first.body).into_iter().next().unwrap();
    server.db.exec(&format!("UPDATE activities SET subject = 'Renamed for the feed test' WHERE uid = '{uid}'")).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let changed = get(&server, &path, &[("If-None-Match", &etag)]).await;
    assert_eq!(changed.status, 200);
    assert!(changed.body.contains("SUMMARY:Renamed for the feed test"));
    assert_ne!(changed.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(get(&server, &path, &[("If-Modified-Since", &last_modified)]).await.status, 200);
    let new_last_modified = changed.last_modified.expect("Last-Modified");
    assert_eq!(get(&server, &path, &[("If-Modified-Since", &new_last_modified)]).await.status, 304);
    server.stop().await;
}

on_both_databases!(
    the_calendar_feed_is_the_reps_calendars_in_a_window,
    the_address_book_feed_follows_visibility,
    tokens_are_checked_on_every_request,
    conditional_get_and_head,
);
