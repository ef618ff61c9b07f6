//! Visibility rules and the admin API: rule combinations (allow/deny, everyone vs one rep, status
//! sets), the preview against the address book, admin-only access, immediate token revocation,
//! input errors that name their field, and the audit trail.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestServer};
use crmdav::config::Config;
use crmdav::crm::rules::{self, Actor, Effect, NewRule, Rule};
use crmdav::crm::{CrmError, addressbook, reps};
use crmdav::store::Store;
use serde_json::{Value, json};

/// Reps (password "demo") and six clients whose visibility every test below can work out by hand.
/// The default rule (migration 0003) lets each rep see the prospects and active clients they manage.
async fn server(backend: Backend) -> TestServer {
    let mut config = Config::default();
    // Some tests fail logins on purpose; throttling is tested elsewhere.
    config.auth.max_failures = 1_000;
    let server = TestServer::with_config(backend, config, None).await;
    for (login, role) in [("alice", "rep"), ("bob", "rep"), ("carol", "rep"), ("mia", "manager"), ("admin", "admin")] {
        reps::add(&server.db.store, login, login, "", role, "demo").await.unwrap();
    }
    server
        .db
        .exec(
            "INSERT INTO clients (code, name, status, territory, category, account_manager_id) VALUES \
             ('N1', 'Client N1', 'active',   'North', 'Retail',      (SELECT id FROM reps WHERE login = 'alice')), \
             ('N2', 'Client N2', 'prospect', 'North', 'Retail',      (SELECT id FROM reps WHERE login = 'bob')), \
             ('N3', 'Client N3', 'closed',   'North', 'Industry',    NULL), \
             ('S1', 'Client S1', 'active',   'South', 'Retail',      (SELECT id FROM reps WHERE login = 'alice')), \
             ('S2', 'Client S2', 'inactive', 'South', 'Industry',    (SELECT id FROM reps WHERE login = 'bob')), \
             ('W1', 'Client W1', 'active',   'West',  'Key account', (SELECT id FROM reps WHERE login = 'carol'))",
        )
        .await;
    server
}

async fn admin_actor(store: &Store) -> Actor<'static> {
    Actor { rep_id: Some(reps::get(store, "admin").await.unwrap().id), device: "test" }
}

fn new_rule(effect: Effect, f: impl FnOnce(&mut NewRule)) -> NewRule {
    let mut rule = NewRule { effect: Some(effect), ..NewRule::default() };
    f(&mut rule);
    rule
}

/// The preview of `login` as (client code, rule id), checked against what the rep's address book
/// holds: the preview must be exactly the address book.
async fn preview(store: &Store, login: &str) -> Vec<(String, i64)> {
    let visible = rules::visible_clients(store, login).await.unwrap();
    let rep = reps::get(store, login).await.unwrap();
    let book: BTreeSet<String> = addressbook::cards(store, rep.id, None, chrono::Utc::now().date_naive())
        .await
        .unwrap()
        .into_iter()
        .map(|card| card.client.code.clone())
        .collect();
    let previewed: BTreeSet<String> = visible.iter().map(|c| c.code.clone()).collect();
    assert_eq!(previewed, book, "preview of {login} = its address book");
    assert_eq!(previewed.len(), visible.len(), "each client once");
    let mut pairs: Vec<(String, i64)> = visible.into_iter().map(|c| (c.code, c.rule_id)).collect();
    pairs.sort();
    pairs
}

fn expect(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    pairs.iter().map(|(code, id)| (code.to_string(), *id)).collect()
}

