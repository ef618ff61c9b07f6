//! Bringing a collection up to date by the changes that concern it, not by recomputing it.
//!
//! Every change_log entry names what it touches (schema 0008: the client, the activity, the
//! activity's rep). A collection's `View` says which of its sources (the CRM rows its members are
//! computed from: a card's client, an event's activity) a range of entries touches, or that they
//! may touch anything (a visibility rule, a rep): then it is recomputed in full. Otherwise only
//! the members of the touched sources are computed again and diffed against those stored, so a
//! change costs what it touches: a client outside a rep's view, or another rep's activity, costs
//! that rep a read of the change_log range and a lookup or two that find nothing.
//!
//! When nothing of a collection changed, its sync-token stays (devices have nothing to fetch) and
//! only how far the change_log was read moves: in memory, and in the database when the range read
//! was long, so that another process (or this one after a restart) does not read it again.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use anyhow::Result;

use super::Store;
use super::diff::{STORED_COLUMNS, StoredMember, Upsert, diff, write_upserts};
use super::sync::Member;
use crate::on_db;

/// Ranges longer than this are not applied change by change: the view is recomputed in full.
pub const MAX_RANGE: i64 = 2_000;
/// A range at least this long, read without any member changing, is recorded as read in the
/// database (shorter ones only in memory: a poll under churn then writes nothing).
const PERSIST_CHECKED_AFTER: usize = 256;

/// A change_log entry, as a view reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LoggedChange {
    pub entity: String,
    /// The id of the changed row in its table.
    pub entity_id: i64,
    pub client_id: Option<i64>,
    pub activity_id: Option<i64>,
    pub rep_id: Option<i64>,
}

/// A DAV collection as a view of the CRM.
pub trait View: Sync {
    /// The sources whose members `changes` may have changed (added, altered or removed), or `None`
    /// when the changes may concern any member: the view is then recomputed in full.
    fn affected(&self, changes: &[LoggedChange]) -> impl Future<Output = Result<Option<Vec<i64>>>> + Send;

    /// The current members: all of them, or those computed from `sources`.
    fn compute(&self, sources: Option<&[i64]>) -> impl Future<Output = Result<Vec<Member>>> + Send;
}

/// The change_log entries after `after` up to `until`; `None` when there are more than
/// `MAX_RANGE` of them. Read from the process's `LogTail` where it holds them: every collection
/// polled under churn reads the same newest range, and the database is asked for it once.
pub async fn changes_between(store: &Store, after: i64, until: i64) -> Result<Option<Vec<LoggedChange>>> {
    if until - after > MAX_RANGE {
        return Ok(None);
    }
    let (mut changes, from) = match store.log_tail().read(after, until) {
        TailRead::Complete(changes) => return Ok(Some(changes)),
        TailRead::Partial { changes, from } => (changes, from),
    };
    let read: Vec<(i64, LoggedChange)> = on_db!(store, read, |pool| {
        sqlx::query_as::<_, SeqChange>(
            "SELECT seq, entity, entity_id, client_id, activity_id, rep_id FROM change_log \
             WHERE seq > $1 AND seq <= $2 ORDER BY seq",
        )
        .bind(from)
        .bind(until)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|row| (row.seq, row.change))
        .collect()
    });
    changes.extend(read.iter().map(|(_, change)| change.clone()));
    store.log_tail().extend(from, until, read);
    Ok(Some(changes))
}

#[derive(sqlx::FromRow)]
struct SeqChange {
    seq: i64,
    #[sqlx(flatten)]
    change: LoggedChange,
}

/// Entries kept in the tail at most (a few ranges of `MAX_RANGE`).
const TAIL_ENTRIES: usize = 4 * MAX_RANGE as usize;

/// The newest change_log entries this process has read: every entry with a sequence in
/// (`after`, `until`], in order. Entries up to a `current` read from the database are final (the
/// triggers make sequence order commit order), so a range once read never changes.
#[derive(Debug, Default)]
pub struct LogTail {
    range: std::sync::Mutex<TailRange>,
}

#[derive(Debug, Default)]
struct TailRange {
    after: i64,
    until: i64,
    entries: std::collections::VecDeque<(i64, LoggedChange)>,
}

pub enum TailRead {
    Complete(Vec<LoggedChange>),
    /// The entries up to `from`; those after it are to be read from the database.
    Partial {
        changes: Vec<LoggedChange>,
        from: i64,
    },
}

impl TailRange {
    fn holds(&self, seq: i64) -> bool {
        self.after <= seq && seq <= self.until
    }

    fn between(&self, after: i64, until: i64) -> Vec<LoggedChange> {
        let start = self.entries.partition_point(|(seq, _)| *seq <= after);
        let end = self.entries.partition_point(|(seq, _)| *seq <= until);
        self.entries.range(start..end).map(|(_, change)| change.clone()).collect()
    }
}

