//! The base every capability stands on: schema on both databases, change capture by triggers,
//! authentication and throttling, demo data, health, TLS.

mod common;

use common::{Backend, TestDb, TestServer};
use crmdav::crm::credentials::{self, TokenKind};
use crmdav::crm::demo::{self, DemoSize};
use crmdav::dav::members::MemberLookup;

async fn migrations_apply_and_are_idempotent(backend: Backend) {
    let db = TestDb::new(backend).await;
    for table in [
        "reps",
        "credentials",
        "clients",
        "contacts",
        "activities",
        "notes",
        "collections",
        "collection_members",
        "audit_log",
    ] {
        assert_eq!(db.count(&format!("SELECT COUNT(*) FROM {table}")).await, 0, "{table} exists and is empty");
    }
    // The default visibility rule is part of the schema: reps see the prospects and active clients they manage.
    assert_eq!(db.count("SELECT COUNT(*) FROM visibility_rules WHERE effect = 'allow' AND rep_id IS NULL").await, 1);
    let migrations = db.count("SELECT COUNT(*) FROM _sqlx_migrations").await;
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/sqlite")).unwrap().count();
    assert_eq!(migrations as usize, files, "every file of schema/ is applied");
    db.store.migrate().await.expect("second migration run is a no-op");
    assert_eq!(db.count("SELECT COUNT(*) FROM _sqlx_migrations").await, migrations);
    assert_eq!(db.count("SELECT COUNT(*) FROM visibility_rules").await, 1);
}

async fn raw_sql_changes_reach_the_change_log(backend: Backend) {
    let db = TestDb::new(backend).await;
    let before = db.store.current_seq().await.unwrap();
    db.exec("INSERT INTO clients (code, name, status) VALUES ('RAW1', 'Inserted by another program', 'active')").await;
    db.exec("UPDATE clients SET category = 'Retail' WHERE code = 'RAW1'").await;
    db.exec("INSERT INTO contacts (uid, href, client_id, first_name) SELECT 'u-raw', 'u-raw.vcf', id, 'Ann' FROM clients WHERE code = 'RAW1'").await;
    db.exec("DELETE FROM contacts WHERE uid = 'u-raw'").await;
    let after = db.store.current_seq().await.unwrap();
    assert_eq!(after - before, 4, "one change_log row per changed row");
    let ops = db.text("SELECT op FROM change_log WHERE entity = 'clients' ORDER BY seq DESC LIMIT 1").await;
    assert_eq!(ops.as_deref(), Some("update"));
    assert_eq!(db.count("SELECT COUNT(*) FROM change_log WHERE entity = 'contacts' AND op = 'delete'").await, 1);
}

/// The text recorded with a collection's members is served as of the sequence a refresh answered:
/// from memory by the process that recorded it, from the database by any other (another
/// instance, or this one after a restart); once the collection moved on (brought up to date by
/// any process), the old text is served by neither.
async fn recorded_member_text_is_served_only_while_current(backend: Backend) {
    use crmdav::store::sync::{self, Member};
    let db = TestDb::new(backend).await;
    let member = |href: &str, body: &str| Member {
        href: href.into(),
        etag: format!("\"{body}\""),
        body: body.into(),
        source: 1,
    };
    // 150 members: a multiget of 100 or more reads a collection not in memory whole.
    let cards = |edited: &str| -> Vec<Member> {
        (0..150).map(|i| member(&format!("{i}.vcf"), &format!("card {i}{edited}"))).collect()
    };
    let (initial, edited) = (Fixed(cards("")), Fixed(cards(", edited")));
    let first = sync::refresh(&db.store, "test:1", 1, &initial, None).await.unwrap();
    let other_process = crmdav::store::Store::open(&db.url).await.unwrap();
    let few = vec!["7.vcf".to_string(), "missing.vcf".to_string()];
    let many: Vec<String> = (0..160).map(|i| format!("{i}.vcf")).collect();
    for store in [&db.store, &other_process] {
        assert_eq!(
            sync::refresh(store, "test:1", 1, &initial, None).await.unwrap(),
            first,
            "up to date: not recomputed"
        );
        let found = sync::members_at(store, "test:1", first, &few, true).await.unwrap();
        assert_eq!(found.get("7.vcf"), Some(("\"card 7\"", Some("card 7"))));
        assert_eq!(found.get("missing.vcf"), None);
        let etags_only = sync::members_at(store, "test:1", first, &few, false).await.unwrap();
        assert_eq!(etags_only.get("7.vcf"), Some(("\"card 7\"", None)), "text only when asked for");
        let all = sync::members_at(store, "test:1", first, &many, true).await.unwrap();
        assert_eq!(all.get("149.vcf"), Some(("\"card 149\"", Some("card 149"))));
        assert_eq!(all.get("150.vcf"), None);
    }

    // Changed by another program, brought up to date by the other process: both serve the new
    // text, the first one not from what it holds in memory.
    db.exec("INSERT INTO clients (code, name, status) VALUES ('FRESH1', 'Changed by another program', 'active')").await;
    let second = sync::refresh(&other_process, "test:1", 1, &edited, None).await.unwrap();
    assert!(second > first);
    for store in [&db.store, &other_process] {
        assert_eq!(sync::refresh(store, "test:1", 1, &edited, None).await.unwrap(), second);
        let found = sync::members_at(store, "test:1", second, &few, true).await.unwrap();
        assert_eq!(found.get("7.vcf").and_then(|(_, body)| body), Some("card 7, edited"));
        let all = sync::members_at(store, "test:1", second, &many, true).await.unwrap();
        assert_eq!(all.get("7.vcf").and_then(|(_, body)| body), Some("card 7, edited"));
    }
    other_process.close().await;
}

