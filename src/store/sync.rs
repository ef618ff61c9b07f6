//! Collection membership, sync-tokens and CTags (RFC 6578).
//!
//! A DAV collection here is a *view* computed from the CRM tables, so it has no change history of
//! its own. Each collection keeps the members (href, etag) it had when it was last brought up to
//! date, and for each member the change_log sequence at which it last changed (or left). Bringing a
//! collection up to date is needed only when the change_log has moved since, or when its stored
//! texts were rendered by another render version than the code's (each collection kind has one,
//! next to its renderer); it diffs the freshly computed view against the stored members. The sync-token is the sequence the collection was
//! last brought up to date at, so "what changed since token T" is "members whose seq > T".

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;

use super::Store;
use super::diff::{STORED_COLUMNS, StoredMember, diff, write_upserts};
use super::incremental::{self, Known, View};
use super::member_cache::Snapshot;
use crate::dav::members::MemberLookup;
use crate::on_db;

/// A member as a collection's view computes it: its href, and the text served for it (its ETag
/// is computed from that text by the protocol module).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub href: String,
    pub etag: String,
    pub body: String,
    /// The id of the CRM row it is computed from (see `incremental`).
    pub source: i64,
}

pub use crate::dav::members::{Change, Page, Stored};

/// A `collection_members` row as a listing or a multiget reads it.
#[derive(sqlx::FromRow)]
struct StoredRow {
    href: String,
    etag: String,
    body: Option<String>,
}

impl From<StoredRow> for Stored {
    fn from(StoredRow { href, etag, body }: StoredRow) -> Stored {
        Stored { href, etag, body }
    }
}

/// A `collection_members` row as a sync reads it.
#[derive(sqlx::FromRow)]
struct ChangeRow {
    href: String,
    etag: String,
    deleted: bool,
    seq: i64,
    body: Option<String>,
}

impl From<ChangeRow> for Change {
    fn from(ChangeRow { href, etag, deleted, seq, body }: ChangeRow) -> Change {
        Change { href, etag, deleted, seq, body }
    }
}

const TOKEN_PREFIX: &str = "urn:crmdav:sync:";

/// The sync-token of `collection` as of `seq`. It names its collection, so that a token of one
/// collection is refused by another (RFC 6578 3.2: DAV:valid-sync-token) instead of being read as
/// a position in a history it never came from.
pub fn token(collection: &str, seq: i64) -> String {
    format!("{TOKEN_PREFIX}{}/{seq}", token_tag(collection))
}

/// A collection key in a form that keeps a token's `:`-separated parts apart (`cards:7` → `cards-7`).
fn token_tag(collection: &str) -> String {
    collection.replace(':', "-")
}

/// The sequence the collection was last brought up to date at, if it ever was.
pub async fn synced_seq(store: &Store, collection: &str) -> Result<Option<i64>> {
    Ok(recorded(store, collection).await?.map(|(synced, _)| synced))
}

/// The sequence the collection was last brought up to date at and the render version of its stored
/// texts, if it ever was.
async fn recorded(store: &Store, collection: &str) -> Result<Option<(i64, i32)>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as("SELECT synced_seq, render_version FROM collections WHERE key = $1")
            .bind(collection)
            .fetch_optional(pool)
            .await?
    }))
}

