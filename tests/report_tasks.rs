//! Closing from any phone (report tasks), the stronger note rule and clean client notes, over
//! HTTP on both databases, with the requests real clients send (fixtures/ical).

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{Backend, TestServer, responses, sync_body, sync_token};
use crmdav::config::Config;

const EVENTS: &str = "/dav/calendars/alice/activities/";
const TASKS: &str = "/dav/calendars/alice/follow-ups/";
const ICAL: &str = "text/calendar; charset=utf-8";

/// The event of the tests ends then; report tasks are asked for an hour later.
fn ended() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/ical/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

/// A client alice sees (the default rule: prospects and active clients she manages).
async fn alice_client(server: &TestServer) -> String {
    server
        .db
        .text("SELECT code FROM clients WHERE status = 'active' AND account_manager_id = (SELECT id FROM reps WHERE login = 'alice') ORDER BY id LIMIT 1")
        .await
        .expect("alice manages an active client")
}

fn event(uid: &str, client: &str, description: &str, extra: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.5.1//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20261115T090000Z\r\nDTSTART:20261120T090000Z\r\nDTEND:20261120T100000Z\r\nSUMMARY:Renewal call\r\n\
         DESCRIPTION:{description}\r\nX-CRM-CLIENT:{client}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn put(server: &TestServer, path: &str, body: String) -> (u16, String) {
    let response = server.as_user("PUT", path, "alice").header("Content-Type", ICAL).body(body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn get(server: &TestServer, login: &str, path: &str) -> (u16, String) {
    let response = server.as_user("GET", path, login).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn sync(server: &TestServer, token: &str) -> String {
    let response = server
        .as_user("REPORT", TASKS, "alice")
        .header("Depth", "1")
        .header("Content-Type", "application/xml")
        .body(sync_body(token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 207);
    response.text().await.unwrap()
}

async fn request_reports(server: &TestServer, at: DateTime<Utc>) -> u64 {
    crmdav::crm::report_tasks::request_due(&server.db.store, &Config::default().calendar, at).await.unwrap()
}

async fn status_of(server: &TestServer, uid: &str) -> String {
    server.db.text(&format!("SELECT status FROM activities WHERE uid = '{uid}'")).await.unwrap()
}

async fn notes_of(server: &TestServer, uid: &str) -> Vec<String> {
    crmdav::on_db!(server.db.store, read, |pool| sqlx::query_scalar(&format!(
        "SELECT body FROM notes WHERE activity_id = (SELECT id FROM activities WHERE uid = '{uid}') ORDER BY id"
    ))
    .fetch_all(pool)
    .await
    .unwrap())
}

/// A report task of the fixtures, filled in for the task the server gave.
fn filled(fixture_name: &str, task: &str) -> String {
    let value = |name: &str| {
        task.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} in {task}"))
            .trim()
            .to_string()
    };
    fixture(fixture_name)
        .replace("{{UID}}", &value("UID"))
        .replace("{{RELATED}}", &value("RELATED-TO"))
        .replace("{{DUE}}", &value("DUE"))
        .replace("{{SUMMARY}}", &value("SUMMARY"))
        .replace("{{REPORT_FOR}}", &value("X-CRM-REPORT-FOR"))
}

/// An ended renewal call of alice with a prep note, and its report task once the server asked for
/// the report: (event path, task path, task text).
async fn ended_call(server: &TestServer, uid: &str) -> (String, String, String) {
    let client = alice_client(server).await;
    let path = format!("{EVENTS}{uid}.ics");
    let (status, body) = put(server, &path, event(uid, &client, "Prep: bring the new price list.", "")).await;
    assert_eq!(status, 201, "{body}");
    assert!(notes_of(server, uid).await.is_empty(), "a planned event's description is no client note");
    assert!(request_reports(server, ended() + chrono::TimeDelta::hours(1)).await >= 1);
    let task_path = format!("{TASKS}report-{uid}.ics");
    let (status, task) = get(server, "alice", &task_path).await;
    assert_eq!(status, 200, "{task}");
    (path, task_path, task)
}

async fn a_report_task_appears_once_asked_for_and_ios_reminders_closes_the_activity_with_it(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let token = sync_token(&sync(&server, "").await);
    let (event_path, task_path, task) = ended_call(&server, "renewal-1").await;
    // The report task as the phone gets it.
    for line in [
        "UID:crmdav-report-renewal-1",
        "DUE:20261120T100000Z",
        "RELATED-TO:renewal-1",
        "STATUS:NEEDS-ACTION",
        "X-CRM-REPORT-FOR:/dav/calendars/alice/activities/renewal-1.ics",
    ] {
        assert!(task.contains(&format!("{line}\r\n")), "{line} in {task}");
    }
    assert!(task.contains("DESCRIPTION:Write what happened and tick this done"), "{task}");
    assert!(task.contains("SUMMARY:Report: Renewal call · "), "the title names the client: {task}");
    let delta = sync(&server, &token).await;
    let listed = responses(&delta);
    assert!(listed.iter().any(|r| r.href == task_path && r.status() != Some(404)), "the sync brings it: {delta}");

    // iOS Reminders saves the notes first (kept as a draft: the activity stays planned) ...
    let (status, body) = put(&server, &task_path, filled("ios_reminders_report_notes.ics", &task)).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(status_of(&server, "renewal-1").await, "planned");
    assert!(notes_of(&server, "renewal-1").await.is_empty());
    let (_, shown) = get(&server, "alice", &task_path).await;
    assert!(shown.contains("DESCRIPTION:Buyer agreed to renew for two years."), "{shown}");

    // ... a tick with nothing but "..." is refused and changes nothing ...
    let dots = filled("ios_reminders_report_completed.ics", &task)
        .replace("Buyer agreed to renew for two years. Quote for 40 more units by Friday.", "...");
    let (status, body) = put(&server, &task_path, dots).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("note-required") && body.contains("write at least 3 words"), "{body}");
    assert_eq!(status_of(&server, "renewal-1").await, "planned");

    // ... then the tick with the notes closes the activity with them as its report.
    let (status, body) = put(&server, &task_path, filled("ios_reminders_report_completed.ics", &task)).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(status_of(&server, "renewal-1").await, "completed");
    assert_eq!(
        notes_of(&server, "renewal-1").await,
        ["Buyer agreed to renew for two years. Quote for 40 more units by Friday."]
    );
    let source = server.db.text("SELECT source FROM notes WHERE body LIKE 'Buyer agreed%'").await;
    assert_eq!(source.as_deref(), Some("dav"));
    assert_eq!(get(&server, "alice", &task_path).await.0, 404, "the report task is gone");
    let gone = sync(&server, &sync_token(&delta)).await;
    assert!(responses(&gone).iter().any(|r| r.href == task_path && r.status() == Some(404)), "{gone}");
    let (_, event) = get(&server, "alice", &event_path).await;
    assert!(event.contains("X-CRM-STATUS:COMPLETED") && event.contains("Buyer agreed to renew"), "{event}");
    server.stop().await;
}

async fn android_task_apps_close_with_the_new_text_and_not_without_it(backend: Backend) {
    let server = TestServer::demo(backend).await;
    // jtx Board: 100 % with the instructions left as they were: no report.
    let (_, task_path, task) = ended_call(&server, "visit-2").await;
    let (status, body) = put(&server, &task_path, filled("jtx_report_completed_without_notes.ics", &task)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("note-required") && body.contains("notes of the report task"), "{body}");
    assert_eq!(status_of(&server, "visit-2").await, "planned");
    // Tasks.org: the report written under the instructions; only the report is the note.
    let (status, body) = put(&server, &task_path, filled("tasks_org_report_completed.ics", &task)).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(status_of(&server, "visit-2").await, "completed");
    assert_eq!(
        notes_of(&server, "visit-2").await,
        ["Site visit done, the new line runs. Training for three operators in January."]
    );
    server.stop().await;
}

async fn an_event_closes_only_with_new_words(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let client = alice_client(&server).await;
    let path = format!("{EVENTS}prep-3.ics");
    let prep = "Prep: bring the new price list.";
    assert_eq!(put(&server, &path, event("prep-3", &client, prep, "")).await.0, 201);
    let done = "CATEGORIES:Completed\r\n";
    // Only the prep note: refused, with what to write.
    let (status, body) = put(&server, &path, event("prep-3", &client, prep, done)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("To close 'Renewal call', write at least 3 words"), "{body}");
    // "..." added: refused.
    let (status, _) = put(&server, &path, event("prep-3", &client, &format!("{prep}\\n..."), done)).await;
    assert_eq!(status, 403);
    assert_eq!(status_of(&server, "prep-3").await, "planned");
    assert!(notes_of(&server, "prep-3").await.is_empty());
    // A real report: one client note, the new part only.
    let report = "Met the buyer\\, renewal signed for two years.";
    let (status, body) =
        put(&server, &path, event("prep-3", &client, &format!("{prep}\\n\\n{report}"), "X-CRM-STATUS:COMPLETED\r\n"))
            .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(notes_of(&server, "prep-3").await, ["Met the buyer, renewal signed for two years."]);
    // The event keeps the description as the device wrote it (prep and report).
    let shown = get(&server, "alice", &path).await.1.replace("\r\n ", "");
    assert!(shown.contains("Prep: bring the new price list.") && shown.contains("renewal signed"), "{shown}");
    server.stop().await;
}

async fn an_outlook_invitation_is_no_note_and_closes_nothing(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let client = alice_client(&server).await;
    let invitation = fixture("outlook_teams_invitation.ics").replace("{{CLIENT}}", &client);
    let path = format!("{EVENTS}teams-4.ics");
    let (status, body) = put(&server, &path, invitation.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM notes WHERE body LIKE '%Passcode%'").await, 0);
    // Completed with the invitation as its only text (a new object, nothing before it): refused.
    let completed = invitation.replace("X-MICROSOFT-CDO-BUSYSTATUS:BUSY", "X-CRM-STATUS:COMPLETED");
    let (status, body) = put(&server, &format!("{EVENTS}teams-5.ics"), completed.replace("ABCDEF", "ABCDE5")).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = put(&server, &path, completed).await;
    assert_eq!(status, 403, "{body}");
    // The cards of the client show no invitation either.
    let card: String = server
        .db
        .text(&format!(
            "SELECT href FROM contacts WHERE client_id = (SELECT id FROM clients WHERE code = '{client}') ORDER BY id LIMIT 1"
        ))
        .await
        .unwrap_or_else(|| format!("client-{client}.vcf"));
    let (status, vcard) = get(&server, "alice", &format!("/dav/addressbooks/alice/clients/{card}")).await;
    assert_eq!(status, 200, "{vcard}");
    assert!(!vcard.contains("Passcode") && !vcard.contains("Teams"), "{vcard}");
    server.stop().await;
}

async fn report_tasks_are_their_reps_and_the_servers(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (_, task_path, task) = ended_call(&server, "call-6").await;
    // Another rep: 404, in their calendar and in alice's.
    let name = task_path.rsplit('/').next().unwrap();
    assert_eq!(get(&server, "bob", &format!("/dav/calendars/bob/follow-ups/{name}")).await.0, 404);
    assert_eq!(get(&server, "bob", &task_path).await.0, 404);
    // Deleting it is refused, with what to do instead.
    let response = server.as_user("DELETE", &task_path, "alice").send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("tick it done"));
    // A device's own task may not take a report task's name or UID.
    let own = task.replace("crmdav-report-call-6", "my-own-task");
    let (status, body) = put(&server, &format!("{TASKS}report-mine.ics"), own).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("reserved-name"), "{body}");
    let (status, body) = put(&server, &format!("{TASKS}mine.ics"), task.clone()).await;
    assert_eq!(status, 403, "{body}");
    // Renaming it on the phone changes nothing of the activity: accepted, no ETag (fetch again).
    let renamed = task.replace("SUMMARY:Report: Renewal call", "SUMMARY:Something else");
    let response =
        server.as_user("PUT", &task_path, "alice").header("Content-Type", ICAL).body(renamed).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.headers().get("etag").is_none());
    assert_eq!(get(&server, "alice", &task_path).await.1, task);
    assert_eq!(status_of(&server, "call-6").await, "planned");
    // Cancelling the event takes the report task away.
    server.as_user("DELETE", &format!("{EVENTS}call-6.ics"), "alice").send().await.unwrap();
    assert_eq!(get(&server, "alice", &task_path).await.0, 404);
    server.stop().await;
}

/// The server asks for reports by itself: at start and every `calendar.report_check_secs`.
async fn the_server_asks_for_reports_by_itself(backend: Backend) {
    let mut config = Config::default();
    config.calendar.report_check_secs = 1;
    let server = TestServer::with_config_as_given(backend, config, None).await;
    server
        .db
        .exec("INSERT INTO reps (login, display_name, email, role) VALUES ('dora', 'Dora', 'dora@example.com', 'rep')")
        .await;
    let an_hour_ago = crmdav::store::Ts(Utc::now() - chrono::TimeDelta::hours(1));
    let stamp = an_hour_ago.0.format("%Y-%m-%d %H:%M:%S+00").to_string();
    let sql = match backend {
        Backend::Sqlite => format!(
            "INSERT INTO activities (uid, href, rep_id, kind, subject, start_at, end_at) SELECT 'auto-7', 'auto-7.ics', id, 'call', 'Call', '{0}', '{0}' FROM reps WHERE login = 'dora'",
            an_hour_ago.0.format("%Y-%m-%dT%H:%M:%SZ")
        ),
        Backend::Postgres => format!(
            "INSERT INTO activities (uid, href, rep_id, kind, subject, start_at, end_at) SELECT 'auto-7', 'auto-7.ics', id, 'call', 'Call', '{stamp}', '{stamp}' FROM reps WHERE login = 'dora'"
        ),
    };
    server.db.exec(&sql).await;
    for _ in 0..50 {
        if server
            .db
            .count("SELECT COUNT(*) FROM activities WHERE uid = 'auto-7' AND report_requested_at IS NOT NULL")
            .await
            == 1
        {
            server.stop().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no report was asked for within 5 s");
}

on_both_databases!(
    a_report_task_appears_once_asked_for_and_ios_reminders_closes_the_activity_with_it,
    android_task_apps_close_with_the_new_text_and_not_without_it,
    an_event_closes_only_with_new_words,
    an_outlook_invitation_is_no_note_and_closes_nothing,
    report_tasks_are_their_reps_and_the_servers,
    the_server_asks_for_reports_by_itself
);
