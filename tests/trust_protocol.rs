//! Issue 12, items 6 and 12-14: slow clients cannot hold the server (header and body timeouts,
//! connection caps), sync-collection limits and foreign tokens, VALARM time-ranges, and the
//! principal collection the server advertises.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Backend, TestServer, responses, sync_token};
use crmdav::config::Config;
use crmdav::crm::demo::DemoSize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const BOOK: &str = "/dav/addressbooks/alice/clients/";
const EVENTS: &str = "/dav/calendars/alice/activities/";
const TASKS: &str = "/dav/calendars/alice/follow-ups/";

async fn report(server: &TestServer, path: &str, body: &str) -> (u16, String) {
    let response =
        server.as_user("REPORT", path, "alice").header("Depth", "1").body(body.to_string()).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn sync_with_limit(token: &str, limit: u32) -> String {
    format!(
        r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:limit><d:nresults>{limit}</d:nresults></d:limit><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    )
}

fn sync(token: &str) -> String {
    common::sync_body(token)
}

/// Member responses of a sync answer (the 507 of a cut answer is on the collection itself).
fn members(body: &str, collection: &str) -> Vec<String> {
    responses(body).into_iter().filter(|r| r.href != collection).map(|r| r.href).collect()
}

// ---- item 12: sync-collection ----

async fn a_sync_limit_of_zero_answers_507_and_keeps_the_clients_position(backend: Backend) {
    let server = TestServer::demo(backend).await;
    // First sync, cut at 0: no member, the collection marked 507, a token for "nothing yet".
    let (status, body) = report(&server, BOOK, &sync_with_limit("", 0)).await;
    assert_eq!(status, 207, "{body}");
    assert!(members(&body, BOOK).is_empty(), "{body}");
    let cut = responses(&body).into_iter().find(|r| r.href == BOOK).expect("507 on the collection");
    assert_eq!(cut.status(), Some(507));
    assert!(cut.body.contains("number-of-matches-within-limits"));
    let start = sync_token(&body);
    // That token still delivers every member.
    let (status, full) = report(&server, BOOK, &sync(&start)).await;
    assert_eq!(status, 207, "{full}");
    let (_, initial) = report(&server, BOOK, &sync("")).await;
    assert!(!members(&initial, BOOK).is_empty());
    assert_eq!(members(&full, BOOK).len(), members(&initial, BOOK).len());

    // A later sync cut at 0 while something changed: same token back, nothing skipped.
    let token = sync_token(&initial);
    server
        .db
        .exec("UPDATE clients SET name = name || ' (renamed)' WHERE id = (SELECT MIN(id) FROM clients WHERE account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND status = 'active')")
        .await;
    let (status, body) = report(&server, BOOK, &sync_with_limit(&token, 0)).await;
    assert_eq!(status, 207, "{body}");
    assert!(members(&body, BOOK).is_empty());
    assert!(body.contains("number-of-matches-within-limits"));
    assert_eq!(sync_token(&body), token);
    let (_, body) = report(&server, BOOK, &sync(&token)).await;
    assert!(!members(&body, BOOK).is_empty(), "the change cut at 0 is delivered next: {body}");
    server.stop().await;
}

async fn a_sync_token_of_another_collection_is_refused(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (_, events) = report(&server, EVENTS, &sync("")).await;
    let (_, book) = report(&server, BOOK, &sync("")).await;
    for (collection, foreign) in
        [(TASKS, sync_token(&events)), (BOOK, sync_token(&events)), (EVENTS, sync_token(&book))]
    {
        let (status, body) = report(&server, collection, &sync(&foreign)).await;
        assert_eq!(status, 403, "{collection} took {foreign}: {body}");
        assert!(body.contains("valid-sync-token"), "{body}");
    }
    // Its own token still works.
    let (status, _) = report(&server, EVENTS, &sync(&sync_token(&events))).await;
    assert_eq!(status, 207);
    server.stop().await;
}

// ---- item 13: VALARM time-range ----

fn alarm_query(start: &str, end: &str) -> String {
    format!(
        r#"<C:calendar-query xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:comp-filter name="VALARM"><C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#
    )
}

async fn alarm_time_ranges_match_the_trigger_of_each_instance(backend: Backend) {
    let server = TestServer::demo(backend).await;
    // Weekly from 10 December 2026 09:00Z, four times; the alarm rings 15 minutes before each.
    let event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:alarm-weekly\r\nDTSTAMP:20261101T090000Z\r\n\
                 DTSTART:20261210T090000Z\r\nDTEND:20261210T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Weekly call\r\n\
                 BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let href = format!("{EVENTS}alarm-weekly.ics");
    let response = server
        .as_user("PUT", &href, "alice")
        .header("Content-Type", "text/calendar; charset=utf-8")
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201, "{}", response.text().await.unwrap());
    let found = |body: &str| responses(body).iter().any(|r| r.href == href);
    // Third instance: 24 December 09:00, the alarm at 08:45.
    let (status, body) = report(&server, EVENTS, &alarm_query("20261224T084000Z", "20261224T085000Z")).await;
    assert_eq!(status, 207, "{body}");
    assert!(found(&body), "the alarm at 08:45 on 24 December is in range: {body}");
    // The event itself, not its alarm, is in this range.
    let (_, body) = report(&server, EVENTS, &alarm_query("20261224T085000Z", "20261224T100000Z")).await;
    assert!(!found(&body), "{body}");
    // No fifth instance.
    let (_, body) = report(&server, EVENTS, &alarm_query("20270107T080000Z", "20270107T090000Z")).await;
    assert!(!found(&body), "{body}");
    server.stop().await;
}

