//! Voice notes, over HTTP on both databases: an audio attachment on a jtx Board journal entry is
//! stored once, linked from the entry, and served at an authenticated URL with byte ranges.

mod common;

use base64::Engine;
use common::{Backend, TestServer, responses, sync_body};
use crmdav::config::Config;
use crmdav::crm::demo::DemoSize;

const NOTES: &str = "/dav/calendars/alice/notes/";
const ICAL: &str = "text/calendar; charset=utf-8";

/// Bytes that look like an m4a and are not UTF-8 text.
fn audio(len: usize) -> Vec<u8> {
    let mut bytes = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00".to_vec();
    bytes.extend((0..len - bytes.len()).map(|i| (i * 7 % 251) as u8 | 0x80));
    bytes
}

/// The jtx Board entry of the fixtures, with `bytes` attached (folded as jtx writes it).
fn journal_with_audio(uid: &str, client: &str, bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let folded =
        encoded.as_bytes().chunks(74).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n ");
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ical/jtx_board_journal_audio.ics"))
        .unwrap()
        .replace("{{UID}}", uid)
        .replace("{{CLIENT}}", client)
        .replace("{{AUDIO}}", &folded)
}

async fn alice_client_name(server: &TestServer) -> String {
    server
        .db
        .text("SELECT name FROM clients WHERE status = 'active' AND account_manager_id = (SELECT id FROM reps WHERE login = 'alice') ORDER BY id LIMIT 1")
        .await
        .unwrap()
}

async fn get(server: &TestServer, login: &str, path: &str, range: Option<&str>) -> reqwest::Response {
    let mut request = server.as_user("GET", path, login);
    if let Some(range) = range {
        request = request.header("Range", range);
    }
    request.send().await.unwrap()
}