async fn rule_combinations_decide_who_sees_what(backend: Backend) {
    let server = server(backend).await;
    let store = &server.db.store;
    let actor = admin_actor(store).await;
    let existing = rules::list(store).await.unwrap();
    assert_eq!(existing.len(), 1, "the default rule");
    let default = existing[0].id;
    assert_eq!(preview(store, "alice").await, expect(&[("N1", default), ("S1", default)]));
    assert_eq!(preview(store, "bob").await, expect(&[("N2", default)]));
    assert_eq!(preview(store, "carol").await, expect(&[("W1", default)]));

    // Allow by territory, for everyone.
    let north =
        rules::create(store, actor, &new_rule(Effect::Allow, |r| r.territory = Some("North".into()))).await.unwrap();
    assert_eq!(north.position, 2, "appended after the default rule");
    assert_eq!(
        preview(store, "alice").await,
        expect(&[("N1", default), ("N2", north.id), ("N3", north.id), ("S1", default)])
    );
    assert_eq!(preview(store, "bob").await, expect(&[("N1", north.id), ("N2", default), ("N3", north.id)]));

    // Deny one client for one rep: only that rep loses it, whatever allows it.
    let deny = rules::create(
        store,
        actor,
        &new_rule(Effect::Deny, |r| {
            r.rep = Some("alice".into());
            r.client = Some("N3".into());
        }),
    )
    .await
    .unwrap();
    assert_eq!(preview(store, "alice").await, expect(&[("N1", default), ("N2", north.id), ("S1", default)]));
    assert_eq!(
        preview(store, "bob").await,
        expect(&[("N1", north.id), ("N2", default), ("N3", north.id)]),
        "a rule for alice does not touch bob"
    );

    // Order decides which allow rule is named, never whether deny wins.
    let reordered = rules::reorder(store, actor, &[deny.id, north.id, default]).await.unwrap();
    assert_eq!(
        reordered.iter().map(|r| (r.id, r.position)).collect::<Vec<_>>(),
        vec![(deny.id, 1), (north.id, 2), (default, 3)]
    );
    assert_eq!(preview(store, "alice").await, expect(&[("N1", north.id), ("N2", north.id), ("S1", default)]));

    // A status set, for one rep.
    let dormant = rules::create(
        store,
        actor,
        &new_rule(Effect::Allow, |r| {
            r.rep = Some("carol".into());
            r.statuses = Some(vec!["closed".into(), "inactive".into()]);
        }),
    )
    .await
    .unwrap();
    assert_eq!(dormant.statuses, Some(vec!["inactive".into(), "closed".into()]));
    assert_eq!(
        preview(store, "carol").await,
        expect(&[("N1", north.id), ("N2", north.id), ("N3", north.id), ("S2", dormant.id), ("W1", default)])
    );
    assert!(!preview(store, "bob").await.iter().any(|(code, _)| code == "S2"));

    // Deny for everyone on a category beats the account-manager allow.
    rules::create(store, actor, &new_rule(Effect::Deny, |r| r.category = Some("Key account".into()))).await.unwrap();
    assert!(!preview(store, "carol").await.iter().any(|(code, _)| code == "W1"));

    // Deleting the territory rule takes back what only it allowed.
    let deleted = rules::delete(store, actor, north.id).await.unwrap();
    assert_eq!(deleted.territory.as_deref(), Some("North"));
    assert_eq!(preview(store, "alice").await, expect(&[("N1", default), ("S1", default)]));
    assert_eq!(preview(store, "bob").await, expect(&[("N2", default)]));
    assert_eq!(preview(store, "carol").await, expect(&[("N3", dormant.id), ("S2", dormant.id)]));
    server.stop().await;
}

fn invalid(result: Result<impl std::fmt::Debug, CrmError>) -> String {
    match result {
        Err(CrmError::Invalid(message)) => message,
        other => panic!("expected an input error, got {other:?}"),
    }
}