impl LogTail {
    pub fn read(&self, after: i64, until: i64) -> TailRead {
        let range = self.range.lock().expect("log tail lock");
        match (range.holds(after), range.holds(until)) {
            (true, true) => TailRead::Complete(range.between(after, until)),
            (true, false) => TailRead::Partial { changes: range.between(after, range.until), from: range.until },
            _ => TailRead::Partial { changes: Vec::new(), from: after },
        }
    }

    /// Adds `entries`, every entry in (`from`, `until`], when they continue the tail or start a
    /// newer one; an older range (a collection far behind) is not kept.
    pub fn extend(&self, from: i64, until: i64, entries: Vec<(i64, LoggedChange)>) {
        let mut range = self.range.lock().expect("log tail lock");
        if from == range.until && until > range.until {
            range.entries.extend(entries);
            range.until = until;
        } else if from > range.until {
            *range = TailRange { after: from, until, entries: entries.into() };
        } else {
            return;
        }
        while range.entries.len() > TAIL_ENTRIES {
            let (seq, _) = range.entries.pop_front().expect("a non-empty tail");
            range.after = seq;
        }
    }
}

/// Records the members of `sources` as `computed` (those of the sources that exist now) at change
/// `current` (`to.checked`; the collection was at `to.synced`): changed members get `current`,
/// members of those sources that are no longer computed become deletions. Returns the sync sequence
/// the collection is at: `current` when a member changed, `synced` when none did.
pub async fn apply(
    store: &Store,
    collection: &str,
    to: Known,
    range_len: usize,
    sources: &[i64],
    computed: Vec<Member>,
) -> Result<i64> {
    let Known { synced, checked: current, render_version } = to;
    let mut stored = match sources.is_empty() {
        true => HashMap::new(),
        false => stored_of_sources(store, collection, sources).await?,
    };
    let missing: Vec<&str> =
        computed.iter().map(|m| m.href.as_str()).filter(|href| !stored.contains_key(*href)).collect();
    if !missing.is_empty() {
        // A member whose href was another source's (a reused name, a tombstone) is diffed too.
        stored.extend(stored_by_href(store, collection, &missing).await?);
    }
    let touched: HashSet<i64> = sources.iter().copied().collect();
    let upserts = diff(&stored, &computed, |s| s.source_id.is_some_and(|source| touched.contains(&source)));
    if upserts.iter().all(|u| u.seq.is_some()) {
        // No member changed (texts filled in or sources noted at most): the token stays.
        if !upserts.is_empty() {
            write(store, collection, None, current, &upserts).await?;
        } else if range_len >= PERSIST_CHECKED_AFTER {
            mark_checked(store, collection, current).await?;
        }
        // Unless another process (or request) wrote these members first: then the collection is
        // at their sequence, and a client holding `synced` has them still to fetch.
        let synced = stored.values().map(|m| m.seq).fold(synced, i64::max);
        store.known_states().record(collection, Known { synced, checked: current, render_version });
        return Ok(synced);
    }
    let recorded = write(store, collection, Some(synced), current, &upserts).await?;
    store.known_states().record(collection, Known { synced: recorded, checked: current, render_version });
    // Its texts in memory are of an older state now.
    store.member_cache().forget(collection);
    Ok(recorded)
}

/// Writes `upserts` and records the collection as read up to `current`; when `synced_before` is
/// given, a member changed and the collection moves to `current` (its new sync-token), unless
/// another request or process has brought it there or beyond meanwhile (its write wins: this
/// one's view may be of an older state). Returns the sync sequence the collection is at.
async fn write(
    store: &Store,
    collection: &str,
    synced_before: Option<i64>,
    current: i64,
    upserts: &[Upsert<'_>],
) -> Result<i64> {
    Ok(on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let moved = sqlx::query(
            "UPDATE collections SET synced_seq = CASE WHEN $3 THEN $2 ELSE synced_seq END, \
             checked_seq = $2 WHERE key = $1 AND synced_seq < $2 AND (checked_seq IS NULL OR checked_seq < $2)",
        )
        .bind(collection)
        .bind(current)
        .bind(synced_before.is_some())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            // Someone else applied this range (or a later one) first.
            let synced: i64 = sqlx::query_scalar("SELECT synced_seq FROM collections WHERE key = $1")
                .bind(collection)
                .fetch_one(&mut *tx)
                .await?;
            tx.rollback().await?;
            synced
        } else {
            write_upserts!(tx, collection, upserts, current);
            tx.commit().await?;
            current
        }
    }))
}

/// Records that the change_log was read up to `current` for `collection`, without any change.
async fn mark_checked(store: &Store, collection: &str, current: i64) -> Result<()> {
    on_db!(store, write, |pool| {
        sqlx::query(
            "UPDATE collections SET checked_seq = $2 WHERE key = $1 AND (checked_seq IS NULL OR checked_seq < $2)",
        )
        .bind(collection)
        .bind(current)
        .execute(pool)
        .await?;
    });
    Ok(())
}