/// The entry links the voice note; the URL serves it byte for byte, with ranges, to alice only.
async fn a_voice_note_on_a_journal_entry_is_stored_once_and_served_with_ranges(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let client = alice_client_name(&server).await;
    let bytes = audio(5000);
    let path = format!("{NOTES}memo.ics");
    let sent = journal_with_audio("memo-1", &client, &bytes);
    let response = server
        .as_user("PUT", &path, "alice")
        .header("Content-Type", ICAL)
        .header("If-None-Match", "*")
        .body(sent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    assert_eq!(server.db.count("SELECT COUNT(*) FROM voice_notes").await, 1, "stored once");
    assert_eq!(
        server.db.count("SELECT COUNT(*) FROM voice_notes v JOIN notes n ON n.id = v.note_id WHERE n.uid = 'memo-1' AND v.size_bytes = 5000").await,
        1
    );
    assert_eq!(
        server.db.text("SELECT body FROM notes WHERE uid = 'memo-1'").await.as_deref(),
        Some("Voice memo after the visit")
    );

    // The entry as the phone gets it back: the audio is a link now, not 6 KB of BASE64.
    let entry = get(&server, "alice", &path, None).await.text().await.unwrap();
    let unfolded = entry.replace("\r\n ", "");
    let attach = unfolded.lines().find(|l| l.starts_with("ATTACH")).unwrap_or_else(|| panic!("{entry}")).to_string();
    assert!(attach.starts_with("ATTACH;MANAGED-ID="), "{attach}");
    assert!(
        attach.contains(";FMTTYPE=audio/mp4;SIZE=5000;FILENAME=jtx_audio_1764584100.m4a:/dav/voice-notes/"),
        "{attach}"
    );
    assert!(!entry.contains("BASE64"), "{entry}");
    let url = attach.rsplit_once(':').unwrap().1.to_string();
    let (_, listing) = {
        let response = server.as_user("REPORT", NOTES, "alice").body(sync_body("")).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    };
    assert!(responses(&listing).iter().any(|r| r.href == path), "{listing}");

    let whole = get(&server, "alice", &url, None).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "audio/mp4");
    assert_eq!(whole.headers()["content-length"], "5000");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    let etag = whole.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(whole.bytes().await.unwrap().as_ref(), bytes.as_slice(), "byte for byte");

    let part = get(&server, "alice", &url, Some("bytes=100-199")).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/5000");
    assert_eq!(part.headers()["content-length"], "100");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[100..200]);
    let tail = get(&server, "alice", &url, Some("bytes=-10")).await;
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &bytes[4990..]);
    let open = get(&server, "alice", &url, Some("bytes=4000-")).await;
    assert_eq!(
        (open.status().as_u16(), open.headers()["content-range"].to_str().unwrap()),
        (206, "bytes 4000-4999/5000")
    );
    let beyond = get(&server, "alice", &url, Some("bytes=6000-7000")).await;
    assert_eq!(beyond.status(), 416);
    assert_eq!(beyond.headers()["content-range"], "bytes */5000");
    let stale_if_range = server
        .as_user("GET", &url, "alice")
        .header("Range", "bytes=0-9")
        .header("If-Range", "\"old\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale_if_range.status(), 200, "If-Range naming another version gets the whole");
    let cached = server.as_user("GET", &url, "alice").header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(cached.status(), 304);
    let head = server.as_user("HEAD", &url, "alice").send().await.unwrap();
    assert_eq!((head.status().as_u16(), head.headers()["content-length"].to_str().unwrap()), (200, "5000"));

    // The client's cards list it, dated, with its author and URL.
    let card_href = server
        .db
        .text(&format!(
            "SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.name = '{}' ORDER BY k.id LIMIT 1",
            client.replace('\'', "''")
        ))
        .await
        .expect("the client has a contact");
    let card = get(&server, "alice", &format!("/dav/addressbooks/alice/clients/{card_href}"), None)
        .await
        .text()
        .await
        .unwrap();
    let line = format!("Voice note {}, Alice Martin: {url}", chrono::Utc::now().format("%Y-%m-%d"));
    assert!(card.replace("\r\n ", "").contains(&line.replace(',', "\\,")), "{line} in {card}");

    // Visibility applies: bob does not see alice's client, so for him the audio does not exist.
    assert_eq!(get(&server, "bob", &url, None).await.status(), 404);
    assert_eq!(get(&server, "alice", "/dav/voice-notes/999999", None).await.status(), 404);
    let unauthenticated = server.request("GET", &url).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let put = server.as_user("PUT", &url, "alice").body("x").send().await.unwrap();
    assert_eq!(put.status(), 405);
    server.stop().await;
}

/// A voice note over `calendar.max_voice_note_bytes` gets 413 and nothing is written.
async fn a_voice_note_over_the_limit_is_refused_whole(backend: Backend) {
    let mut config = Config::default();
    config.calendar.max_voice_note_bytes = 1000;
    let server = TestServer::with_config(backend, config, Some(DemoSize::SMALL)).await;
    let client = alice_client_name(&server).await;
    let notes = server.db.count("SELECT COUNT(*) FROM notes").await;
    let response = server
        .as_user("PUT", &format!("{NOTES}big.ics"), "alice")
        .header("Content-Type", ICAL)
        .body(journal_with_audio("big-1", &client, &audio(1001)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("calendar.max_voice_note_bytes"));
    assert_eq!(server.db.count("SELECT COUNT(*) FROM notes").await, notes);
    assert_eq!(server.db.count("SELECT COUNT(*) FROM voice_notes").await, 0);
    let response = server
        .as_user("PUT", &format!("{NOTES}small.ics"), "alice")
        .header("Content-Type", ICAL)
        .body(journal_with_audio("small-1", &client, &audio(1000)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    server.stop().await;
}

on_both_databases!(
    a_voice_note_on_a_journal_entry_is_stored_once_and_served_with_ranges,
    a_voice_note_over_the_limit_is_refused_whole
);