async fn rule_changes_are_validated_and_audited(backend: Backend) {
    let server = server(backend).await;
    let store = &server.db.store;
    let actor = admin_actor(store).await;
    let message = invalid(
        rules::create(
            store,
            actor,
            &new_rule(Effect::Allow, |r| {
                r.rep = Some("nobody".into());
                r.territory = Some("North".into());
            }),
        )
        .await,
    );
    assert!(message.starts_with("rep:") && message.contains("nobody"), "{message}");
    let message =
        invalid(rules::create(store, actor, &new_rule(Effect::Deny, |r| r.client = Some("ZZZ".into()))).await);
    assert!(message.starts_with("client:") && message.contains("ZZZ"), "{message}");
    let message = invalid(
        rules::create(store, actor, &new_rule(Effect::Allow, |r| r.statuses = Some(vec!["open".into()]))).await,
    );
    assert!(message.starts_with("statuses:") && message.contains("open"), "{message}");
    let message = invalid(rules::create(store, actor, &new_rule(Effect::Allow, |_| {})).await);
    assert!(message.contains("at least one condition"), "{message}");
    let message =
        invalid(rules::create(store, actor, &NewRule { territory: Some("North".into()), ..NewRule::default() }).await);
    assert!(message.starts_with("effect:"), "{message}");
    assert!(matches!(rules::delete(store, actor, 9_999).await, Err(CrmError::NotFound(_))));
    let default = rules::list(store).await.unwrap()[0].id;
    let message = invalid(rules::reorder(store, actor, &[default, 9_999]).await);
    assert!(message.starts_with("order:") && message.contains("9999"), "{message}");
    assert!(matches!(rules::visible_clients(store, "nobody").await, Err(CrmError::NotFound(_))));
    assert_eq!(rules::list(store).await.unwrap().len(), 1, "refused changes change nothing");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM audit_log").await, 0);

    let rule =
        rules::create(store, actor, &new_rule(Effect::Allow, |r| r.category = Some("Retail".into()))).await.unwrap();
    rules::reorder(store, Actor::CLI, &[rule.id, default]).await.unwrap();
    rules::delete(store, actor, rule.id).await.unwrap();
    let admin_id = actor.rep_id.unwrap();
    for (action, by_admin) in [("rule.create", true), ("rule.reorder", false), ("rule.delete", true)] {
        let sql = format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND outcome = 'ok' AND rep_id {}",
            if by_admin { format!("= {admin_id}") } else { "IS NULL".into() }
        );
        assert_eq!(server.db.count(&sql).await, 1, "{action}");
    }
    let after = server.db.text("SELECT after_data FROM audit_log WHERE action = 'rule.create'").await.unwrap();
    let after: Rule = serde_json::from_str(&after).unwrap();
    assert_eq!(after, rule, "the audit row holds the rule as created");
    server.stop().await;
}

// --- over HTTP ---------------------------------------------------------------------------------

/// The route to `crmdav::http::admin::handle` is added in routes.rs separately: say so plainly
/// instead of failing on a 404 deep in a test.
async fn require_admin_route(server: &TestServer) {
    let response = server.as_user("GET", "/admin/api/reps", "admin").send().await.unwrap();
    let json = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
    assert!(
        response.status() == 200 && json,
        "precondition: /admin/api/ must be routed to http::admin::handle (got {})",
        response.status()
    );
}

/// Sends a request as `login` (password "demo") and returns the status and the JSON body.
async fn call(server: &TestServer, login: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = server.as_user(method, path, login);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
    (status, value)
}

/// A 400 whose message names `field`.
async fn expect_invalid(server: &TestServer, method: &str, path: &str, body: Value, field: &str) {
    let (status, reply) = call(server, "admin", method, path, Some(body.clone())).await;
    let message = reply["error"].as_str().unwrap_or_default();
    assert_eq!(status, 400, "{method} {path} {body}: {reply}");
    assert!(message.contains(field), "{body}: the message {message:?} names {field:?}");
}

const ENDPOINTS: &[(&str, &str)] = &[
    ("GET", "/admin/api/reps"),
    ("POST", "/admin/api/reps"),
    ("POST", "/admin/api/reps/bob/disable"),
    ("POST", "/admin/api/reps/bob/enable"),
    ("POST", "/admin/api/reps/bob/password"),
    ("GET", "/admin/api/reps/bob/tokens"),
    ("POST", "/admin/api/reps/bob/tokens"),
    ("DELETE", "/admin/api/tokens/1"),
    ("GET", "/admin/api/rules"),
    ("POST", "/admin/api/rules"),
    ("DELETE", "/admin/api/rules/1"),
    ("PUT", "/admin/api/rules/order"),
    ("GET", "/admin/api/reps/bob/visible-clients"),
    ("GET", "/admin/api/no-such-thing"),
];

async fn only_admins_reach_the_admin_api(backend: Backend) {
    let server = server(backend).await;
    require_admin_route(&server).await;
    for login in ["alice", "mia"] {
        for (method, path) in ENDPOINTS {
            let body = (*method != "GET" && *method != "DELETE").then(|| json!({ "password": "secret1" }));
            let (status, reply) = call(&server, login, method, path, body).await;
            assert_eq!(status, 403, "{login}: {method} {path}");
            assert!(reply["error"].is_string(), "{reply}");
        }
    }
    assert_eq!(server.request("GET", "/admin/api/reps").send().await.unwrap().status(), 401, "no credentials at all");
    let rep = reps::get(&server.db.store, "bob").await.unwrap();
    assert!(rep.active, "nothing changed");
    assert_eq!(rules::list(&server.db.store).await.unwrap().len(), 1);
    let (status, listed) = call(&server, "admin", "GET", "/admin/api/reps", None).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(5));
    server.stop().await;
}

