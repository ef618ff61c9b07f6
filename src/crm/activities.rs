//! Activities (meetings, calls, visits, tasks) of a rep, and the rules for writing them.

use serde::Serialize;

use crate::store::Ts;

/// One CRM activity row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct Activity {
    pub id: i64,
    pub uid: String,
    pub href: String,
    pub rep_id: i64,
    pub client_id: Option<i64>,
    pub contact_id: Option<i64>,
    /// meeting | call | visit | task
    pub kind: String,
    pub subject: String,
    pub location: String,
    pub start_at: Option<Ts>,
    pub end_at: Option<Ts>,
    pub all_day: bool,
    /// IANA zone name of the start, or "" for UTC / floating / all-day.
    pub timezone: String,
    pub recurring: bool,
    /// End of the last instance (None: unbounded recurrence).
    pub range_end: Option<Ts>,
    /// planned | completed | cancelled
    pub status: String,
    pub completed_at: Option<Ts>,
    /// The last iCalendar object a device wrote, kept for the round trip.
    pub ical: Option<String>,
}

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::audit::{AuditEntry, insert_audit};
use super::closing_note;
use super::visibility::visible_condition;
use super::voice_notes::{NewVoiceNote, insert_voice_note};
use super::{CrmError, Session};
use crate::on_db;
use crate::store::Store;

/// The two calendars of a rep: events (meetings, calls, visits) and follow-up tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calendar {
    Activities,
    FollowUps,
}

impl Calendar {
    pub fn from_name(name: &str) -> Option<Calendar> {
        match name {
            "activities" => Some(Calendar::Activities),
            "follow-ups" => Some(Calendar::FollowUps),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Calendar::Activities => "activities",
            Calendar::FollowUps => "follow-ups",
        }
    }

    fn kind_condition(self) -> &'static str {
        match self {
            Calendar::Activities => "a.kind <> 'task'",
            Calendar::FollowUps => "a.kind = 'task'",
        }
    }
}

/// An activity with what its calendar object shows besides the row: the linked client and the
/// activity's note.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct ActivityView {
    #[sqlx(flatten)]
    pub activity: Activity,
    pub client_code: Option<String>,
    pub client_name: Option<String>,
    /// What the object shows of the client and the activity's contact (`mapping::ical::shown`).
    #[sqlx(flatten)]
    pub shown: ShownColumns,
    pub note_id: Option<i64>,
    pub note: Option<String>,
    /// When the server asked for a report (`report_tasks`); read with report tasks only.
    #[sqlx(default)]
    pub report_requested_at: Option<Ts>,
    /// What the rep wrote in the report task without ticking it done yet.
    #[sqlx(default)]
    pub report_draft: Option<String>,
    /// Shown as its report task in the follow-ups, not as itself.
    #[sqlx(skip)]
    pub as_report_task: bool,
    /// Its voice notes (read by the calendars, which link them from the object).
    #[sqlx(skip)]
    pub voice_notes: Vec<super::voice_notes::VoiceNote>,
}

/// The client's and the contact's details an object shows.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct ShownColumns {
    pub client_street: Option<String>,
    pub client_postal_code: Option<String>,
    pub client_city: Option<String>,
    pub client_country: Option<String>,
    pub client_phone: Option<String>,
    pub client_website: Option<String>,
    pub contact_first_name: Option<String>,
    pub contact_last_name: Option<String>,
    pub contact_title: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_mobile: Option<String>,
}

pub(super) const ACTIVITY_COLUMNS: &str = "SELECT a.id, a.uid, a.href, a.rep_id, a.client_id, a.contact_id, a.kind, a.subject, a.location, \
    a.start_at, a.end_at, a.all_day, a.timezone, a.recurring, a.range_end, a.status, a.completed_at, a.ical";