on_both_databases!(
    a_sync_limit_of_zero_answers_507_and_keeps_the_clients_position,
    a_sync_token_of_another_collection_is_refused,
    alarm_time_ranges_match_the_trigger_of_each_instance,
);

// ---- item 14: the principal collection ----

#[tokio::test]
async fn the_principal_collection_answers_propfind_and_principal_searches() {
    let server = TestServer::demo(Backend::Sqlite).await;
    let propfind = |depth: &'static str| {
        server
            .as_user("PROPFIND", "/dav/principals/", "alice")
            .header("Depth", depth)
            .body(r#"<propfind xmlns="DAV:"><prop><resourcetype/><displayname/></prop></propfind>"#)
            .send()
    };
    let response = propfind("0").await.unwrap();
    assert_eq!(response.status().as_u16(), 207);
    let body = response.text().await.unwrap();
    let hrefs: Vec<String> = responses(&body).into_iter().map(|r| r.href).collect();
    assert_eq!(hrefs, ["/dav/principals/"], "{body}");
    let body = propfind("1").await.unwrap().text().await.unwrap();
    let all = responses(&body);
    assert_eq!(all.len(), 2, "the collection and alice only: {body}");
    let alice = all.iter().find(|r| r.href == "/dav/principals/alice/").expect("alice's principal");
    assert!(alice.body.contains("<d:principal/>"), "{body}");

    let display_name = server.db.text("SELECT display_name FROM reps WHERE login = 'alice'").await.unwrap();
    let other_name = server.db.text("SELECT display_name FROM reps WHERE login = 'bob'").await.unwrap();
    let search = |text: &str| {
        format!(
            r#"<D:principal-property-search xmlns:D="DAV:"><D:property-search><D:prop><D:displayname/></D:prop><D:match>{text}</D:match></D:property-search><D:prop><D:displayname/></D:prop></D:principal-property-search>"#
        )
    };
    let first_word = display_name.split_whitespace().next().unwrap().to_lowercase();
    let (status, body) = report(&server, "/dav/principals/", &search(&first_word)).await;
    assert_eq!(status, 207, "{body}");
    let found = responses(&body);
    assert_eq!(found.len(), 1, "{body}");
    assert_eq!(found[0].href, "/dav/principals/alice/");
    assert_eq!(found[0].prop("d:displayname").as_deref(), Some(display_name.as_str()));
    // Another rep is not found: they do not exist for alice.
    let (status, body) = report(&server, "/dav/principals/", &search(&other_name)).await;
    assert_eq!(status, 207);
    assert!(responses(&body).is_empty(), "{body}");

    let (status, body) =
        report(&server, "/dav/principals/", r#"<D:principal-search-property-set xmlns:D="DAV:"/>"#).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<d:principal-search-property><d:prop><d:displayname/>"), "{body}");

    // The DAV header claims only what is served: no WebDAV ACL.
    let options = server.request("OPTIONS", "/dav/").send().await.unwrap();
    let dav = options.headers().get("dav").unwrap().to_str().unwrap().to_string();
    assert!(dav.contains("calendar-access") && dav.contains("addressbook"), "{dav}");
    assert!(!dav.contains("access-control"), "{dav}");
    server.stop().await;
}

// ---- item 6: slow clients ----

fn config(adjust: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::default();
    adjust(&mut config);
    config
}

fn address(server: &TestServer) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection from `from` (any 127.0.0.0/8 address: a client address of its own).
async fn connect_from(server: &TestServer, from: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(address(server)).await.unwrap()
}

/// Reads until the server closes the connection (or `within` passes): what it sent, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let deadline = Instant::now() + within;
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&received).into_owned(), true),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), false),
        }
    }
}

