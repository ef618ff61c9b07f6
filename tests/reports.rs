//! Management reports over HTTP (and the CLI), on SQLite and PostgreSQL: figures checked against
//! values computed by hand on a small fixture, the CSV and JSON shapes, the chart, and who may
//! read them.

mod common;

use common::{Backend, TestServer};
use serde_json::{Value, json};

/// The fixture, `fixtures/reports/small-crm.sql` (its header tabulates the clients and the 18
/// activities the figures below are computed from), with password "demo" for every rep.
/// The period of the tests is 2026-01-01 to 2026-03-31; the previous one 2025-01-01 to 2025-03-31.
const PERIOD: &str = "from=2026-01-01&to=2026-03-31";

async fn fixture(backend: Backend) -> TestServer {
    let server = TestServer::empty(backend).await;
    let sql = include_str!("../fixtures/reports/small-crm.sql");
    let without_comments: String =
        sql.lines().filter(|line| !line.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    for statement in without_comments.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        server.db.exec(statement).await;
    }
    for login in ["alice", "bob", "carol", "mia", "admin"] {
        crmdav::crm::reps::set_password(&server.db.store, login, "demo").await.unwrap();
    }
    // mia leads the three reps: a manager's reports cover the reps of their teams.
    server.db.exec("INSERT INTO teams (name, manager_id) SELECT 'Everyone', id FROM reps WHERE login = 'mia'").await;
    server
        .db
        .exec("UPDATE reps SET team_id = (SELECT id FROM teams WHERE name = 'Everyone') WHERE login IN ('alice', 'bob', 'carol')")
        .await;
    server
}

/// The fixture with `fixtures/reports/results.sql` (results and objectives) on top.
async fn fixture_with_results(backend: Backend) -> TestServer {
    let server = fixture(backend).await;
    let sql = include_str!("../fixtures/reports/results.sql");
    let without_comments: String =
        sql.lines().filter(|line| !line.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
    for statement in without_comments.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        server.db.exec(statement).await;
    }
    server
}

async fn get(server: &TestServer, login: &str, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = server.as_user("GET", path, login).send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, response.text().await.unwrap(), headers)
}

async fn json(server: &TestServer, kind: &str, query: &str) -> Value {
    json_of_period(server, kind, &format!("{PERIOD}&{query}")).await
}

/// The JSON report for a query that names its own period.
async fn json_of_period(server: &TestServer, kind: &str, query: &str) -> Value {
    let (status, body, headers) = get(server, "mia", &format!("/admin/api/reports/{kind}?{query}")).await;
    assert_eq!(status, 200, "{kind}?{query}: {body}");
    assert_eq!(headers["content-type"], "application/json");
    serde_json::from_str(&body).unwrap()
}

/// The rows of a JSON report as tuples of the named columns, for compact comparisons.
fn rows(report: &Value, columns: &[&str]) -> Vec<Vec<Value>> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| columns.iter().map(|c| row.get(*c).unwrap_or_else(|| panic!("no column {c}")).clone()).collect())
        .collect()
}

/// Rows with a non-zero last column (zero-filled reports have many zero rows).
fn nonzero(rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.into_iter().filter(|r| r.last() != Some(&json!(0))).collect()
}

