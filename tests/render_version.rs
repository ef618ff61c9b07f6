//! Render versions: the member texts stored with a collection carry the version of the renderer
//! that wrote them; a collection whose stored version differs from the code's is re-rendered on its
//! next use, and devices see the members whose text changed through sync-collection.

mod common;

use common::{Backend, DavResponse, TestDb, TestServer, responses, sync_body, sync_token};
use crmdav::store::sync::{self, Cursor, Member};

/// One collection kind of alice's: its path, the prefix of its key in `collections`, and the
/// multiget that fetches a member's text.
struct Kind {
    path: &'static str,
    key_prefix: &'static str,
    multiget: &'static str,
    data: &'static str,
}

const KINDS: [Kind; 3] = [
    Kind {
        path: "/dav/addressbooks/alice/clients/",
        key_prefix: "cards",
        multiget: r#"<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop><d:href>HREF</d:href></c:addressbook-multiget>"#,
        data: "card:address-data",
    },
    Kind {
        path: "/dav/calendars/alice/activities/",
        key_prefix: "activities",
        multiget: r#"<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><d:href>HREF</d:href></c:calendar-multiget>"#,
        data: "cal:calendar-data",
    },
    Kind {
        path: "/dav/calendars/alice/follow-ups/",
        key_prefix: "follow-ups",
        multiget: r#"<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><d:href>HREF</d:href></c:calendar-multiget>"#,
        data: "cal:calendar-data",
    },
];

async fn sync(server: &TestServer, path: &str, token: &str) -> (Vec<DavResponse>, String) {
    let response = server.as_user("REPORT", path, "alice").body(sync_body(token)).send().await.unwrap();
    assert_eq!(response.status(), 207);
    let body = response.text().await.unwrap();
    (responses(&body), sync_token(&body))
}

/// Stands for texts an older release rendered: the collection's stored render version is set back,
/// and one member's stored text and ETag replaced by an "old rendering".
async fn store_old_rendering(server: &TestServer, key: &str, member: &str, version: &str) {
    let old = "BEGIN:VCALENDAR\r\nX-OLD-RENDERING:1\r\nEND:VCALENDAR\r\n";
    let changed = server
        .db
        .exec(&format!(
            "UPDATE collection_members SET body = '{old}', etag = '\"old-rendering\"' \
             WHERE collection = '{key}' AND href = '{member}'"
        ))
        .await;
    assert_eq!(changed, 1);
    server.db.exec(&format!("UPDATE collections SET render_version = {version} WHERE key = '{key}'")).await;
}

async fn stored_body(server: &TestServer, key: &str, member: &str) -> String {
    let sql = format!("SELECT body FROM collection_members WHERE collection = '{key}' AND href = '{member}'");
    server.db.text(&sql).await.expect("a stored text")
}