pub(super) const ACTIVITY_SELECT: &str = "SELECT a.id, a.uid, a.href, a.rep_id, a.client_id, a.contact_id, a.kind, a.subject, a.location, \
    a.start_at, a.end_at, a.all_day, a.timezone, a.recurring, a.range_end, a.status, a.completed_at, a.ical, \
    c.code AS client_code, c.name AS client_name, n.id AS note_id, n.body AS note, \
    c.street AS client_street, c.postal_code AS client_postal_code, c.city AS client_city, \
    c.country AS client_country, c.phone AS client_phone, c.website AS client_website, \
    k.first_name AS contact_first_name, k.last_name AS contact_last_name, k.title AS contact_title, \
    k.email AS contact_email, k.phone AS contact_phone, k.mobile AS contact_mobile \
    FROM activities a LEFT JOIN clients c ON c.id = a.client_id LEFT JOIN contacts k ON k.id = a.contact_id \
    LEFT JOIN notes n ON n.id = (SELECT MAX(n2.id) FROM notes n2 WHERE n2.activity_id = a.id)";

/// The condition for an activity to be in the rep's calendar: theirs and not cancelled. Whether the
/// rep still sees its client does not matter: an activity reaches its owner whatever the client's
/// visibility (inactive, reassigned, denied by a rule), and shows the client's name.
pub(super) fn in_calendar(calendar: Calendar) -> String {
    format!("a.rep_id = $1 AND a.status <> 'cancelled' AND {}", calendar.kind_condition())
}

/// A time range with optional ends (start, end), as a calendar-query gives it.
pub type TimeBounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Every activity of the calendar; with `range`, only those that may overlap it (instances of
/// recurring ones are checked by the caller).
pub async fn list(
    store: &Store,
    rep_id: i64,
    calendar: Calendar,
    range: Option<TimeBounds>,
) -> Result<Vec<ActivityView>> {
    let mut sql = format!("{ACTIVITY_SELECT} WHERE {}", in_calendar(calendar));
    let (start, end) = range.unwrap_or((None, None));
    // Undated tasks always stay candidates; dated ones must start before the end and end after the
    // start. Only the bounds given become conditions: an `$n IS NULL OR ...` would keep PostgreSQL's
    // generic plan of this prepared statement from using the (rep_id, start_at) index.
    let mut bounds = Vec::new();
    if let Some(end) = end {
        bounds.push(Ts(end));
        sql.push_str(&format!(" AND (a.start_at IS NULL OR a.start_at < ${})", bounds.len() + 1));
    }
    if let Some(start) = start {
        bounds.push(Ts(start));
        sql.push_str(&format!(
            " AND (a.start_at IS NULL OR a.range_end IS NULL OR a.range_end >= ${})",
            bounds.len() + 1
        ));
    }
    sql.push_str(" ORDER BY a.id");
    Ok(on_db!(store, read, |pool| {
        let mut query = sqlx::query_as(&sql).bind(rep_id);
        for bound in &bounds {
            query = query.bind(*bound);
        }
        query.fetch_all(pool).await?
    }))
}

/// The activities of the calendar among `ids` (the others are left out). The list is one bound
/// value: one statement text whatever its length, planned once per connection by PostgreSQL.
pub async fn list_ids(store: &Store, rep_id: i64, calendar: Calendar, ids: &[i64]) -> Result<Vec<ActivityView>> {
    let sql = format!("{ACTIVITY_SELECT} WHERE {} AND a.id", in_calendar(calendar));
    Ok(crate::rows_where_in!(store, sql, rep_id, ids))
}

/// What an activity is linked to.
#[derive(Debug, Clone, Copy)]
pub enum LinkColumn {
    Client,
    Contact,
}

/// The ids of the rep's activities linked to any of `ids` (clients or contacts), whatever their
/// state.
pub async fn ids_linked_to(store: &Store, rep_id: i64, column: LinkColumn, ids: &[i64]) -> Result<Vec<i64>> {
    let column = match column {
        LinkColumn::Client => "client_id",
        LinkColumn::Contact => "contact_id",
    };
    let sql = format!("SELECT id FROM activities WHERE rep_id = $1 AND {column}");
    let rows: Vec<(i64,)> = crate::rows_where_in!(store, sql, rep_id, ids);
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

pub async fn find(store: &Store, rep_id: i64, calendar: Calendar, href: &str) -> Result<Option<ActivityView>> {
    let sql = format!("{ACTIVITY_SELECT} WHERE {} AND a.href = $2", in_calendar(calendar));
    Ok(on_db!(store, read, |pool| sqlx::query_as(&sql).bind(rep_id).bind(href).fetch_optional(pool).await?))
}

pub async fn find_many(store: &Store, rep_id: i64, calendar: Calendar, hrefs: &[String]) -> Result<Vec<ActivityView>> {
    let mut found = Vec::new();
    for chunk in hrefs.chunks(500) {
        let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!("{ACTIVITY_SELECT} WHERE {} AND a.href IN ({})", in_calendar(calendar), list.join(", "));
        let mut rows: Vec<ActivityView> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_as(&sql).bind(rep_id);
            for href in chunk {
                query = query.bind(href);
            }
            query.fetch_all(pool).await?
        });
        found.append(&mut rows);
    }
    Ok(found)
}

