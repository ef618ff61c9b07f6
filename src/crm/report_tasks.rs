//! Report tasks: closing an activity from any phone.
//!
//! Phone calendar apps cannot set `CATEGORIES:Completed` or `X-CRM-STATUS`, but every task app can
//! tick a task done and keep notes on it. So when a planned meeting, call or visit has ended, its
//! rep's follow-ups get a report task for it; ticking it done with a few words in its notes closes
//! the activity with those words as its report (a client note).
//!
//! The request is durable, not computed from the clock at sync time: collections are kept up to
//! date from the change_log, and time passing logs nothing. [`request_due`] (run by the server
//! every `calendar.report_check_secs`, and callable by any job) stamps `report_requested_at` on
//! the activities whose end has passed; that UPDATE is logged, so the task reaches the follow-ups
//! incrementally. A report task shows while its activity is planned and stamped: closing,
//! cancelling or completing the event takes it away.
//!
//! Left out: recurring series (a series is not one meeting to report on) and activities that
//! ended more than `calendar.report_days_back` days ago.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::activities::{ACTIVITY_COLUMNS, Activity, ActivityView, Calendar, in_calendar};
use super::audit::{AuditEntry, insert_audit};
use super::voice_notes::{self, NewVoiceNote, closing_line, insert_voice_note};
use super::{CrmError, Session};
use crate::config::CalendarConfig;
use crate::on_db;
use crate::store::{Store, Ts};

/// Names of report tasks in the follow-ups: `report-` and the activity's name. A device cannot
/// create a task under such a name.
pub const NAME_PREFIX: &str = "report-";
/// UIDs of report tasks: `crmdav-report-` and the activity's UID (`crmdav-` UIDs are the server's).
pub const UID_PREFIX: &str = "crmdav-report-";

/// The report task's name for an activity's: `report-ABC.ics` for `ABC.ics`.
pub fn name_for(activity_href: &str) -> String {
    match activity_href.ends_with(".ics") {
        true => format!("{NAME_PREFIX}{activity_href}"),
        false => format!("{NAME_PREFIX}{activity_href}.ics"),
    }
}

pub fn uid_for(activity_uid: &str) -> String {
    format!("{UID_PREFIX}{activity_uid}")
}

/// Whether a device's new task would take a name or UID of the report tasks.
pub fn is_reserved(name: &str, uid: &str) -> bool {
    name.starts_with(NAME_PREFIX) || uid.starts_with(UID_PREFIX)
}

/// The activity names a report task's name may stand for (`name_for` inverted).
fn activity_names(name: &str) -> Option<(String, String)> {
    let stem = name.strip_prefix(NAME_PREFIX)?;
    let bare = stem.strip_suffix(".ics")?;
    Some((stem.to_string(), bare.to_string()))
}

/// The activity query with the report columns (the activity's own query, so that what decides
/// whether an activity is in the rep's calendar decides it for its report task too).
fn select(condition: &str) -> String {
    let select = super::activities::ACTIVITY_SELECT.replacen(
        " FROM activities a",
        ", a.report_requested_at, a.report_draft FROM activities a",
        1,
    );
    format!(
        "{select} WHERE {} AND a.status = 'planned' AND a.report_requested_at IS NOT NULL{condition} ORDER BY a.id",
        in_calendar(Calendar::Activities)
    )
}

fn as_tasks(mut views: Vec<ActivityView>) -> Vec<ActivityView> {
    for view in &mut views {
        view.as_report_task = true;
    }
    views
}

/// Every report task of the rep.
pub async fn list(store: &Store, rep_id: i64) -> Result<Vec<ActivityView>> {
    let sql = select("");
    Ok(as_tasks(on_db!(store, read, |pool| sqlx::query_as(&sql).bind(rep_id).fetch_all(pool).await?)))
}

