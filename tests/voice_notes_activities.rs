//! Voice notes on events and report tasks, inline and as RFC 8607 managed attachments, over HTTP
//! on both databases, with real recordings (fixtures/audio) and the requests clients send.

mod common;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use common::{Backend, TestServer, parse_dav_error};
use crmdav::config::Config;
use crmdav::crm::demo::DemoSize;

const EVENTS: &str = "/dav/calendars/alice/activities/";
const TASKS: &str = "/dav/calendars/alice/follow-ups/";
const NOTES: &str = "/dav/calendars/alice/notes/";
const ICAL: &str = "text/calendar; charset=utf-8";

fn audio(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/fixtures/audio/{name}", env!("CARGO_MANIFEST_DIR"))).expect("audio fixture")
}

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// BASE64, folded at 75 octets as devices write it.
fn folded(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    encoded.as_bytes().chunks(74).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n ")
}

fn inline(content_type: &str, filename: &str, bytes: &[u8]) -> String {
    format!("ATTACH;FMTTYPE={content_type};ENCODING=BASE64;VALUE=BINARY;X-FILENAME={filename}:{}\r\n", folded(bytes))
}

/// (code, name) of an active client alice manages.
async fn alice_client(server: &TestServer) -> (String, String) {
    let sql = "FROM clients WHERE status = 'active' AND account_manager_id = (SELECT id FROM reps WHERE login = 'alice') ORDER BY id LIMIT 1";
    let code = server.db.text(&format!("SELECT code {sql}")).await.unwrap();
    let name = server.db.text(&format!("SELECT name {sql}")).await.unwrap();
    (code, name)
}