fn basic_alice() -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:demo"))
}

#[tokio::test]
async fn a_header_dribble_is_disconnected_after_the_header_timeout() {
    let server =
        TestServer::with_config(Backend::Sqlite, config(|c| c.connections.header_timeout_secs = 1), None).await;
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    let started = Instant::now();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // One header line every 200 ms, never the blank line that ends them.
    let dribble = async {
        for i in 0..50 {
            if stream.write_all(format!("X-Slow-{i}: a\r\n").as_bytes()).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(4), dribble).await;
    let (_, closed) = read_until_closed(&mut stream, Duration::from_millis(500)).await;
    assert!(closed, "a connection dribbling headers is still open after {:?}", started.elapsed());
    // An idle connection (nothing sent) is closed too.
    let mut idle = TcpStream::connect(address(&server)).await.unwrap();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(3)).await;
    assert!(closed, "an idle connection is still open after 3 s");
    server.stop().await;
}

#[tokio::test]
async fn a_dribbled_body_is_cut_after_the_body_timeout() {
    let server = TestServer::with_config(
        Backend::Sqlite,
        config(|c| c.connections.body_timeout_secs = 1),
        Some(DemoSize::SMALL),
    )
    .await;
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    let head = format!(
        "PUT {EVENTS}slow.ics HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: text/calendar\r\nContent-Length: 100000\r\n\r\n",
        basic_alice()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let dribble = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b"BEGIN:VCAL").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(6), reader.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(read.is_ok(), "a dribbled body is still being read after {:?}", started.elapsed());
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    dribble.abort();
    server.stop().await;
}

#[tokio::test]
async fn slow_connections_beyond_the_per_address_cap_are_refused_and_normal_clients_served() {
    let server =
        TestServer::with_config(Backend::Sqlite, config(|c| c.connections.max_connections_per_address = 5), None).await;
    // Twenty connections from one address, each sending half a request and then nothing.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = connect_from(&server, "127.0.0.2").await;
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
        slow.push(stream);
    }
    let mut refused = 0;
    for stream in &mut slow {
        let (answer, closed) = read_until_closed(stream, Duration::from_millis(100)).await;
        if closed {
            assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(answer.is_empty() || answer.contains("limit of 5 connections"), "{answer}");
            refused += 1;
        }
    }
    assert_eq!(refused, 15, "beyond 5 connections from one address, each new one is refused");
    // Another client is served at once.
    let started = Instant::now();
    let response = server.request("GET", "/healthz").send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    server.stop().await;
}

