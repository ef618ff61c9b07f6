//! A manager's team calendar (`/dav/calendars/LOGIN/team/`, src/caldav/team.rs) over HTTP, on
//! SQLite and PostgreSQL: listed in a manager's calendar home and nobody else's (404), the events of
//! the team's reps as those reps' own calendars show them, with the rep's name; read-only (no
//! write privilege, PUT/DELETE/PROPPATCH 403 need-privileges, nothing changed); sync-collection,
//! getctag, multiget, calendar-query with a time range and push topics; and kept up to date by the
//! changes that concern it: a team rep's activity, a rep joining or leaving, the team's manager.
//! Also: a change of a team's manager is seen by feed clients (If-Modified-Since).

mod common;

use std::collections::BTreeMap;

use common::{Backend, DAV_NS, TestServer, parse_dav_error, parse_multistatus, responses, sync_body, sync_token};
use reqwest::StatusCode;

const TEAM: &str = "/dav/calendars/mia/team/";

/// The demo CRM with a manager, mia, leading team North (alice); bob and carol are in no team.
async fn server(backend: Backend) -> TestServer {
    let server = TestServer::demo(backend).await;
    crmdav::crm::reps::add(&server.db.store, "mia", "Mia Manager", "mia@crmdav.example", "manager", "demo")
        .await
        .unwrap();
    server.db.exec("INSERT INTO teams (name, manager_id) SELECT 'North', id FROM reps WHERE login = 'mia'").await;
    server.db.exec("UPDATE reps SET team_id = (SELECT id FROM teams WHERE name = 'North') WHERE login = 'alice'").await;
    server
}

/// The ids of `login`'s events (meetings, calls, visits not cancelled): what a team calendar shows of them.
async fn event_ids(server: &TestServer, login: &str) -> Vec<i64> {
    crmdav::on_db!(server.db.store, read, |pool| {
        sqlx::query_scalar(
            "SELECT a.id FROM activities a JOIN reps r ON r.id = a.rep_id \
             WHERE r.login = $1 AND a.kind <> 'task' AND a.status <> 'cancelled' ORDER BY a.id",
        )
        .bind(login)
        .fetch_all(pool)
        .await
        .unwrap()
    })
}

fn member(id: i64) -> String {
    format!("activity-{id}.ics")
}