/// An iPhone event of alice's with the client, ended 2026-11-20 10:00 UTC, with `extra` lines.
fn event(uid: &str, client: &str, extra: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.5.1//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20261115T090000Z\r\nDTSTART:20261120T090000Z\r\nDTEND:20261120T100000Z\r\nSUMMARY:Renewal call\r\n\
         DESCRIPTION:Prep: bring the new price list.\r\nX-CRM-CLIENT:{client}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn put(server: &TestServer, path: &str, body: String) -> reqwest::Response {
    server.as_user("PUT", path, "alice").header("Content-Type", ICAL).body(body).send().await.unwrap()
}

async fn get(server: &TestServer, login: &str, path: &str) -> (u16, String) {
    let response = server.as_user("GET", path, login).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get_bytes(server: &TestServer, path: &str) -> (u16, Vec<u8>) {
    let response = server.as_user("GET", path, "alice").send().await.unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
}

/// The ATTACH lines of an object, unfolded.
fn attaches(object: &str) -> Vec<String> {
    object.replace("\r\n ", "").lines().filter(|l| l.starts_with("ATTACH")).map(str::to_string).collect()
}

fn url_of(attach: &str) -> String {
    attach.rsplit_once(':').unwrap().1.to_string()
}

async fn count(server: &TestServer, sql: &str) -> i64 {
    server.db.count(sql).await
}

async fn activity_status(server: &TestServer, uid: &str) -> String {
    server.db.text(&format!("SELECT status FROM activities WHERE uid = '{uid}'")).await.unwrap()
}

/// The first card of the client `name`, as alice's phone gets it (unfolded).
async fn card_of(server: &TestServer, name: &str) -> String {
    let href = server
        .db
        .text(&format!(
            "SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.name = '{}' ORDER BY k.id LIMIT 1",
            name.replace('\'', "''")
        ))
        .await
        .expect("the client has a contact");
    get(server, "alice", &format!("/dav/addressbooks/alice/clients/{href}")).await.1.replace("\r\n ", "")
}

fn today() -> String {
    Utc::now().format("%Y-%m-%d").to_string()
}

/// An event with a recording inline: the recording is stored once as a voice note of the activity
/// and its client, measured, and the event comes back with a link; a re-PUT stores nothing twice;
/// other attachments stay as they were.
async fn a_voice_note_on_an_event_is_stored_once_and_linked(backend: Backend) {
    let mut config = Config::default();
    config.calendar.max_voice_note_bytes = 6000;
    let server = TestServer::with_config(backend, config, Some(DemoSize::SMALL)).await;
    let (code, name) = alice_client(&server).await;
    let memo = audio("memo.m4a");
    let path = format!("{EVENTS}memo-event.ics");
    let png = "ATTACH;FMTTYPE=image/png;ENCODING=BASE64;VALUE=BINARY:iVBORw0KGgo=\r\n";
    let sent = event("memo-event", &code, &format!("{}{png}", inline("audio/mp4", "visit.m4a", &memo)));
    let response = put(&server, &path, sent.clone()).await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("etag").is_none(), "stored otherwise than sent: the phone fetches it");

    let activity = "(SELECT id FROM activities WHERE uid = 'memo-event')";
    let client = format!("(SELECT id FROM clients WHERE code = '{code}')");
    assert_eq!(
        count(&server, &format!("SELECT COUNT(*) FROM voice_notes WHERE activity_id = {activity} AND client_id = {client} AND size_bytes = {} AND note_id IS NULL", memo.len())).await,
        1
    );
    let duration = count(&server, "SELECT duration_ms FROM voice_notes").await;
    assert!((1400..=1700).contains(&duration), "measured {duration} ms (ffprobe: 1.5 s)");
    let stored = server.db.text(&format!("SELECT ical FROM activities WHERE id = {activity}")).await.unwrap();
    assert!(
        !stored.contains("audio/mp4") && stored.contains("image/png"),
        "the audio is not kept in the object: {stored}"
    );

    // As the phone receives it: a link with the managed id, type, size and name; the image as sent.
    let (_, object) = get(&server, "alice", &path).await;
    let links = attaches(&object);
    assert_eq!(links.len(), 2, "{object}");
    let voice = links.iter().find(|l| l.contains("audio/mp4")).unwrap();
    let id = count(&server, "SELECT id FROM voice_notes").await;
    assert_eq!(
        voice,
        &format!(
            "ATTACH;MANAGED-ID={id};FMTTYPE=audio/mp4;SIZE={};FILENAME=visit.m4a:/dav/voice-notes/{id}",
            memo.len()
        )
    );
    assert!(links.iter().any(|l| l.contains("FMTTYPE=image/png") && l.ends_with(":iVBORw0KGgo=")), "{object}");
    assert_eq!(get_bytes(&server, &url_of(voice)).await, (200, memo.clone()), "byte for byte");

    // The client's card lists it, with its length.
    let card = card_of(&server, &name).await;
    let line = format!("Voice note {}\\, Alice Martin\\, 0:02: /dav/voice-notes/{id}", today());
    assert!(card.contains(&line), "{line} in {card}");

    // A device that sends the object again, inline or with the link, stores nothing twice.
    assert_eq!(put(&server, &path, sent).await.status(), 204);
    assert_eq!(put(&server, &path, object.clone()).await.status(), 204);
    assert_eq!(count(&server, "SELECT COUNT(*) FROM voice_notes").await, 1);
    let (_, again) = get(&server, "alice", &path).await;
    assert_eq!(attaches(&again), links, "one link, as before");

    // Over calendar.max_voice_note_bytes: 413, and neither the event nor a voice note is written.
    let big = [memo.clone(), memo.clone()].concat();
    let response =
        put(&server, &format!("{EVENTS}big.ics"), event("big", &code, &inline("audio/mp4", "big.m4a", &big))).await;
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("calendar.max_voice_note_bytes"));
    assert_eq!(count(&server, "SELECT COUNT(*) FROM activities WHERE uid = 'big'").await, 0);
    assert_eq!(count(&server, "SELECT COUNT(*) FROM voice_notes").await, 1);

    // Visibility: bob does not see alice's client.
    assert_eq!(get(&server, "bob", &url_of(voice)).await.0, 404);
    server.stop().await;
}

/// The event of the report tests ends then; report tasks are asked for an hour later.
fn ended() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 11, 0, 0).unwrap()
}

/// An ended call of alice's and its report task: (task path, task text).
async fn ended_call(server: &TestServer, uid: &str) -> (String, String) {
    let (code, _) = alice_client(server).await;
    assert_eq!(put(server, &format!("{EVENTS}{uid}.ics"), event(uid, &code, "")).await.status(), 201);
    crmdav::crm::report_tasks::request_due(&server.db.store, &Config::default().calendar, ended()).await.unwrap();
    let task_path = format!("{TASKS}report-{uid}.ics");
    let (status, task) = get(server, "alice", &task_path).await;
    assert_eq!(status, 200, "{task}");
    (task_path, task)
}

