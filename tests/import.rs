//! CSV import and export, over HTTP and the command line, on SQLite and PostgreSQL: the sample files
//! of `fixtures/import/` go in, importing them again changes nothing (not even the change log), a
//! dry run writes nothing, each kind of bad row is rejected with its line and reason (and then
//! nothing is written, or only the valid rows with `partial`), a file with unknown columns is
//! refused whole, and an export imported again changes nothing.

mod common;

use common::{Backend, TestServer};
use serde_json::{Value, json};

const ENTITIES: [&str; 6] = ["clients", "contacts", "activities", "notes", "results", "objectives"];

fn sample(entity: &str) -> String {
    std::fs::read_to_string(format!("{}/fixtures/import/{entity}.csv", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn import(server: &TestServer, entity: &str, query: &str, csv: &str) -> (u16, Value) {
    let response = server
        .as_user("POST", &format!("/admin/api/import/{entity}?{query}"), "admin")
        .header("Content-Type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap())
}

fn counts(outcome: &Value) -> [i64; 4] {
    ["inserted", "updated", "unchanged"]
        .map(|k| outcome[k].as_i64().unwrap())
        .into_iter()
        .chain([outcome["rejected"].as_array().unwrap().len() as i64])
        .collect::<Vec<_>>()
        .try_into()
        .unwrap()
}

async fn last_change(server: &TestServer) -> i64 {
    server.db.count("SELECT COALESCE(MAX(seq), 0) FROM change_log").await
}

async fn export(server: &TestServer, entity: &str) -> String {
    let response = server.as_user("GET", &format!("/admin/api/export/{entity}"), "admin").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8; header=present");
    response.text().await.unwrap()
}

async fn samples_import_and_import_again_changes_nothing(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let expected =
        [("clients", 3), ("contacts", 3), ("activities", 4), ("notes", 3), ("results", 3), ("objectives", 3)];
    for (entity, rows) in expected {
        let (status, outcome) = import(&server, entity, "", &sample(entity)).await;
        assert_eq!(status, 200, "{entity}: {outcome}");
        assert_eq!(counts(&outcome), [rows, 0, 0, 0], "{entity}: {outcome}");
        assert_eq!(outcome["written"], json!(true));
    }
    let db = &server.db;
    assert_eq!(db.text("SELECT name FROM clients WHERE code = 'K0001'").await.as_deref(), Some("Kestrel Foods, Ltd"));
    assert_eq!(
        db.count("SELECT amount_cents FROM results WHERE reference = 'SO-2026-0002'").await,
        420_050,
        "4200.50 in cents"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM results r JOIN activities a ON a.id = r.activity_id WHERE a.uid = 'imp-act-1'")
            .await,
        1
    );
    assert_eq!(db.text("SELECT source FROM results WHERE reference = 'SO-2026-0001'").await.as_deref(), Some("import"));
    // An imported activity is a calendar entry like any other: named, with its time range.
    assert_eq!(db.text("SELECT href FROM activities WHERE uid = 'imp-act-3'").await.as_deref(), Some("imp-act-3.ics"));
    assert_eq!(db.count("SELECT COUNT(*) FROM activities WHERE uid LIKE 'imp-act-%' AND range_end IS NULL").await, 0);
    // Alice sees her new client's contacts at once.
    let card =
        server.as_user("GET", "/dav/addressbooks/alice/clients/imp-contact-1.vcf", "alice").send().await.unwrap();
    assert_eq!(card.status(), 200);
    assert!(card.text().await.unwrap().contains("ORG:Kestrel Foods\\, Ltd"));

    let before = last_change(&server).await;
    for entity in ENTITIES {
        let (status, outcome) = import(&server, entity, "", &sample(entity)).await;
        assert_eq!(status, 200);
        let rows = outcome["rows"].as_i64().unwrap();
        assert_eq!(counts(&outcome), [0, 0, rows, 0], "{entity}: {outcome}");
    }
    assert_eq!(last_change(&server).await, before, "an import that changes nothing writes nothing");

    // Export then import: nothing changes, for the demo's data and the imported alike.
    for entity in ENTITIES {
        let csv = export(&server, entity).await;
        assert!(csv.starts_with(&sample(entity).lines().next().unwrap().to_string()), "{entity}: same columns");
        let (status, outcome) = import(&server, entity, "", &csv).await;
        assert_eq!(status, 200, "{entity}: {outcome}");
        let rows = outcome["rows"].as_i64().unwrap();
        assert!(rows > 0);
        assert_eq!(counts(&outcome), [0, 0, rows, 0], "{entity}: {outcome}");
    }
    assert_eq!(last_change(&server).await, before);
    server.stop().await;
}

async fn a_dry_run_writes_nothing_and_updates_touch_only_given_columns(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let before = last_change(&server).await;
    let (status, outcome) = import(&server, "clients", "dry_run=1", &sample("clients")).await;
    assert_eq!(status, 200);
    assert_eq!(counts(&outcome), [3, 0, 0, 0]);
    assert_eq!((outcome["dry_run"].clone(), outcome["written"].clone()), (json!(true), json!(false)));
    assert_eq!(server.db.count("SELECT COUNT(*) FROM clients WHERE code LIKE 'K%'").await, 0);
    assert_eq!(last_change(&server).await, before);

    import(&server, "clients", "", &sample("clients")).await;
    // A file of two columns renames one client and leaves the rest of it as it was.
    let rename = "code,name\r\nK0001,Kestrel Foods Group\r\nK0002,Lindqvist Verktyg AB\r\n";
    let (_, dry) = import(&server, "clients", "dry_run=true", rename).await;
    assert_eq!(counts(&dry), [0, 1, 1, 0]);
    assert_eq!(
        server.db.text("SELECT name FROM clients WHERE code = 'K0001'").await.as_deref(),
        Some("Kestrel Foods, Ltd")
    );
    let (status, done) = import(&server, "clients", "", rename).await;
    assert_eq!((status, counts(&done)), (200, [0, 1, 1, 0]));
    assert_eq!(
        server
            .db
            .text("SELECT name || '|' || city || '|' || status FROM clients WHERE code = 'K0001'")
            .await
            .as_deref(),
        Some("Kestrel Foods Group|Manchester|active")
    );
    server.stop().await;
}

/// One file with a row for each reason a row is refused.
const BAD_RESULTS: &str = "\u{feff}reference,client_code,rep,activity_uid,ordered_on,amount,currency,kind\r
OK-1,C00001,alice,,2026-03-01,100.00,EUR,new\r
BAD-2,C99999,alice,,2026-03-01,100.00,EUR,repeat\r
BAD-3,C00001,nobody,,2026-03-01,100.00,EUR,repeat\r
BAD-4,C00001,alice,,2026-02-30,100.00,EUR,repeat\r
BAD-5,C00001,alice,,2026-03-01,\"1,000.00\",EUR,repeat\r
BAD-6,C00001,alice,,2026-03-01,100.00,EURO,repeat\r
BAD-7,C00001,alice,,2026-03-01,100.00,EUR,maybe\r
,C00001,alice,,2026-03-01,100.00,EUR,repeat\r
BAD-9,C00001,alice\r
OK-1,C00002,bob,,2026-03-02,50.00,EUR,repeat\r
BAD-11,C00001,alice,no-such-activity,2026-03-01,100.00,EUR,repeat\r
OK-12,C00002,bob,,2026-03-02,-50.00,eur,repeat\r
";

async fn bad_rows_are_rejected_with_their_line_and_reason(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let before = last_change(&server).await;
    let (status, outcome) = import(&server, "results", "", BAD_RESULTS).await;
    assert_eq!(status, 422, "{outcome}");
    let rejected: Vec<(i64, String)> = outcome["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_i64().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        (3, "client_code: no client with code \"C99999\""),
        (4, "rep: no rep with login \"nobody\""),
        (5, "ordered_on: \"2026-02-30\" is not a date like 2026-03-31"),
        (6, "amount: \"1,000.00\" is not an amount like 1234.50"),
        (7, "currency: \"EURO\" is not a currency code like EUR"),
        (8, "kind: \"maybe\" is not one of repeat, new"),
        (9, "reference: a value is required"),
        (10, "3 fields, but the header has 8"),
        (11, "the same reference as line 2: each row must be another results"),
        (12, "activity_uid: no activity with UID \"no-such-activity\""),
    ];
    assert_eq!(rejected, expected.map(|(line, reason)| (line, reason.to_string())));
    assert_eq!((outcome["inserted"].clone(), outcome["written"].clone()), (json!(2), json!(false)));
    assert_eq!(server.db.count("SELECT COUNT(*) FROM results WHERE reference LIKE 'OK-%'").await, 0);
    assert_eq!(last_change(&server).await, before, "nothing half-imported");

    // --partial keeps the valid rows (a negative amount is a credit note; the currency is upper-cased).
    let (status, partial) = import(&server, "results", "partial=1", BAD_RESULTS).await;
    assert_eq!(status, 422);
    assert_eq!((counts(&partial), partial["written"].clone()), ([2, 0, 0, 10], json!(true)));
    assert_eq!(server.db.text("SELECT currency FROM results WHERE reference = 'OK-12'").await.as_deref(), Some("EUR"));
    assert_eq!(server.db.count("SELECT amount_cents FROM results WHERE reference = 'OK-12'").await, -5_000);

    // Checks across cells of a row, in the other entities.
    let activities = "uid,rep,kind,start,end,status,completed_at\n\
        a-1,alice,visit,2026-03-02T10:00:00Z,2026-03-02T09:00:00Z,planned,\n\
        a-2,alice,call,2026-03-02T10:00:00Z,2026-03-02T11:00:00Z,completed,\n\
        a-3,alice,lunch,2026-03-02T10:00:00Z,,planned,\n";
    let (status, outcome) = import(&server, "activities", "", activities).await;
    assert_eq!(status, 422);
    let reasons: Vec<&str> =
        outcome["rejected"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "end: 2026-03-02T09:00:00Z is before the start 2026-03-02T10:00:00Z",
            "completed_at: a completed activity needs the time it was completed",
            "kind: \"lunch\" is not one of meeting, call, visit, task",
        ]
    );
    let objectives = "rep,period_start,period_end,visits\nalice,2026-03-31,2026-03-01,-2\n";
    let (_, outcome) = import(&server, "objectives", "", objectives).await;
    assert_eq!(outcome["rejected"][0]["reason"], json!("visits: \"-2\" is not a whole number (0 or more)"));
    server.stop().await;
}

async fn files_with_unknown_or_missing_columns_are_refused(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (status, body) = import(&server, "clients", "", "code,name,colour\nK1,One,red\n").await;
    assert_eq!(status, 400);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.starts_with("unknown column \"colour\" in a clients file: its columns are code, name,"),
        "{message}"
    );
    let (status, body) = import(&server, "contacts", "", "uid,first_name\nx,Ann\n").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().starts_with("a contacts file needs the column client_code"), "{body}");
    let (status, body) = import(&server, "clients", "", "code,name,name\n").await;
    assert_eq!((status, body["error"].as_str().unwrap()), (400, "the column \"name\" is given twice"));
    let (status, _) = import(&server, "invoices", "", "code\n").await;
    assert_eq!(status, 404);
    let (status, _) = import(&server, "clients", "dry-run=1", "code,name\n").await;
    assert_eq!(status, 400);
    // Admins only; export is read with GET only.
    let response =
        server.as_user("POST", "/admin/api/import/clients", "alice").body("code,name\n").send().await.unwrap();
    assert_eq!(response.status(), 403);
    let response = server.as_user("POST", "/admin/api/export/clients", "admin").send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(server.db.count("SELECT COUNT(*) FROM clients WHERE code = 'K1'").await, 0);
    server.stop().await;
}