/// What a device holds after syncing: the sync-token and the ETag of each member by name.
async fn sync(server: &TestServer, token: &str, held: &mut BTreeMap<String, String>) -> (String, usize) {
    let response = server
        .as_user("REPORT", TEAM, "mia")
        .header("Depth", "1")
        .header("Content-Type", "application/xml")
        .body(sync_body(token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::MULTI_STATUS);
    let text = response.text().await.unwrap();
    let changed = responses(&text);
    for response in &changed {
        let name = response.href.rsplit('/').next().unwrap().to_string();
        match response.status() {
            Some(404) => held.remove(&name),
            _ => held.insert(name, response.prop("d:getetag").expect("an ETag")),
        };
    }
    (sync_token(&text), changed.len())
}

fn names(ids: &[i64]) -> Vec<String> {
    let mut names: Vec<String> = ids.iter().map(|id| member(*id)).collect();
    names.sort();
    names
}

async fn getctag(server: &TestServer) -> String {
    let body =
        r#"<propfind xmlns="DAV:" xmlns:CS="http://calendarserver.org/ns/"><prop><CS:getctag/></prop></propfind>"#;
    let response = server.as_user("PROPFIND", TEAM, "mia").header("Depth", "0").body(body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::MULTI_STATUS);
    let text = response.text().await.unwrap();
    text.split("getctag>").nth(1).unwrap().split('<').next().unwrap().to_string()
}

async fn a_manager_lists_and_reads_the_team_calendar_and_cannot_write_it(backend: Backend) {
    let server = server(backend).await;
    // Listed in the manager's calendar home, read-only, with push properties.
    let body = r#"<propfind xmlns="DAV:" xmlns:P="https://bitfire.at/webdav-push"><prop><displayname/><resourcetype/><current-user-privilege-set/><P:topic/></prop></propfind>"#;
    let home = server.as_user("PROPFIND", "/dav/calendars/mia/", "mia").header("Depth", "1").body(body);
    let home = parse_multistatus(&home.send().await.unwrap().text().await.unwrap());
    let team = home.response(TEAM).expect("the team calendar is listed in mia's calendar home");
    assert_eq!(team.prop(DAV_NS, "displayname").unwrap().text, "Team activities");
    let privileges = &team.prop(DAV_NS, "current-user-privilege-set").unwrap().inner_xml;
    assert!(privileges.contains("read"), "{privileges}");
    for write in ["write", "bind", "unbind", "all"] {
        assert!(!privileges.contains(&format!(":{write}/>")), "no {write} privilege: {privileges}");
    }
    assert!(!team.prop("https://bitfire.at/webdav-push", "topic").unwrap().text.trim().is_empty());
    // A rep has no team calendar: not listed, and 404 (not 403).
    let alice_home = server.as_user("PROPFIND", "/dav/calendars/alice/", "alice").header("Depth", "1").body(body);
    let alice_home = alice_home.send().await.unwrap().text().await.unwrap();
    assert!(!alice_home.contains("/team/"), "{alice_home}");
    for method in ["PROPFIND", "REPORT", "GET"] {
        let path = if method == "GET" { "/dav/calendars/alice/team/x.ics" } else { "/dav/calendars/alice/team/" };
        let body = if method == "REPORT" { sync_body("") } else { String::new() };
        let response = server.as_user(method, path, "alice").header("Depth", "0").body(body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path} as a rep");
    }
    // Nor may mia read another manager's (or anyone's) team calendar.
    let other = server.as_user("PROPFIND", "/dav/calendars/alice/team/", "mia").header("Depth", "0");
    assert_eq!(other.send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // The team's events: alice's, as alice's calendar shows them, with her name; bob's are not in it.
    let mut held = BTreeMap::new();
    let (token, _) = sync(&server, "", &mut held).await;
    let alice = event_ids(&server, "alice").await;
    assert!(!alice.is_empty());
    assert_eq!(held.keys().cloned().collect::<Vec<_>>(), names(&alice));
    let linked: i64 = server
        .db
        .count("SELECT MIN(a.id) FROM activities a JOIN reps r ON r.id = a.rep_id WHERE r.login = 'alice' AND a.client_id IS NOT NULL AND a.kind <> 'task' AND a.status <> 'cancelled'")
        .await;
    let client = server
        .db
        .text(&format!("SELECT c.name FROM clients c JOIN activities a ON a.client_id = c.id WHERE a.id = {linked}"))
        .await
        .unwrap();
    let event = server.as_user("GET", &format!("{TEAM}{}", member(linked)), "mia").send().await.unwrap();
    assert_eq!(event.status(), StatusCode::OK);
    let etag = event.headers()["etag"].to_str().unwrap().to_string();
    let text = event.text().await.unwrap();
    let unfolded = text.replace("\r\n ", "");
    assert!(unfolded.contains("SUMMARY:Alice Martin: "), "{text}");
    assert!(unfolded.contains(&client.replace(',', "\\,")), "the client's name: {text}");
    assert!(unfolded.contains("X-CRM-REP;X-CRM-NAME=\"Alice Martin\":alice"), "{text}");
    assert!(!text.contains("BEGIN:VALARM"), "{text}");

    // Read-only: PUT (over an event or new), DELETE and PROPPATCH are refused with need-privileges,
    // and nothing changes.
    let before = server.db.text(&format!("SELECT subject FROM activities WHERE id = {linked}")).await;
    let edited = text.replace("SUMMARY:Alice Martin: ", "SUMMARY:Changed by the manager ");
    for (method, path, body) in [
        ("PUT", format!("{TEAM}{}", member(linked)), edited.clone()),
        ("PUT", format!("{TEAM}new-event.ics"), edited.clone()),
        ("DELETE", format!("{TEAM}{}", member(linked)), String::new()),
        (
            "PROPPATCH",
            TEAM.to_string(),
            r#"<propertyupdate xmlns="DAV:"><set><prop><displayname>Mine</displayname></prop></set></propertyupdate>"#
                .to_string(),
        ),
        (
            "PROPPATCH",
            format!("{TEAM}{}", member(linked)),
            r#"<propertyupdate xmlns="DAV:"><set><prop><displayname>Mine</displayname></prop></set></propertyupdate>"#
                .to_string(),
        ),
    ] {
        let response = server
            .as_user(method, &path, "mia")
            .header("Content-Type", if method == "PUT" { "text/calendar" } else { "application/xml" })
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        let error = parse_dav_error(&response.text().await.unwrap());
        assert!(error.preconditions.iter().any(|p| p.is(DAV_NS, "need-privileges")), "{method} {path}: {error:?}");
        assert!(error.message.contains("read-only"), "{method} {path}: {}", error.message);
    }
    assert_eq!(server.db.text(&format!("SELECT subject FROM activities WHERE id = {linked}")).await, before);
    assert_eq!(
        server.db.count(&format!("SELECT COUNT(*) FROM activities WHERE id = {linked} AND status = 'cancelled'")).await,
        0
    );
    let refused = server
        .db
        .count("SELECT COUNT(*) FROM audit_log WHERE action IN ('team.put', 'team.delete') AND outcome = 'refused'")
        .await;
    assert_eq!(refused, 3, "each refused write is audited");
    let again = server.as_user("GET", &format!("{TEAM}{}", member(linked)), "mia").send().await.unwrap();
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);

    // calendar-multiget: each href asked for, a 404 for one that is not the team's.
    let bob_event = event_ids(&server, "bob").await[0];
    let multiget = format!(
        r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{TEAM}{}</D:href><D:href>{TEAM}{}</D:href></C:calendar-multiget>"#,
        member(linked),
        member(bob_event)
    );
    let answer = server.as_user("REPORT", TEAM, "mia").header("Depth", "1").body(multiget).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::MULTI_STATUS);
    let answer = responses(&answer.text().await.unwrap());
    assert_eq!(answer.len(), 2);
    assert_eq!(answer[0].prop("d:getetag"), Some(etag.clone()));
    assert!(answer[0].prop("cal:calendar-data").is_some_and(|data| data.contains("Alice Martin")));
    assert_eq!(answer[1].status(), Some(404));

    // calendar-query with a time range: a new event of alice's in 2031, and nothing else then.
    let ctag = getctag(&server).await;
    server
        .db
        .exec(
            "INSERT INTO activities (uid, href, rep_id, kind, subject, start_at, end_at) SELECT 'far-1', 'far-1.ics', id, \
             'meeting', 'Far meeting', '2031-05-05T09:00:00Z', '2031-05-05T10:00:00Z' FROM reps WHERE login = 'alice'",
        )
        .await;
    server
        .db
        .exec(
            "INSERT INTO activities (uid, href, rep_id, kind, subject, start_at, end_at) SELECT 'far-2', 'far-2.ics', id, \
             'meeting', 'Far meeting of bob', '2031-05-06T09:00:00Z', '2031-05-06T10:00:00Z' FROM reps WHERE login = 'bob'",
        )
        .await;
    let query = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20310501T000000Z" end="20310601T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#;
    let found = server.as_user("REPORT", TEAM, "mia").header("Depth", "1").body(query).send().await.unwrap();
    assert_eq!(found.status(), StatusCode::MULTI_STATUS);
    let found = responses(&found.text().await.unwrap());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].prop("cal:calendar-data").unwrap().contains("SUMMARY:Alice Martin: Far meeting"));
    // ... and the sync that follows brings exactly that event (bob's is not the team's), with a
    // new CTag.
    let (token_after, changed) = sync(&server, &token, &mut held).await;
    assert_eq!(changed, 1);
    assert_ne!(token_after, token);
    assert_ne!(getctag(&server).await, ctag);
    server.stop().await;
}

