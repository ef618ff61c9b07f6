//! Storage faults: a write that the database could not commit is never acknowledged, and once the
//! fault is gone the server writes again by itself, with nothing of the failed writes left behind.
//! SQLite: a full disk (a real tmpfs made by the test, when it may mount one; and an injected
//! `max_page_count` limit, which runs everywhere). PostgreSQL: the server's connections killed in the
//! middle of a burst of writes.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use crmdav::config::Config;
use crmdav::crm::demo::{self, DemoSize};
use crmdav::store::Store;

const EVENTS: &str = "/dav/calendars/alice/activities/";

fn event(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n\
         DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nSUMMARY:Fault test {uid}\r\n\
         DESCRIPTION:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "A long enough description to fill pages quickly. ".repeat(40)
    )
}

/// PUTs a new event; the status, or 0 when no answer came.
async fn put_event(http: &reqwest::Client, base: &str, uid: &str) -> u16 {
    http.put(format!("{base}{EVENTS}{uid}.ics"))
        .basic_auth("alice", Some("demo"))
        .header("Content-Type", "text/calendar")
        .header("If-None-Match", "*")
        .body(event(uid))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

async fn status_of(http: &reqwest::Client, base: &str, path: &str) -> u16 {
    http.get(format!("{base}{path}")).basic_auth("alice", Some("demo")).send().await.unwrap().status().as_u16()
}

/// UIDs of the given events that a separate connection (another process would see the same) finds.
async fn committed(url: &str, uids: &[String]) -> Vec<String> {
    let store = Store::connect(url).await.expect("second connection");
    let mut found = Vec::new();
    for uid in uids {
        let n: i64 = crmdav::on_db!(store, read, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM activities WHERE uid = $1 AND status <> 'cancelled'"
        )
        .bind(uid)
        .fetch_one(pool)
        .await
        .unwrap());
        if n > 0 {
            found.push(uid.clone());
        }
    }
    store.close().await;
    found
}

/// What a fault did to a sequence of writes: which were acknowledged and which refused.
#[derive(Default, Debug)]
struct Ledger {
    acknowledged: Vec<String>,
    refused: Vec<String>,
    statuses: HashMap<u16, usize>,
}

impl Ledger {
    fn record(&mut self, uid: String, status: u16) {
        *self.statuses.entry(status).or_default() += 1;
        if (200..300).contains(&status) {
            self.acknowledged.push(uid);
        } else {
            assert!(status >= 500, "a storage fault is the server's problem, not the request's: got {status}");
            self.refused.push(uid);
        }
    }

    /// Every acknowledged write is committed (seen by another connection, and by the server after a
    /// restart), and no refused one is.
    async fn check(&self, url: &str) {
        let seen = committed(url, &self.acknowledged).await;
        assert_eq!(seen, self.acknowledged, "acknowledged writes missing from the database ({:?})", self.statuses);
        let leaked = committed(url, &self.refused).await;
        assert!(leaked.is_empty(), "refused writes were committed after all: {leaked:?}");
    }
}

/// A second connection can take the write lock: the server left no transaction open behind a fault.
async fn second_writer_gets_the_lock(path: &Path) {
    let connection = rusqlite_like_lock(path).await;
    assert!(connection.is_ok(), "another process cannot write: {:?}", connection.err());
}

async fn rusqlite_like_lock(path: &Path) -> Result<(), String> {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(3));
    let mut connection = sqlx::SqliteConnection::connect_with(&options).await.map_err(|e| e.to_string())?;
    let result = sqlx::query("BEGIN IMMEDIATE").execute(&mut connection).await.map_err(|e| e.to_string());
    if result.is_ok() {
        sqlx::query("ROLLBACK").execute(&mut connection).await.map_err(|e| e.to_string())?;
    }
    connection.close().await.ok();
    result.map(|_| ())
}

async fn healthz(http: &reqwest::Client, base: &str) -> u16 {
    http.get(format!("{base}/healthz")).send().await.unwrap().status().as_u16()
}

/// The storage fault is injected through SQLite's page limit of the server's writer connection,
/// which turns the database's growth into SQLITE_FULL exactly as a full disk does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_page_limit_refuses_writes_and_recovers() {
    let server = TestServer::demo(Backend::Sqlite).await;
    let path = server.db.url.strip_prefix("sqlite://").unwrap().to_string();
    let pages = server.db.count("PRAGMA page_count").await;
    // The writer pool has one connection: this limit is the server's own.
    server.db.exec(&format!("PRAGMA max_page_count = {pages}")).await;
    let mut ledger = Ledger::default();
    let mut failures = 0;
    for i in 0..40 {
        let uid = format!("full-{i}");
        let status = put_event(&server.http, &server.base, &uid).await;
        failures += usize::from(status >= 500);
        ledger.record(uid, status);
        if failures >= 3 {
            break;
        }
    }
    assert!(failures >= 1, "the page limit never made a write fail: {:?}", ledger.statuses);
    assert_eq!(healthz(&server.http, &server.base).await, 503, "/healthz while writes cannot commit");
    // Space is back (a fresh connection also drops the per-connection limit).
    server.db.exec("PRAGMA max_page_count = 1073741823").await;
    for i in 0..5 {
        let uid = format!("after-{i}");
        let status = put_event(&server.http, &server.base, &uid).await;
        assert_eq!(status, 201, "write {uid} after the fault");
        ledger.record(uid, status);
    }
    assert_eq!(healthz(&server.http, &server.base).await, 200, "/healthz once writes commit again");
    for uid in &ledger.acknowledged {
        assert_eq!(status_of(&server.http, &server.base, &format!("{EVENTS}{uid}.ics")).await, 200, "GET {uid}");
    }
    for uid in &ledger.refused {
        assert_eq!(status_of(&server.http, &server.base, &format!("{EVENTS}{uid}.ics")).await, 404, "GET {uid}");
    }
    second_writer_gets_the_lock(Path::new(&path)).await;
    ledger.check(&server.db.url).await;
    server.stop().await;
}