/// Records `current` as the members of `collection` as of change `seq`, diffing against what was
/// stored: new or changed members get `seq`, members that are gone are kept as deletions. A member
/// whose ETag did not change keeps its seq (clients have it) but gets its text if it had none.
///
/// `synced_before` is the sequence the collection was recorded at before. When members changed
/// although the change_log did not move past it (texts of another render version, re-rendered),
/// devices may already hold a token for `seq`: the changed members then get a new sequence, taken
/// by logging the re-render in change_log. Returns the sequence recorded at (the sync-token).
pub async fn record(
    store: &Store,
    collection: &str,
    seq: i64,
    synced_before: Option<i64>,
    render_version: i32,
    current: &[Member],
) -> Result<i64> {
    let stored: Vec<StoredMember> =
        on_db!(store, read, |pool| { sqlx::query_as(STORED_COLUMNS).bind(collection).fetch_all(pool).await? });
    let stored: HashMap<String, StoredMember> = stored.into_iter().map(|m| (m.href.clone(), m)).collect();
    let upserts = diff(&stored, current, |_| true);
    let new_sequence = synced_before.is_some_and(|synced| seq <= synced) && upserts.iter().any(|u| u.seq.is_none());
    Ok(on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let (synced, changed_seq) = if new_sequence {
            let marker: i64 = sqlx::query_scalar(
                "INSERT INTO change_log (entity, entity_id, op) VALUES ('collection_render', 0, 'update') RETURNING seq",
            )
            .fetch_one(&mut *tx)
            .await?;
            // A CRM change logged after `seq` may be missing from `current`: then the collection
            // stays recorded at `seq`, and its next refresh computes it again.
            let missed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM change_log WHERE seq > $1 AND seq < $2")
                .bind(seq)
                .bind(marker)
                .fetch_one(&mut *tx)
                .await?;
            (if missed == 0 { marker } else { seq }, marker)
        } else {
            (seq, seq)
        };
        sqlx::query(
            "INSERT INTO collections (key, synced_seq, render_version, checked_seq) VALUES ($1, $2, $3, $2) \
             ON CONFLICT (key) DO UPDATE SET synced_seq = CASE WHEN collections.synced_seq > excluded.synced_seq \
             THEN collections.synced_seq ELSE excluded.synced_seq END, render_version = excluded.render_version, \
             checked_seq = CASE WHEN collections.checked_seq > excluded.checked_seq \
             THEN collections.checked_seq ELSE excluded.checked_seq END",
        )
        .bind(collection)
        .bind(synced)
        .bind(render_version)
        .execute(&mut *tx)
        .await?;
        write_upserts!(tx, collection, upserts, changed_seq);
        tx.commit().await?;
        synced
    }))
}

/// Brings `collection` up to date if the change_log moved since it last was, or if its texts were
/// rendered by another `render_version` than the caller's (a release that renders differently: the
/// collection is re-rendered on its next use, not all at start-up). The changes since are applied
/// to the members they concern (`incremental`); the whole view is computed only the first time,
/// after a re-render, or when the changes may concern anything (a visibility rule, a rep) or are
/// too many. Returns the sequence it is now up to date at (its sync-token).
///
/// `change_seq` is the change_log's newest sequence when the request arrived, if it was read
/// already (`Session::change_seq`, with the credential); see `up_to_date` for why it does not yet
/// replace the collection's own read.
pub async fn refresh<V: View>(
    store: &Store,
    collection: &str,
    render_version: i32,
    view: &V,
    change_seq: Option<i64>,
) -> Result<i64> {
    let state = match up_to_date(store, collection, render_version, change_seq).await? {
        Ok(synced) => return Ok(synced),
        Err(stale) => stale,
    };
    if let Some(synced) = state.synced.filter(|_| state.version == Some(render_version)) {
        let checked = state.checked.max(synced);
        if let Some(changes) = incremental::changes_between(store, checked, state.current).await?
            && let Some(sources) = view.affected(&changes).await?
        {
            let computed = match sources.is_empty() {
                true => Vec::new(),
                false => distinct_hrefs(collection, view.compute(Some(&sources)).await?),
            };
            let to = Known { synced, checked: state.current, render_version };
            return incremental::apply(store, collection, to, changes.len(), &sources, computed).await;
        }
    }
    // Computing a view is CPU work holding all its members' text: a hundred devices syncing at once
    // gain nothing from computing a hundred views at once, and would hold them all in memory.
    let _slot = store.refresh_slot().await;
    // Meanwhile another request may have brought the same collection up to date.
    let Stale { current, synced, .. } = match up_to_date(store, collection, render_version, change_seq).await? {
        Ok(synced) => return Ok(synced),
        Err(stale) => stale,
    };
    let members = distinct_hrefs(collection, view.compute(None).await?);
    let recorded_at = record(store, collection, current, synced, render_version, &members).await?;
    store.known_states().record(collection, Known { synced: recorded_at, checked: current, render_version });
    // The multigets that follow a sync then read the text from memory.
    store.member_cache().put(collection, recorded_at, members);
    Ok(recorded_at)
}

/// A view must not list one href twice (the address book sees to it); should one ever do, its first
/// member is kept rather than the whole collection failing (PostgreSQL refuses to upsert one row
/// twice in a statement) or the stored and cached members disagreeing.
fn distinct_hrefs(collection: &str, mut members: Vec<Member>) -> Vec<Member> {
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    members.retain(|member| {
        let first = seen.insert(member.href.clone());
        if !first {
            tracing::warn!(collection, href = %member.href, "a second member under one href is left out");
        }
        first
    });
    members
}