async fn the_team_calendar_follows_activities_membership_and_the_manager(backend: Backend) {
    let server = server(backend).await;
    let mut held = BTreeMap::new();
    let (mut token, _) = sync(&server, "", &mut held).await;
    let (alice, bob) = (event_ids(&server, "alice").await, event_ids(&server, "bob").await);

    // A change to a team rep's event changes that member alone.
    server.db.exec(&format!("UPDATE activities SET subject = 'Renamed' WHERE id = {}", alice[0])).await;
    let (next, changed) = sync(&server, &token, &mut held).await;
    assert_eq!(changed, 1);
    token = next;
    // A change to another rep's event (bob is in no team) leaves the token: nothing to fetch.
    server.db.exec(&format!("UPDATE activities SET subject = 'Renamed' WHERE id = {}", bob[0])).await;
    let ctag = getctag(&server).await;
    assert_eq!(sync(&server, &token, &mut held).await, (token.clone(), 0));
    assert_eq!(getctag(&server).await, ctag);

    // bob joins the team (through the admin API): his events come in.
    let joined = server
        .as_user("POST", "/admin/api/reps/bob/team", "admin")
        .json(&serde_json::json!({ "team": "North" }))
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), StatusCode::OK);
    let (next, _) = sync(&server, &token, &mut held).await;
    token = next;
    let both: Vec<i64> = alice.iter().chain(&bob).copied().collect();
    assert_eq!(held.keys().cloned().collect::<Vec<_>>(), names(&both));
    // alice leaves it: hers leave the calendar (deletions in the sync).
    server.db.exec("UPDATE reps SET team_id = NULL WHERE login = 'alice'").await;
    let (next, _) = sync(&server, &token, &mut held).await;
    token = next;
    assert_eq!(held.keys().cloned().collect::<Vec<_>>(), names(&bob));
    // The team gets another manager: mia's team calendar is empty; back to mia: bob's again.
    server.db.exec("UPDATE teams SET manager_id = NULL WHERE name = 'North'").await;
    let (next, _) = sync(&server, &token, &mut held).await;
    token = next;
    assert!(held.is_empty(), "{held:?}");
    server
        .db
        .exec("UPDATE teams SET manager_id = (SELECT id FROM reps WHERE login = 'mia') WHERE name = 'North'")
        .await;
    sync(&server, &token, &mut held).await;
    assert_eq!(held.keys().cloned().collect::<Vec<_>>(), names(&bob));
    // Every team change is in the change log (migration 0014), naming the managers concerned.
    // (Made: 1; manager taken away, then back: 2 each, the new and the former manager.)
    assert_eq!(server.db.count("SELECT COUNT(*) FROM change_log WHERE entity = 'teams'").await, 5);
    // mia stops being a manager: no team calendar any more.
    server.db.exec("UPDATE reps SET role = 'rep' WHERE login = 'mia'").await;
    let gone = server.as_user("PROPFIND", TEAM, "mia").header("Depth", "0").send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