/// The href (and calendar kind) of the rep's activity that uses `uid`, cancelled ones included.
pub async fn href_of_uid(store: &Store, rep_id: i64, uid: &str) -> Result<Option<(String, String, String)>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as("SELECT href, kind, status FROM activities WHERE rep_id = $1 AND uid = $2")
            .bind(rep_id)
            .bind(uid)
            .fetch_optional(pool)
            .await?
    }))
}

/// What a device wrote, as the CRM models it.
#[derive(Clone, Debug, Default)]
pub struct ActivityInput {
    pub uid: String,
    pub kind: String,
    pub subject: String,
    pub location: String,
    pub start_at: Option<DateTime<Utc>>,
    pub end_at: Option<DateTime<Utc>>,
    pub all_day: bool,
    pub timezone: String,
    pub recurring: bool,
    pub range_end: Option<DateTime<Utc>>,
    pub description: String,
    /// The DESCRIPTION the device was shown (the object as the server rendered it): its lines are
    /// not new, so they are no closing note.
    pub description_before: String,
    pub completes: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled: bool,
    /// Ways the object names its client, strongest first (see `resolve_client`).
    pub x_crm_client: Option<String>,
    pub attendee_emails: Vec<String>,
    pub categories: Vec<String>,
    pub ical: String,
}

/// How many ATTENDEE addresses and how many CATEGORIES values are looked at to link a client (the
/// first ones): an object may carry thousands, and each one considered widens the lookup.
const MAX_LINK_VALUES: usize = 50;

/// The first `MAX_LINK_VALUES` distinct, non-empty values, trimmed.
fn link_values(values: &[String]) -> Vec<&str> {
    let mut kept: Vec<&str> = Vec::new();
    for value in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        if kept.len() == MAX_LINK_VALUES {
            break;
        }
        if !kept.contains(&value) {
            kept.push(value);
        }
    }
    kept
}

fn placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn lowered_placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|i| format!("LOWER(${i})")).collect::<Vec<_>>().join(", ")
}