/// A period running on past today ends with the week or month holding today, marked partial (in
/// the table, and "(partial)" on the chart): no zeros for the weeks or months to come, and the
/// current one not shown as if it were over. A period that is over has nothing partial.
async fn clients_seen_marks_the_current_period_partial(backend: Backend) {
    let server = fixture(backend).await;
    let today = chrono::Utc::now().date_naive();
    let this_month = today.format("%Y-%m-01").to_string();
    let year = today.format("%Y").to_string();
    let query = format!("from={year}-01-01&to={year}-12-31");
    let monthly = json_of_period(&server, "clients-seen-monthly", &format!("{query}&rep=alice")).await;
    let months = rows(&monthly, &["month_start", "partial"]);
    assert_eq!(months.len() as u32, chrono::Datelike::month(&today), "January to this month: {months:?}");
    assert_eq!(months.last().unwrap(), &vec![json!(this_month), json!(true)]);
    assert!(months[..months.len() - 1].iter().all(|m| m[1] == json!(false)), "{months:?}");
    for compare in ["", "&compare=reps", "&compare=years"] {
        let report = json_of_period(&server, "clients-seen-weekly", &format!("{query}{compare}")).await;
        let partial = rows(&report, &["partial"]);
        assert_eq!(partial.last().unwrap(), &vec![json!(true)], "{compare}");
        let (status, svg, _) =
            get(&server, "mia", &format!("/admin/api/reports/clients-seen-weekly?{query}{compare}&format=svg")).await;
        assert_eq!(status, 200);
        assert!(svg.contains("the last week is partial"), "the chart says the last week is partial ({compare})");
    }
    let over = json(&server, "clients-seen-monthly", "").await;
    assert!(rows(&over, &["partial"]).iter().all(|r| r[0] == json!(false)));
    let (_, svg, _) =
        get(&server, "mia", &format!("/admin/api/reports/clients-seen-monthly?{PERIOD}&format=svg")).await;
    assert!(!svg.contains("(partial)") && !svg.contains("is partial"));
    let (_, svg, _) = get(&server, "mia", &format!("/admin/api/reports/clients-seen-monthly?{query}&format=svg")).await;
    assert!(svg.contains("the last month is partial"), "the chart says the month holding today is partial");
    let labels: Value = json_of_period(&server, "clients-seen-monthly", &query).await;
    assert_eq!(labels["rows"].as_array().unwrap().last().unwrap()["month_start"], json!(this_month));
    server.stop().await;
}

async fn clients_seen_per_week_and_month(backend: Backend) {
    let server = fixture(backend).await;
    let weekly = json(&server, "clients-seen-weekly", "").await;
    assert_eq!(weekly["columns"], json!(["rep", "week_start", "clients_seen", "partial"]));
    // 14 ISO weeks meet the period (Mondays 2025-12-29 to 2026-03-30), for each of the three reps
    // (carol too, with zeros; the manager and the admin are not reps).
    assert_eq!(weekly["rows"].as_array().unwrap().len(), 3 * 14);
    // alice: week of 2025-12-29 {C2} (#17, done on 1 January), week of 01-05 {C1, C2} (#1, #2 and #3:
    // C1 twice counts once), 02-02 {C5} (#5, done the next day), 03-30 {C1} (#6, 23:30 on the last day).
    // #16 has no client. bob: week of 01-05 {C3, C1} (#8, #9); #12 is after the period.
    assert_eq!(
        nonzero(rows(&weekly, &["rep", "week_start", "clients_seen"])),
        vec![
            vec![json!("alice"), json!("2025-12-29"), json!(1)],
            vec![json!("alice"), json!("2026-01-05"), json!(2)],
            vec![json!("alice"), json!("2026-02-02"), json!(1)],
            vec![json!("alice"), json!("2026-03-30"), json!(1)],
            vec![json!("bob"), json!("2026-01-05"), json!(2)],
        ]
    );
    let monthly = json(&server, "clients-seen-monthly", "rep=alice").await;
    // alice: January {C1, C2}, February {C5}, March {C1}.
    assert_eq!(
        rows(&monthly, &["rep", "month_start", "clients_seen"]),
        vec![
            vec![json!("alice"), json!("2026-01-01"), json!(2)],
            vec![json!("alice"), json!("2026-02-01"), json!(1)],
            vec![json!("alice"), json!("2026-03-01"), json!(1)],
        ]
    );
    // Rep against rep: one column per rep.
    let reps = json(&server, "clients-seen-monthly", "compare=reps").await;
    assert_eq!(reps["columns"], json!(["month_start", "alice", "bob", "carol", "partial"]));
    assert_eq!(
        rows(&reps, &["month_start", "alice", "bob", "carol"]),
        vec![
            vec![json!("2026-01-01"), json!(2), json!(2), json!(0)],
            vec![json!("2026-02-01"), json!(1), json!(0), json!(0)],
            vec![json!("2026-03-01"), json!(1), json!(0), json!(0)],
        ]
    );
    // This year against last year: 2025 Q1 alice saw C2 in January (#13), C1 and C6 in February
    // (#14, #18); bob none (#15 was cancelled).
    let years = json(&server, "clients-seen-monthly", "compare=years").await;
    assert_eq!(years["previous_period"], json!({ "from": "2025-01-01", "to": "2025-03-31" }));
    let columns = ["rep", "month_start", "previous_month_start", "clients_seen_2025", "clients_seen_2026", "change"];
    let mut with_partial = columns.to_vec();
    with_partial.push("partial");
    assert_eq!(years["columns"], json!(with_partial));
    assert_eq!(
        rows(&years, &columns)[..4],
        [
            vec![json!("alice"), json!("2026-01-01"), json!("2025-01-01"), json!(1), json!(2), json!(1)],
            vec![json!("alice"), json!("2026-02-01"), json!("2025-02-01"), json!(2), json!(1), json!(-1)],
            vec![json!("alice"), json!("2026-03-01"), json!("2025-03-01"), json!(0), json!(1), json!(1)],
            vec![json!("bob"), json!("2026-01-01"), json!("2025-01-01"), json!(0), json!(2), json!(2)],
        ]
    );
    server.stop().await;
}