/// Feed clients ask with If-Modified-Since: a change of a team's manager changes a manager's feed
/// (it shows the team's activities), so it must move the feed's Last-Modified.
async fn a_change_of_manager_is_seen_by_feed_clients(backend: Backend) {
    let server = server(backend).await;
    let (_, token) = crmdav::crm::credentials::create_token(
        &server.db.store,
        "mia",
        crmdav::crm::credentials::TokenKind::Feed,
        "mia's feed",
    )
    .await
    .unwrap();
    let path = format!("/feeds/{token}/activities.ics");
    // HTTP dates have whole seconds: Last-Modified is given once the second of the last change is over.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let first = server.request("GET", &path).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let last_modified = first.headers()["last-modified"].to_str().unwrap().to_string();
    let unchanged = server.request("GET", &path).header("If-Modified-Since", &last_modified).send().await.unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    server.db.exec("UPDATE teams SET manager_id = NULL WHERE name = 'North'").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let changed = server.request("GET", &path).header("If-Modified-Since", &last_modified).send().await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK, "the manager change is newer than {last_modified}");
    server.stop().await;
}

on_both_databases!(
    a_manager_lists_and_reads_the_team_calendar_and_cannot_write_it,
    the_team_calendar_follows_activities_membership_and_the_manager,
    a_change_of_manager_is_seen_by_feed_clients
);