/// The report tasks of the activities among `ids`.
pub async fn list_ids(store: &Store, rep_id: i64, ids: &[i64]) -> Result<Vec<ActivityView>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let sql = select(&format!(" AND a.id IN ({})", list.join(", ")));
        let mut rows: Vec<ActivityView> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_as(&sql).bind(rep_id);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        found.append(&mut rows);
    }
    Ok(as_tasks(found))
}

/// The report task named `name` in the rep's follow-ups.
pub async fn find(store: &Store, rep_id: i64, name: &str) -> Result<Option<ActivityView>> {
    let Some((with_suffix, bare)) = activity_names(name) else { return Ok(None) };
    let sql = select(" AND a.href IN ($2, $3)");
    let rows: Vec<ActivityView> = on_db!(store, read, |pool| sqlx::query_as(&sql)
        .bind(rep_id)
        .bind(&with_suffix)
        .bind(&bare)
        .fetch_all(pool)
        .await?);
    Ok(as_tasks(rows).into_iter().find(|view| name_for(&view.activity.href) == name))
}

/// Asks for the reports due at `now`: stamps `report_requested_at` on planned, non-recurring
/// meetings, calls and visits that ended (or, without an end, started) before `now`, within
/// `calendar.report_days_back` days. Returns how many were stamped.
pub async fn request_due(store: &Store, calendar: &CalendarConfig, now: DateTime<Utc>) -> Result<u64> {
    let since = now - TimeDelta::days(calendar.report_days_back.max(0));
    Ok(on_db!(store, write, |pool| {
        sqlx::query(
            "UPDATE activities SET report_requested_at = $1 WHERE status = 'planned' AND report_requested_at IS NULL \
             AND kind <> 'task' AND NOT recurring \
             AND (end_at <= $1 AND end_at >= $2 OR end_at IS NULL AND start_at <= $1 AND start_at >= $2)",
        )
        .bind(Ts(now))
        .bind(Ts(since))
        .execute(pool)
        .await?
        .rows_affected()
    }))
}

