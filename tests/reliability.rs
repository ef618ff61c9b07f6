//! Reliability on both databases: no acknowledged write is lost when the server process is killed
//! (SIGKILL, the real binary, restarted on the same database), and concurrent conditional writes
//! to one object let exactly one through and leave the object whole.

mod common;

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, TestDb, TestServer, responses, sync_body};
use crmdav::crm::demo::{self, DemoSize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const EVENTS: &str = "/dav/calendars/alice/activities/";
const BOOK: &str = "/dav/addressbooks/alice/clients/";

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n\
         DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nSUMMARY:{summary}\r\nLOCATION:Room {uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// The real `crmdav serve` binary on an ephemeral port.
struct Process {
    child: Child,
    base: String,
}

impl Process {
    async fn start(database: &str) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crmdav"))
            .args(["--database", database, "serve", "--listen", "127.0.0.1:0"])
            .env("CRMDAV_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the crmdav binary");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let started = Instant::now();
        let base = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("crmdav announces its address within 30 s")
                .expect("read stdout")
                .expect("crmdav exited before listening");
            if let Some(rest) = line.strip_prefix("crmdav listening on ") {
                break rest.split_whitespace().next().unwrap().trim_end_matches('/').to_string();
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no listening line");
        };
        // Keep draining stdout so that the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Process { child, base }
    }

    /// SIGKILL: no shutdown code runs, requests in flight are cut.
    async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("reap");
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The server answered 2xx: the write must survive anything.
    Acknowledged,
    /// The connection was cut before an answer: the write may or may not have happened.
    Unknown,
}

/// Writers stream PUTs of new events until the server goes away; returns every attempt.
async fn stream_puts(base: &str, round: usize, writers: usize, acked: Arc<AtomicUsize>) -> Vec<(String, Outcome)> {
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let base = base.to_string();
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut attempts = Vec::new();
            for i in 0.. {
                let uid = format!("crash-{round}-{writer}-{i}");
                let response = http
                    .put(format!("{base}{EVENTS}{uid}.ics"))
                    .basic_auth("alice", Some("demo"))
                    .header("Content-Type", "text/calendar")
                    .header("If-None-Match", "*")
                    .body(event(&uid, &format!("Written before the crash {uid}")))
                    .send()
                    .await;
                match response {
                    Ok(r) if r.status().is_success() => {
                        acked.fetch_add(1, Ordering::SeqCst);
                        attempts.push((uid, Outcome::Acknowledged));
                    }
                    Ok(r) => panic!("PUT {uid}: unexpected {}: {}", r.status(), r.text().await.unwrap_or_default()),
                    Err(_) => {
                        attempts.push((uid, Outcome::Unknown));
                        break;
                    }
                }
            }
            attempts
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("writer task"));
    }
    all
}

