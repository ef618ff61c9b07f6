//! The web console over HTTP, on SQLite and PostgreSQL: login (wrong and right), the session
//! cookie's flags, CSRF refusals, the Apple profile and its token, a disabled rep cut off, role
//! checks, and the JSON API behind the console (rule preview, teams, roles, audit).
//! The same flows in a real browser: tests/interop/test_console_browser.py.

mod common;

use common::{Backend, TestServer};
use crmdav::config::Config;
use crmdav::crm::reps;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn server(backend: Backend) -> TestServer {
    let mut config = Config::default();
    config.auth.max_failures = 1_000;
    let server = TestServer::with_config(backend, config, None).await;
    for (login, role) in [("alice", "rep"), ("bob", "rep"), ("mia", "manager"), ("admin", "admin")] {
        reps::add(&server.db.store, login, login, "", role, "demo").await.unwrap();
    }
    server
        .db
        .exec(
            "INSERT INTO clients (code, name, status, territory, account_manager_id) VALUES \
             ('N1', 'Client N1', 'active', 'North', (SELECT id FROM reps WHERE login = 'alice')), \
             ('N2', 'Client N2', 'active', 'North', (SELECT id FROM reps WHERE login = 'bob')), \
             ('S1', 'Client S1', 'active', 'South', NULL)",
        )
        .await;
    server
}

/// The value of `name="NAME" value="..."` in a page.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// Logs in through the form; returns the session cookie (`crmdav_session=...`) and the CSRF token.
async fn log_in(server: &TestServer, login: &str, password: &str) -> Result<(String, String), StatusCode> {
    let form = server.request("GET", "/ui/login").send().await.unwrap();
    let login_cookie = cookie_of(&form, "crmdav_login").expect("login form cookie");
    let login_cookie = login_cookie.split(';').next().unwrap().to_string();
    let csrf = field(&form.text().await.unwrap(), "csrf");
    let response = server
        .request("POST", "/ui/login")
        .header("cookie", &login_cookie)
        .form(&[("csrf", csrf.as_str()), ("login", login), ("password", password)])
        .send()
        .await
        .unwrap();
    if response.status() != StatusCode::SEE_OTHER {
        return Err(response.status());
    }
    let session = cookie_of(&response, "crmdav_session").expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui/"] {
        assert!(session.contains(flag), "{flag} in {session}");
    }
    let session = session.split(';').next().unwrap().to_string();
    let page = server.request("GET", "/ui/devices").header("cookie", &session).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csrf = field(&page.text().await.unwrap(), "csrf");
    Ok((session, csrf))
}

async fn token_count(server: &TestServer, login: &str) -> i64 {
    server
        .db
        .count(&format!(
            "SELECT COUNT(*) FROM credentials c JOIN reps r ON r.id = c.rep_id WHERE r.login = '{login}' AND c.kind <> 'password'"
        ))
        .await
}