/// `crmdav import` and `crmdav export` do what the API does.
async fn the_cli_imports_and_exports(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let crmdav = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_crmdav"))
            .args(["--database", &server.db.url])
            .args(args)
            .output()
            .unwrap()
    };
    let clients = format!("{}/fixtures/import/clients.csv", env!("CARGO_MANIFEST_DIR"));
    let dry = crmdav(&["import", "clients", &clients, "--dry-run"]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(
        said.contains("dry run, nothing written; would import: 3 inserted, 0 updated, 0 unchanged, 0 rejected"),
        "{said}"
    );
    assert_eq!(server.db.count("SELECT COUNT(*) FROM clients WHERE code LIKE 'K%'").await, 0);
    let done = crmdav(&["import", "clients", &clients]);
    assert!(String::from_utf8_lossy(&done.stdout).contains("clients imported: 3 inserted"));
    assert!(String::from_utf8_lossy(&done.stderr).trim().is_empty(), "no progress bar when not on a terminal");

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "code,name\nK0009,\n").unwrap();
    let refused = crmdav(&["import", "clients", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("bad.csv:2: name: a value is required") && stderr.contains("1 of 1 rows rejected"),
        "{stderr}"
    );

    let file = dir.path().join("clients.csv");
    let out = crmdav(&["export", "clients", "-o", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), export(&server, "clients").await);
    server.stop().await;
}

on_both_databases!(
    samples_import_and_import_again_changes_nothing,
    a_dry_run_writes_nothing_and_updates_touch_only_given_columns,
    bad_rows_are_rejected_with_their_line_and_reason,
    files_with_unknown_or_missing_columns_are_refused,
    the_cli_imports_and_exports,
);