async fn activities_per_client_per_year(backend: Backend) {
    let server = fixture(backend).await;
    // By the day planned for (the start; #7, an undated task, by its creation on 2026-02-10).
    // In the period: C1 #1 #2 #6 #7 #9 (4 completed, 1 planned), C2 #3 #4, C3 #8 #10, C4 #11, C5 #5.
    // #16 has no client; #17 started in 2025; #12 is after the period.
    let report = json(&server, "activities-per-client", "").await;
    let columns = ["client_code", "client_name", "year", "activities", "completed", "cancelled", "planned"];
    assert_eq!(report["columns"], json!(columns));
    assert_eq!(
        rows(&report, &columns),
        vec![
            vec![json!("C1"), json!("Alpha AG"), json!(2026), json!(5), json!(4), json!(0), json!(1)],
            vec![json!("C2"), json!("Beta, Ltd"), json!(2026), json!(2), json!(1), json!(1), json!(0)],
            vec![json!("C3"), json!("Gamma GmbH"), json!(2026), json!(2), json!(1), json!(0), json!(1)],
            vec![json!("C4"), json!("Delta SA"), json!(2026), json!(1), json!(0), json!(1), json!(0)],
            vec![json!("C5"), json!("Épsilon Oy"), json!(2026), json!(1), json!(1), json!(0), json!(0)],
        ]
    );
    // Two years in one period: 2025-12-01 to 2026-01-31 holds #17 (2025) and #1 #2 #3 #4 #8 #9 (2026).
    let (_, body, _) =
        get(&server, "admin", "/admin/api/reports/activities-per-client?from=2025-12-01&to=2026-01-31&rep=alice").await;
    let two_years: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        rows(&two_years, &["client_code", "year", "activities"]),
        vec![
            vec![json!("C1"), json!(2026), json!(2)],
            vec![json!("C2"), json!(2025), json!(1)],
            vec![json!("C2"), json!(2026), json!(2)],
        ]
    );
    // Per rep: C1 has alice's #1 #2 #6 #7 and bob's #9.
    let reps = json(&server, "activities-per-client", "compare=reps").await;
    let columns = ["client_code", "alice", "bob", "carol", "total"];
    assert_eq!(
        rows(&reps, &columns),
        vec![
            vec![json!("C1"), json!(4), json!(1), json!(0), json!(5)],
            vec![json!("C2"), json!(2), json!(0), json!(0), json!(2)],
            vec![json!("C3"), json!(0), json!(2), json!(0), json!(2)],
            vec![json!("C4"), json!(0), json!(1), json!(0), json!(1)],
            vec![json!("C5"), json!(1), json!(0), json!(0), json!(1)],
        ]
    );
    // Against 2025 Q1: C1 #14, C2 #13, C3 #15, C6 #18.
    let years = json(&server, "activities-per-client", "compare=years").await;
    let columns = ["client_code", "activities_2025", "activities_2026", "change"];
    assert_eq!(
        rows(&years, &columns),
        vec![
            vec![json!("C1"), json!(1), json!(5), json!(4)],
            vec![json!("C2"), json!(1), json!(2), json!(1)],
            vec![json!("C3"), json!(1), json!(2), json!(1)],
            vec![json!("C4"), json!(0), json!(1), json!(1)],
            vec![json!("C5"), json!(0), json!(1), json!(1)],
            vec![json!("C6"), json!(1), json!(0), json!(-1)],
        ]
    );
    server.stop().await;
}