async fn admins_manage_reps_and_input_errors_name_the_field(backend: Backend) {
    let server = server(backend).await;
    require_admin_route(&server).await;
    let (status, dave) = call(
        &server,
        "admin",
        "POST",
        "/admin/api/reps",
        Some(json!({ "login": "dave", "display_name": "Dave", "password": "secret1" })),
    )
    .await;
    assert_eq!(status, 201, "{dave}");
    assert_eq!(
        (dave["login"].as_str(), dave["role"].as_str(), dave["active"].as_bool()),
        (Some("dave"), Some("rep"), Some(true))
    );
    let (status, _) =
        call(&server, "admin", "POST", "/admin/api/reps", Some(json!({ "login": "dave", "password": "secret1" })))
            .await;
    assert_eq!(status, 409, "duplicate login");

    expect_invalid(
        &server,
        "POST",
        "/admin/api/reps",
        json!({ "login": "bad login!", "password": "secret1" }),
        "login",
    )
    .await;
    expect_invalid(&server, "POST", "/admin/api/reps", json!({ "password": "secret1" }), "login").await;
    expect_invalid(&server, "POST", "/admin/api/reps", json!({ "login": "eve", "password": "x" }), "password").await;
    expect_invalid(
        &server,
        "POST",
        "/admin/api/reps",
        json!({ "login": "eve", "password": "secret1", "role": "boss" }),
        "role",
    )
    .await;
    expect_invalid(&server, "POST", "/admin/api/reps", json!({ "login": 5, "password": "secret1" }), "login").await;
    expect_invalid(
        &server,
        "POST",
        "/admin/api/reps",
        json!({ "login": "eve", "password": "secret1", "nickname": "E" }),
        "nickname",
    )
    .await;
    expect_invalid(&server, "POST", "/admin/api/rules", json!({ "effect": "allow" }), "condition").await;
    expect_invalid(&server, "POST", "/admin/api/rules", json!({ "effect": "maybe", "territory": "North" }), "effect")
        .await;
    expect_invalid(&server, "POST", "/admin/api/rules", json!({ "territory": "North" }), "effect").await;
    expect_invalid(&server, "POST", "/admin/api/rules", json!({ "effect": "allow", "statuses": ["open"] }), "statuses")
        .await;
    expect_invalid(&server, "POST", "/admin/api/rules", json!({ "effect": "allow", "statuses": "active" }), "statuses")
        .await;
    expect_invalid(
        &server,
        "POST",
        "/admin/api/rules",
        json!({ "effect": "allow", "rep": "nobody", "territory": "North" }),
        "rep",
    )
    .await;
    expect_invalid(&server, "POST", "/admin/api/rules", json!({ "effect": "deny", "client": "ZZZ" }), "client").await;
    expect_invalid(&server, "POST", "/admin/api/rules", json!({ "effect": "allow", "teritory": "North" }), "teritory")
        .await;
    expect_invalid(&server, "PUT", "/admin/api/rules/order", json!({ "order": [9999] }), "order").await;
    expect_invalid(&server, "PUT", "/admin/api/rules/order", json!({ "order": "1,2" }), "order").await;
    expect_invalid(&server, "POST", "/admin/api/reps/alice/tokens", json!({ "kind": "bogus" }), "kind").await;
    expect_invalid(&server, "POST", "/admin/api/reps", json!(["dave"]), "object").await;

    let plain = server
        .as_user("POST", "/admin/api/rules", "admin")
        .header("content-type", "text/plain")
        .body("effect=allow")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    let broken = server
        .as_user("POST", "/admin/api/rules", "admin")
        .header("content-type", "application/json")
        .body("{\"effect\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    let wrong = server.as_user("PATCH", "/admin/api/reps", "admin").send().await.unwrap();
    assert_eq!(wrong.status(), 405);
    assert_eq!(wrong.headers()["allow"], "GET, POST");

    for (method, path) in [
        ("POST", "/admin/api/reps/nobody/disable"),
        ("POST", "/admin/api/reps/nobody/enable"),
        ("GET", "/admin/api/reps/nobody/tokens"),
        ("GET", "/admin/api/reps/nobody/visible-clients"),
        ("DELETE", "/admin/api/rules/9999"),
        ("DELETE", "/admin/api/rules/abc"),
        ("DELETE", "/admin/api/tokens/9999"),
        ("GET", "/admin/api/nothing"),
    ] {
        let (status, reply) = call(&server, "admin", method, path, None).await;
        assert_eq!(status, 404, "{method} {path}: {reply}");
    }
    let (status, _) =
        call(&server, "admin", "POST", "/admin/api/reps/nobody/password", Some(json!({ "password": "secret1" }))).await;
    assert_eq!(status, 404);

    // Disable and enable: the rep is cut off and let back in at once. (A 403 from the admin API
    // proves the credentials were accepted.)
    let as_dave = |password: &'static str| {
        let request = server.request("GET", "/admin/api/reps").basic_auth("dave", Some(password));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(as_dave("secret1").await, 403);
    let (status, disabled) = call(&server, "admin", "POST", "/admin/api/reps/dave/disable", None).await;
    assert_eq!((status, disabled["active"].as_bool()), (200, Some(false)));
    assert_eq!(as_dave("secret1").await, 401);
    let (status, enabled) = call(&server, "admin", "POST", "/admin/api/reps/dave/enable", None).await;
    assert_eq!((status, enabled["active"].as_bool()), (200, Some(true)));
    assert_eq!(as_dave("secret1").await, 403);
    let (status, _) = call(&server, "admin", "POST", "/admin/api/reps/admin/disable", None).await;
    assert_eq!(status, 409, "an admin cannot lock themselves out");

    // Password reset: the old password stops working at once.
    let (status, _) =
        call(&server, "admin", "POST", "/admin/api/reps/dave/password", Some(json!({ "password": "newpass" }))).await;
    assert_eq!(status, 200);
    assert_eq!(as_dave("secret1").await, 401);
    assert_eq!(as_dave("newpass").await, 403);

    // Every write is audited under the admin, refused ones too, and no secret is recorded.
    let admin_id = reps::get(&server.db.store, "admin").await.unwrap().id;
    for (action, outcome) in [
        ("rep.create", "ok"),
        ("rep.create", "refused"),
        ("rep.disable", "ok"),
        ("rep.enable", "ok"),
        ("rep.password", "ok"),
        ("rule.create", "refused"),
    ] {
        let n = server
            .db
            .count(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE rep_id = {admin_id} AND action = '{action}' AND outcome = '{outcome}'"
            ))
            .await;
        assert!(n >= 1, "{action} {outcome} audited");
    }
    assert_eq!(
        server
            .db
            .count("SELECT COUNT(*) FROM audit_log WHERE COALESCE(before_data, '') || COALESCE(after_data, '') LIKE '%secret1%' OR COALESCE(before_data, '') || COALESCE(after_data, '') LIKE '%newpass%'")
            .await,
        0
    );
    assert_eq!(
        server.db.count(&format!("SELECT COUNT(*) FROM audit_log WHERE rep_id IS NULL OR rep_id <> {admin_id}")).await,
        0,
        "every API write is recorded under the admin who made it"
    );
    server.stop().await;
}