/// Runs [`request_due`] at once and every `calendar.report_check_secs` until `stop`;
/// `changed` is called after a run that stamped something (push looks at once).
pub fn start(
    store: Store,
    calendar: CalendarConfig,
    changed: Arc<dyn Fn() + Send + Sync>,
    mut stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if calendar.report_check_secs == 0 {
        return None;
    }
    let every = Duration::from_secs(calendar.report_check_secs);
    Some(tokio::spawn(async move {
        loop {
            match request_due(&store, &calendar, Utc::now()).await {
                Ok(0) => {}
                Ok(stamped) => {
                    tracing::info!(stamped, "report tasks given for activities that ended");
                    changed();
                }
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot look for activities due a report"),
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }))
}

/// Locks the activity's row (a no-op write) in transaction `$tx` and says whether it is still what
/// the device's request was checked against, and planned: of two concurrent closings one wins.
macro_rules! lock_unchanged {
    ($tx:expr, $activity:expr) => {{
        sqlx::query("UPDATE activities SET updated_at = updated_at WHERE id = $1")
            .bind($activity.id)
            .execute(&mut *$tx)
            .await?;
        let current: Option<Activity> =
            sqlx::query_as(&format!("{ACTIVITY_COLUMNS} FROM activities a WHERE a.id = $1"))
                .bind($activity.id)
                .fetch_optional(&mut *$tx)
                .await?;
        current.as_ref() == Some($activity) && $activity.status == "planned"
    }};
}

/// Closes the activity of a report task with `note` as its report, and the voice notes in `audio`
/// (stored as voice notes of the activity, its client and the report, each named by a line of the
/// report: `Voice note (0:42): URL`): the activity completed at `completed_at` (or now) and one
/// client note, in one transaction, audited. `Ok(false)` when the activity changed since the
/// device's request was checked (nothing is written).
pub async fn close(
    session: &Session<'_>,
    view: &ActivityView,
    note: &str,
    audio: &[NewVoiceNote<'_>],
    completed_at: Option<DateTime<Utc>>,
) -> Result<bool, CrmError> {
    let activity = &view.activity;
    let now = Ts::now();
    let completed_at = Ts(completed_at.unwrap_or(now.0));
    let voices: Vec<String> = audio.iter().map(|a| format!("{} ({} bytes)", a.content_type, a.bytes.len())).collect();
    let audit = AuditEntry {
        rep_id: Some(session.rep.id),
        device: session.device,
        action: "activity.report",
        target: &activity.href,
        outcome: "completed",
        before: serde_json::to_string(activity).ok(),
        after: Some(
            serde_json::json!({ "status": "completed", "completed_at": completed_at, "note": note, "voice_notes": voices })
                .to_string(),
        ),
    };
    let public_url = session.config.push.public_url.as_deref();
    Ok(on_db!(session.store, write, |pool| {
        let mut tx = pool.begin().await?;
        if !lock_unchanged!(tx, activity) {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE activities SET status = 'completed', completed_at = $2, updated_at = $3, report_draft = NULL WHERE id = $1",
        )
        .bind(activity.id)
        .bind(completed_at)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut lines: Vec<String> =
            Some(note.trim()).filter(|n| !n.is_empty()).map(str::to_owned).into_iter().collect();
        let mut voice_ids = Vec::new();
        for voice in audio {
            let (id, _) =
                insert_voice_note!(&mut *tx, voice, activity.client_id, Some(activity.id), None, session.rep.id)?;
            lines.push(closing_line(voice, &voice_notes::url(public_url, id)));
            voice_ids.push(id);
        }
        let note_id: i64 = sqlx::query_scalar(
            "INSERT INTO notes (client_id, activity_id, rep_id, body, source, created_at) VALUES ($1, $2, $3, $4, 'dav', $5) RETURNING id",
        )
        .bind(activity.client_id)
        .bind(activity.id)
        .bind(session.rep.id)
        .bind(lines.join("\n"))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for id in voice_ids {
            sqlx::query("UPDATE voice_notes SET note_id = $2 WHERE id = $1")
                .bind(id)
                .bind(note_id)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit!(&mut *tx, audit)?;
        tx.commit().await?;
        true
    }))
}

/// Keeps what the rep wrote in a report task not yet ticked done (`None`: nothing), so that it is
/// there when they tick it. `Ok(false)` when the activity changed meanwhile.
pub async fn save_draft(session: &Session<'_>, view: &ActivityView, draft: Option<&str>) -> Result<bool, CrmError> {
    let activity = &view.activity;
    let audit = AuditEntry {
        rep_id: Some(session.rep.id),
        device: session.device,
        action: "activity.report-draft",
        target: &activity.href,
        outcome: "updated",
        before: view.report_draft.clone(),
        after: draft.map(str::to_owned),
    };
    Ok(on_db!(session.store, write, |pool| {
        let mut tx = pool.begin().await?;
        if !lock_unchanged!(tx, activity) {
            return Ok(false);
        }
        sqlx::query("UPDATE activities SET report_draft = $2 WHERE id = $1")
            .bind(activity.id)
            .bind(draft)
            .execute(&mut *tx)
            .await?;
        insert_audit!(&mut *tx, audit)?;
        tx.commit().await?;
        true
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_uids_are_derived_from_the_activity_and_back() {
        assert_eq!(name_for("abc.ics"), "report-abc.ics");
        assert_eq!(name_for("abc"), "report-abc.ics");
        assert_eq!(activity_names("report-abc.ics"), Some(("abc.ics".into(), "abc".into())));
        assert_eq!(activity_names("abc.ics"), None);
        assert!(
            is_reserved("report-x.ics", "x") && is_reserved("x.ics", "crmdav-report-x") && !is_reserved("x.ics", "x")
        );
    }

    #[test]
    fn the_query_reads_the_report_columns() {
        // The activity query is reused: should its FROM clause change, the columns must still be read.
        assert!(select("").contains("a.report_draft FROM activities a"), "{}", select(""));
    }
}