/// A collection to bring up to date: at `current`, the change_log's newest sequence, read before its
/// view is computed so that the view reflects every change up to it; `synced`, where it was last
/// (its sync-token); `checked`, how far the change_log was read for it since; `version`, the render
/// version of its stored texts.
struct Stale {
    current: i64,
    synced: Option<i64>,
    checked: i64,
    version: Option<i32>,
}

/// `Ok(synced)` when `collection` is up to date with the change_log and its texts are of
/// `render_version`.
async fn up_to_date(
    store: &Store,
    collection: &str,
    render_version: i32,
    change_seq: Option<i64>,
) -> Result<std::result::Result<i64, Stale>> {
    // Not yet answered from memory with `change_seq`: the stored render version can be changed
    // without a change_log entry (a migration, an older release's instance), which only this
    // read sees.
    let _ = change_seq;
    // One statement, not two: this runs on every sync and every listing.
    let (current, synced, checked, version): (Option<i64>, Option<i64>, Option<i64>, Option<i32>) =
        on_db!(store, read, |pool| {
            sqlx::query_as(
                "SELECT (SELECT MAX(seq) FROM change_log), \
                 (SELECT synced_seq FROM collections WHERE key = $1), \
                 (SELECT checked_seq FROM collections WHERE key = $1), \
                 (SELECT render_version FROM collections WHERE key = $1)",
            )
            .bind(collection)
            .fetch_one(pool)
            .await?
        });
    let current = current.unwrap_or(0);
    let known = store.known_states().get(collection).filter(|known| Some(known.render_version) == version);
    let checked = checked.into_iter().chain(known.map(|known| known.checked)).chain(synced).max();
    if let (Some(synced), Some(checked), Some(version)) = (synced, checked, version) {
        store.known_states().record(collection, Known { synced, checked, render_version: version });
    }
    Ok(match (synced, checked, version) {
        (Some(synced), Some(checked), Some(version)) if checked >= current && version == render_version => Ok(synced),
        _ => Err(Stale { current, synced, checked: checked.unwrap_or(-1), version }),
    })
}

/// A position in a collection's change history: everything up to `seq`, and at `seq` itself the
/// members up to `href` (set when a client's `DAV:limit` cut an answer in the middle of a seq).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub seq: i64,
    pub href: Option<String>,
}

/// The token of a position in `collection`: `None` is the start, before any member was delivered
/// (the position of a client whose first page was cut at a limit of 0).
pub fn cursor_token(collection: &str, cursor: Option<&Cursor>) -> String {
    match cursor {
        None => format!("{TOKEN_PREFIX}{}/start", token_tag(collection)),
        Some(Cursor { seq, href: None }) => token(collection, *seq),
        Some(Cursor { seq, href: Some(href) }) => format!(
            "{}:{}",
            token(collection, *seq),
            percent_encoding::utf8_percent_encode(href, percent_encoding::NON_ALPHANUMERIC)
        ),
    }
}

/// The position a token of `collection` names (`Some(None)`: the start); `None` for a token that
/// is not one of this collection's.
pub fn parse_cursor(collection: &str, text: &str) -> Option<Option<Cursor>> {
    let rest = text.trim().strip_prefix(TOKEN_PREFIX)?.strip_prefix(&token_tag(collection))?.strip_prefix('/')?;
    if rest == "start" {
        return Some(None);
    }
    let (seq, href) = match rest.split_once(':') {
        Some((seq, href)) => (seq, Some(percent_encoding::percent_decode_str(href).decode_utf8().ok()?.into_owned())),
        None => (rest, None),
    };
    let seq = seq.parse().ok().filter(|s: &i64| *s >= 0)?;
    Some(Some(Cursor { seq, href }))
}

/// Changes after `cursor` (all current members when `cursor` is None), in (seq, href) order, with
/// the members' text when `with_bodies`.
pub async fn changes_after(
    store: &Store,
    collection: &str,
    cursor: Option<&Cursor>,
    with_bodies: bool,
) -> Result<Vec<Change>> {
    // Without an href, the whole of `seq` was delivered; with one, the members after it were not.
    // Each case gets its own statement whose conditions an index range scan can use directly: one
    // statement with `$3 IS NOT NULL` in an OR made PostgreSQL's cached generic plan (and SQLite)
    // read every member of the collection on each sync, costing time in proportion to its size.
    let body = if with_bodies { "body" } else { "NULL AS body" };
    let (condition, seq, href) = match cursor {
        None => ("seq > $2 AND NOT deleted", -1, None),
        Some(Cursor { seq, href: None }) => ("seq > $2", *seq, None),
        Some(Cursor { seq, href: Some(href) }) => ("seq >= $2 AND (seq > $2 OR href > $3)", *seq, Some(href.as_str())),
    };
    let sql = format!(
        "SELECT href, etag, deleted, seq, {body} FROM collection_members WHERE collection = $1 AND {condition} \
         ORDER BY seq, href"
    );
    let rows: Vec<ChangeRow> = on_db!(store, read, |pool| {
        let query = sqlx::query_as(&sql).bind(collection).bind(seq);
        match href {
            Some(href) => query.bind(href),
            None => query,
        }
        .fetch_all(pool)
        .await?
    });
    Ok(rows.into_iter().map(Change::from).collect())
}

