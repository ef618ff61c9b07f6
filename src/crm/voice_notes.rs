//! Voice notes: audio a rep attached on a device to a journal entry, a report task or an event,
//! stored once (schema 0010) and served back at `/dav/voice-notes/ID` to the reps who see its
//! client.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;

use super::audit::{AuditEntry, insert_audit};
use super::visibility::visible_condition;
use crate::on_db;
use crate::store::{Store, Ts};

/// Where voice notes are served: `/dav/voice-notes/ID`.
pub const PATH_PREFIX: &str = "/dav/voice-notes/";

/// The URL of voice note `id`: under `public_url` (`push.public_url`) when it is set (devices need
/// an absolute URL to fetch an attachment), else the path alone.
pub fn url(public_url: Option<&str>, id: i64) -> String {
    format!("{}{PATH_PREFIX}{id}", public_url.unwrap_or("").trim_end_matches('/'))
}

/// The text of a closing note that is (or holds) a voice note: `Voice note (0:42): URL`.
pub fn closing_line(voice: &NewVoiceNote<'_>, url: &str) -> String {
    match voice.duration_ms {
        Some(ms) => format!("{LINE_PREFIX} ({}): {url}", super::audio_duration::minutes_seconds(ms)),
        None => format!("{LINE_PREFIX}: {url}"),
    }
}

/// A voice note a device sent, to store.
pub struct NewVoiceNote<'a> {
    pub content_type: &'a str,
    pub filename: Option<&'a str>,
    pub bytes: &'a [u8],
    /// How long it plays, when its container says (`audio_duration`).
    pub duration_ms: Option<i64>,
}

impl<'a> NewVoiceNote<'a> {
    /// A recording to store, measured.
    pub fn measured(content_type: &'a str, filename: Option<&'a str>, bytes: &'a [u8]) -> Self {
        let duration_ms = super::audio_duration::duration_ms(content_type, bytes);
        Self { content_type, filename, bytes, duration_ms }
    }
}

pub const INSERT: &str = "INSERT INTO voice_notes (client_id, activity_id, note_id, rep_id, content_type, size_bytes, sha256, filename, bytes, created_at, duration_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";

/// The voice note of the same activity or note with the same audio, if one is stored: a device
/// sending an object again with its recording inline does not store it twice.
pub const SAME_AUDIO: &str =
    "SELECT id FROM voice_notes WHERE sha256 = $1 AND (activity_id = $2 OR note_id = $3) ORDER BY id LIMIT 1";

/// The hex SHA-256 of a voice note's bytes: its ETag.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores a [`NewVoiceNote`] of `(client_id, activity_id, note_id, rep_id)` through `$executor`
/// (an open transaction), so that it commits with the write it came with, unless the activity or
/// note has the same audio already. Gives `Ok((id, new))`: the stored voice note's id, and
/// whether it was stored now.
macro_rules! insert_voice_note {
    ($executor:expr, $voice:expr, $client:expr, $activity:expr, $note:expr, $rep:expr) => {{
        let voice: &$crate::crm::voice_notes::NewVoiceNote<'_> = $voice;
        let sha256 = $crate::crm::voice_notes::digest(voice.bytes);
        let (activity, note): (Option<i64>, Option<i64>) = ($activity, $note);
        let same: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar($crate::crm::voice_notes::SAME_AUDIO)
            .bind(&sha256)
            .bind(activity)
            .bind(note)
            .fetch_optional(&mut *$executor)
            .await;
        match same {
            Err(e) => Err(e),
            Ok(Some(id)) => Ok((id, false)),
            Ok(None) => sqlx::query_scalar($crate::crm::voice_notes::INSERT)
                .bind($client)
                .bind(activity)
                .bind(note)
                .bind($rep)
                .bind(voice.content_type)
                .bind(voice.bytes.len() as i64)
                .bind(&sha256)
                .bind(voice.filename)
                .bind(voice.bytes)
                .bind($crate::store::Ts::now())
                .bind(voice.duration_ms)
                .fetch_one(&mut *$executor)
                .await
                .map(|id: i64| (id, true)),
        }
    }};
}
pub(crate) use insert_voice_note;

