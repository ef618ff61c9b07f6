//! Issue 12, authentication: guesses are counted before they are checked, argon2 checks are
//! rationed (memory stays bounded under a flood of unknown logins), app tokens are not locked by
//! password guessing, the per-address limit uses X-Forwarded-For only from trusted proxies and does
//! not lock out reps already known at that address, and a token check takes the same time whatever
//! the login.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, TestServer};
use crmdav::config::{AuthConfig, Config, ConnectionConfig};
use crmdav::crm::credentials::{self, TokenKind};
use crmdav::crm::demo::DemoSize;
use crmdav::crm::reps;

const PATH: &str = "/dav/";

/// These tests flood logins, not connections: the per-address connection cap (64) is lifted.
fn config(auth: AuthConfig) -> Config {
    let connections = ConnectionConfig { max_connections_per_address: 1024, ..ConnectionConfig::default() };
    Config { auth, connections, ..Config::default() }
}

async fn server(backend: Backend, auth: AuthConfig) -> TestServer {
    TestServer::with_config(backend, config(auth), Some(DemoSize::SMALL)).await
}

async fn propfind(server: &TestServer, login: &str, secret: &str) -> reqwest::Response {
    server.request("PROPFIND", PATH).header("Depth", "0").basic_auth(login, Some(secret)).send().await.unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

/// 60 parallel wrong guesses against a limit of 5: only 5 are checked, and the right password sent
/// right after is throttled too; after the (short) Retry-After it gets in.
async fn parallel_guesses_are_counted_before_they_are_checked(backend: Backend) {
    let server =
        server(backend, AuthConfig { max_failures: 5, max_failures_per_address: 1000, ..AuthConfig::default() }).await;
    let responses = burst(&server, 60, |_| "alice".into(), |i| format!("guess{i}")).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    assert_eq!(checked, 5, "only max_failures guesses are checked: {statuses:?}");
    assert!(statuses.iter().all(|&s| s == 401 || s == 429), "{statuses:?}");

    let right = propfind(&server, "alice", "demo").await;
    assert_eq!(right.status(), 429, "the right password after 60 guesses must wait its turn");
    let wait = retry_after(&right);
    assert!((1..=2).contains(&wait), "a backoff of seconds, not a ban: Retry-After {wait}");
    assert!(right.text().await.unwrap().contains("too many failed logins"));
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(propfind(&server, "alice", "demo").await.status(), 207, "the owner gets the next slot");
    server.stop().await;
}

/// Wrong passwords for a login throttle that login's passwords, not its app tokens; wrong tokens are
/// never throttled (256-bit secrets cannot be guessed).
async fn app_tokens_are_not_locked_by_password_guessing(backend: Backend) {
    let server = server(backend, AuthConfig::default()).await;
    let (_, token) = credentials::create_token(&server.db.store, "alice", TokenKind::App, "phone").await.unwrap();
    for i in 0..6 {
        let status = propfind(&server, "alice", &format!("guess{i}")).await.status();
        assert_eq!(status, if i < 5 { 401 } else { 429 }, "guess {i}");
    }
    assert_eq!(propfind(&server, "alice", "demo").await.status(), 429, "passwords are throttled");
    assert_eq!(propfind(&server, "alice", &token).await.status(), 207, "the app token still works");
    for i in 0..10 {
        let wrong = format!("crmdav_wrong{i}");
        assert_eq!(propfind(&server, "bob", &wrong).await.status(), 401, "wrong token {i} is not throttled");
    }
    server.stop().await;
}

/// Medians of token-secret checks for an active, a disabled and an unknown login: comparable (one
/// indexed lookup each, no argon2 for any). Before: ~2 ms active, one argon2 (tens of ms) otherwise.
async fn token_checks_take_the_same_time_for_every_login(backend: Backend) {
    let server =
        server(backend, AuthConfig { max_failures: 1000, max_failures_per_address: 1000, ..AuthConfig::default() })
            .await;
    reps::set_active(&server.db.store, "carol", false).await.unwrap();
    let logins = ["alice", "carol", "nobody"];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); logins.len()];
    for round in 0..15 {
        for (i, login) in logins.iter().enumerate() {
            let started = Instant::now();
            let status = propfind(&server, login, &format!("crmdav_not-a-token-{round}")).await.status();
            times[i].push(started.elapsed());
            assert_eq!(status, 401, "{login}");
        }
    }
    let medians: Vec<Duration> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect();
    let (fastest, slowest) = (*medians.iter().min().unwrap(), *medians.iter().max().unwrap());
    assert!(
        slowest <= fastest * 3 + Duration::from_millis(5),
        "token checks must not tell logins apart: medians {medians:?} for {logins:?}"
    );
    server.stop().await;
}

/// A device's first sync sends many requests at once with the right password: counting attempts
/// before they are checked must not turn them into failures. They share one check; the same wrong
/// password sent in parallel is one failure, not twenty.
async fn parallel_requests_with_one_password_share_one_check(backend: Backend) {
    let server = server(backend, AuthConfig { max_failures: 5, ..AuthConfig::default() }).await;
    let statuses: Vec<u16> =
        burst(&server, 20, |_| "bob".into(), |_| "demo".into()).await.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|&s| s == 207), "parallel right passwords: {statuses:?}");
    let statuses: Vec<u16> = burst(&server, 20, |_| "carol".into(), |_| "old-password".into())
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|&s| s == 401), "one wrong password in parallel is answered 401: {statuses:?}");
    assert_eq!(
        propfind(&server, "carol", "demo").await.status(),
        207,
        "one repeated mistake does not lock the owner out"
    );
    server.stop().await;
}