/// The changes a client holding `token` (empty: none yet) must apply, at most `limit` of them,
/// with the token to ask with next. `None` when the token was not issued for this state (invalid
/// or from the future), which the caller answers with DAV:valid-sync-token.
pub async fn page(
    store: &Store,
    collection: &str,
    mut synced: i64,
    token: &str,
    limit: Option<usize>,
    with_bodies: bool,
) -> Result<Option<Page>> {
    let cursor = if token.trim().is_empty() {
        None
    } else {
        match parse_cursor(collection, token) {
            Some(None) => None,
            Some(Some(cursor)) if cursor.seq <= synced => Some(cursor),
            // `synced` may be this process's memory of the collection while another process
            // brought it to a later sequence with the same members: the database tells.
            Some(Some(cursor)) => match synced_seq(store, collection).await? {
                Some(recorded) if cursor.seq <= recorded => {
                    synced = recorded;
                    Some(cursor)
                }
                _ => return Ok(None),
            },
            None => return Ok(None),
        }
    };
    // A client already at the collection's sequence (a device polling a quiet collection, the
    // commonest request of all) has nothing to fetch: no member was recorded after it.
    let caught_up = cursor.as_ref().is_some_and(|c| c.seq == synced && c.href.is_none());
    let mut changes = match caught_up {
        true => Vec::new(),
        false => changes_after(store, collection, cursor.as_ref(), with_bodies).await?,
    };
    let truncated = limit.is_some_and(|l| changes.len() > l);
    let next = match limit {
        Some(l) if truncated => {
            changes.truncate(l);
            // A limit of 0 delivers nothing: the client stays where it was (RFC 6578 3.6-3.7).
            match changes.last() {
                Some(last) => Some(Cursor { seq: last.seq, href: Some(last.href.clone()) }),
                None => cursor,
            }
        }
        _ => Some(Cursor { seq: synced, href: None }),
    };
    Ok(Some(Page { changes, truncated, next_token: cursor_token(collection, next.as_ref()) }))
}

/// A multiget of at least this many members of a collection not in memory reads all of it into
/// memory: the first multigets of a client's first sync come in batches of this size or more.
const FILL_FROM_DATABASE: usize = 100;

/// Members' ETags and texts by href, as a multiget reads them.
pub enum Entries {
    /// Shared with the member cache, nothing copied; texts served only when asked for.
    Cached { snapshot: Arc<Snapshot>, with_bodies: bool },
    /// Read from the database or rendered from the CRM rows.
    Owned(HashMap<String, (String, Option<String>)>),
}

impl MemberLookup for Entries {
    fn get(&self, href: &str) -> Option<(&str, Option<&str>)> {
        match self {
            Entries::Cached { snapshot, with_bodies } => {
                snapshot.member(href).map(|(etag, body)| (etag, with_bodies.then_some(body)))
            }
            Entries::Owned(members) => members.get(href).map(|(etag, body)| (etag.as_str(), body.as_deref())),
        }
    }
}

impl FromIterator<Stored> for Entries {
    fn from_iter<I: IntoIterator<Item = Stored>>(members: I) -> Self {
        Entries::Owned(members.into_iter().map(|m| (m.href, (m.etag, m.body))).collect())
    }
}