async fn login_profile_csrf_and_disabling(backend: Backend) {
    let server = server(backend).await;
    // A browser at / goes to the console, which asks it to log in; a DAV client is challenged.
    let root = server.request("GET", "/").header("accept", "text/html").send().await.unwrap();
    assert_eq!((root.status(), root.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, "/ui/"));
    let dav = server.request("GET", "/").send().await.unwrap();
    assert_eq!(dav.status(), StatusCode::UNAUTHORIZED);
    let page = server.request("GET", "/ui/devices").send().await.unwrap();
    assert_eq!(page.headers()["location"], "/ui/login");

    assert_eq!(log_in(&server, "alice", "wrong").await, Err(StatusCode::UNAUTHORIZED));
    let (session, csrf) = log_in(&server, "alice", "demo").await.unwrap();

    // A form without the session's token changes nothing.
    let before = token_count(&server, "alice").await;
    for token in ["", "forged"] {
        let refused = server
            .request("POST", "/ui/devices/token")
            .header("cookie", &session)
            .form(&[("csrf", token), ("device", "Laptop")])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.text().await.unwrap().contains("CSRF check failed"));
    }
    assert_eq!(token_count(&server, "alice").await, before);

    // The Apple profile: both accounts, one fresh token labelled with the device.
    let profile = server
        .request("POST", "/ui/devices/profile")
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str()), ("device", "Work iPhone")])
        .send()
        .await
        .unwrap();
    assert_eq!(profile.status(), StatusCode::OK);
    assert_eq!(profile.headers()["content-type"], "application/x-apple-aspen-config");
    let plist = plist::Value::from_reader_xml(profile.bytes().await.unwrap().as_ref()).unwrap();
    let payloads = plist.as_dictionary().unwrap()["PayloadContent"].as_array().unwrap().clone();
    let field_of = |i: usize, key: &str| payloads[i].as_dictionary().unwrap()[key].as_string().unwrap().to_string();
    assert_eq!(field_of(0, "PayloadType"), "com.apple.caldav.account");
    assert_eq!(field_of(1, "PayloadType"), "com.apple.carddav.account");
    let token = field_of(0, "CalDAVPassword");
    assert_eq!(field_of(1, "CardDAVPassword"), token);
    assert_eq!(
        server.db.text("SELECT label FROM credentials WHERE kind = 'app-token' ORDER BY id DESC LIMIT 1").await,
        Some("Work iPhone".into())
    );
    let propfind =
        || server.request("PROPFIND", "/dav/principals/alice/").basic_auth("alice", Some(&token)).header("depth", "0");
    assert_eq!(propfind().send().await.unwrap().status(), StatusCode::MULTI_STATUS);

    // Revoking one's own token from the console cuts that device off; another rep's is not found.
    let id = server.db.count("SELECT MAX(id) FROM credentials WHERE kind = 'app-token'").await;
    let bob_token = crmdav::crm::credentials::create_token(
        &server.db.store,
        "bob",
        crmdav::crm::credentials::TokenKind::App,
        "bob's phone",
    )
    .await
    .unwrap();
    let revoke = |id: i64| {
        server
            .request("POST", &format!("/ui/tokens/{id}/revoke"))
            .header("cookie", &session)
            .form(&[("csrf", csrf.as_str())])
    };
    assert_eq!(revoke(bob_token.0).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(revoke(id).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(propfind().send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // The same through the JSON API, which any rep may use for their own tokens only.
    let made =
        server.as_user("POST", "/admin/api/me/tokens", "alice").json(&json!({"label": "Tablet"})).send().await.unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let made: Value = made.json().await.unwrap();
    assert!(made["token"].as_str().unwrap().starts_with("crmdav_"));
    let mine: Value =
        server.as_user("GET", "/admin/api/me/tokens", "alice").send().await.unwrap().json().await.unwrap();
    assert!(mine.as_array().unwrap().iter().all(|t| t["login"] == "alice"));
    assert!(mine.as_array().unwrap().iter().any(|t| t["label"] == "Tablet"));
    let others =
        server.as_user("DELETE", &format!("/admin/api/me/tokens/{}", bob_token.0), "alice").send().await.unwrap();
    assert_eq!(others.status(), StatusCode::NOT_FOUND);
    let own = server.as_user("DELETE", &format!("/admin/api/me/tokens/{}", made["id"]), "alice").send().await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(
        server.as_user("GET", "/admin/api/rules", "alice").send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    // A rep is refused the admin and manager pages.
    for page in ["/ui/admin/reps", "/ui/admin/rules", "/ui/dashboard", "/ui/team"] {
        let refused = server.request("GET", page).header("cookie", &session).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{page}");
    }

    // Disabling the rep ends the session at once; a token is no console password.
    server.as_user("POST", "/admin/api/reps/alice/disable", "admin").send().await.unwrap();
    let cut = server.request("GET", "/ui/devices").header("cookie", &session).send().await.unwrap();
    assert_eq!(cut.headers()["location"], "/ui/login");
    assert_eq!(log_in(&server, "bob", &bob_token.1).await, Err(StatusCode::UNAUTHORIZED));

    // Logout closes the session server-side.
    let (session, csrf) = log_in(&server, "bob", "demo").await.unwrap();
    let out = server
        .request("POST", "/ui/logout")
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(cookie_of(&out, "crmdav_session").unwrap().contains("Max-Age=0"));
    let after = server.request("GET", "/ui/devices").header("cookie", &session).send().await.unwrap();
    assert_eq!(after.headers()["location"], "/ui/login");
    server.stop().await;
}

async fn admin_api_behind_the_console(backend: Backend) {
    let server = server(backend).await;
    let api = |method: &str, path: &str, body: Option<Value>| {
        let request = server.as_user(method, path, "admin");
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
    };
    let rules_before = server.db.count("SELECT COUNT(*) FROM visibility_rules").await;

    // A typo is flagged: the rule matches nothing.
    let typo =
        api("POST", "/admin/api/rules/preview", Some(json!({"effect": "allow", "rep": "bob", "territory": "Nort"})))
            .send()
            .await
            .unwrap();
    assert_eq!(typo.status(), StatusCode::OK);
    let typo: Value = typo.json().await.unwrap();
    assert_eq!(typo["matched_clients"], 0);
    assert!(typo["warning"].as_str().unwrap().contains("matches no client"));

    // The North rule for bob adds N1 to bob's view (N2 he sees already), nothing to alice's.
    let north: Value =
        api("POST", "/admin/api/rules/preview", Some(json!({"effect": "allow", "rep": "bob", "territory": "North"})))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(north["matched_clients"], 2);
    assert!(north["warning"].is_null());
    let rep = |login: &str| north["reps"].as_array().unwrap().iter().find(|r| r["login"] == login).unwrap().clone();
    assert_eq!((rep("bob")["before"].clone(), rep("bob")["after"].clone()), (json!(1), json!(2)));
    assert_eq!(rep("bob")["added"], json!([{"code": "N1", "name": "Client N1"}]));
    assert_eq!(rep("alice")["added"], json!([]));
    // A deny shows what it removes.
    let deny: Value = api("POST", "/admin/api/rules/preview", Some(json!({"effect": "deny", "client": "N1"})))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        deny["reps"].as_array().unwrap().iter().find(|r| r["login"] == "alice").unwrap()["removed"][0]["code"],
        "N1"
    );
    // A preview stores nothing and is not audited.
    assert_eq!(server.db.count("SELECT COUNT(*) FROM visibility_rules").await, rules_before);
    let bad = api("POST", "/admin/api/rules/preview", Some(json!({"effect": "allow"}))).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // Teams and roles.
    let team = api("POST", "/admin/api/teams", Some(json!({"name": "North", "manager": "mia"}))).send().await.unwrap();
    assert_eq!(team.status(), StatusCode::CREATED);
    let not_manager =
        api("POST", "/admin/api/teams", Some(json!({"name": "South", "manager": "bob"}))).send().await.unwrap();
    assert_eq!(not_manager.status(), StatusCode::BAD_REQUEST);
    assert!(not_manager.text().await.unwrap().contains("role manager"));
    api("POST", "/admin/api/teams", Some(json!({"name": "South"}))).send().await.unwrap();
    let joined = api("POST", "/admin/api/reps/bob/team", Some(json!({"team": "North"}))).send().await.unwrap();
    assert_eq!(joined.status(), StatusCode::OK);
    assert_eq!(joined.json::<Value>().await.unwrap()["team"], "North");
    let role = api("POST", "/admin/api/reps/alice/role", Some(json!({"role": "boss"}))).send().await.unwrap();
    assert_eq!(role.status(), StatusCode::BAD_REQUEST);
    let own = api("POST", "/admin/api/reps/admin/role", Some(json!({"role": "rep"}))).send().await.unwrap();
    assert_eq!(own.status(), StatusCode::CONFLICT);
    let reps: Value = api("GET", "/admin/api/reps", None).send().await.unwrap().json().await.unwrap();
    assert_eq!(reps.as_array().unwrap().iter().find(|r| r["login"] == "bob").unwrap()["team"], "North");

    // The manager's feed shows the activities of their team's reps (bob), not of others (alice).
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let later = (chrono::Utc::now() + chrono::Duration::days(1) + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    for (rep, subject) in [("bob", "Team visit by bob"), ("alice", "Visit by alice")] {
        server
            .db
            .exec(&format!(
                "INSERT INTO activities (uid, href, rep_id, kind, subject, start_at, end_at) VALUES                  ('{rep}-1', '{rep}-1.ics', (SELECT id FROM reps WHERE login = '{rep}'), 'visit', '{subject}', '{tomorrow}', '{later}')"
            ))
            .await;
    }
    let (_, feed_token) = crmdav::crm::credentials::create_token(
        &server.db.store,
        "mia",
        crmdav::crm::credentials::TokenKind::Feed,
        "mia's feed",
    )
    .await
    .unwrap();
    let feed = server.request("GET", &format!("/feeds/{feed_token}/activities.ics")).send().await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    let feed = feed.text().await.unwrap();
    assert!(feed.contains("Team visit by bob"), "{feed}");
    assert!(!feed.contains("Visit by alice"));

    // The manager sees their team, not another one, and reports of their team's reps only.
    let (session, _) = log_in(&server, "mia", "demo").await.unwrap();
    let get = |path: &str| server.request("GET", path).header("cookie", &session).send();
    let own_team = get("/ui/team").await.unwrap();
    assert_eq!(own_team.status(), StatusCode::OK);
    assert!(own_team.text().await.unwrap().contains("bob"));
    assert_eq!(get("/ui/team?team=South").await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(get("/ui/dashboard?rep=alice").await.unwrap().status(), StatusCode::FORBIDDEN);
    let dashboard = get("/ui/dashboard?rep=bob").await.unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(dashboard.text().await.unwrap().matches("<svg").count() >= crmdav::reports::Kind::ALL.len());
    let csv = get("/ui/reports/activity-results.csv?rep=bob").await.unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(csv.text().await.unwrap().starts_with("rep,"));
    assert_eq!(get("/ui/admin/audit").await.unwrap().status(), StatusCode::FORBIDDEN);

    // An admin hands a rep a profile (or a QR code) with a new token of the rep's.
    let (admin_session, admin_csrf) = log_in(&server, "admin", "demo").await.unwrap();
    let hand_over = |kind: &str| {
        server
            .request("POST", &format!("/ui/admin/reps/bob/{kind}"))
            .header("cookie", &admin_session)
            .form(&[("csrf", admin_csrf.as_str())])
            .send()
    };
    let profile = hand_over("profile").await.unwrap();
    assert_eq!(profile.headers()["content-type"], "application/x-apple-aspen-config");
    let plist = plist::Value::from_reader_xml(profile.bytes().await.unwrap().as_ref()).unwrap();
    let caldav =
        plist.as_dictionary().unwrap()["PayloadContent"].as_array().unwrap()[0].as_dictionary().unwrap().clone();
    assert_eq!(caldav["CalDAVUsername"].as_string(), Some("bob"));
    let token = caldav["CalDAVPassword"].as_string().unwrap().to_string();
    let bob_device =
        server.request("PROPFIND", "/dav/principals/bob/").basic_auth("bob", Some(&token)).header("depth", "0");
    assert_eq!(bob_device.send().await.unwrap().status(), StatusCode::MULTI_STATUS);
    let qr = hand_over("qr").await.unwrap().text().await.unwrap();
    assert!(qr.contains("<svg") && qr.contains("davx5://bob:crmdav"));
    assert_eq!(
        server
            .db
            .count("SELECT COUNT(*) FROM credentials WHERE label = 'set up by admin' AND kind = 'app-token'")
            .await,
        2
    );

    // The audit log, filtered by rep, outcome and date.
    let audit: Value =
        api("GET", "/admin/api/audit?rep=admin&outcome=refused", None).send().await.unwrap().json().await.unwrap();
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"rep.role") && actions.contains(&"team.create"), "{actions:?}");
    assert!(audit.as_array().unwrap().iter().all(|a| a["outcome"] == "refused" && a["login"] == "admin"));
    let future: Value =
        api("GET", "/admin/api/audit?from=2999-01-01", None).send().await.unwrap().json().await.unwrap();
    assert_eq!(future, json!([]));
    let bad_date = api("GET", "/admin/api/audit?from=yesterday", None).send().await.unwrap();
    assert_eq!(bad_date.status(), StatusCode::BAD_REQUEST);
    server.stop().await;
}

/// Role and team changes go one way (`teams::assign`), each with an audit row holding the value
/// before and after, written with the change; the console's audit page shows them as old → new.
async fn role_and_team_changes_are_audited_old_to_new(backend: Backend) {
    let server = server(backend).await;
    let api = |path: &str, body: Value| server.as_user("POST", path, "admin").json(&body);
    server.db.exec("INSERT INTO teams (name) VALUES ('North'), ('South')").await;
    for (path, body) in [
        ("/admin/api/reps/alice/role", json!({"role": "manager"})),
        ("/admin/api/reps/bob/team", json!({"team": "North"})),
        ("/admin/api/reps/bob/team", json!({"team": "South"})),
        ("/admin/api/reps/bob/team", json!({"team": null})),
    ] {
        assert_eq!(api(path, body).send().await.unwrap().status(), StatusCode::OK, "{path}");
    }
    // A refused change changes nothing and records the refusal, not a change.
    assert_eq!(
        api("/admin/api/reps/bob/team", json!({"team": "Nowhere"})).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api("/admin/api/reps/nobody/role", json!({"role": "rep"})).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let rows: Value =
        server.as_user("GET", "/admin/api/audit?outcome=ok", "admin").send().await.unwrap().json().await.unwrap();
    let changes: Vec<(String, String, String, String)> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["action"] == "rep.role" || row["action"] == "rep.team")
        .map(|row| {
            assert_eq!(row["login"], "admin", "who: {row}");
            let text = |name: &str| row[name].as_str().unwrap_or("").to_string();
            (text("action"), text("target"), text("before_data"), text("after_data"))
        })
        .collect();
    let change = |action: &str, target: &str, before: &str, after: &str| {
        (action.to_string(), target.to_string(), before.to_string(), after.to_string())
    };
    // Newest first.
    assert_eq!(
        changes,
        vec![
            change("rep.team", "rep:bob", r#"{"team":"South"}"#, r#"{"team":null}"#),
            change("rep.team", "rep:bob", r#"{"team":"North"}"#, r#"{"team":"South"}"#),
            change("rep.team", "rep:bob", r#"{"team":null}"#, r#"{"team":"North"}"#),
            change("rep.role", "rep:alice", r#"{"role":"rep"}"#, r#"{"role":"manager"}"#),
        ]
    );
    assert_eq!(server.db.text("SELECT role FROM reps WHERE login = 'alice'").await.as_deref(), Some("manager"));
    assert_eq!(server.db.count("SELECT COUNT(*) FROM reps WHERE login = 'bob' AND team_id IS NULL").await, 1);
    let refused =
        server.db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'rep.team' AND outcome = 'refused'").await;
    assert_eq!(refused, 1);
    // The console's audit page shows who changed what, old → new.
    let (session, _) = log_in(&server, "admin", "demo").await.unwrap();
    let page = server.request("GET", "/ui/admin/audit?outcome=ok").header("cookie", &session).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("rep.role") && page.contains("rep:alice"), "{page}");
    assert!(page.contains("{&quot;role&quot;:&quot;rep&quot;} → {&quot;role&quot;:&quot;manager&quot;}"), "{page}");
    server.stop().await;
}

/// A manager's dashboard and reports cover the reps of the teams they lead: another team's rep is
/// refused by name (API and page), and "all reps" lists only their own (admins see everyone).
async fn a_manager_sees_only_their_teams_figures(backend: Backend) {
    let server = server(backend).await;
    server.db.exec("INSERT INTO teams (name, manager_id) SELECT 'North', id FROM reps WHERE login = 'mia'").await;
    server.db.exec("INSERT INTO teams (name) VALUES ('South')").await;
    server.db.exec("UPDATE reps SET team_id = (SELECT id FROM teams WHERE name = 'North') WHERE login = 'bob'").await;
    server.db.exec("UPDATE reps SET team_id = (SELECT id FROM teams WHERE name = 'South') WHERE login = 'alice'").await;
    // Each rep has seen a client this year: alice N1, bob N2.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for (rep, client) in [("alice", "N1"), ("bob", "N2")] {
        server
            .db
            .exec(&format!(
                "INSERT INTO activities (uid, href, rep_id, client_id, kind, subject, start_at, end_at, status, completed_at) \
                 SELECT '{rep}-seen', '{rep}-seen.ics', r.id, c.id, 'visit', 'Visit', '{yesterday}', '{yesterday}', 'completed', '{yesterday}' \
                 FROM reps r, clients c WHERE r.login = '{rep}' AND c.code = '{client}'"
            ))
            .await;
    }
    let report = |login: &str, query: &str| {
        server.as_user("GET", &format!("/admin/api/reports/clients-seen-monthly?{query}"), login).send()
    };
    // Another team's rep, by name: refused.
    let other = report("mia", "rep=alice").await.unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    assert!(other.text().await.unwrap().contains("not in a team you manage"));
    // All reps, for mia: bob alone, in every compare mode and in CSV.
    for query in ["", "compare=reps", "compare=years"] {
        let mine: Value = report("mia", query).await.unwrap().json().await.unwrap();
        let text = mine.to_string();
        assert!(text.contains("bob") && !text.contains("alice"), "mia ?{query}: {text}");
    }
    let csv = report("mia", "format=csv").await.unwrap().text().await.unwrap();
    assert!(csv.contains("bob") && !csv.contains("alice"), "{csv}");
    let untouched: Value = server
        .as_user("GET", "/admin/api/reports/untouched-clients", "mia")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!untouched.to_string().contains("alice"), "{untouched}");
    // The admin sees both.
    let all: Value = report("admin", "").await.unwrap().json().await.unwrap();
    assert!(all.to_string().contains("alice") && all.to_string().contains("bob"));
    // The console: the dashboard lists bob, not alice; alice's figures by URL are refused.
    let (session, _) = log_in(&server, "mia", "demo").await.unwrap();
    let page = |path: &str| server.request("GET", path).header("cookie", &session).send();
    let dashboard = page("/ui/dashboard").await.unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    let dashboard = dashboard.text().await.unwrap();
    assert!(dashboard.contains("value=\"bob\"") && !dashboard.contains("alice"), "{dashboard}");
    assert_eq!(page("/ui/dashboard?rep=alice").await.unwrap().status(), StatusCode::FORBIDDEN);
    let download = page("/ui/reports/clients-seen-monthly.csv").await.unwrap().text().await.unwrap();
    assert!(download.contains("bob") && !download.contains("alice"), "{download}");
    assert_eq!(page("/ui/reports/clients-seen-monthly.csv?rep=alice").await.unwrap().status(), StatusCode::FORBIDDEN);
    server.stop().await;
}

/// `web.session_hours` sets how long a console login lasts: the cookie's Max-Age and the session's
/// expiry in the database.
async fn the_session_lifetime_is_configured(backend: Backend) {
    let mut config = Config::default();
    config.web.session_hours = 2;
    let server = TestServer::with_config(backend, config, None).await;
    reps::add(&server.db.store, "alice", "alice", "", "rep", "demo").await.unwrap();
    let form = server.request("GET", "/ui/login").send().await.unwrap();
    let login_cookie = cookie_of(&form, "crmdav_login").unwrap().split(';').next().unwrap().to_string();
    let csrf = field(&form.text().await.unwrap(), "csrf");
    let response = server
        .request("POST", "/ui/login")
        .header("cookie", &login_cookie)
        .form(&[("csrf", csrf.as_str()), ("login", "alice"), ("password", "demo")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_of(&response, "crmdav_session").unwrap();
    assert!(cookie.contains("Max-Age=7200"), "{cookie}");
    let expires = server.db.text("SELECT CAST(expires_at AS TEXT) FROM web_sessions").await.unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(&expires.replace(' ', "T").replace("+00", "+00:00"))
        .unwrap_or_else(|e| panic!("{expires}: {e}"));
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(left > chrono::Duration::minutes(110) && left <= chrono::Duration::hours(2), "{left}");
    server.stop().await;
}

on_both_databases!(
    login_profile_csrf_and_disabling,
    admin_api_behind_the_console,
    role_and_team_changes_are_audited_old_to_new,
    a_manager_sees_only_their_teams_figures,
    the_session_lifetime_is_configured
);