async fn revoking_a_token_cuts_the_device_off_at_once(backend: Backend) {
    let server = server(backend).await;
    require_admin_route(&server).await;
    let (status, created) = call(
        &server,
        "admin",
        "POST",
        "/admin/api/reps/alice/tokens",
        Some(json!({ "kind": "app", "label": "Alice's phone" })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_i64().unwrap();
    assert!(token.starts_with("crmdav_"));
    assert_eq!(created["kind"], "app-token");
    assert_eq!(created["label"], "Alice's phone");

    let with_token = || {
        let request = server.request("GET", "/admin/api/reps").basic_auth("alice", Some(&token));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(with_token().await, 403, "the token authenticates alice (who is no admin)");

    let (status, listed) = call(&server, "admin", "GET", "/admin/api/reps/alice/tokens", None).await;
    assert_eq!(status, 200);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert!(listed[0]["revoked_at"].is_null());
    assert!(listed[0].get("token").is_none(), "the secret is shown once only");

    let (status, revoked) = call(&server, "admin", "DELETE", &format!("/admin/api/tokens/{id}"), None).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(with_token().await, 401, "the very next request with the revoked token");
    let (status, _) = call(&server, "admin", "DELETE", &format!("/admin/api/tokens/{id}"), None).await;
    assert_eq!(status, 409, "already revoked");

    let (status, feed) =
        call(&server, "admin", "POST", "/admin/api/reps/alice/tokens", Some(json!({ "kind": "feed" }))).await;
    assert_eq!((status, feed["kind"].as_str()), (201, Some("feed-token")));
    // No body at all: an app token without a label.
    let response = server.as_user("POST", "/admin/api/reps/bob/tokens", "admin").send().await.unwrap();
    assert_eq!(response.status(), 201);
    let admin_id = reps::get(&server.db.store, "admin").await.unwrap().id;
    assert_eq!(
        server
            .db
            .count(&format!("SELECT COUNT(*) FROM audit_log WHERE rep_id = {admin_id} AND action = 'token.revoke' AND outcome = 'ok'"))
            .await,
        1
    );
    assert_eq!(
        server.db.count(&format!("SELECT COUNT(*) FROM audit_log WHERE after_data LIKE '%{token}%'")).await,
        0,
        "the secret is never audited"
    );
    server.stop().await;
}

async fn rules_and_preview_over_http(backend: Backend) {
    let server = server(backend).await;
    require_admin_route(&server).await;
    let (status, listed) = call(&server, "admin", "GET", "/admin/api/rules", None).await;
    assert_eq!(status, 200);
    let default = listed[0]["id"].as_i64().unwrap();
    assert_eq!(listed[0]["statuses"], json!(["prospect", "active"]));
    assert_eq!(listed[0]["match_account_manager"], true);

    let (status, north) =
        call(&server, "admin", "POST", "/admin/api/rules", Some(json!({ "effect": "allow", "territory": "North" })))
            .await;
    assert_eq!(status, 201, "{north}");
    let north = north["id"].as_i64().unwrap();
    let (status, deny) = call(
        &server,
        "admin",
        "POST",
        "/admin/api/rules",
        Some(json!({ "effect": "deny", "rep": "alice", "client": "N3" })),
    )
    .await;
    assert_eq!(status, 201, "{deny}");
    assert_eq!(
        (deny["rep"].as_str(), deny["client"].as_str(), deny["territory"].is_null()),
        (Some("alice"), Some("N3"), true)
    );
    let deny = deny["id"].as_i64().unwrap();

    let visible = |login: &'static str| {
        let server = &server;
        async move {
            let (status, clients) =
                call(server, "admin", "GET", &format!("/admin/api/reps/{login}/visible-clients"), None).await;
            assert_eq!(status, 200, "{clients}");
            clients
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c["code"].as_str().unwrap().to_string(), c["rule_id"].as_i64().unwrap()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(visible("alice").await, expect(&[("N1", default), ("N2", north), ("S1", default)]));
    assert_eq!(visible("bob").await, expect(&[("N1", north), ("N2", default), ("N3", north)]));

    let (status, ordered) =
        call(&server, "admin", "PUT", "/admin/api/rules/order", Some(json!({ "order": [deny, north, default] }))).await;
    assert_eq!(status, 200, "{ordered}");
    let ids: Vec<i64> = ordered.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![deny, north, default]);
    assert_eq!(visible("alice").await, expect(&[("N1", north), ("N2", north), ("S1", default)]));

    let (status, deleted) = call(&server, "admin", "DELETE", &format!("/admin/api/rules/{north}"), None).await;
    assert_eq!((status, deleted["id"].as_i64()), (200, Some(north)));
    assert_eq!(visible("alice").await, expect(&[("N1", default), ("S1", default)]));
    let (_, listed) = call(&server, "admin", "GET", "/admin/api/rules", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));

    let admin_id = reps::get(&server.db.store, "admin").await.unwrap().id;
    for (action, n) in [("rule.create", 2), ("rule.reorder", 1), ("rule.delete", 1)] {
        assert_eq!(
            server
                .db
                .count(&format!("SELECT COUNT(*) FROM audit_log WHERE rep_id = {admin_id} AND action = '{action}' AND outcome = 'ok'"))
                .await,
            n,
            "{action}"
        );
    }
    server.stop().await;
}

on_both_databases!(
    rule_combinations_decide_who_sees_what,
    rule_changes_are_validated_and_audited,
    only_admins_reach_the_admin_api,
    admins_manage_reps_and_input_errors_name_the_field,
    revoking_a_token_cuts_the_device_off_at_once,
    rules_and_preview_over_http,
);