/// A stored voice note, without its bytes.
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct VoiceNote {
    pub id: i64,
    pub client_id: Option<i64>,
    pub activity_id: Option<i64>,
    pub note_id: Option<i64>,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub duration_ms: Option<i64>,
    pub filename: Option<String>,
    pub author: Option<String>,
    pub created_at: Ts,
}

impl VoiceNote {
    pub fn path(&self) -> String {
        format!("{PATH_PREFIX}{}", self.id)
    }

    /// How cards and journal entries list it: `Voice note 2026-12-01, Alice Martin, 0:42: URL`
    /// (the author and the duration when known).
    pub fn line(&self, url: &str) -> String {
        let author = self.author.as_deref().map(|a| format!(", {a}")).unwrap_or_default();
        let duration =
            self.duration_ms.map(|ms| format!(", {}", super::audio_duration::minutes_seconds(ms))).unwrap_or_default();
        format!("{LINE_PREFIX} {}{author}{duration}: {url}", self.created_at.0.format("%Y-%m-%d"))
    }
}

/// How a voice note's line starts (see [`VoiceNote::line`]).
pub const LINE_PREFIX: &str = "Voice note";

/// Whether a line of text a device sends back is a voice note's line the server wrote.
pub fn is_line(line: &str) -> bool {
    line.trim_start().starts_with(&format!("{LINE_PREFIX} 20"))
}

const SELECT: &str = "SELECT v.id, v.client_id, v.activity_id, v.note_id, v.content_type, v.size_bytes, v.sha256, \
    v.duration_ms, v.filename, r.display_name AS author, v.created_at FROM voice_notes v LEFT JOIN reps r ON r.id = v.rep_id";

/// The voice notes of each of `note_ids` (journal entries), oldest first.
pub async fn of_notes(store: &Store, note_ids: &[i64]) -> Result<HashMap<i64, Vec<VoiceNote>>> {
    let mut found: HashMap<i64, Vec<VoiceNote>> = HashMap::new();
    for chunk in note_ids.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("{SELECT} WHERE v.note_id IN ({}) ORDER BY v.id", list.join(", "));
        let rows: Vec<VoiceNote> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_as(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        for row in rows {
            if let Some(note) = row.note_id {
                found.entry(note).or_default().push(row);
            }
        }
    }
    Ok(found)
}

/// The voice notes of each of `activity_ids`, oldest first.
pub async fn of_activities(store: &Store, activity_ids: &[i64]) -> Result<HashMap<i64, Vec<VoiceNote>>> {
    let mut found: HashMap<i64, Vec<VoiceNote>> = HashMap::new();
    for chunk in activity_ids.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("{SELECT} WHERE v.activity_id IN ({}) ORDER BY v.id", list.join(", "));
        let rows: Vec<VoiceNote> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_as(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        for row in rows {
            if let Some(activity) = row.activity_id {
                found.entry(activity).or_default().push(row);
            }
        }
    }
    Ok(found)
}

/// Voice notes a card lists per client: the newest.
const PER_CARD: usize = 3;

/// The newest voice notes of each of `client_ids` (at most three, newest first).
pub async fn latest_of_clients(store: &Store, client_ids: &[i64]) -> Result<HashMap<i64, Arc<Vec<VoiceNote>>>> {
    let mut found: HashMap<i64, Vec<VoiceNote>> = HashMap::new();
    for chunk in client_ids.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT * FROM (SELECT v.id, v.client_id, v.activity_id, v.note_id, v.content_type, v.size_bytes, v.sha256, \
             v.duration_ms, v.filename, r.display_name AS author, v.created_at, \
             ROW_NUMBER() OVER (PARTITION BY v.client_id ORDER BY v.created_at DESC, v.id DESC) AS rn \
             FROM voice_notes v LEFT JOIN reps r ON r.id = v.rep_id WHERE v.client_id IN ({})) ranked WHERE rn <= {PER_CARD} \
             ORDER BY client_id, rn",
            list.join(", ")
        );
        let rows: Vec<VoiceNote> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_as(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        for row in rows {
            if let Some(client) = row.client_id {
                found.entry(client).or_default().push(row);
            }
        }
    }
    Ok(found.into_iter().map(|(client, notes)| (client, Arc::new(notes))).collect())
}