/// The members of `collection` named in `hrefs`, with their text when `with_bodies`, as recorded
/// when it was brought up to date at `synced` (what `refresh` just returned: the texts are of the
/// caller's render version). Read from memory when this process recorded them, else from the
/// database.
pub async fn members_at(
    store: &Store,
    collection: &str,
    synced: i64,
    hrefs: &[String],
    with_bodies: bool,
) -> Result<Entries> {
    // Members change only with the collection's sequence, so a snapshot of it is of these members.
    if let Some(snapshot) = store.member_cache().snapshot(collection, synced) {
        return Ok(Entries::Cached { snapshot, with_bodies });
    }
    if hrefs.len() < FILL_FROM_DATABASE {
        return Ok(stored(store, collection, Some(hrefs), with_bodies).await?.into_iter().collect());
    }
    // Another process (or this one before a restart) recorded it: a large multiget reads the
    // whole collection once, and keeps it for the next ones.
    let members = stored(store, collection, None, true).await?;
    // The cache keeps no sources: 0 stands for "not read".
    let members =
        members.into_iter().map(|m| Member { href: m.href, etag: m.etag, body: m.body.unwrap_or_default(), source: 0 });
    store.member_cache().put(collection, synced, members.collect());
    match store.member_cache().snapshot(collection, synced) {
        Some(snapshot) => Ok(Entries::Cached { snapshot, with_bodies }),
        // Larger than the cache's budget.
        None => Ok(stored(store, collection, Some(hrefs), with_bodies).await?.into_iter().collect()),
    }
}

/// The current members of a collection by href: all of them, or those of `hrefs` (absent ones are
/// left out), with their text when `with_bodies`.
pub async fn stored(
    store: &Store,
    collection: &str,
    hrefs: Option<&[String]>,
    with_bodies: bool,
) -> Result<Vec<Stored>> {
    let columns = if with_bodies { "href, etag, body" } else { "href, etag, NULL AS body" };
    let Some(hrefs) = hrefs else {
        let sql =
            format!("SELECT {columns} FROM collection_members WHERE collection = $1 AND NOT deleted ORDER BY href");
        let rows: Vec<StoredRow> =
            on_db!(store, read, |pool| { sqlx::query_as(&sql).bind(collection).fetch_all(pool).await? });
        return Ok(rows.into_iter().map(Stored::from).collect());
    };
    let sql = format!("SELECT {columns} FROM collection_members WHERE collection = $1 AND NOT deleted AND href");
    let rows: Vec<StoredRow> = crate::rows_where_in!(store, sql, collection, hrefs);
    Ok(rows.into_iter().map(Stored::from).collect())
}

/// Per-rep display settings (PROPPATCH of displayname / calendar-color).
pub async fn set_display(
    store: &Store,
    collection: &str,
    displayname: Option<&str>,
    color: Option<&str>,
) -> Result<()> {
    on_db!(store, write, |pool| {
        sqlx::query(
            "INSERT INTO collections (key, synced_seq, displayname, color) VALUES ($1, -1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET displayname = COALESCE($2, collections.displayname), color = COALESCE($3, collections.color)",
        )
        .bind(collection)
        .bind(displayname)
        .bind(color)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn display(store: &Store, collection: &str) -> Result<(Option<String>, Option<String>)> {
    let row: Option<(Option<String>, Option<String>)> = on_db!(store, read, |pool| {
        sqlx::query_as("SELECT displayname, color FROM collections WHERE key = $1")
            .bind(collection)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.unwrap_or((None, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_tokens_are_rejected() {
        let (book, calendar) = ("cards:7", "activities:7");
        assert_eq!(parse_cursor(book, &token(book, 42)), Some(Some(Cursor { seq: 42, href: None })));
        assert_eq!(parse_cursor(calendar, &token(book, 42)), None);
        assert_eq!(parse_cursor("cards:70", &token(book, 42)), None);
        assert_eq!(parse_cursor(book, "http://example.com/sync/42"), None);
        assert_eq!(parse_cursor(book, "urn:crmdav:sync:42"), None);
        assert_eq!(parse_cursor(book, "urn:crmdav:sync:cards-7/-1"), None);
        assert_eq!(parse_cursor(book, "urn:crmdav:sync:cards-7/abc"), None);
        let cursor = Cursor { seq: 7, href: Some("a b:c.vcf".into()) };
        assert_eq!(parse_cursor(book, &cursor_token(book, Some(&cursor))), Some(Some(cursor)));
        assert_eq!(parse_cursor(book, &cursor_token(book, None)), Some(None));
    }

    #[test]
    fn a_view_keeps_the_first_member_of_an_href() {
        let member =
            |href: &str, body: &str| Member { href: href.into(), etag: body.into(), body: body.into(), source: 1 };
        let kept = distinct_hrefs("cards:1", vec![member("a.vcf", "1"), member("b.vcf", "2"), member("a.vcf", "3")]);
        assert_eq!(kept, vec![member("a.vcf", "1"), member("b.vcf", "2")]);
    }
}
