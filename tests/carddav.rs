//! CardDAV over HTTP: discovery, the address book of visible clients, reports, sync and
//! write-back, on SQLite and PostgreSQL.

mod common;

use common::{Backend, TestServer, responses, sync_body, sync_token};

const BOOK: &str = "/dav/addressbooks/alice/clients/";

/// Cards alice must see: one per contact of a visible client, one per visible client without contact.
async fn expected_card_count(server: &TestServer) -> i64 {
    let visible =
        "c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND c.status IN ('prospect', 'active')";
    server.db.count(&format!("SELECT COUNT(*) FROM clients c JOIN contacts k ON k.client_id = c.id WHERE {visible}")).await
        + server.db.count(&format!("SELECT COUNT(*) FROM clients c WHERE {visible} AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.client_id = c.id)")).await
}

async fn send(server: &TestServer, method: &str, path: &str, body: &str, depth: Option<&str>) -> (u16, String) {
    let mut request = server.as_user(method, path, "alice").body(body.to_string());
    if let Some(depth) = depth {
        request = request.header("Depth", depth);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn full_sync(server: &TestServer) -> (Vec<common::DavResponse>, String) {
    let (status, body) = send(server, "REPORT", BOOK, &sync_body(""), None).await;
    assert_eq!(status, 207, "{body}");
    (responses(&body), sync_token(&body))
}

/// A contact of alice's (href, uid) picked from the database.
async fn some_contact(server: &TestServer) -> (String, String) {
    let href = server
        .db
        .text(
            "SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice') \
             AND c.status = 'active' ORDER BY k.id LIMIT 1",
        )
        .await
        .expect("alice has a contact");
    let uid = server.db.text(&format!("SELECT uid FROM contacts WHERE href = '{href}'")).await.unwrap();
    (href, uid)
}

async fn discovery_from_the_bare_server_url(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let redirect = server.request("PROPFIND", "/.well-known/carddav").send().await.unwrap();
    assert!(redirect.status().is_redirection());
    assert_eq!(redirect.headers()["location"], "/dav/");
    let options = server.request("OPTIONS", "/dav/").send().await.unwrap();
    assert!(options.headers()["dav"].to_str().unwrap().contains("addressbook"));

    let (status, body) = send(
        &server,
        "PROPFIND",
        "/",
        r#"<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>"#,
        Some("0"),
    )
    .await;
    assert_eq!(status, 207);
    assert_eq!(
        responses(&body)[0].prop("d:current-user-principal").unwrap(),
        "<d:href>/dav/principals/alice/</d:href>"
    );
    let (_, body) = send(
        &server,
        "PROPFIND",
        "/dav/principals/alice/",
        r#"<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><prop><C:addressbook-home-set/><principal-URL/></prop></propfind>"#,
        Some("0"),
    )
    .await;
    assert!(body.contains("<card:addressbook-home-set><d:href>/dav/addressbooks/alice/</d:href>"), "{body}");
    let (_, body) = send(
        &server,
        "PROPFIND",
        "/dav/addressbooks/alice/",
        r#"<propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>"#,
        Some("1"),
    )
    .await;
    let book = responses(&body).into_iter().find(|r| r.href == BOOK).expect("the home lists the address book");
    assert!(book.body.contains("<card:addressbook/>"));
    server.stop().await;
}

async fn collection_properties_say_what_clients_may_do(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (status, body) = send(&server, "PROPFIND", BOOK, "", Some("0")).await;
    assert_eq!(status, 207);
    let book = &responses(&body)[0];
    let ctag = book.prop("cs:getctag").unwrap();
    assert_eq!(book.prop("d:sync-token").unwrap(), ctag);
    assert!(book.body.contains(r#"<card:address-data-type content-type="text/vcard" version="4.0"/>"#));
    assert!(
        book.body.contains("<d:bind/>") && !book.body.contains("<d:unbind/>"),
        "cards can be added but not deleted"
    );
    assert!(book.body.contains("<card:addressbook-query/>") && book.body.contains("<d:sync-collection/>"));
    let (_, names) =
        send(&server, "PROPFIND", BOOK, r#"<propfind xmlns="DAV:"><propname/></propfind>"#, Some("0")).await;
    assert!(names.contains("<d:getetag/>") && names.contains("<cs:getctag/>"));
    let (_, missing) = send(&server, "PROPFIND", BOOK, r#"<propfind xmlns="DAV:" xmlns:x="urn:x"><prop><x:nope/><getctag xmlns="http://calendarserver.org/ns/"/></prop></propfind>"#, Some("0")).await;
    assert!(missing.contains("404 Not Found") && missing.contains("xmlns=\"urn:x\""), "{missing}");
    server.stop().await;
}

async fn depth_one_and_sync_list_exactly_the_visible_cards(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let expected = expected_card_count(&server).await;
    assert!(expected > 5);
    let (_, body) =
        send(&server, "PROPFIND", BOOK, r#"<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>"#, Some("1"))
            .await;
    assert_eq!(responses(&body).len() as i64, expected + 1, "the collection and its cards");
    let (members, token) = full_sync(&server).await;
    assert_eq!(members.len() as i64, expected);
    assert!(token.starts_with("urn:crmdav:sync:"));
    // Bob sees none of alice's cards, and alice's book does not exist for bob.
    let bob = server.as_user("PROPFIND", BOOK, "bob").header("Depth", "0").send().await.unwrap();
    assert_eq!(bob.status(), 404);
    server.stop().await;
}

async fn get_serves_vcard_3_or_4_and_hides_invisible_clients(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (href, uid) = some_contact(&server).await;
    let v3 = server.as_user("GET", &format!("{BOOK}{href}"), "alice").send().await.unwrap();
    assert_eq!(v3.status(), 200);
    let etag = v3.headers()["etag"].to_str().unwrap().to_string();
    let text = v3.text().await.unwrap();
    assert!(text.contains("VERSION:3.0") && text.contains(&format!("UID:{uid}")));
    let client_name = server
        .db
        .text(&format!("SELECT c.name FROM clients c JOIN contacts k ON k.client_id = c.id WHERE k.href = '{href}'"))
        .await
        .unwrap();
    assert!(text.contains(&format!("ORG:{}", client_name.replace(',', "\\,"))), "ORG is the client: {text}");
    assert!(text.contains("X-CRM-CLIENT-CODE:") && text.contains("Sales YTD"));
    let v4 = server
        .as_user("GET", &format!("{BOOK}{href}"), "alice")
        .header("Accept", "text/vcard; version=4.0")
        .send()
        .await
        .unwrap();
    assert!(v4.text().await.unwrap().contains("VERSION:4.0"));
    let head = server.as_user("HEAD", &format!("{BOOK}{href}"), "alice").send().await.unwrap();
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    let conditional =
        server.as_user("GET", &format!("{BOOK}{href}"), "alice").header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(conditional.status(), 304);
    // A contact of a client alice does not manage: not found, whatever the guess.
    let hidden = server
        .db
        .text("SELECT k.href FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.account_manager_id <> (SELECT id FROM reps WHERE login = 'alice') LIMIT 1")
        .await
        .unwrap();
    assert_eq!(server.as_user("GET", &format!("{BOOK}{hidden}"), "alice").send().await.unwrap().status(), 404);
    assert_eq!(
        server
            .as_user("GET", &format!("/dav/addressbooks/bob/clients/{hidden}"), "alice")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        server
            .as_user("GET", &format!("{BOOK}..%2F..%2Fbob%2Fclients%2F{hidden}"), "alice")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    server.stop().await;
}

async fn multiget_and_query_reports(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (members, _) = full_sync(&server).await;
    let hrefs: Vec<&str> = members.iter().take(3).map(|m| m.href.as_str()).collect();
    let multiget = format!(
        r#"<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>{}<D:href>{BOOK}missing.vcf</D:href></C:addressbook-multiget>"#,
        hrefs.iter().map(|h| format!("<D:href>{h}</D:href>")).collect::<String>()
    );
    let (status, body) = send(&server, "REPORT", BOOK, &multiget, Some("1")).await;
    assert_eq!(status, 207);
    let found = responses(&body);
    assert_eq!(found.len(), 4);
    assert_eq!(
        found.iter().filter(|r| r.prop("card:address-data").is_some_and(|d| d.contains("BEGIN:VCARD"))).count(),
        3
    );
    assert_eq!(found.iter().find(|r| r.href.ends_with("missing.vcf")).unwrap().status(), Some(404));

    // The whole address book, eight times over (a large answer from a small demo): it is written
    // while it is sent (chunked, no Content-Length) and answers every href in order, with the ETag
    // the sync listed, and the 404 in its place.
    let all = format!(
        r#"<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>{}<D:href>{BOOK}missing.vcf</D:href></C:addressbook-multiget>"#,
        members.iter().map(|m| format!("<D:href>{}</D:href>", m.href)).collect::<String>().repeat(8)
    );
    let response = server.as_user("REPORT", BOOK, "alice").header("Depth", "1").body(all).send().await.unwrap();
    assert_eq!(response.status(), 207);
    assert!(response.headers().get("content-length").is_none(), "{:?}", response.headers());
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let body = response.text().await.unwrap();
    assert!(body.len() > 4 * 64 * 1024, "large enough to take several chunks: {} bytes", body.len());
    let found = responses(&body);
    assert_eq!(found.len(), 8 * members.len() + 1);
    for (member, response) in members.iter().cycle().zip(&found[..8 * members.len()]) {
        assert_eq!(response.href, member.href);
        assert_eq!(response.prop("d:getetag"), member.prop("d:getetag"), "{}", member.href);
        assert!(response.prop("card:address-data").is_some_and(|d| d.starts_with("BEGIN:VCARD")));
    }
    assert_eq!(found.last().unwrap().status(), Some(404));

    let last_name = server
        .db
        .text("SELECT k.last_name FROM contacts k JOIN clients c ON c.id = k.client_id WHERE c.account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND c.status = 'active' LIMIT 1")
        .await
        .unwrap();
    let query = |test: &str, limit: &str| {
        format!(
            r#"<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop><C:filter test="{test}"><C:prop-filter name="FN"><C:text-match collation="i;unicode-casemap" match-type="contains">{}</C:text-match></C:prop-filter><C:prop-filter name="X-NOPE"/></C:filter>{limit}</C:addressbook-query>"#,
            last_name.to_uppercase()
        )
    };
    let (status, body) = send(&server, "REPORT", BOOK, &query("anyof", ""), Some("1")).await;
    assert_eq!(status, 207, "{body}");
    let hits = responses(&body);
    assert!(!hits.is_empty());
    assert!(
        hits.iter().all(|r| r.prop("card:address-data").unwrap().to_lowercase().contains(&last_name.to_lowercase()))
    );
    let (_, none) = send(&server, "REPORT", BOOK, &query("allof", ""), Some("1")).await;
    assert!(responses(&none).is_empty(), "allof with a property no card has matches nothing");
    let (_, limited) =
        send(&server, "REPORT", BOOK, &query("anyof", "<C:limit><C:nresults>1</C:nresults></C:limit>"), Some("1"))
            .await;
    let limited = responses(&limited);
    if hits.len() > 1 {
        assert_eq!(limited.len(), 2, "one card and the 507 for the collection");
        assert_eq!(limited[1].status(), Some(507));
    }
    let (status, body) = send(&server, "REPORT", BOOK, r#"<C:addressbook-query xmlns:C="urn:ietf:params:xml:ns:carddav"><C:filter><C:prop-filter name="FN"><C:text-match collation="i;klingon">x</C:text-match></C:prop-filter></C:filter></C:addressbook-query>"#, None).await;
    assert_eq!(status, 403);
    assert!(body.contains("supported-collation"));
    server.stop().await;
}

async fn sync_follows_crm_changes_made_with_plain_sql(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (_, token) = full_sync(&server).await;
    let (status, body) = send(&server, "REPORT", BOOK, &sync_body(&token), None).await;
    assert_eq!(status, 207);
    assert!(responses(&body).is_empty(), "nothing changed: {body}");
    assert_eq!(sync_token(&body), token);

    // Another program edits a contact's phone: that card, and only it, comes back with a new ETag.
    let (href, _) = some_contact(&server).await;
    server.db.exec(&format!("UPDATE contacts SET phone = '+1 555 0100' WHERE href = '{href}'")).await;
    let (_, body) = send(&server, "REPORT", BOOK, &sync_body(&token), None).await;
    let changed = responses(&body);
    assert_eq!(changed.len(), 1, "{body}");
    assert_eq!(changed[0].href, format!("{BOOK}{href}"));
    let token2 = sync_token(&body);
    assert_ne!(token2, token);
    let card = server.as_user("GET", &format!("{BOOK}{href}"), "alice").send().await.unwrap().text().await.unwrap();
    assert!(card.contains("+1 555 0100"));

    // A new note on the client changes every card of that client (NOTE shows the last three).
    server.db.exec(&format!("INSERT INTO notes (client_id, body, source) SELECT client_id, 'Called about the new catalogue', 'crm' FROM contacts WHERE href = '{href}'")).await;
    let (_, body) = send(&server, "REPORT", BOOK, &sync_body(&token2), None).await;
    let siblings = server
        .db
        .count(&format!(
            "SELECT COUNT(*) FROM contacts WHERE client_id = (SELECT client_id FROM contacts WHERE href = '{href}')"
        ))
        .await;
    assert_eq!(responses(&body).len() as i64, siblings);
    let token3 = sync_token(&body);

    // The client is handed to bob: its cards leave alice's book as 404 deletions.
    server.db.exec(&format!("UPDATE clients SET account_manager_id = (SELECT id FROM reps WHERE login = 'bob') WHERE id = (SELECT client_id FROM contacts WHERE href = '{href}')")).await;
    let (_, body) = send(&server, "REPORT", BOOK, &sync_body(&token3), None).await;
    let gone = responses(&body);
    assert_eq!(gone.len() as i64, siblings);
    assert!(gone.iter().all(|r| r.status() == Some(404)), "{body}");
    assert_eq!(server.as_user("GET", &format!("{BOOK}{href}"), "alice").send().await.unwrap().status(), 404);

    // Tokens we never issued are refused with the RFC 6578 precondition.
    let (status, body) = send(&server, "REPORT", BOOK, &sync_body("urn:crmdav:sync:99999999"), None).await;
    assert_eq!(status, 403);
    assert!(body.contains("valid-sync-token"));
    let (status, _) = send(&server, "REPORT", BOOK, &sync_body("http://example.com/other-server"), None).await;
    assert_eq!(status, 403);
    server.stop().await;
}

fn multiget_body(hrefs: &[&str]) -> String {
    format!(
        r#"<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>{}</C:addressbook-multiget>"#,
        hrefs.iter().map(|h| format!("<D:href>{h}</D:href>")).collect::<String>()
    )
}

/// (etag, address-data) of one card in a multistatus answer.
fn card_in(body: &str, href: &str) -> (String, String) {
    let found = responses(body).into_iter().find(|r| r.href == href).unwrap_or_else(|| panic!("{href} in {body}"));
    (found.prop("d:getetag").unwrap(), found.prop("card:address-data").unwrap())
}

/// Multiget, PROPFIND and sync with data answer from the text stored when the address book was
/// last brought up to date; it must be exactly what GET serves, and a CRM change made since must
/// never be answered with the stale text.
async fn stored_text_is_what_get_serves_and_never_stale(backend: Backend) {
    let server = TestServer::demo(backend).await;
    full_sync(&server).await;
    let (name, _) = some_contact(&server).await;
    let href = format!("{BOOK}{name}");
    let (_, body) = send(&server, "REPORT", BOOK, &multiget_body(&[&href]), Some("1")).await;
    let (etag, text) = card_in(&body, &href);
    let get = server.as_user("GET", &href, "alice").send().await.unwrap();
    assert_eq!(get.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(get.text().await.unwrap(), text);
    let with_data = r#"<d:sync-collection xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/><C:address-data/></d:prop></d:sync-collection>"#;
    let (_, body) = send(&server, "REPORT", BOOK, with_data, None).await;
    assert_eq!(card_in(&body, &href), (etag.clone(), text.clone()));
    let propfind = r#"<d:propfind xmlns:d="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><C:address-data/></d:prop></d:propfind>"#;
    let (_, body) = send(&server, "PROPFIND", BOOK, propfind, Some("1")).await;
    assert_eq!(card_in(&body, &href), (etag.clone(), text.clone()));

    // Changed by another program and not synced since: the multiget renders the new state.
    server.db.exec(&format!("UPDATE contacts SET phone = '+1 555 0199' WHERE href = '{name}'")).await;
    let (_, body) = send(&server, "REPORT", BOOK, &multiget_body(&[&href]), Some("1")).await;
    let (new_etag, new_text) = card_in(&body, &href);
    assert_ne!(new_etag, etag);
    assert!(new_text.contains("+1 555 0199"), "{new_text}");

    // Members recorded before their text was stored (an upgraded database: its migration marks
    // every collection for a full recomputation) get it at the next refresh without being
    // announced as changed.
    let (_, token) = full_sync(&server).await;
    server.db.exec("UPDATE collection_members SET body = NULL").await;
    server.db.exec("UPDATE collections SET render_version = -1").await;
    let (status, body) = send(&server, "REPORT", BOOK, &sync_body(&token), None).await;
    assert_eq!(status, 207);
    assert!(responses(&body).is_empty(), "nothing changed for the client: {body}");
    assert_eq!(server.db.count("SELECT COUNT(*) FROM collection_members WHERE body IS NULL AND NOT deleted").await, 0);
    let (_, body) = send(&server, "REPORT", BOOK, &multiget_body(&[&href]), Some("1")).await;
    assert_eq!(card_in(&body, &href), (new_etag, new_text));
    server.stop().await;
}

async fn sync_limit_pages_through_everything(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let expected = expected_card_count(&server).await;
    let mut token = String::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100 {
        let body = format!(
            r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:limit><d:nresults>4</d:nresults></d:limit><d:prop><d:getetag/></d:prop></d:sync-collection>"#
        );
        let (status, body) = send(&server, "REPORT", BOOK, &body, Some("1")).await;
        assert_eq!(status, 207, "{body}");
        let page = responses(&body);
        let truncated = page.iter().any(|r| r.status() == Some(507));
        for r in page.iter().filter(|r| r.status() == Some(200)) {
            assert!(seen.insert(r.href.clone()), "{} listed twice", r.href);
        }
        token = sync_token(&body);
        if !truncated {
            break;
        }
        assert!(page.len() <= 5);
    }
    assert_eq!(seen.len() as i64, expected);
    server.stop().await;
}

fn edited(card: &str, replace: &[(&str, &str)]) -> String {
    let mut lines: Vec<String> = card.replace("\r\n ", "").lines().map(str::to_string).collect();
    for (prefix, new) in replace {
        match lines.iter().position(|l| l.starts_with(prefix)) {
            Some(i) if new.is_empty() => {
                lines.remove(i);
            }
            Some(i) => lines[i] = new.to_string(),
            None => {
                let end = lines.len() - 1;
                lines.insert(end, new.to_string());
            }
        }
    }
    lines.join("\r\n") + "\r\n"
}

async fn put_writes_editable_fields_back_and_keeps_unknown_properties(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (href, _) = some_contact(&server).await;
    let url = format!("{BOOK}{href}");
    let response = server.as_user("GET", &url, "alice").send().await.unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let card = response.text().await.unwrap();
    let changed = edited(
        &card,
        &[
            ("TITLE", "TITLE:Chief Buyer"),
            ("TEL;TYPE=CELL", "TEL;TYPE=CELL:+33 6 12 34 56 78"),
            ("BDAY", "BDAY:1980-04-02"),
            ("NOTE", "NOTE:I rewrote the notes"),
        ],
    );
    let put = server
        .as_user("PUT", &url, "alice")
        .header("Content-Type", "text/vcard")
        .header("If-Match", &etag)
        .body(changed)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    assert!(put.headers().get("etag").is_none(), "the NOTE edit was ignored, so the stored card differs: no ETag");
    assert_eq!(
        server.db.text(&format!("SELECT title FROM contacts WHERE href = '{href}'")).await.as_deref(),
        Some("Chief Buyer")
    );
    assert_eq!(
        server.db.text(&format!("SELECT mobile FROM contacts WHERE href = '{href}'")).await.as_deref(),
        Some("+33 6 12 34 56 78")
    );
    let stored = server.as_user("GET", &url, "alice").send().await.unwrap().text().await.unwrap();
    assert!(stored.contains("BDAY:1980-04-02"), "unknown properties come back: {stored}");
    assert!(!stored.contains("I rewrote the notes") && stored.contains("Sales YTD"), "derived NOTE is the CRM's");
    // The old ETag is stale now; If-None-Match: * on an existing card fails too.
    let stale = server.as_user("PUT", &url, "alice").header("If-Match", &etag).body(card.clone()).send().await.unwrap();
    assert_eq!(stale.status(), 412);
    let exists = server.as_user("PUT", &url, "alice").header("If-None-Match", "*").body(card).send().await.unwrap();
    assert_eq!(exists.status(), 412);
    assert_eq!(
        server.db.text(&format!("SELECT title FROM contacts WHERE href = '{href}'")).await.as_deref(),
        Some("Chief Buyer"),
        "refused writes change nothing"
    );
    assert!(
        server.db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'card.put' AND outcome = 'updated'").await >= 1
    );
    server.stop().await;
}

async fn put_of_a_new_card_creates_a_contact_under_the_named_client(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let client = server
        .db
        .text("SELECT name FROM clients WHERE account_manager_id = (SELECT id FROM reps WHERE login = 'alice') AND status = 'active' ORDER BY id LIMIT 1")
        .await
        .unwrap();
    let card = |uid: &str, org: &str| {
        format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Nina Novak\r\nN:Novak;Nina;;;\r\nORG:{org}\r\nEMAIL;TYPE=INTERNET,WORK:nina@example.com\r\nitem1.X-ABLabel:assistant\r\nEND:VCARD\r\n"
        )
    };
    let created = server
        .as_user("PUT", &format!("{BOOK}new-nina.vcf"), "alice")
        .header("Content-Type", "text/vcard; charset=utf-8")
        .header("If-None-Match", "*")
        .body(card("nina-1", &client))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(
        server
            .db
            .text("SELECT c.name FROM contacts k JOIN clients c ON c.id = k.client_id WHERE k.uid = 'nina-1'")
            .await,
        Some(client.clone())
    );
    let stored =
        server.as_user("GET", &format!("{BOOK}new-nina.vcf"), "alice").send().await.unwrap().text().await.unwrap();
    assert!(stored.contains("nina@example.com") && stored.contains("item1.X-ABLabel:assistant"), "{stored}");

    // Without ORG there is no client (a new ORG is a prospect: tests/phone_notes.rs).
    let unknown = server
        .as_user("PUT", &format!("{BOOK}x.vcf"), "alice")
        .header("Content-Type", "text/vcard")
        .body(card("nina-2", "").replace("ORG:\r\n", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 403);
    assert!(unknown.text().await.unwrap().contains("client-required"));
    let duplicate = server
        .as_user("PUT", &format!("{BOOK}y.vcf"), "alice")
        .header("Content-Type", "text/vcard")
        .body(card("nina-1", &client))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409);
    let body = duplicate.text().await.unwrap();
    assert!(body.contains("no-uid-conflict") && body.contains("new-nina.vcf"), "{body}");
    let garbage = server
        .as_user("PUT", &format!("{BOOK}z.vcf"), "alice")
        .header("Content-Type", "text/vcard")
        .body("BEGIN:VCARD\r\nFN:x\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 403);
    assert!(garbage.text().await.unwrap().contains("valid-address-data"));
    let wrong_type = server
        .as_user("PUT", &format!("{BOOK}z.vcf"), "alice")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 403);
    assert_eq!(
        server.db.count("SELECT COUNT(*) FROM contacts WHERE uid LIKE 'nina-%'").await,
        1,
        "refused cards were not stored"
    );
    assert!(
        server.db.count("SELECT COUNT(*) FROM audit_log WHERE action = 'card.put' AND outcome = 'refused'").await >= 3
    );
    server.stop().await;
}

async fn delete_is_refused_and_nothing_is_lost(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let (href, _) = some_contact(&server).await;
    let delete = server.as_user("DELETE", &format!("{BOOK}{href}"), "alice").send().await.unwrap();
    assert_eq!(delete.status(), 403);
    assert!(delete.text().await.unwrap().contains("need-privileges"));
    assert_eq!(server.db.count(&format!("SELECT COUNT(*) FROM contacts WHERE href = '{href}'")).await, 1);
    assert_eq!(server.as_user("DELETE", &format!("{BOOK}nothing.vcf"), "alice").send().await.unwrap().status(), 404);
    server.stop().await;
}

on_both_databases!(
    discovery_from_the_bare_server_url,
    collection_properties_say_what_clients_may_do,
    depth_one_and_sync_list_exactly_the_visible_cards,
    get_serves_vcard_3_or_4_and_hides_invisible_clients,
    multiget_and_query_reports,
    sync_follows_crm_changes_made_with_plain_sql,
    stored_text_is_what_get_serves_and_never_stale,
    sync_limit_pages_through_everything,
    put_writes_editable_fields_back_and_keeps_unknown_properties,
    put_of_a_new_card_creates_a_contact_under_the_named_client,
    delete_is_refused_and_nothing_is_lost,
);