/// Equal as SQL's LOWER() compares: case-insensitively (SQLite folds ASCII only, PostgreSQL more).
fn same_text(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

/// The client an activity is linked to, in DESIGN order: X-CRM-CLIENT (code), then an attendee's
/// email equal to a visible contact's, then a client code or name among the categories.
/// Only visible clients can be linked, and `current`, the client the activity is already linked to:
/// an own activity keeps its client when the rep no longer sees it (the object names it back).
/// At most three queries, whatever the object carries.
pub async fn resolve_client(
    store: &Store,
    rep_id: i64,
    input: &ActivityInput,
    current: Option<i64>,
) -> Result<(Option<i64>, Option<i64>)> {
    let visible = visible_condition("$1");
    let linkable = |param: usize| format!("({visible} OR c.id = ${param})");
    if let Some(code) = input.x_crm_client.as_deref().filter(|c| !c.trim().is_empty()) {
        let sql = format!(
            "SELECT c.id FROM clients c WHERE (c.code = $2 OR LOWER(c.name) = LOWER($2)) AND {} ORDER BY c.id LIMIT 1",
            linkable(3)
        );
        let id: Option<i64> = on_db!(store, read, |pool| sqlx::query_scalar(&sql)
            .bind(rep_id)
            .bind(code.trim())
            .bind(current)
            .fetch_optional(pool)
            .await?);
        if id.is_some() {
            return Ok((id, None));
        }
    }
    // The first attendee (in the object's order) who is a visible contact; of several contacts with
    // that email, the oldest.
    let emails = link_values(&input.attendee_emails);
    if !emails.is_empty() {
        let sql = format!(
            "SELECT k.email, c.id, k.id FROM contacts k JOIN clients c ON c.id = k.client_id \
             WHERE LOWER(k.email) IN ({}) AND {} ORDER BY k.id",
            lowered_placeholders(2, emails.len()),
            linkable(emails.len() + 2)
        );
        let hits: Vec<(String, i64, i64)> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_as(&sql).bind(rep_id);
            for email in &emails {
                query = query.bind(*email);
            }
            query.bind(current).fetch_all(pool).await?
        });
        if let Some((_, client, contact)) =
            emails.iter().find_map(|email| hits.iter().find(|(found, _, _)| same_text(found, email)))
        {
            return Ok((Some(*client), Some(*contact)));
        }
    }
    // The first category that is a visible client's code or name; of several clients, the oldest.
    let categories = link_values(&input.categories);
    if !categories.is_empty() {
        let sql = format!(
            "SELECT c.id, c.code, c.name FROM clients c WHERE (c.code IN ({}) OR LOWER(c.name) IN ({})) \
             AND {} ORDER BY c.id",
            placeholders(2, categories.len()),
            lowered_placeholders(2, categories.len()),
            linkable(categories.len() + 2)
        );
        let hits: Vec<(i64, String, String)> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_as(&sql).bind(rep_id);
            for category in &categories {
                query = query.bind(*category);
            }
            query.bind(current).fetch_all(pool).await?
        });
        let linked = categories.iter().find_map(|category| {
            hits.iter().find(|(_, code, name)| code == category || same_text(name, category)).map(|(id, _, _)| *id)
        });
        if linked.is_some() {
            return Ok((linked, None));
        }
    }
    Ok((None, None))
}

/// The CRM's key rule: an activity is not completed without a report. The report is the text
/// of the DESCRIPTION that is new for the closing (`closing_note::new_text`): at least
/// `min_note_words` words. Returns the client note to store: `None` when the write stores none
/// (a planned event's description stays on the activity) or leaves the one it has.
pub fn closing_note(
    session: &Session<'_>,
    existing: Option<&ActivityView>,
    input: &ActivityInput,
) -> Result<Option<String>, CrmError> {
    if !input.completes {
        return Ok(None);
    }
    let calendar = &session.config.calendar;
    let closed_before = existing.filter(|e| e.activity.status == "completed");
    let kept = closed_before.and_then(|e| e.note.as_deref()).unwrap_or("").trim();
    let note = closing_note::new_text(&input.description_before, &input.description, kept);
    if closed_before.is_some() && (note == kept || note.is_empty() && kept.is_empty()) {
        // Closed already, report unchanged: an edit of the time or an alarm needs no new report.
        return Ok(None);
    }
    if !closing_note::is_enough(&note, calendar.min_note_words, calendar.min_note_chars) {
        return Err(CrmError::NoteRequired(closing_note::refusal(&input.subject, calendar.min_note_words, false)));
    }
    Ok(Some(note))
}

/// A note is copied into the cards of its client in every address book: its size is bounded
/// (`calendar.max_note_bytes`). A note already stored may be sent back unchanged.
pub fn check_note_size(
    session: &Session<'_>,
    existing: Option<&ActivityView>,
    input: &ActivityInput,
) -> Result<(), CrmError> {
    let limit = session.config.calendar.max_note_bytes;
    let note = input.description.trim();
    if note.len() <= limit || existing.and_then(|e| e.note.as_deref()).is_some_and(|stored| stored.trim() == note) {
        return Ok(());
    }
    Err(CrmError::NoteTooLong(format!(
        "the description is {} bytes long; a note may be at most {limit} bytes (calendar.max_note_bytes): shorten it and save again",
        note.len()
    )))
}

pub enum Saved {
    Created,
    Updated,
}