async fn activity_results_and_comparisons(backend: Backend) {
    let server = fixture(backend).await;
    // alice: #1 #2 #3 #5 #6 #16 completed, #4 cancelled, #7 planned: 6/8 = 0.75.
    // bob: #8 #9 completed, #11 cancelled, #10 planned: 2/4 = 0.5. carol: nothing.
    let report = json(&server, "activity-results", "").await;
    let columns = ["rep", "completed", "cancelled", "planned", "total", "completed_share"];
    assert_eq!(
        rows(&report, &columns),
        vec![
            vec![json!("alice"), json!(6), json!(1), json!(1), json!(8), json!(0.75)],
            vec![json!("bob"), json!(2), json!(1), json!(1), json!(4), json!(0.5)],
            vec![json!("carol"), json!(0), json!(0), json!(0), json!(0), Value::Null],
        ]
    );
    // Each rep against the team: 8 of 12 completed = 0.6667.
    let reps = json(&server, "activity-results", "compare=reps").await;
    assert_eq!(
        rows(&reps, &["rep", "completed_share", "team_completed_share", "difference"]),
        vec![
            vec![json!("alice"), json!(0.75), json!(0.6667), json!(0.0833)],
            vec![json!("bob"), json!(0.5), json!(0.6667), json!(-0.1667)],
            vec![json!("carol"), Value::Null, json!(0.6667), Value::Null],
        ]
    );
    // 2025 Q1: alice #13 #14 #18 all completed (3/3), bob #15 cancelled (0/1).
    let years = json(&server, "activity-results", "compare=years").await;
    let columns = [
        "rep",
        "completed_2025",
        "total_2025",
        "completed_share_2025",
        "completed_2026",
        "total_2026",
        "completed_share_2026",
        "share_change",
    ];
    assert_eq!(
        rows(&years, &columns),
        vec![
            vec![json!("alice"), json!(3), json!(3), json!(1.0), json!(6), json!(8), json!(0.75), json!(-0.25)],
            vec![json!("bob"), json!(0), json!(1), json!(0.0), json!(2), json!(4), json!(0.5), json!(0.5)],
            vec![json!("carol"), json!(0), json!(0), Value::Null, json!(0), json!(0), Value::Null, Value::Null],
        ]
    );
    server.stop().await;
}