/// jtx Board's task with a recording, filled in for the task the server gave.
fn task_with_audio(task: &str, bytes: &[u8]) -> String {
    let value = |name: &str| {
        task.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name}"))
            .trim()
            .to_string()
    };
    fixture("ical/jtx_board_report_audio.ics")
        .replace("{{UID}}", &value("UID"))
        .replace("{{RELATED}}", &value("RELATED-TO"))
        .replace("{{DUE}}", &value("DUE"))
        .replace("{{SUMMARY}}", &value("SUMMARY"))
        .replace("{{REPORT_FOR}}", &value("X-CRM-REPORT-FOR"))
        .replace("{{AUDIO}}", &folded(bytes))
}

async fn notes_of(server: &TestServer, uid: &str) -> Vec<String> {
    crmdav::on_db!(server.db.store, read, |pool| sqlx::query_scalar(&format!(
        "SELECT body FROM notes WHERE activity_id = (SELECT id FROM activities WHERE uid = '{uid}') ORDER BY id"
    ))
    .fetch_all(pool)
    .await
    .unwrap())
}

/// With `calendar.voice_note_closes` on (the default), a recording on a report task is its report:
/// the activity is closed with the note "Voice note (0:01): URL", linked to the voice note.
async fn a_voice_note_on_a_report_task_closes_the_activity(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (task_path, task) = ended_call(&server, "voice-close").await;
    let memo = audio("memo.ogg");
    let response = put(&server, &task_path, task_with_audio(&task, &memo)).await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    assert_eq!(activity_status(&server, "voice-close").await, "completed");
    let id = count(&server, "SELECT id FROM voice_notes").await;
    assert_eq!(notes_of(&server, "voice-close").await, [format!("Voice note (0:01): /dav/voice-notes/{id}")]);
    assert_eq!(
        count(&server, "SELECT COUNT(*) FROM voice_notes v JOIN notes n ON n.id = v.note_id JOIN activities a ON a.id = v.activity_id WHERE a.uid = 'voice-close' AND v.client_id = a.client_id AND v.content_type = 'audio/ogg'").await,
        1,
        "a voice note of the activity, its client and its report"
    );
    assert_eq!(get(&server, "alice", &task_path).await.0, 404, "the report task is gone");
    // The event links the recording; the notes collection shows the report with it.
    let (_, object) = get(&server, "alice", &format!("{EVENTS}voice-close.ics")).await;
    assert!(object.contains("X-CRM-STATUS:COMPLETED"), "{object}");
    assert!(attaches(&object).iter().any(|a| a.ends_with(&format!(":/dav/voice-notes/{id}"))), "{object}");
    let note_id = count(&server, "SELECT note_id FROM voice_notes").await;
    let (status, entry) = get(&server, "alice", &format!("{NOTES}note-{note_id}.ics")).await;
    assert_eq!(status, 200, "{entry}");
    let entry = entry.replace("\r\n ", "");
    assert!(
        entry.contains(&format!("Voice note {}\\, Alice Martin\\, 0:01: /dav/voice-notes/{id}", today())),
        "{entry}"
    );
    assert!(
        entry.contains(&format!(
            "FMTTYPE=audio/ogg;SIZE={};FILENAME=jtx_audio_1763638200.ogg:/dav/voice-notes/{id}",
            memo.len()
        )),
        "{entry}"
    );
    assert_eq!(get_bytes(&server, &format!("/dav/voice-notes/{id}")).await, (200, memo));
    server.stop().await;
}

