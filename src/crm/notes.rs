//! Client notes written on purpose from a device: a line added to a card's NOTE (and, for a new
//! card, its NOTE). Closing reports are written by `activities` and `report_tasks`.

use anyhow::Result;

use super::audit::{AuditEntry, insert_audit};
use super::visibility::visible_condition;
use super::voice_notes::{NewVoiceNote, insert_voice_note};
use crate::on_db;
use crate::store::{Store, Ts};

/// A note a rep writes about a client from a device (source `dav`).
#[derive(Clone, Debug)]
pub struct ClientNote<'a> {
    pub client_id: i64,
    pub rep_id: i64,
    pub body: &'a str,
}

pub const INSERT: &str =
    "INSERT INTO notes (client_id, activity_id, rep_id, body, source, created_at) VALUES ($1, NULL, $2, $3, 'dav', $4)";

/// Inserts a [`ClientNote`] through `$executor` (a pool or an open transaction of either
/// database), so that it commits or rolls back with the write it belongs to.
macro_rules! insert_note {
    ($executor:expr, $note:expr) => {{
        let note: &$crate::crm::notes::ClientNote<'_> = &$note;
        sqlx::query($crate::crm::notes::INSERT)
            .bind(note.client_id)
            .bind(note.rep_id)
            .bind(note.body)
            .bind($crate::store::Ts::now())
            .execute($executor)
            .await
    }};
}
pub(crate) use insert_note;

/// Adds a note on its own (a card whose only change is the note), audited; one transaction.
pub async fn add(store: &Store, note: &ClientNote<'_>, audit: AuditEntry<'_>) -> Result<()> {
    on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        insert_note!(&mut *tx, *note)?;
        insert_audit!(&mut *tx, audit)?;
        tx.commit().await?;
    });
    Ok(())
}

/// A note as the notes collection shows it: with its client and author.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct NoteRow {
    pub id: i64,
    pub client_id: i64,
    pub client_code: String,
    pub client_name: String,
    pub rep_id: Option<i64>,
    pub author: Option<String>,
    pub body: String,
    pub source: String,
    pub activity_id: Option<i64>,
    pub uid: Option<String>,
    pub href: Option<String>,
    pub created_at: Ts,
}

/// Names of the journal entries of notes not written in the notes collection: `note-ID.ics`.
/// Devices cannot create entries under such names.
pub const GENERATED_NAME_PREFIX: &str = "note-";
const GENERATED_NAME_SUFFIX: &str = ".ics";
/// UIDs of those entries: `crmdav-note-ID`.
const GENERATED_UID_PREFIX: &str = "crmdav-note-";

fn generated_id(name: &str) -> Option<i64> {
    name.strip_prefix(GENERATED_NAME_PREFIX)?.strip_suffix(GENERATED_NAME_SUFFIX)?.parse().ok()
}

/// Whether a device may not create an entry under this name (the server's own names).
pub fn is_reserved_name(name: &str) -> bool {
    name.to_ascii_lowercase().starts_with(GENERATED_NAME_PREFIX)
}

impl NoteRow {
    /// The entry's name for `viewer`: the name its author's device gave it, for that author;
    /// `note-ID.ics` otherwise.
    pub fn name_for(&self, viewer: i64) -> String {
        match (&self.href, self.rep_id == Some(viewer)) {
            (Some(href), true) => href.clone(),
            _ => format!("{GENERATED_NAME_PREFIX}{}{GENERATED_NAME_SUFFIX}", self.id),
        }
    }

    pub fn uid(&self) -> String {
        self.uid.clone().unwrap_or_else(|| format!("{GENERATED_UID_PREFIX}{}", self.id))
    }

    /// Only its author may change a note; the notes of others are read-only.
    pub fn is_writable_by(&self, viewer: i64) -> bool {
        self.rep_id == Some(viewer)
    }
}

const NOTE_SELECT: &str = "SELECT n.id, n.client_id, c.code AS client_code, c.name AS client_name, n.rep_id, \
    r.display_name AS author, n.body, n.source, n.activity_id, n.uid, n.href, n.created_at \
    FROM notes n JOIN clients c ON c.id = n.client_id LEFT JOIN reps r ON r.id = n.rep_id";

/// The notes of the clients `rep_id` sees written since `since` (all of them, or those of `ids`).
pub async fn list(store: &Store, rep_id: i64, since: Ts, ids: Option<&[i64]>) -> Result<Vec<NoteRow>> {
    let visible = visible_condition("$1");
    let Some(ids) = ids else {
        let sql = format!("{NOTE_SELECT} WHERE {visible} AND n.created_at >= $2 ORDER BY n.id");
        return Ok(on_db!(store, read, |pool| sqlx::query_as(&sql).bind(rep_id).bind(since).fetch_all(pool).await?));
    };
    let mut rows = Vec::new();
    for chunk in ids.chunks(500) {
        let list: Vec<String> = (3..chunk.len() + 3).map(|i| format!("${i}")).collect();
        let sql = format!(
            "{NOTE_SELECT} WHERE {visible} AND n.created_at >= $2 AND n.id IN ({}) ORDER BY n.id",
            list.join(", ")
        );
        let mut found: Vec<NoteRow> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_as(&sql).bind(rep_id).bind(since);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        rows.append(&mut found);
    }
    Ok(rows)
}