/// A view of fixed members that any change may concern (recomputed in full).
struct Fixed(Vec<crmdav::store::sync::Member>);

impl crmdav::store::incremental::View for Fixed {
    async fn affected(&self, _: &[crmdav::store::incremental::LoggedChange]) -> anyhow::Result<Option<Vec<i64>>> {
        Ok(None)
    }

    async fn compute(&self, _: Option<&[i64]>) -> anyhow::Result<Vec<crmdav::store::sync::Member>> {
        Ok(self.0.clone())
    }
}

async fn health_answers_with_and_without_credentials(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let plain = server.request("GET", "/healthz").send().await.unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.text().await.unwrap().trim(), "ok");
    let authed = server.as_user("GET", "/healthz", "alice").send().await.unwrap();
    assert_eq!(authed.status(), 200);
    server.stop().await;
}

async fn wrong_password_is_401_and_repeated_failures_are_throttled(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let none = server.request("PROPFIND", "/dav/").send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic realm=\"crmdav\""));
    let good = server.as_user("PROPFIND", "/dav/", "alice").send().await.unwrap();
    assert_ne!(good.status(), 401);

    // Five different guesses (the same wrong password again within seconds is not a new failure).
    for attempt in 1..=5 {
        let guess = format!("wrong{attempt}");
        let wrong = server.request("PROPFIND", "/dav/").basic_auth("bob", Some(&guess)).send().await.unwrap();
        assert_eq!(wrong.status(), 401, "attempt {attempt}");
    }
    // Past the limit even the right password must wait its turn (a backoff of seconds).
    let throttled = server.request("PROPFIND", "/dav/").basic_auth("bob", Some("demo")).send().await.unwrap();
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    // Other people at the same address are not locked out by one person's typos...
    let colleague = server.as_user("PROPFIND", "/dav/", "carol").send().await.unwrap();
    assert_ne!(colleague.status(), 429, "one login's failures do not throttle the whole address");
    // ...until the address itself has failed `max_failures_per_address` (30) times.
    for attempt in 6..=30 {
        let login = format!("guess{attempt}");
        let wrong = server.request("PROPFIND", "/dav/").basic_auth(&login, Some("x")).send().await.unwrap();
        assert_eq!(wrong.status(), 401, "attempt {attempt}");
    }
    let blocked = server.as_user("PROPFIND", "/dav/", "admin").send().await.unwrap();
    assert_eq!(blocked.status(), 429, "the client address is throttled too, for logins not yet seen there");
    let known = server.as_user("PROPFIND", "/dav/", "carol").send().await.unwrap();
    assert_ne!(known.status(), 429, "a rep already logged in from this address is not locked out");
    server.stop().await;
}