/// With `calendar.voice_note_closes` off, a recording alone is refused as a report without words
/// is, and nothing is written (no voice note either); with a written report it is kept with it.
async fn without_voice_note_closes_a_recording_needs_a_written_report(backend: Backend) {
    let mut config = Config::default();
    config.calendar.voice_note_closes = false;
    let server = TestServer::with_config(backend, config, Some(DemoSize::SMALL)).await;
    let (task_path, task) = ended_call(&server, "voice-off").await;
    let memo = audio("memo.ogg");
    let response = put(&server, &task_path, task_with_audio(&task, &memo)).await;
    assert_eq!(response.status(), 403);
    let error = parse_dav_error(&response.text().await.unwrap());
    assert!(error.message.contains("calendar.voice_note_closes is off"), "{}", error.message);
    assert!(error.message.contains("write at least 3 words"), "{}", error.message);
    assert_eq!(activity_status(&server, "voice-off").await, "planned");
    assert_eq!(count(&server, "SELECT COUNT(*) FROM voice_notes").await, 0);
    assert!(notes_of(&server, "voice-off").await.is_empty());

    let written = task_with_audio(&task, &memo)
        .replace("STATUS:NEEDS-ACTION", "STATUS:COMPLETED\r\nCOMPLETED:20261120T113000Z")
        .replace(
            "DESCRIPTION:Write what happened and tick this done to close the activity in the CRM.",
            "DESCRIPTION:Renewal agreed for two years.",
        );
    let response = put(&server, &task_path, written).await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    assert_eq!(activity_status(&server, "voice-off").await, "completed");
    let id = count(&server, "SELECT id FROM voice_notes").await;
    assert_eq!(
        notes_of(&server, "voice-off").await,
        [format!("Renewal agreed for two years.\nVoice note (0:01): /dav/voice-notes/{id}")]
    );
    server.stop().await;
}

/// The RFC 8607 request of fixtures/requests (as Apple's CalendarAgent sends it) for `object`,
/// with `bytes` as its body.
fn attachment_add(server: &TestServer, object: &str, etag: &str, bytes: &[u8]) -> reqwest::RequestBuilder {
    let text = fixture("requests/rfc8607-attachment-add.http")
        .replace("{{OBJECT}}", object)
        .replace("{{ETAG}}", etag)
        .replace("{{LENGTH}}", &bytes.len().to_string());
    let mut lines = text.lines();
    let (method, target) = lines.next().unwrap().split_once(' ').unwrap();
    let target = target.trim_end_matches(" HTTP/1.1");
    let mut request = server.as_user(method, target, "alice");
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(": ").unwrap();
        // The connection's own headers are reqwest's to write.
        if !["host", "content-length"].contains(&name.to_ascii_lowercase().as_str()) {
            request = request.header(name, value);
        }
    }
    request.body(bytes.to_vec())
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

