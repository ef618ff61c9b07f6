//! Voice notes: audio a rep attached on a device to a journal entry, a report task or an event,
//! stored once (schema 0010) and served back at `/dav/voice-notes/ID` to the reps who see its
//! client.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;

use super::visibility::visible_condition;
use crate::on_db;
use crate::store::{Store, Ts};

/// Where voice notes are served: `/dav/voice-notes/ID`.
pub const PATH_PREFIX: &str = "/dav/voice-notes/";

/// A voice note a device sent, to store.
pub struct NewVoiceNote<'a> {
    pub content_type: &'a str,
    pub filename: Option<&'a str>,
    pub bytes: &'a [u8],
}

pub const INSERT: &str = "INSERT INTO voice_notes (client_id, activity_id, note_id, rep_id, content_type, size_bytes, sha256, filename, bytes, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// The hex SHA-256 of a voice note's bytes: its ETag.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Inserts a [`NewVoiceNote`] of `(client_id, activity_id, note_id, rep_id)` through `$executor`
/// (a pool or an open transaction), so that it commits with the write it came with.
macro_rules! insert_voice_note {
    ($executor:expr, $voice:expr, $client:expr, $activity:expr, $note:expr, $rep:expr) => {{
        let voice: &$crate::crm::voice_notes::NewVoiceNote<'_> = $voice;
        sqlx::query($crate::crm::voice_notes::INSERT)
            .bind($client)
            .bind($activity)
            .bind($note)
            .bind($rep)
            .bind(voice.content_type)
            .bind(voice.bytes.len() as i64)
            .bind($crate::crm::voice_notes::digest(voice.bytes))
            .bind(voice.filename)
            .bind(voice.bytes)
            .bind($crate::store::Ts::now())
            .execute($executor)
            .await
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
    pub author: Option<String>,
    pub created_at: Ts,
}

impl VoiceNote {
    pub fn path(&self) -> String {
        format!("{PATH_PREFIX}{}", self.id)
    }
}

const SELECT: &str = "SELECT v.id, v.client_id, v.activity_id, v.note_id, v.content_type, v.size_bytes, v.sha256, \
    v.duration_ms, r.display_name AS author, v.created_at FROM voice_notes v LEFT JOIN reps r ON r.id = v.rep_id";

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

/// Voice notes a card lists per client: the newest.
const PER_CARD: usize = 3;

/// The newest voice notes of each of `client_ids` (at most three, newest first).
pub async fn latest_of_clients(store: &Store, client_ids: &[i64]) -> Result<HashMap<i64, Arc<Vec<VoiceNote>>>> {
    let mut found: HashMap<i64, Vec<VoiceNote>> = HashMap::new();
    for chunk in client_ids.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT * FROM (SELECT v.id, v.client_id, v.activity_id, v.note_id, v.content_type, v.size_bytes, v.sha256, \
             v.duration_ms, r.display_name AS author, v.created_at, \
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