async fn stored_of_sources(store: &Store, collection: &str, sources: &[i64]) -> Result<HashMap<String, StoredMember>> {
    let rows: Vec<StoredMember> =
        crate::rows_where_in!(store, format!("{STORED_COLUMNS} AND source_id"), collection, sources);
    Ok(rows.into_iter().map(|row| (row.href.clone(), row)).collect())
}

async fn stored_by_href(store: &Store, collection: &str, hrefs: &[&str]) -> Result<HashMap<String, StoredMember>> {
    let rows: Vec<StoredMember> = crate::rows_where_in!(store, format!("{STORED_COLUMNS} AND href"), collection, hrefs);
    Ok(rows.into_iter().map(|row| (row.href.clone(), row)).collect())
}

/// The members (current, not deleted) computed from `sources`: href and source.
pub async fn members_of_sources(store: &Store, collection: &str, sources: &[i64]) -> Result<Vec<(String, i64)>> {
    Ok(stored_of_sources(store, collection, sources)
        .await?
        .into_values()
        .filter(|m| !m.deleted)
        .filter_map(|m| Some((m.href, m.source_id?)))
        .collect())
}

/// What this process knows of each collection's state (see `Known`).
#[derive(Debug, Default)]
pub struct KnownStates {
    states: std::sync::Mutex<HashMap<String, Known>>,
}

/// A collection's state as this process last read or wrote it: its sync sequence, how far the
/// change_log was read for it (in memory: short ranges read under churn are not written to the
/// database, see the module comment) and the render version of its texts.
///
/// Only this process's view: another process may have moved `synced` since. That is safe: it moves
/// only with a change_log entry after `checked` (then the collection is read again), or to a
/// sequence with the same members (a token of either describes the same members; `sync::page`
/// accepts a token newer than `synced` after reading the database).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub synced: i64,
    pub checked: i64,
    pub render_version: i32,
}

/// Collections remembered at most; beyond, the memory starts afresh (a forgotten state only costs
/// one more read of the database).
const MAX_REMEMBERED: usize = 100_000;

impl KnownStates {
    pub fn get(&self, collection: &str) -> Option<Known> {
        self.states.lock().expect("known states lock").get(collection).copied()
    }

    /// Records `known`, unless what is known already was read further (concurrent requests end in
    /// any order).
    pub fn record(&self, collection: &str, known: Known) {
        let mut states = self.states.lock().expect("known states lock");
        if states.len() >= MAX_REMEMBERED && !states.contains_key(collection) {
            states.clear();
        }
        match states.get_mut(collection) {
            Some(state) if state.checked > known.checked && state.render_version == known.render_version => {}
            Some(state) => *state = known,
            None => {
                states.insert(collection.to_string(), known);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64) -> (i64, LoggedChange) {
        let change = LoggedChange {
            entity: "clients".into(),
            entity_id: seq * 10,
            client_id: Some(seq),
            activity_id: None,
            rep_id: None,
        };
        (seq, change)
    }

    fn ids(changes: &[LoggedChange]) -> Vec<i64> {
        changes.iter().map(|c| c.entity_id / 10).collect()
    }

    #[test]
    fn the_tail_answers_what_it_holds_and_names_where_the_database_must_go_on() {
        let tail = LogTail::default();
        // Sequences 3 and 6 were rolled back: a range may have gaps.
        tail.extend(0, 5, vec![entry(1), entry(2), entry(4), entry(5)]);
        match tail.read(1, 5) {
            TailRead::Complete(changes) => assert_eq!(ids(&changes), [2, 4, 5]),
            TailRead::Partial { .. } => panic!("(1, 5] is held"),
        }
        match tail.read(2, 8) {
            TailRead::Partial { changes, from } => assert_eq!((ids(&changes), from), (vec![4, 5], 5)),
            TailRead::Complete(_) => panic!("(5, 8] is not held"),
        }
        tail.extend(5, 8, vec![entry(7), entry(8)]);
        match tail.read(2, 8) {
            TailRead::Complete(changes) => assert_eq!(ids(&changes), [4, 5, 7, 8]),
            TailRead::Partial { .. } => panic!("(2, 8] is held now"),
        }
        // A range read for a collection far behind is not kept, and does not break the tail.
        tail.extend(0, 3, vec![entry(1), entry(2)]);
        assert!(matches!(tail.read(0, 8), TailRead::Complete(changes) if ids(&changes) == [1, 2, 4, 5, 7, 8]));
    }

    #[test]
    fn the_tail_forgets_its_oldest_entries_beyond_its_size() {
        let tail = LogTail::default();
        let newest = TAIL_ENTRIES as i64 + 10;
        tail.extend(0, newest, (1..=newest).map(entry).collect());
        assert!(matches!(tail.read(0, newest), TailRead::Partial { from: 0, .. }));
        match tail.read(10, newest) {
            TailRead::Complete(changes) => assert_eq!(changes.len(), TAIL_ENTRIES),
            TailRead::Partial { .. } => panic!("the newest entries are held"),
        }
    }
}