async fn post(server: &TestServer, target: &str, content_type: &str, bytes: &[u8]) -> reqwest::Response {
    server
        .as_user("POST", target, "alice")
        .header("Content-Type", content_type)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

/// RFC 8607 managed attachments on an event, a journal entry and a report task: attachment-add,
/// -update and -remove, with the answers the RFC gives, and every refusal with its reason.
async fn rfc_8607_managed_attachments_add_update_and_remove_voice_notes(backend: Backend) {
    let mut config = Config::default();
    config.calendar.max_voice_note_bytes = 9000;
    let server = TestServer::with_config(backend, config, Some(DemoSize::SMALL)).await;
    let (code, name) = alice_client(&server).await;

    // Advertised: the DAV header of the calendars and the section 6 properties.
    let options = server.request("OPTIONS", EVENTS).send().await.unwrap();
    assert!(header(&options, "dav").contains("calendar-managed-attachments"), "{options:?}");
    assert!(header(&options, "allow").contains("POST"));
    let options = server.request("OPTIONS", &format!("{EVENTS}x.ics")).send().await.unwrap();
    assert!(header(&options, "allow").contains("POST"), "{options:?}");
    let propfind = server
        .as_user("PROPFIND", "/dav/calendars/alice/", "alice")
        .header("Depth", "1")
        .body(r#"<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:max-attachment-size/><c:managed-attachments-server-URL/></d:prop></d:propfind>"#)
        .send()
        .await
        .unwrap();
    let listing = propfind.text().await.unwrap();
    assert_eq!(listing.matches("max-attachment-size>9000<").count(), 4, "home, two calendars, notes: {listing}");
    assert!(listing.contains("managed-attachments-server-URL><d:href/>"), "{listing}");

    let path = format!("{EVENTS}rfc8607.ics");
    assert_eq!(put(&server, &path, event("rfc8607", &code, "")).await.status(), 201);
    let etag =
        server.as_user("GET", &path, "alice").send().await.unwrap().headers()["etag"].to_str().unwrap().to_string();
    let memo = audio("memo.m4a");

    // A stale If-Match: 412, nothing stored.
    let stale = attachment_add(&server, &path, "\"stale\"", &memo).send().await.unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(count(&server, "SELECT COUNT(*) FROM voice_notes").await, 0);

    // attachment-add: 201, the managed id and the attachment's URL, the object with its new ETag.
    let added = attachment_add(&server, &path, &etag, &memo).send().await.unwrap();
    assert_eq!(added.status(), 201);
    let id = header(&added, "cal-managed-id");
    assert_eq!(header(&added, "location"), format!("/dav/voice-notes/{id}"));
    assert_eq!(header(&added, "content-location"), path);
    let new_etag = header(&added, "etag");
    assert!(!new_etag.is_empty() && new_etag != etag);
    let object = added.text().await.unwrap();
    let link = format!(
        "ATTACH;MANAGED-ID={id};FMTTYPE=audio/mp4;SIZE={};FILENAME=visit-memo.m4a:/dav/voice-notes/{id}",
        memo.len()
    );
    assert_eq!(attaches(&object), [link]);
    let fetched = server.as_user("GET", &path, "alice").send().await.unwrap();
    assert_eq!(header(&fetched, "etag"), new_etag, "the ETag answered is the object's");
    assert_eq!(get_bytes(&server, &format!("/dav/voice-notes/{id}")).await, (200, memo.clone()));
    assert_eq!(
        count(&server, &format!("SELECT COUNT(*) FROM voice_notes WHERE id = {id} AND activity_id = (SELECT id FROM activities WHERE uid = 'rfc8607') AND client_id = (SELECT id FROM clients WHERE code = '{code}') AND duration_ms > 1400")).await,
        1
    );
    let card = card_of(&server, &name).await;
    assert!(card.contains(&format!("0:02: /dav/voice-notes/{id}")), "{card}");

    // attachment-update: a new managed id; the old URL is gone.
    let ogg = audio("memo.ogg");
    let updated = post(&server, &format!("{path}?action=attachment-update&managed-id={id}"), "audio/ogg", &ogg).await;
    assert_eq!(updated.status(), 200);
    let new_id = header(&updated, "cal-managed-id");
    assert!(!new_id.is_empty() && new_id != id);
    assert_eq!(get_bytes(&server, &format!("/dav/voice-notes/{id}")).await.0, 404);
    assert_eq!(get_bytes(&server, &format!("/dav/voice-notes/{new_id}")).await, (200, ogg));
    let object = updated.text().await.unwrap();
    assert_eq!(attaches(&object).len(), 1);
    assert!(
        attaches(&object)[0].starts_with(&format!("ATTACH;MANAGED-ID={new_id};FMTTYPE=audio/ogg;SIZE=")),
        "{object}"
    );

    // Refusals, each with its reason, and nothing written.
    let unknown = post(&server, &format!("{path}?action=attachment-copy"), "audio/ogg", b"x").await;
    assert_eq!(unknown.status(), 400);
    assert!(unknown.text().await.unwrap().contains("unknown action \"attachment-copy\""));
    let picture = post(&server, &format!("{path}?action=attachment-add"), "image/png", b"\x89PNG").await;
    assert_eq!(picture.status(), 415);
    assert!(picture.text().await.unwrap().contains("voice notes only"));
    let big = [memo.clone(), memo.clone(), memo.clone()].concat();
    let too_big = post(&server, &format!("{path}?action=attachment-add"), "audio/mp4", &big).await;
    assert_eq!(too_big.status(), 413);
    let error = parse_dav_error(&too_big.text().await.unwrap());
    assert!(error.preconditions.iter().any(|p| p.local == "max-attachment-size"), "{:?}", error.preconditions);
    assert!(error.message.contains("calendar.max_voice_note_bytes"), "{}", error.message);
    let wrong_id = post(&server, &format!("{path}?action=attachment-remove&managed-id=999999"), "audio/ogg", b"").await;
    assert_eq!(wrong_id.status(), 403);
    let error = parse_dav_error(&wrong_id.text().await.unwrap());
    assert!(error.preconditions.iter().any(|p| p.local == "valid-managed-id"), "{:?}", error.preconditions);
    let per_instance =
        post(&server, &format!("{path}?action=attachment-add&rid=20261120T090000Z"), "audio/ogg", &memo).await;
    assert_eq!(per_instance.status(), 403);
    assert_eq!(count(&server, "SELECT COUNT(*) FROM voice_notes").await, 1);
    let missing = post(&server, &format!("{EVENTS}none.ics?action=attachment-add"), "audio/mp4", &memo).await;
    assert_eq!(missing.status(), 404);

    // attachment-remove: 204, the object links nothing.
    let removed =
        post(&server, &format!("{path}?action=attachment-remove&managed-id={new_id}"), "audio/ogg", b"").await;
    assert_eq!(removed.status(), 204);
    assert!(!header(&removed, "etag").is_empty());
    assert!(attaches(&get(&server, "alice", &path).await.1).is_empty());
    assert_eq!(count(&server, "SELECT COUNT(*) FROM voice_notes").await, 0);

    // A journal entry of alice's takes one too; bob cannot hear it.
    let journal = fixture("ical/jtx_board_journal.ics").replace("{{UID}}", "fair-8607").replace("{{CLIENT}}", &name);
    let entry = format!("{NOTES}fair-8607.ics");
    assert_eq!(put(&server, &entry, journal).await.status(), 201);
    let added = post(&server, &format!("{entry}?action=attachment-add"), "audio/wav", &audio("memo.wav")).await;
    assert_eq!(added.status(), 201);
    let id = header(&added, "cal-managed-id");
    let object = added.text().await.unwrap().replace("\r\n ", "");
    assert!(
        object.contains(&format!("Voice note {}\\, Alice Martin\\, 0:01: /dav/voice-notes/{id}", today())),
        "{object}"
    );
    assert_eq!(
        count(&server, &format!("SELECT COUNT(*) FROM voice_notes v JOIN notes n ON n.id = v.note_id WHERE v.id = {id} AND n.uid = 'fair-8607' AND v.duration_ms = 1000")).await,
        1
    );
    assert_eq!(get(&server, "bob", &format!("/dav/voice-notes/{id}")).await.0, 404);
    // Another rep's note on alice's client is hers to read, not to attach to.
    server
        .db
        .exec(&format!(
            "INSERT INTO notes (client_id, rep_id, body) SELECT id, (SELECT id FROM reps WHERE login = 'bob'), 'Bob was here' FROM clients WHERE code = '{code}'"
        ))
        .await;
    let bobs = count(&server, "SELECT MAX(id) FROM notes").await;
    let refused =
        post(&server, &format!("{NOTES}note-{bobs}.ics?action=attachment-add"), "audio/wav", &audio("memo.wav")).await;
    assert_eq!(refused.status(), 403);
    let error = parse_dav_error(&refused.text().await.unwrap());
    assert!(error.preconditions.iter().any(|p| p.local == "need-privileges"), "{:?}", error.preconditions);
    assert_eq!(count(&server, &format!("SELECT COUNT(*) FROM voice_notes WHERE note_id = {bobs}")).await, 0);
    // Cards take no attachments.
    let card_href = server
        .db
        .text(&format!("SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.code = '{code}' ORDER BY k.id LIMIT 1"))
        .await
        .unwrap();
    let on_card = post(
        &server,
        &format!("/dav/addressbooks/alice/clients/{card_href}?action=attachment-add"),
        "audio/wav",
        &audio("memo.wav"),
    )
    .await;
    assert_eq!(on_card.status(), 405);

    // A report task: the recording added is its report (calendar.voice_note_closes is on).
    let (task_path, _) = ended_call(&server, "rfc8607-report").await;
    let added = post(&server, &format!("{task_path}?action=attachment-add"), "audio/mpeg", &audio("memo.mp3")).await;
    assert_eq!(added.status(), 201);
    let id = header(&added, "cal-managed-id");
    assert_eq!(header(&added, "location"), format!("/dav/voice-notes/{id}"));
    assert!(header(&added, "etag").is_empty(), "the task is gone: no object to tag");
    assert_eq!(activity_status(&server, "rfc8607-report").await, "completed");
    assert_eq!(notes_of(&server, "rfc8607-report").await, [format!("Voice note (0:02): /dav/voice-notes/{id}")]);
    assert_eq!(get(&server, "alice", &task_path).await.0, 404);
    server.stop().await;
}

on_both_databases!(
    rfc_8607_managed_attachments_add_update_and_remove_voice_notes,
    a_voice_note_on_an_event_is_stored_once_and_linked,
    a_voice_note_on_a_report_task_closes_the_activity,
    without_voice_note_closes_a_recording_needs_a_written_report
);