/// The note `rep_id` sees under `name` (see [`NoteRow::name_for`]), written since `since`.
pub async fn find(store: &Store, rep_id: i64, since: Ts, name: &str) -> Result<Option<NoteRow>> {
    let visible = visible_condition("$1");
    let row = match generated_id(name) {
        // An own note named by its device is not also found under its generated name.
        Some(id) => {
            let sql = format!(
                "{NOTE_SELECT} WHERE {visible} AND n.created_at >= $2 AND n.id = $3 \
                 AND NOT (n.rep_id = $1 AND n.href IS NOT NULL)"
            );
            on_db!(store, read, |pool| sqlx::query_as(&sql)
                .bind(rep_id)
                .bind(since)
                .bind(id)
                .fetch_optional(pool)
                .await?)
        }
        None => {
            let sql = format!("{NOTE_SELECT} WHERE {visible} AND n.created_at >= $2 AND n.rep_id = $1 AND n.href = $3");
            on_db!(store, read, |pool| sqlx::query_as(&sql)
                .bind(rep_id)
                .bind(since)
                .bind(name)
                .fetch_optional(pool)
                .await?)
        }
    };
    Ok(row)
}

/// The ids of the notes of `client_ids` written since `since` (whichever rep sees them).
pub async fn ids_of_clients(store: &Store, client_ids: &[i64], since: Ts) -> Result<Vec<i64>> {
    let mut ids = Vec::new();
    for chunk in client_ids.chunks(500) {
        let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT id FROM notes WHERE created_at >= $1 AND client_id IN ({})", list.join(", "));
        let mut found: Vec<i64> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_scalar(&sql).bind(since);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        ids.append(&mut found);
    }
    Ok(ids)
}

/// The note `rep_id` holds under UID `uid`, if any: (its id, its name on the device).
pub async fn of_uid(store: &Store, rep_id: i64, uid: &str) -> Result<Option<(i64, Option<String>)>> {
    Ok(on_db!(store, read, |pool| sqlx::query_as("SELECT id, href FROM notes WHERE rep_id = $1 AND uid = $2")
        .bind(rep_id)
        .bind(uid)
        .fetch_optional(pool)
        .await?))
}

/// A journal entry written on a device, as a note to store.
pub struct JournalNote<'a> {
    pub client_id: i64,
    pub rep_id: i64,
    pub uid: &'a str,
    pub href: &'a str,
    pub body: &'a str,
    /// Its voice notes, stored with it.
    pub audio: &'a [NewVoiceNote<'a>],
}

/// Stores a new note from a device's journal entry, audited; one transaction. Returns its id, or
/// None (nothing written) when the rep already has a note with that UID or name.
pub async fn create_journal(store: &Store, note: &JournalNote<'_>, audit: AuditEntry<'_>) -> Result<Option<i64>> {
    Ok(on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO notes (client_id, rep_id, body, source, uid, href, created_at) VALUES ($1, $2, $3, 'dav', $4, $5, $6) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(note.client_id)
        .bind(note.rep_id)
        .bind(note.body)
        .bind(note.uid)
        .bind(note.href)
        .bind(Ts::now())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            for voice in note.audio {
                insert_voice_note!(&mut *tx, voice, note.client_id, None, Some(id), note.rep_id)?;
            }
            insert_audit!(&mut *tx, audit)?;
            tx.commit().await?;
        }
        id
    }))
}

/// Changes the text and client of an own note, adds the voice notes sent with it, audited; one
/// transaction.
pub async fn update(
    store: &Store,
    id: i64,
    rep_id: i64,
    client_id: i64,
    body: &str,
    audio: &[NewVoiceNote<'_>],
    audit: AuditEntry<'_>,
) -> Result<bool> {
    Ok(on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let changed = sqlx::query("UPDATE notes SET body = $3, client_id = $4 WHERE id = $1 AND rep_id = $2")
            .bind(id)
            .bind(rep_id)
            .bind(body)
            .bind(client_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 1 {
            for voice in audio {
                insert_voice_note!(&mut *tx, voice, client_id, None, Some(id), rep_id)?;
            }
            insert_audit!(&mut *tx, audit)?;
            tx.commit().await?;
        }
        changed == 1
    }))
}

/// Deletes an own note, audited; one transaction.
pub async fn delete(store: &Store, id: i64, rep_id: i64, audit: AuditEntry<'_>) -> Result<bool> {
    Ok(on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM notes WHERE id = $1 AND rep_id = $2")
            .bind(id)
            .bind(rep_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 1 {
            insert_audit!(&mut *tx, audit)?;
            tx.commit().await?;
        }
        deleted == 1
    }))
}