async fn untouched_clients_follow_visibility(backend: Backend) {
    let server = fixture(backend).await;
    // Touched in the period (completed, by anyone): C1, C2, C3, C5. alice sees C1 C2 C5 C6: C6
    // untouched (last done 2025-02-20, #18); bob sees C3 C7: C7 untouched (never). C4 is seen by
    // nobody (inactive); carol sees nothing.
    let report = json(&server, "untouched-clients", "").await;
    let columns = ["rep", "client_code", "client_name", "status", "last_completed"];
    assert_eq!(
        rows(&report, &columns),
        vec![
            vec![json!("alice"), json!("C6"), json!("Zeta & Co"), json!("active"), json!("2025-02-20")],
            vec![json!("bob"), json!("C7"), json!("Eta Oy"), json!("prospect"), Value::Null],
        ]
    );
    // Each rep against the team: alice 1 of 4, bob 1 of 2, the team 2 of 6.
    let reps = json(&server, "untouched-clients", "compare=reps").await;
    assert_eq!(
        rows(&reps, &["rep", "visible_clients", "untouched", "untouched_share", "team_untouched_share", "difference"]),
        vec![
            vec![json!("alice"), json!(4), json!(1), json!(0.25), json!(0.3333), json!(-0.0833)],
            vec![json!("bob"), json!(2), json!(1), json!(0.5), json!(0.3333), json!(0.1667)],
        ]
    );
    // 2025 Q1: touched C1 C2 C6 (#13 #14 #18): alice's C5 untouched; bob's C3 (#15 cancelled) and C7.
    let years = json(&server, "untouched-clients", "compare=years").await;
    assert_eq!(
        rows(&years, &["rep", "visible_clients", "untouched_2025", "untouched_2026", "change"]),
        vec![
            vec![json!("alice"), json!(4), json!(1), json!(1), json!(0)],
            vec![json!("bob"), json!(2), json!(2), json!(1), json!(-1)],
        ]
    );
    // Visibility decides: C6 closes, so alice no longer sees it, and a rule gives carol C4.
    server.db.exec("UPDATE clients SET status = 'closed' WHERE code = 'C6'").await;
    server
        .db
        .exec("INSERT INTO visibility_rules (position, rep_id, effect, client_id) VALUES (2, (SELECT id FROM reps WHERE login = 'carol'), 'allow', (SELECT id FROM clients WHERE code = 'C4'))")
        .await;
    let after = json(&server, "untouched-clients", "").await;
    assert_eq!(
        rows(&after, &["rep", "client_code"]),
        vec![vec![json!("bob"), json!("C7")], vec![json!("carol"), json!("C4")]]
    );
    server.stop().await;
}

async fn csv_json_and_svg_shapes(backend: Backend) {
    let server = fixture(backend).await;
    let path = format!("/admin/api/reports/activities-per-client?{PERIOD}&format=csv");
    let (status, csv, headers) = get(&server, "admin", &path).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8; header=present");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"activities-per-client_2026-01-01_2026-03-31.csv\""
    );
    assert_eq!(
        csv,
        "client_code,client_name,year,activities,completed,cancelled,planned\r\n\
         C1,Alpha AG,2026,5,4,0,1\r\n\
         C2,\"Beta, Ltd\",2026,2,1,1,0\r\n\
         C3,Gamma GmbH,2026,2,1,0,1\r\n\
         C4,Delta SA,2026,1,0,1,0\r\n\
         C5,Épsilon Oy,2026,1,1,0,0\r\n"
    );
    // The byte order mark Excel needs, on request only; shares as decimal fractions; ISO dates.
    let (_, with_bom, _) =
        get(&server, "admin", &format!("/admin/api/reports/activity-results?{PERIOD}&format=csv&bom=1")).await;
    assert!(
        with_bom.starts_with("\u{feff}rep,completed,cancelled,planned,total,completed_share\r\nalice,6,1,1,8,0.75\r\n")
    );
    assert!(with_bom.ends_with("carol,0,0,0,0,\r\n"), "no value: an empty cell");
    let (_, untouched, _) =
        get(&server, "admin", &format!("/admin/api/reports/untouched-clients?{PERIOD}&format=csv")).await;
    assert!(untouched.contains("alice,C6,Zeta & Co,active,North,2025-02-20\r\n"), "{untouched}");

    // JSON: what was asked, the columns in order, one object per row.
    let report = json(&server, "activity-results", "rep=alice").await;
    assert_eq!(report["report"], "activity-results");
    assert_eq!(report["period"], json!({ "from": "2026-01-01", "to": "2026-03-31" }));
    assert_eq!((report["rep"].clone(), report["compare"].clone()), (json!("alice"), Value::Null));
    assert!(report.get("previous_period").is_none());
    assert_eq!(report["rows"].as_array().unwrap().len(), 1);
    assert_eq!(report["rows"][0].as_object().unwrap().len(), report["columns"].as_array().unwrap().len());

    // SVG: a standalone chart, safe to open in a browser.
    for kind in ["clients-seen-weekly", "activities-per-client", "activity-results", "untouched-clients"] {
        for compare in ["", "&compare=reps", "&compare=years"] {
            let (status, svg, headers) =
                get(&server, "mia", &format!("/admin/api/reports/{kind}?{PERIOD}&format=svg{compare}")).await;
            assert_eq!(status, 200, "{kind}{compare}");
            assert_eq!(headers["content-type"], "image/svg+xml");
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{kind}{compare}");
            assert!(!svg.contains("href") && !svg.contains("<script") && !svg.contains("<image"));
        }
    }
    let (_, svg, _) =
        get(&server, "mia", &format!("/admin/api/reports/activities-per-client?{PERIOD}&format=svg")).await;
    assert!(svg.contains("Alpha AG (C1)"));
    server.stop().await;
}