async fn get(http: &reqwest::Client, base: &str, path: &str) -> (u16, String) {
    let response = http.get(format!("{base}{path}")).basic_auth("alice", Some("demo")).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn acknowledged_puts_survive_sigkill(backend: Backend) {
    let db = TestDb::new(backend).await;
    demo::load(&db.store, DemoSize::SMALL).await.expect("demo data");
    let mut attempts = Vec::new();
    for round in 0..2 {
        let server = Process::start(&db.url).await;
        let acked = Arc::new(AtomicUsize::new(0));
        let writers = tokio::spawn({
            let (base, acked) = (server.base.clone(), acked.clone());
            async move { stream_puts(&base, round, 4, acked).await }
        });
        // Kill in the middle of the stream: after a few dozen acknowledged writes, with more in flight.
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.load(Ordering::SeqCst) < 25 {
            assert!(Instant::now() < deadline, "the writers got no acknowledgement in time");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill().await;
        let round_attempts = writers.await.unwrap();
        assert!(round_attempts.iter().any(|(_, o)| *o == Outcome::Unknown), "the kill cut the stream");
        attempts.extend(round_attempts);
    }

    let server = Process::start(&db.url).await;
    let http = client();
    let mut present = HashSet::new();
    for (uid, outcome) in &attempts {
        let (status, body) = get(&http, &server.base, &format!("{EVENTS}{uid}.ics")).await;
        match (status, outcome) {
            (200, _) => {
                // Whatever is there is whole: the object as it was sent, not a fragment.
                assert!(body.contains(&format!("UID:{uid}\r\n")), "{uid}: {body}");
                assert!(body.contains(&format!("SUMMARY:Written before the crash {uid}\r\n")), "{uid}: {body}");
                assert!(body.contains(&format!("LOCATION:Room {uid}\r\n")), "{uid}: {body}");
                present.insert(uid.clone());
            }
            (404, Outcome::Unknown) => {}
            (status, outcome) => panic!("{uid} ({outcome:?}) after restart: {status} {body}"),
        }
    }
    let acknowledged = attempts.iter().filter(|(_, o)| *o == Outcome::Acknowledged).count();
    assert!(acknowledged >= 50, "{acknowledged} acknowledged writes over two rounds");
    assert!(present.len() >= acknowledged);
    // The CRM rows and the calendar listing agree with what GET shows.
    assert_eq!(db.count("SELECT COUNT(*) FROM activities WHERE uid LIKE 'crash-%'").await, present.len() as i64);
    let listing = http
        .request(reqwest::Method::from_bytes(b"REPORT").unwrap(), format!("{}{EVENTS}", server.base))
        .basic_auth("alice", Some("demo"))
        .header("Depth", "1")
        .body(sync_body(""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listed: HashSet<String> = responses(&listing)
        .iter()
        .filter_map(|r| r.href.rsplit('/').next()?.strip_suffix(".ics").map(str::to_string))
        .filter(|name| name.starts_with("crash-"))
        .collect();
    assert_eq!(listed, present, "sync-collection lists exactly the stored writes");
    if backend == Backend::Sqlite {
        assert_eq!(db.text("PRAGMA integrity_check").await.as_deref(), Some("ok"));
    }
    server.kill().await;
}

/// `n` PUTs of different versions of one object at once, all with `If-Match: etag`.
async fn racing_puts(
    server: &TestServer,
    path: &str,
    content_type: &'static str,
    versions: Vec<String>,
    etag: &str,
) -> Vec<(u16, String, String)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(versions.len()));
    let mut tasks = Vec::new();
    for body in versions {
        let request = server
            .as_user("PUT", path, "alice")
            .header("Content-Type", content_type)
            .header("If-Match", etag)
            .body(body.clone());
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap(), body)
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

async fn etag_of(server: &TestServer, path: &str) -> (String, String) {
    let response = server.as_user("GET", path, "alice").send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    (etag, response.text().await.unwrap())
}

const RACERS: usize = 8;

async fn parallel_if_match_puts_let_exactly_one_through(backend: Backend) {
    let server = TestServer::demo(backend).await;

    // An event.
    let path = format!("{EVENTS}race.ics");
    let created = server
        .as_user("PUT", &path, "alice")
        .header("Content-Type", "text/calendar")
        .body(event("race", "Original"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for round in 0..3 {
        let (etag, _) = etag_of(&server, &path).await;
        let versions = (0..RACERS).map(|i| event("race", &format!("Version {round}-{i}"))).collect();
        let results = racing_puts(&server, &path, "text/calendar", versions, &etag).await;
        let winners: Vec<_> = results.iter().filter(|(status, _, _)| (200..300).contains(status)).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one PUT wins: {results:?}");
        for (status, message, _) in &results {
            assert!((200..300).contains(status) || *status == 412, "round {round}: {status} {message}");
            if *status == 412 {
                assert!(message.contains("fetch it again"), "a 412 says what to do: {message}");
            }
        }
        let (new_etag, stored) = etag_of(&server, &path).await;
        assert_ne!(new_etag, etag);
        assert_eq!(stored, winners[0].2, "the stored object is the winner's, whole");
        let summary = winners[0].2.split("SUMMARY:").nth(1).unwrap().split("\r\n").next().unwrap().to_string();
        assert_eq!(server.db.text("SELECT subject FROM activities WHERE uid = 'race'").await, Some(summary));
    }
    assert_eq!(server.db.count("SELECT COUNT(*) FROM activities WHERE uid = 'race'").await, 1);
    assert_eq!(
        server.db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'activity.put' AND target = 'race.ics' AND outcome = 'updated'").await,
        3,
        "one audited update per round"
    );

    // A card: edits of one contact with the same If-Match.
    let listing =
        server.as_user("REPORT", BOOK, "alice").header("Depth", "1").body(sync_body("")).send().await.unwrap();
    let card_href = responses(&listing.text().await.unwrap())
        .into_iter()
        .map(|r| r.href)
        .find(|href| href.ends_with(".vcf") && !href.contains("/client-"))
        .expect("alice has a contact card");
    let (etag, card) = etag_of(&server, &card_href).await;
    let uid = card.lines().find_map(|l| l.strip_prefix("UID:")).unwrap().trim().to_string();
    let versions = (0..RACERS)
        .map(|i| {
            format!(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nN:Racer{i};Rita;;;\r\nFN:Rita Racer{i}\r\nEMAIL;TYPE=WORK:rita{i}@example.com\r\nEND:VCARD\r\n"
            )
        })
        .collect();
    let results = racing_puts(&server, &card_href, "text/vcard", versions, &etag).await;
    let winners: Vec<_> = results.iter().filter(|(status, _, _)| (200..300).contains(status)).collect();
    assert_eq!(winners.len(), 1, "exactly one card edit wins: {results:?}");
    assert!(results.iter().all(|(status, _, _)| (200..300).contains(status) || *status == 412), "{results:?}");
    let winner = winners[0].2.split("N:Racer").nth(1).unwrap().chars().next().unwrap();
    let (_, stored) = etag_of(&server, &card_href).await;
    assert!(stored.contains(&format!("N:Racer{winner};Rita;;;")), "{stored}");
    assert!(stored.contains(&format!("rita{winner}@example.com")), "name and email from the same edit: {stored}");
    server.stop().await;
}

async fn parallel_creates_of_one_new_object_let_exactly_one_through(backend: Backend) {
    let server = TestServer::demo(backend).await;
    for round in 0..3 {
        let uid = format!("new-race-{round}");
        let path = format!("{EVENTS}{uid}.ics");
        let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for i in 0..RACERS {
            let body = event(&uid, &format!("Creator {i}"));
            let request = server
                .as_user("PUT", &path, "alice")
                .header("Content-Type", "text/calendar")
                .header("If-None-Match", "*")
                .body(body.clone());
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let response = request.send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap(), body)
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        let winners: Vec<_> = results.iter().filter(|(status, _, _)| *status == 201).collect();
        let statuses: Vec<(u16, &str)> = results.iter().map(|(status, message, _)| (*status, message.trim())).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one create wins: {statuses:?}");
        assert!(results.iter().all(|(status, _, _)| *status == 201 || *status == 412), "round {round}: {statuses:?}");
        let (_, stored) = etag_of(&server, &path).await;
        assert_eq!(stored, winners[0].2);
        assert_eq!(server.db.count(&format!("SELECT COUNT(*) FROM activities WHERE uid = '{uid}'")).await, 1);
    }
    server.stop().await;
}

on_both_databases!(
    acknowledged_puts_survive_sigkill,
    parallel_if_match_puts_let_exactly_one_through,
    parallel_creates_of_one_new_object_let_exactly_one_through,
);