#[tokio::test]
async fn never_ending_chunked_puts_are_all_cut_by_the_body_timeout() {
    let server = TestServer::with_config(
        Backend::Sqlite,
        config(|c| c.connections.body_timeout_secs = 1),
        Some(DemoSize::SMALL),
    )
    .await;
    // Credentials proven once, then taken from the cache by the 60 connections.
    assert_eq!(server.as_user("PROPFIND", "/dav/", "alice").header("Depth", "0").send().await.unwrap().status(), 207);
    let started = Instant::now();
    let mut puts = Vec::new();
    for i in 0..60 {
        let address = address(&server);
        puts.push(tokio::spawn(async move {
            let stream = TcpStream::connect(address).await.unwrap();
            let (mut reader, mut writer) = stream.into_split();
            let head = format!(
                "PUT {EVENTS}endless-{i}.ics HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
                basic_alice()
            );
            writer.write_all(head.as_bytes()).await.unwrap();
            // 16 KiB every 50 ms, without end: 320 KiB/s, far below the 4 MiB size limit in 1 s.
            let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
            let sender = tokio::spawn(async move {
                for _ in 0..200 {
                    if writer.write_all(chunk.as_bytes()).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
            let mut answer = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(8), reader.read_to_end(&mut answer)).await;
            sender.abort();
            (read.is_ok(), String::from_utf8_lossy(&answer).into_owned())
        }));
    }
    for put in puts {
        let (ended, answer) = put.await.unwrap();
        assert!(ended, "an endless chunked PUT is still being read after {:?}", started.elapsed());
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    assert!(started.elapsed() < Duration::from_secs(8));
    server.stop().await;
}

/// Reads one answer (head and a Content-Length body) from a kept-alive connection: its head, or
/// None when the server closed the connection instead.
async fn read_answer(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_lowercase();
            let length: usize =
                head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
            if received.len() >= end + 4 + length {
                return Some(head);
            }
        }
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Python caldav sends its first request without credentials and, after the 401, sends it again
/// with them on the same connection: a refused body is read (and dropped), so the retry is answered
/// instead of meeting a closed connection. A body over the size limit closes the connection, and
/// the answer says so.
#[tokio::test]
async fn a_body_refused_for_credentials_leaves_the_connection_usable() {
    let server = TestServer::with_config(Backend::Sqlite, config(|c| c.max_body_bytes = 200_000), None).await;
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    for size in [100usize, 60_000, 150_000] {
        let put = format!(
            "PUT {EVENTS}unauthenticated.ics HTTP/1.1\r\nHost: x\r\nContent-Type: text/calendar\r\nContent-Length: {size}\r\n\r\n{}",
            "x".repeat(size)
        );
        stream.write_all(put.as_bytes()).await.unwrap();
        let head = read_answer(&mut stream).await.expect("an answer to the PUT");
        assert!(head.starts_with("http/1.1 401"), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
        let options = format!("OPTIONS {EVENTS} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n", basic_alice());
        stream.write_all(options.as_bytes()).await.unwrap();
        let head =
            read_answer(&mut stream).await.unwrap_or_else(|| panic!("connection closed after a {size}-byte body"));
        assert!(head.starts_with("http/1.1 200") || head.starts_with("http/1.1 204"), "{head}");
    }
    // Over the limit: refused without reading it, and the connection ends.
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    let put = format!("PUT {EVENTS}huge.ics HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n{}", "x".repeat(1000));
    stream.write_all(put.as_bytes()).await.unwrap();
    let head = read_answer(&mut stream).await.expect("an answer to the PUT");
    assert!(head.starts_with("http/1.1 401") && head.contains("connection: close"), "{head}");
    server.stop().await;
}