/// A real full disk: the demo database on a 24 MiB tmpfs that the test mounts (CI runs as root;
/// elsewhere the injected fault above covers the same path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk_refuses_writes_and_recovers() {
    let Some(mount) = Tmpfs::mount(24) else {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root and must be able to mount a tmpfs");
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        return;
    };
    let path = mount.dir.path().join("crm.sqlite3");
    let url = format!("sqlite://{}", path.display());
    let store = Store::open(&url).await.expect("open on tmpfs");
    demo::load(&store, DemoSize::SMALL).await.expect("demo data");
    let config = Config { listen: "127.0.0.1:0".parse().unwrap(), database: url.clone(), ..Config::default() };
    let running = crmdav::http::start(crmdav::http::AppState::new(config, store.clone())).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    assert_eq!(healthz(&http, &base).await, 200);

    let (token_id, token) = new_token(&http, &base).await;
    assert_eq!(token_status(&http, &base, &token).await, 207);
    let filler = mount.dir.path().join("filler");
    fill(&filler);
    let mut ledger = Ledger::default();
    let mut failures = 0;
    for i in 0..200 {
        let uid = format!("disk-{i}");
        let status = put_event(&http, &base, &uid).await;
        failures += usize::from(status >= 500);
        ledger.record(uid, status);
        if failures >= 3 {
            break;
        }
    }
    assert!(failures >= 3, "a full disk never made a write fail: {:?}", ledger.statuses);
    assert_eq!(healthz(&http, &base).await, 503, "/healthz must report storage that cannot commit");
    // A token revocation in that state is acknowledged only if it took effect.
    let revoked_during_fault = (200..300).contains(&revoke(&http, &base, token_id).await);
    if revoked_during_fault {
        assert_eq!(token_status(&http, &base, &token).await, 401, "a revocation answered 2xx must hold");
    }

    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    for i in 0..5 {
        let uid = format!("back-{i}");
        let status = put_event(&http, &base, &uid).await;
        assert_eq!(status, 201, "write {uid} once space is back");
        ledger.record(uid, status);
    }
    assert!(started.elapsed() < Duration::from_secs(20), "recovery took {:?}", started.elapsed());
    assert_eq!(healthz(&http, &base).await, 200, "/healthz once space is back");
    for uid in &ledger.acknowledged {
        assert_eq!(status_of(&http, &base, &format!("{EVENTS}{uid}.ics")).await, 200, "GET {uid}");
    }
    if !revoked_during_fault {
        assert_eq!(revoke(&http, &base, token_id).await, 200, "revocation once space is back");
    }
    assert_eq!(token_status(&http, &base, &token).await, 401, "the revoked token");
    second_writer_gets_the_lock(&path).await;
    ledger.check(&url).await;
    // And after a restart.
    running.shutdown().await;
    store.close().await;
    ledger.check(&url).await;
}

async fn new_token(http: &reqwest::Client, base: &str) -> (i64, String) {
    let created: serde_json::Value = http
        .post(format!("{base}/admin/api/reps/alice/tokens"))
        .basic_auth("admin", Some("demo"))
        .json(&serde_json::json!({"label": "fault test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (created["id"].as_i64().unwrap(), created["token"].as_str().unwrap().to_string())
}

async fn revoke(http: &reqwest::Client, base: &str, id: i64) -> u16 {
    let response = http.delete(format!("{base}/admin/api/tokens/{id}")).basic_auth("admin", Some("demo")).send();
    response.await.unwrap().status().as_u16()
}

/// PROPFIND of alice's calendar with the token as her password.
async fn token_status(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    let request = http
        .request(reqwest::Method::from_bytes(b"PROPFIND").unwrap(), format!("{base}{EVENTS}"))
        .basic_auth("alice", Some(token))
        .header("Depth", "0");
    request.send().await.unwrap().status().as_u16()
}

/// Writes zeros until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(mib: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// PostgreSQL: every connection of the server is killed, twice, in the middle of a burst of writes.
/// Each acknowledged write is committed, and the server writes again by itself afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_connections_lose_no_acknowledged_write() {
    let server = TestServer::demo(Backend::Postgres).await;
    let database = server.db.url.rsplit('/').next().unwrap().to_string();
    let admin = Store::connect(&common::postgres_admin_url()).await.unwrap();
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (http, base) = (server.http.clone(), server.base.clone());
            tokio::spawn(async move {
                let mut attempts = Vec::new();
                for i in 0..40 {
                    let uid = format!("pg-{writer}-{i}");
                    let status = put_event(&http, &base, &uid).await;
                    attempts.push((uid, status));
                }
                attempts
            })
        })
        .collect();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        crmdav::on_db!(admin, write, |pool| sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
        )
        .bind(&database)
        .execute(pool)
        .await
        .map(drop)
        .unwrap());
    }
    admin.close().await;
    let mut ledger = Ledger::default();
    let mut unknown = 0;
    for writer in writers {
        for (uid, status) in writer.await.unwrap() {
            if status == 0 {
                unknown += 1;
            } else {
                ledger.record(uid, status);
            }
        }
    }
    assert_eq!(unknown, 0, "the server answered every request");
    for i in 0..3 {
        let uid = format!("pg-after-{i}");
        let status = put_event(&server.http, &server.base, &uid).await;
        assert_eq!(status, 201, "write {uid} after the connections were killed");
        ledger.record(uid, status);
    }
    assert_eq!(healthz(&server.http, &server.base).await, 200);
    ledger.check(&server.db.url).await;
    server.stop().await;
}