on_both_databases!(
    parallel_requests_with_one_password_share_one_check,
    parallel_guesses_are_counted_before_they_are_checked,
    app_tokens_are_not_locked_by_password_guessing,
    token_checks_take_the_same_time_for_every_login,
);

/// `count` PROPFINDs sent at once, as `login(i)` with `secret(i)`; their responses in order.
async fn burst(
    server: &TestServer,
    count: usize,
    login: impl Fn(usize) -> String,
    secret: impl Fn(usize) -> String,
) -> Vec<reqwest::Response> {
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let request = server.request("PROPFIND", PATH).header("Depth", "0").basic_auth(login(i), Some(secret(i)));
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut responses = Vec::with_capacity(count);
    for task in tasks {
        responses.push(task.await.unwrap());
    }
    responses
}

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

/// 200 parallel logins of unknown reps (each an argon2 check of 19 MiB): the server's memory stays
/// bounded (at most `max_parallel_checks` checks at once, the rest queued or refused with 503), and a
/// rep known at this address, logging in with a password not yet cached, gets in within 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_login_flood_keeps_memory_bounded_and_lets_a_rep_in() {
    let server = server(
        Backend::Sqlite,
        AuthConfig {
            max_parallel_checks: 2,
            max_queued_checks: 32,
            max_failures_per_address: 10_000,
            ..AuthConfig::default()
        },
    )
    .await;
    assert_eq!(propfind(&server, "alice", "demo").await.status(), 207);
    // A new password: the next login runs a real argon2 check (nothing cached).
    reps::set_password(&server.db.store, "alice", "fresh-password").await.unwrap();

    let baseline = rss_mib();
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::task::spawn_blocking(move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_mib());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let flood = burst(&server, 200, |i| format!("ghost{i}"), |_| "guess".into());
    let real_login = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let status = propfind(&server, "alice", "fresh-password").await.status();
        (status, started.elapsed())
    };
    let (responses, (status, latency)) = tokio::join!(flood, real_login);
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.unwrap();

    assert_eq!(status, 207, "the rep gets in during the flood");
    assert!(latency < Duration::from_secs(2), "the rep waited {latency:?}");
    let busy: Vec<_> = responses.iter().filter(|r| r.status() == 503).collect();
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| matches!(s, 401 | 503)), "{statuses:?}");
    assert!(!busy.is_empty(), "beyond the queue, logins are refused at once");
    assert_eq!(retry_after(busy[0]), 1);
    assert!(peak.saturating_sub(baseline) < 200, "RSS grew from {baseline} MiB to {peak} MiB");
    let message = responses.into_iter().find(|r| r.status() == 503).unwrap().text().await.unwrap();
    assert!(message.contains("too many logins"), "{message}");
    server.stop().await;
}

/// Password spraying from one address behind a trusted proxy throttles that client address only;
/// without trusted proxies, X-Forwarded-For is ignored (anyone could forge it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_honoured_only_from_trusted_proxies() {
    let auth = AuthConfig { max_failures: 100, max_failures_per_address: 3, ..AuthConfig::default() };
    let spray = |server: &TestServer, login: String, client: &'static str| {
        server
            .request("PROPFIND", PATH)
            .header("Depth", "0")
            .header("X-Forwarded-For", client)
            .basic_auth(login, Some("guess"))
            .send()
    };

    let behind_proxy = TestServer::with_config(
        Backend::Sqlite,
        Config { trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()], ..config(auth.clone()) },
        Some(DemoSize::SMALL),
    )
    .await;
    for i in 0..3 {
        assert_eq!(spray(&behind_proxy, format!("user{i}"), "203.0.113.5").await.unwrap().status(), 401);
    }
    assert_eq!(spray(&behind_proxy, "user3".into(), "203.0.113.5").await.unwrap().status(), 429, "sprayer throttled");
    assert_eq!(
        spray(&behind_proxy, "user3".into(), "203.0.113.6").await.unwrap().status(),
        401,
        "another client behind the same proxy is not"
    );
    behind_proxy.stop().await;

    let direct = server(Backend::Sqlite, auth).await;
    for (i, client) in ["203.0.113.5", "203.0.113.6", "203.0.113.7"].into_iter().enumerate() {
        assert_eq!(spray(&direct, format!("user{i}"), client).await.unwrap().status(), 401);
    }
    assert_eq!(
        spray(&direct, "user3".into(), "203.0.113.8").await.unwrap().status(),
        429,
        "a forged X-Forwarded-For does not escape the limit of the real peer"
    );
    direct.stop().await;
}

/// Failures from an office's one address throttle new logins from it, not a rep who has logged in
/// from there before, even with a password that must be checked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_address_does_not_lock_out_reps_known_there() {
    let server =
        server(Backend::Sqlite, AuthConfig { max_failures: 100, max_failures_per_address: 3, ..AuthConfig::default() })
            .await;
    assert_eq!(propfind(&server, "alice", "demo").await.status(), 207);
    for i in 0..10 {
        let status = propfind(&server, &format!("user{i}"), "guess").await.status();
        assert!(matches!(status.as_u16(), 401 | 429), "{status}");
    }
    let stranger = propfind(&server, "bob", "demo").await;
    assert_eq!(stranger.status(), 429, "the address is throttled for logins not seen there");
    assert!(retry_after(&stranger) <= 60);
    reps::set_password(&server.db.store, "alice", "changed-password").await.unwrap();
    assert_eq!(propfind(&server, "alice", "changed-password").await.status(), 207, "alice is not locked out");
    server.stop().await;
}