async fn app_tokens_work_and_revocation_is_immediate(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (id, token) = credentials::create_token(&server.db.store, "alice", TokenKind::App, "phone").await.unwrap();
    let ok = server.request("PROPFIND", "/dav/").basic_auth("alice", Some(&token)).send().await.unwrap();
    assert_ne!(ok.status(), 401);
    // The token belongs to alice: it does not open bob's account.
    let other = server.request("PROPFIND", "/dav/").basic_auth("bob", Some(&token)).send().await.unwrap();
    assert_eq!(other.status(), 401);
    credentials::revoke_token(&server.db.store, id).await.unwrap();
    let revoked = server.request("PROPFIND", "/dav/").basic_auth("alice", Some(&token)).send().await.unwrap();
    assert_eq!(revoked.status(), 401, "a revoked token is refused on the very next request");
    // Disabling a rep cuts off a cached password too.
    let before = server.as_user("PROPFIND", "/dav/", "carol").send().await.unwrap();
    assert_ne!(before.status(), 401);
    crmdav::crm::reps::set_active(&server.db.store, "carol", false).await.unwrap();
    let after = server.as_user("PROPFIND", "/dav/", "carol").send().await.unwrap();
    assert_eq!(after.status(), 401);
    server.stop().await;
}

async fn demo_data_has_its_sizes_and_loads_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let summary = demo::load(&db.store, DemoSize::SMALL).await.unwrap();
    assert!(summary.loaded);
    assert_eq!(db.count("SELECT COUNT(*) FROM clients").await, DemoSize::SMALL.clients as i64);
    assert_eq!(db.count("SELECT COUNT(*) FROM activities").await, DemoSize::SMALL.activities as i64);
    assert_eq!(db.count("SELECT COUNT(*) FROM reps").await, 4);
    assert_eq!(db.count("SELECT COUNT(*) FROM contacts").await, summary.contacts as i64);
    assert!(db.count("SELECT COUNT(*) FROM notes").await > 0);
    assert!(
        db.count("SELECT COUNT(*) FROM activities WHERE recurring = TRUE").await >= 1
            || DemoSize::SMALL.activities < 100
    );
    let again = demo::load(&db.store, DemoSize::SMALL).await.unwrap();
    assert!(!again.loaded, "loading twice does not duplicate");
    assert_eq!(db.count("SELECT COUNT(*) FROM clients").await, DemoSize::SMALL.clients as i64);
    // New rows after an explicit-id load get fresh ids (PostgreSQL identity sequences moved on).
    db.exec("INSERT INTO clients (code, name) VALUES ('NEW1', 'After the demo')").await;
}

on_both_databases!(
    migrations_apply_and_are_idempotent,
    raw_sql_changes_reach_the_change_log,
    recorded_member_text_is_served_only_while_current,
    health_answers_with_and_without_credentials,
    wrong_password_is_401_and_repeated_failures_are_throttled,
    app_tokens_work_and_revocation_is_immediate,
    demo_data_has_its_sizes_and_loads_once,
);

#[tokio::test]
async fn same_seed_gives_identical_databases() {
    let dump = |db: TestDb| async move {
        let clients = db
            .text("SELECT group_concat(code || name || status || territory || sales_ytd_cents, '|') FROM clients")
            .await;
        let activities =
            db.text("SELECT group_concat(uid || subject || start_at || status, '|') FROM activities").await;
        (clients, activities)
    };
    let a = TestDb::new(Backend::Sqlite).await;
    demo::load(&a.store, DemoSize::SMALL).await.unwrap();
    let b = TestDb::new(Backend::Sqlite).await;
    demo::load(&b.store, DemoSize::SMALL).await.unwrap();
    assert_eq!(dump(a).await, dump(b).await);
}

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let mut config = crmdav::config::Config::default();
    config.tls = Some(crmdav::config::TlsConfig { cert: cert_path, key: key_path });
    let server = TestServer::with_config(Backend::Sqlite, config, None).await;
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
    let response = client.get(format!("https://localhost:{port}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // Plain HTTP on the TLS port does not get an answer.
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.map(|r| r.status() != 200).unwrap_or(true));
    server.stop().await;
}

#[test]
fn refuses_clear_text_basic_auth_on_a_public_address() {
    let config = crmdav::config::Config { listen: "0.0.0.0:0".parse().unwrap(), ..Default::default() };
    let error = config.check_transport_security().unwrap_err().to_string();
    assert!(error.contains("tls"), "{error}");
}