/// For the address book and both calendars: after an initial sync, an older stored render version
/// makes the next sync-collection report the member whose text the current renderer writes
/// differently, with a new token and its current ETag; the stored text and multiget are current
/// again. With the version unchanged, nothing is re-rendered and the token stays.
async fn an_older_render_version_re_renders_changed_members(backend: Backend) {
    let server = TestServer::demo(backend).await;
    let rep = server.db.count("SELECT id FROM reps WHERE login = 'alice'").await;
    for kind in &KINDS {
        let key = format!("{}:{rep}", kind.key_prefix);
        let (members, first_token) = sync(&server, kind.path, "").await;
        let first = members.first().unwrap_or_else(|| panic!("{}: alice has members", kind.path));
        let (href, etag) = (first.href.clone(), first.prop("d:getetag").expect("an ETag"));
        let member = href.strip_prefix(kind.path).expect("a member of the collection").to_string();
        let rendered = stored_body(&server, &key, &member).await;

        store_old_rendering(&server, &key, &member, "0").await;
        let (changed, token) = sync(&server, kind.path, &first_token).await;
        let changed: Vec<_> = changed.iter().map(|r| (r.href.as_str(), r.prop("d:getetag"))).collect();
        assert_eq!(changed, vec![(href.as_str(), Some(etag.clone()))], "{}: the re-rendered member", kind.path);
        assert_ne!(token, first_token, "{}: a re-render advances the sync-token", kind.path);
        assert_eq!(stored_body(&server, &key, &member).await, rendered, "{}: stored text re-rendered", kind.path);

        let multiget = kind.multiget.replace("HREF", &href);
        let response = server.as_user("REPORT", kind.path, "alice").body(multiget).send().await.unwrap();
        assert_eq!(response.status(), 207);
        let found = responses(&response.text().await.unwrap());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].prop("d:getetag"), Some(etag.clone()), "{}", kind.path);
        assert_eq!(found[0].prop(kind.data).map(|d| d.replace("\r\n", "\n")), Some(rendered.replace("\r\n", "\n")));

        let (none, same) = sync(&server, kind.path, &token).await;
        assert!(none.is_empty() && same == token, "{}: re-rendered once, not at every sync", kind.path);

        // The version is the code's: the stored text is trusted as is, nothing is rendered again.
        let current_version = server
            .db
            .count(&format!("SELECT CAST(render_version AS BIGINT) FROM collections WHERE key = '{key}'"))
            .await;
        store_old_rendering(&server, &key, &member, &current_version.to_string()).await;
        let (none, same) = sync(&server, kind.path, &token).await;
        assert!(none.is_empty(), "{}: nothing re-rendered while the version is the code's", kind.path);
        assert_eq!(same, token, "{}", kind.path);
        assert!(stored_body(&server, &key, &member).await.contains("X-OLD-RENDERING"), "{}", kind.path);
    }
    server.stop().await;
}

/// A re-render that changes a text while the change_log stands still logs itself to get a sequence
/// newer than any token given out. Should a CRM change have been logged meanwhile (the view may
/// not reflect it), the collection stays recorded at the older sequence, so that its next refresh
/// computes it again, while the re-rendered member still gets the new sequence.
async fn a_re_render_takes_a_new_sequence_without_skipping_a_crm_change(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = &db.store;
    let crm_change = "INSERT INTO change_log (entity, entity_id, op) VALUES ('clients', 1, 'update')";
    let member =
        |text: &str| vec![Member { href: "a.vcf".into(), etag: format!("\"{text}\""), body: text.into(), source: 1 }];
    let changed_since = async |seq: i64| {
        let changes = sync::changes_after(store, "test:1", Some(&Cursor { seq, href: None }), false).await.unwrap();
        changes.iter().map(|c| c.seq).collect::<Vec<_>>()
    };

    db.exec(crm_change).await;
    let first = store.current_seq().await.unwrap();
    assert_eq!(sync::record(store, "test:1", first, None, 1, &member("v1")).await.unwrap(), first);

    // Version 2 renders the member differently; the CRM did not change.
    let second = sync::record(store, "test:1", first, Some(first), 2, &member("v2")).await.unwrap();
    assert!(second > first, "a new sequence for the re-rendered member");
    assert_eq!(store.current_seq().await.unwrap(), second);
    assert_eq!(changed_since(first).await, vec![second]);
    // Rendered the same by version 3: nothing to tell devices, no new sequence.
    assert_eq!(sync::record(store, "test:1", second, Some(second), 3, &member("v2")).await.unwrap(), second);
    assert_eq!(store.current_seq().await.unwrap(), second);

    // Version 4, with a CRM change logged after the view was computed at `second`.
    db.exec(crm_change).await;
    let recorded = sync::record(store, "test:1", second, Some(second), 4, &member("v4")).await.unwrap();
    assert_eq!(recorded, second, "not past a change the view may miss");
    assert_eq!(sync::synced_seq(store, "test:1").await.unwrap(), Some(second));
    let changes = changed_since(second).await;
    assert!(changes.len() == 1 && changes[0] > second + 1, "the member after the CRM change: {changes:?}");
}

on_both_databases!(
    an_older_render_version_re_renders_changed_members,
    a_re_render_takes_a_new_sequence_without_skipping_a_crm_change
);