/// Creates or updates the activity at `href` from a device's object, with its note and the voice
/// notes sent inline (`audio`, stored as voice notes of the activity and its client unless the
/// activity has the same audio already), in one transaction; audited. `existing` is what the
/// device's If-Match was checked against: if the row changed since, nothing is written and
/// `Ok(None)` is returned.
pub async fn save(
    session: &Session<'_>,
    calendar: Calendar,
    href: &str,
    existing: Option<&ActivityView>,
    input: &ActivityInput,
    audio: &[NewVoiceNote<'_>],
) -> Result<Option<Saved>, CrmError> {
    let note = closing_note(session, existing, input)?;
    check_note_size(session, existing, input)?;
    let (client_id, contact_id) = match existing {
        // A link set in the CRM stays unless the object names another client.
        Some(e) if input.x_crm_client.is_none() && e.activity.client_id.is_some() => {
            (e.activity.client_id, e.activity.contact_id)
        }
        _ => {
            let current = existing.and_then(|e| e.activity.client_id);
            match resolve_client(session.store, session.rep.id, input, current).await? {
                // Named back (X-CRM-CLIENT, a category): the same client keeps its contact too.
                (Some(client), None) if current == Some(client) => {
                    (Some(client), existing.and_then(|e| e.activity.contact_id))
                }
                resolved => resolved,
            }
        }
    };
    let status = if input.cancelled {
        "cancelled"
    } else if input.completes {
        "completed"
    } else {
        "planned"
    };
    let completed_at = input.completes.then(|| Ts(input.completed_at.unwrap_or_else(Utc::now)));
    let now = Ts::now();
    let kind = if calendar == Calendar::FollowUps { "task".to_string() } else { input.kind.clone() };
    let before = existing.map(|e| serde_json::to_string(&e.activity).unwrap_or_default());
    let after = serde_json::json!({
        "uid": input.uid, "kind": kind, "subject": input.subject, "start_at": input.start_at, "end_at": input.end_at,
        "status": status, "client_id": client_id, "note": note,
        "voice_notes": audio.iter().map(|a| format!("{} ({} bytes)", a.content_type, a.bytes.len())).collect::<Vec<_>>(),
    })
    .to_string();
    let rep_id = session.rep.id;
    let outcome = if existing.is_some() { "updated" } else { "created" };
    let audit = AuditEntry {
        rep_id: Some(rep_id),
        device: session.device,
        action: "activity.put",
        target: href,
        outcome,
        before,
        after: Some(after),
    };
    let saved = on_db!(session.store, write, |pool| {
        let mut tx = pool.begin().await?;
        // The row to update, if any: the one the device's If-Match was checked against, or a
        // cancelled (deleted) activity with this UID, which comes back (`revived`).
        let (target, revived): (Option<i64>, bool) = match existing {
            Some(e) => {
                // Lock the row (a no-op write), then check it is still what the device's If-Match was
                // checked against: of two concurrent edits with the same ETag only one wins.
                sqlx::query("UPDATE activities SET updated_at = updated_at WHERE id = $1")
                    .bind(e.activity.id)
                    .execute(&mut *tx)
                    .await?;
                let current: Option<Activity> =
                    sqlx::query_as(&format!("{ACTIVITY_COLUMNS} FROM activities a WHERE a.id = $1"))
                        .bind(e.activity.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if current.as_ref() != Some(&e.activity) {
                    return Ok(None);
                }
                (Some(e.activity.id), false)
            }
            None => {
                // A deleted activity stays (cancelled) for reporting but gives its name up, so that
                // the device can use the name again: the name becomes one no device can write.
                sqlx::query(
                    "UPDATE activities SET href = 'cancelled/' || CAST(id AS TEXT) || '/' || href \
                     WHERE rep_id = $1 AND href = $2 AND status = 'cancelled' AND uid <> $3",
                )
                .bind(rep_id)
                .bind(href)
                .bind(&input.uid)
                .execute(&mut *tx)
                .await?;
                let cancelled: Option<i64> = sqlx::query_scalar(
                    "UPDATE activities SET updated_at = updated_at WHERE rep_id = $1 AND uid = $2 AND status = 'cancelled' \
                     AND NOT EXISTS (SELECT 1 FROM activities o WHERE o.rep_id = $1 AND o.href = $3 AND o.uid <> $2) \
                     RETURNING id",
                )
                .bind(rep_id)
                .bind(&input.uid)
                .bind(href)
                .fetch_optional(&mut *tx)
                .await?;
                (cancelled, cancelled.is_some())
            }
        };
        let activity_id: i64 = match target {
            Some(id) => {
                sqlx::query(
                    "UPDATE activities SET client_id = $2, contact_id = $3, kind = $4, subject = $5, location = $6, start_at = $7, end_at = $8, \
                     all_day = $9, timezone = $10, recurring = $11, range_end = $12, status = $13, completed_at = $14, ical = $15, updated_at = $16, \
                     href = $17 WHERE id = $1",
                )
                .bind(id)
                .bind(client_id)
                .bind(contact_id)
                .bind(&kind)
                .bind(&input.subject)
                .bind(&input.location)
                .bind(input.start_at.map(Ts))
                .bind(input.end_at.map(Ts))
                .bind(input.all_day)
                .bind(&input.timezone)
                .bind(input.recurring)
                .bind(input.range_end.map(Ts))
                .bind(status)
                .bind(completed_at)
                .bind(&input.ical)
                .bind(now)
                .bind(href)
                .execute(&mut *tx)
                .await?;
                id
            }
            None => {
                // Another request may have created the object since the device's If-None-Match was
                // checked: then nothing is written and the device is told to fetch it (412), rather
                // than a unique-constraint error (500).
                let inserted: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO activities (uid, href, rep_id, client_id, contact_id, kind, subject, location, start_at, end_at, all_day, timezone, \
                     recurring, range_end, status, completed_at, ical, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) \
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(&input.uid)
                .bind(href)
                .bind(rep_id)
                .bind(client_id)
                .bind(contact_id)
                .bind(&kind)
                .bind(&input.subject)
                .bind(&input.location)
                .bind(input.start_at.map(Ts))
                .bind(input.end_at.map(Ts))
                .bind(input.all_day)
                .bind(&input.timezone)
                .bind(input.recurring)
                .bind(input.range_end.map(Ts))
                .bind(status)
                .bind(completed_at)
                .bind(&input.ical)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                match inserted {
                    Some(id) => id,
                    None => return Ok(None),
                }
            }
        };
        // Only a closing report becomes a client note: an edit of a closed activity's report
        // updates it, a closing adds it. A planned event's description stays in its object.
        let reported = existing.and_then(|e| e.note_id.filter(|_| e.activity.status == "completed"));
        match (&note, reported) {
            (Some(body), Some(id)) => {
                sqlx::query("UPDATE notes SET body = $2, client_id = $3 WHERE id = $1")
                    .bind(id)
                    .bind(body)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?;
            }
            (Some(body), None) => {
                sqlx::query("INSERT INTO notes (client_id, activity_id, rep_id, body, source, created_at) VALUES ($1, $2, $3, $4, 'dav', $5)")
                    .bind(client_id)
                    .bind(activity_id)
                    .bind(rep_id)
                    .bind(body)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            (None, _) => {}
        }
        // The voice notes follow their activity to another client.
        if let Some(e) = existing.filter(|e| e.activity.client_id != client_id) {
            sqlx::query("UPDATE voice_notes SET client_id = $2 WHERE activity_id = $1")
                .bind(e.activity.id)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        for voice in audio {
            insert_voice_note!(&mut *tx, voice, client_id, Some(activity_id), None, rep_id)?;
        }
        insert_audit!(&mut *tx, AuditEntry { outcome: if revived { "revived" } else { audit.outcome }, ..audit })?;
        tx.commit().await?;
        Some(if existing.is_some() { Saved::Updated } else { Saved::Created })
    });
    Ok(saved)
}

/// DELETE from a device: the activity is kept for reporting, marked cancelled, and leaves the calendar.
pub async fn cancel(session: &Session<'_>, existing: &ActivityView) -> Result<()> {
    let before = serde_json::to_string(&existing.activity).ok();
    on_db!(session.store, write, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE activities SET status = 'cancelled', updated_at = $2 WHERE id = $1")
            .bind(existing.activity.id)
            .bind(Ts::now())
            .execute(&mut *tx)
            .await?;
        insert_audit!(
            &mut *tx,
            AuditEntry {
                rep_id: Some(session.rep.id),
                device: session.device,
                action: "activity.delete",
                target: &existing.activity.href,
                outcome: "cancelled",
                before,
                after: None,
            }
        )?;
        tx.commit().await?;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_distinct_link_values_are_considered() {
        let values: Vec<String> =
            ["", " A ", "a", "A"].iter().map(|v| v.to_string()).chain((0..100).map(|i| i.to_string())).collect();
        let kept = link_values(&values);
        assert_eq!(kept.len(), MAX_LINK_VALUES);
        assert_eq!(&kept[..3], ["A", "a", "0"]);
        assert!(same_text("ACME GmbH", "acme gmbh") && same_text("MÜLLER", "müller") && !same_text("a", "b"));
    }
}

/// The reps whose activities a manager's team calendar shows: the active reps of the teams the
/// manager (`$1`) leads, the manager left out (as `teams::team_reps`).
const TEAM_REPS: &str = "SELECT r.id FROM reps r JOIN teams t ON t.id = r.team_id \
    WHERE t.manager_id = $1 AND r.id <> $1 AND r.active";

/// An activity of a team rep, with who it is: a member of a manager's team calendar.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct TeamActivity {
    #[sqlx(flatten)]
    pub view: ActivityView,
    pub rep_login: String,
    pub rep_name: String,
}

fn team_select() -> String {
    let select = ACTIVITY_SELECT.replacen(
        "FROM activities a ",
        ", r.login AS rep_login, r.display_name AS rep_name FROM activities a JOIN reps r ON r.id = a.rep_id ",
        1,
    );
    format!(
        "{select} WHERE a.rep_id IN ({TEAM_REPS}) AND a.status <> 'cancelled' AND {}",
        Calendar::Activities.kind_condition()
    )
}

/// The events of the reps of the teams `manager_id` leads; with `range`, only those that may
/// overlap it (as [`list`]).
pub async fn list_team(store: &Store, manager_id: i64, range: Option<TimeBounds>) -> Result<Vec<TeamActivity>> {
    let mut sql = team_select();
    let (start, end) = range.unwrap_or((None, None));
    let mut bounds = Vec::new();
    if let Some(end) = end {
        bounds.push(Ts(end));
        sql.push_str(&format!(" AND (a.start_at IS NULL OR a.start_at < ${})", bounds.len() + 1));
    }
    if let Some(start) = start {
        bounds.push(Ts(start));
        sql.push_str(&format!(
            " AND (a.start_at IS NULL OR a.range_end IS NULL OR a.range_end >= ${})",
            bounds.len() + 1
        ));
    }
    sql.push_str(" ORDER BY a.id");
    Ok(on_db!(store, read, |pool| {
        let mut query = sqlx::query_as(&sql).bind(manager_id);
        for bound in &bounds {
            query = query.bind(*bound);
        }
        query.fetch_all(pool).await?
    }))
}

/// [`list_team`] among the activities `ids` (the others are left out).
pub async fn list_team_ids(store: &Store, manager_id: i64, ids: &[i64]) -> Result<Vec<TeamActivity>> {
    let sql = format!("{} AND a.id", team_select());
    Ok(crate::rows_where_in!(store, sql, manager_id, ids))
}

/// The ids of the reps a manager's team calendar shows (see [`TEAM_REPS`]).
pub async fn team_rep_ids(store: &Store, manager_id: i64) -> Result<Vec<i64>> {
    Ok(on_db!(store, read, |pool| sqlx::query_scalar(TEAM_REPS).bind(manager_id).fetch_all(pool).await?))
}

/// The ids of the activities of the reps of the teams `manager_id` leads linked to any of `ids`
/// (clients or contacts), whatever their state.
pub async fn team_ids_linked_to(store: &Store, manager_id: i64, column: LinkColumn, ids: &[i64]) -> Result<Vec<i64>> {
    let column = match column {
        LinkColumn::Client => "client_id",
        LinkColumn::Contact => "contact_id",
    };
    let sql = format!("SELECT id FROM activities WHERE rep_id IN ({TEAM_REPS}) AND {column}");
    let rows: Vec<(i64,)> = crate::rows_where_in!(store, sql, manager_id, ids);
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