async fn managers_and_admins_only(backend: Backend) {
    let server = fixture(backend).await;
    let path = format!("/admin/api/reports/activity-results?{PERIOD}");
    assert_eq!(get(&server, "alice", &path).await.0, 403);
    let (status, body, _) = get(&server, "alice", "/admin/api/reports/").await;
    assert_eq!(status, 403);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"], "reports need a manager or admin account");
    assert_eq!(get(&server, "mia", &path).await.0, 200);
    assert_eq!(get(&server, "admin", &path).await.0, 200);
    assert_eq!(server.request("GET", &path).send().await.unwrap().status(), 401);
    // The manager reads reports, not the rest of the admin API.
    assert_eq!(get(&server, "mia", "/admin/api/reps").await.0, 403);
    let (status, list, _) = get(&server, "mia", "/admin/api/reports").await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["reports"].as_array().unwrap().len(), 9);
    // Errors say what is wrong, as JSON.
    for (query, status, fragment) in [
        ("nope?", 404, "no report"),
        ("activity-results?from=2026-02-30", 400, "from:"),
        ("activity-results?from=2026-03-01&to=2026-01-01", 400, "empty"),
        ("activity-results?rep=nobody", 400, "no rep"),
        ("activity-results?compare=reps&rep=alice", 400, "every rep"),
        ("activity-results?format=xlsx", 400, "format"),
        ("activity-results?colour=red", 400, "unknown parameter"),
    ] {
        let (got, body, headers) = get(&server, "mia", &format!("/admin/api/reports/{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(headers["content-type"], "application/json");
        assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].as_str().unwrap().contains(fragment), "{body}");
    }
    let post = server.as_user("POST", &path, "admin").send().await.unwrap();
    assert_eq!(post.status(), 405);
    server.stop().await;
}