/// A voice note's bytes, if `rep_id` may hear it: the rep sees its client, or recorded it.
pub async fn audible(store: &Store, rep_id: i64, id: i64) -> Result<Option<(VoiceNote, Vec<u8>)>> {
    let sql = format!(
        "{SELECT} LEFT JOIN clients c ON c.id = v.client_id WHERE v.id = $2 AND (v.rep_id = $1 OR (c.id IS NOT NULL AND {}))",
        visible_condition("$1")
    );
    let Some(note): Option<VoiceNote> =
        on_db!(store, read, |pool| sqlx::query_as(&sql).bind(rep_id).bind(id).fetch_optional(pool).await?)
    else {
        return Ok(None);
    };
    let bytes: Vec<u8> = on_db!(store, read, |pool| sqlx::query_scalar("SELECT bytes FROM voice_notes WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?);
    Ok(Some((note, bytes)))
}

/// What an RFC 8607 managed attachment is attached to: an event's activity, or a journal entry's
/// note. Its voice notes are those of the activity (or note); they belong to its client.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    Activity { activity_id: i64, client_id: Option<i64> },
    Note { note_id: i64, client_id: i64, activity_id: Option<i64> },
}

impl Owner {
    /// (client, activity, note) of its voice notes.
    fn columns(self) -> (Option<i64>, Option<i64>, Option<i64>) {
        match self {
            Owner::Activity { activity_id, client_id } => (client_id, Some(activity_id), None),
            Owner::Note { note_id, client_id, activity_id } => (Some(client_id), activity_id, Some(note_id)),
        }
    }

    /// (activity, note) a voice note must have to be one of the owner's: an event's by its
    /// activity, a journal entry's by its note.
    fn key(self) -> (Option<i64>, Option<i64>) {
        match self {
            Owner::Activity { activity_id, .. } => (Some(activity_id), None),
            Owner::Note { note_id, .. } => (None, Some(note_id)),
        }
    }
}

const OWNED: &str = "SELECT id FROM voice_notes WHERE id = $1 AND (activity_id = $2 OR note_id = $3)";

/// Stores `voice` as a voice note of `owner` (unless it has the same audio: that one's id is
/// given), audited; one transaction.
pub async fn add(
    store: &Store,
    owner: Owner,
    rep_id: i64,
    voice: &NewVoiceNote<'_>,
    audit: AuditEntry<'_>,
) -> Result<i64> {
    let (client, activity, note) = owner.columns();
    Ok(on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let (id, _) = insert_voice_note!(&mut *tx, voice, client, activity, note, rep_id)?;
        insert_audit!(&mut *tx, audit)?;
        tx.commit().await?;
        id
    }))
}

/// Replaces voice note `id` of `owner` with `voice` (a new voice note, so a new managed id, as
/// RFC 8607 3.5 has it), audited; one transaction. `None`: `id` is none of the owner's voice notes.
pub async fn replace(
    store: &Store,
    owner: Owner,
    id: i64,
    rep_id: i64,
    voice: &NewVoiceNote<'_>,
    audit: AuditEntry<'_>,
) -> Result<Option<i64>> {
    let (client, activity, note) = owner.columns();
    let (key_activity, key_note) = owner.key();
    Ok(on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let owned: Option<i64> =
            sqlx::query_scalar(OWNED).bind(id).bind(key_activity).bind(key_note).fetch_optional(&mut *tx).await?;
        if owned.is_none() {
            return Ok(None);
        }
        sqlx::query("DELETE FROM voice_notes WHERE id = $1").bind(id).execute(&mut *tx).await?;
        let (new_id, _) = insert_voice_note!(&mut *tx, voice, client, activity, note, rep_id)?;
        insert_audit!(&mut *tx, audit)?;
        tx.commit().await?;
        Some(new_id)
    }))
}

/// Deletes voice note `id` of `owner`, audited; one transaction. `false`: it is none of the
/// owner's voice notes (nothing written).
pub async fn remove(store: &Store, owner: Owner, id: i64, audit: AuditEntry<'_>) -> Result<bool> {
    let (key_activity, key_note) = owner.key();
    Ok(on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let owned: Option<i64> =
            sqlx::query_scalar(OWNED).bind(id).bind(key_activity).bind(key_note).fetch_optional(&mut *tx).await?;
        if owned.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM voice_notes WHERE id = $1").bind(id).execute(&mut *tx).await?;
        insert_audit!(&mut *tx, audit)?;
        tx.commit().await?;
        true
    }))
}