/// `crmdav report` writes what the API serves.
async fn the_cli_writes_the_same_report(backend: Backend) {
    let server = fixture(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("results.csv");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_crmdav"))
        .args([
            "--database",
            &server.db.url,
            "report",
            "activity-results",
            "--from",
            "2026-01-01",
            "--to",
            "2026-03-31",
        ])
        .args(["--compare", "years", "--format", "csv", "--bom", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (_, api, _) =
        get(&server, "mia", &format!("/admin/api/reports/activity-results?{PERIOD}&compare=years&format=csv&bom=1"))
            .await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), api);
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_crmdav"))
        .args(["--database", &server.db.url, "report", "activity-results", "--rep", "nobody"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no rep with login \"nobody\""));
    server.stop().await;
}

/// Completed in 2026 Q1 (by completion time): alice #1 meeting, #2 call, #3 visit, #5 meeting,
/// #6 call (03-31 23:30), #16 meeting, #17 meeting (01-01 00:30): 1 visit, 2 calls, 4 meetings;
/// bob #8, #9 meetings. Results dated in Q1: alice R1 R2 R3 R7 (4), bob R5 (1).
async fn activities_per_result_per_rep_and_overall(backend: Backend) {
    let server = fixture_with_results(backend).await;
    let report = json(&server, "activities-per-result", "").await;
    assert_eq!(report["period"], json!({"from": "2026-01-01", "to": "2026-03-31"}));
    let columns = [
        "rep",
        "visits",
        "calls",
        "meetings",
        "results",
        "visits_per_result",
        "calls_per_result",
        "activities_per_result",
        "partial",
    ];
    assert_eq!(
        rows(&report, &columns),
        vec![
            vec![
                json!("alice"),
                json!(1),
                json!(2),
                json!(4),
                json!(4),
                json!(0.25),
                json!(0.5),
                json!(1.75),
                json!(false)
            ],
            vec![
                json!("bob"),
                json!(0),
                json!(0),
                json!(2),
                json!(1),
                json!(0.0),
                json!(0.0),
                json!(2.0),
                json!(false)
            ],
            vec![
                json!("carol"),
                json!(0),
                json!(0),
                json!(0),
                json!(0),
                Value::Null,
                Value::Null,
                Value::Null,
                json!(false)
            ],
            vec![
                json!("(all reps)"),
                json!(1),
                json!(2),
                json!(6),
                json!(5),
                json!(0.2),
                json!(0.4),
                json!(1.8),
                json!(false)
            ],
        ]
    );
    let alice = json(&server, "activities-per-result", "rep=alice").await;
    assert_eq!(rows(&alice, &["rep", "results"]), vec![vec![json!("alice"), json!(4)]], "no overall row for one rep");
    // These reports carry their own comparison.
    let (status, body, _) =
        get(&server, "mia", &format!("/admin/api/reports/activities-per-result?{PERIOD}&compare=years")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("does not compare"), "{body}");
    server.stop().await;
}

/// Each objective meeting Q1, against the rep's results in its currency, visits completed and new
/// clients in the objective's own period.
async fn results_against_objectives(backend: Backend) {
    let server = fixture_with_results(backend).await;
    let report = json(&server, "results-vs-objectives", "").await;
    let columns = [
        "rep",
        "period_start",
        "period_end",
        "objective_amount",
        "amount",
        "amount_share",
        "objective_visits",
        "visits",
        "objective_new_clients",
        "new_clients",
        "partial",
    ];
    assert_eq!(
        rows(&report, &columns),
        vec![
            // R1; visit #3.
            vec![
                json!("alice"),
                json!("2026-01-01"),
                json!("2026-01-31"),
                json!(1000.0),
                json!(1000.0),
                json!(1.0),
                json!(2),
                json!(1),
                json!(0),
                json!(0),
                json!(false)
            ],
            // R2 + R3 (new, C5).
            vec![
                json!("alice"),
                json!("2026-02-01"),
                json!("2026-02-28"),
                json!(4000.0),
                json!(2500.0),
                json!(0.625),
                json!(2),
                json!(0),
                json!(1),
                json!(1),
                json!(false)
            ],
            // R7 is in USD: not the objective's currency.
            vec![
                json!("alice"),
                json!("2026-03-01"),
                json!("2026-03-31"),
                json!(1000.0),
                json!(0.0),
                json!(0.0),
                json!(1),
                json!(0),
                json!(1),
                json!(0),
                json!(false)
            ],
            // R5 (new, C3); bob's only visit (#11) was cancelled.
            vec![
                json!("bob"),
                json!("2026-01-01"),
                json!("2026-03-31"),
                json!(1500.0),
                json!(750.0),
                json!(0.5),
                json!(3),
                json!(0),
                json!(2),
                json!(1),
                json!(false)
            ],
        ]
    );
    // An objective not over yet is partial: its figures so far (R6).
    let later = json_of_period(&server, "results-vs-objectives", "from=2026-04-01&to=2026-06-30").await;
    assert_eq!(
        rows(&later, &["rep", "period_end", "amount", "amount_share", "partial"]),
        vec![vec![json!("bob"), json!("2030-12-31"), json!(100.0), json!(0.001), json!(true)]]
    );
    let (status, svg, _) =
        get(&server, "mia", "/admin/api/reports/results-vs-objectives?from=2026-04-01&to=2026-06-30&format=svg").await;
    assert_eq!(status, 200);
    assert!(svg.contains("(partial)") && svg.contains("not over"), "the chart says which bar is partial");
    server.stop().await;
}

/// New and repeat business per rep, month and currency (EUR and USD both appear, so every rep
/// and month has a row of each).
async fn new_business_per_rep_and_month(backend: Backend) {
    let server = fixture_with_results(backend).await;
    let report = json(&server, "new-business", "").await;
    let all =
        rows(&report, &["rep", "month_start", "currency", "new_clients", "new_business", "repeat_business", "partial"]);
    assert_eq!(all.len(), 3 * 3 * 2, "3 reps, 3 months, 2 currencies");
    let moved: Vec<_> = all.into_iter().filter(|r| r[4] != json!(0.0) || r[5] != json!(0.0)).collect();
    assert_eq!(
        moved,
        vec![
            vec![json!("alice"), json!("2026-01-01"), json!("EUR"), json!(0), json!(0.0), json!(1000.0), json!(false)],
            vec![
                json!("alice"),
                json!("2026-02-01"),
                json!("EUR"),
                json!(1),
                json!(2000.0),
                json!(500.0),
                json!(false)
            ],
            vec![json!("alice"), json!("2026-03-01"), json!("USD"), json!(0), json!(0.0), json!(200.0), json!(false)],
            vec![json!("bob"), json!("2026-03-01"), json!("EUR"), json!(1), json!(750.0), json!(0.0), json!(false)],
        ]
    );
    // Months not over are partial, and the chart marks them.
    let future = json_of_period(&server, "new-business", "from=2030-11-01&to=2030-12-31").await;
    assert!(rows(&future, &["partial"]).iter().all(|r| r[0] == json!(true)));
    let (status, svg, _) = get(&server, "mia", &format!("/admin/api/reports/new-business?{PERIOD}&format=svg")).await;
    assert_eq!(status, 200);
    assert!(svg.contains("New business (EUR)") && !svg.contains("(partial)"));
    server.stop().await;
}

/// A prospect becomes a client with its first result: in Q1 alice's C5 (her only prospect-turned
/// client, none left open) and bob's C3 (C7 is still a prospect without results).
async fn prospects_converted_per_account_manager(backend: Backend) {
    let server = fixture_with_results(backend).await;
    let report = json(&server, "prospect-conversion", "").await;
    assert_eq!(
        rows(&report, &["rep", "converted", "open_prospects", "conversion_share", "partial"]),
        vec![
            vec![json!("alice"), json!(1), json!(0), json!(1.0), json!(false)],
            vec![json!("bob"), json!(1), json!(1), json!(0.5), json!(false)],
            vec![json!("carol"), json!(0), json!(0), Value::Null, json!(false)],
        ]
    );
    // In 2025 Q1 C1 and C6 had their first results (alice); bob converted nobody.
    let earlier = json_of_period(&server, "prospect-conversion", "from=2025-01-01&to=2025-03-31").await;
    assert_eq!(
        rows(&earlier, &["rep", "converted", "open_prospects"]),
        vec![
            vec![json!("alice"), json!(2), json!(0)],
            vec![json!("bob"), json!(0), json!(1)],
            vec![json!("carol"), json!(0), json!(0)],
        ]
    );
    server.stop().await;
}

on_both_databases!(
    activities_per_result_per_rep_and_overall,
    results_against_objectives,
    new_business_per_rep_and_month,
    prospects_converted_per_account_manager,
    clients_seen_per_week_and_month,
    clients_seen_marks_the_current_period_partial,
    activities_per_client_per_year,
    activity_results_and_comparisons,
    untouched_clients_follow_visibility,
    csv_json_and_svg_shapes,
    managers_and_admins_only,
    the_cli_writes_the_same_report,
);
