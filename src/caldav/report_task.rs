//! Report tasks as members of the follow-ups calendar (see `crm::report_tasks`): how they are
//! shown, and what a device's write to one does.
//!
//! - Ticked done (STATUS:COMPLETED, PERCENT-COMPLETE:100 or COMPLETED) with a report in its notes:
//!   the activity is closed with that report as its client note, and the task leaves the list.
//!   Without enough new words: 403 `crm:note-required`, nothing changed.
//! - A voice note on it (inline audio, or an RFC 8607 `attachment-add`) is the report when
//!   `calendar.voice_note_closes` is on: the activity is closed with the note
//!   `Voice note (0:42): URL` (after any words written), linked to the voice note. When it is off,
//!   the rule above applies as if there were no voice note, and a refusal stores nothing.
//! - Any other edit is accepted; only the notes are kept (as a draft, there when the task is ticked
//!   later: iOS Reminders saves the notes and the tick as two writes). A renamed or moved task comes
//!   back as the server has it: the answer then carries no ETag, so the device fetches it, rather
//!   than a refusal that task apps would retry at every sync.
//! - DELETE is refused (403 `crm:refused`): the task goes when its activity is closed or cancelled.

use calcard::icalendar::ICalendar;
use chrono::{DateTime, Utc};
use http::StatusCode;

use crate::crm::activities::{ActivityView, Calendar};
use crate::crm::closing_note::{self, REPORT_INSTRUCTIONS};
use crate::crm::report_tasks;
use crate::crm::voice_notes::NewVoiceNote;
use crate::crm::{CrmError, Session};
use crate::dav::collection::Written;
use crate::dav::error::{DavError, Precondition, Refusal};
use crate::mapping::ical::{ParsedObject, ReportTask, render_report_task};

use super::calendar::calendar_href;
use crate::mapping::ical::shown::{self, ClientShown};

/// The title of an activity's report task: the activity's title as its event shows it (naming
/// the client), after "Report: ".
pub fn title(view: &ActivityView) -> String {
    let client = view.client_name.clone().map(|name| ClientShown { name, ..ClientShown::default() });
    format!("Report: {}", shown::summary(&view.activity.subject, client.as_ref()))
}

/// The report task of `view` (an activity shown as its report task) as a device receives it.
pub fn render_object(s: &Session<'_>, view: &ActivityView) -> ICalendar {
    let activity = &view.activity;
    let task = ReportTask {
        uid: report_tasks::uid_for(&activity.uid),
        summary: title(view),
        description: view
            .report_draft
            .clone()
            .filter(|draft| !draft.trim().is_empty())
            .unwrap_or_else(|| REPORT_INSTRUCTIONS.to_string()),
        due: activity.end_at.or(activity.start_at).map(|at| at.0),
        all_day: activity.all_day,
        related_to: activity.uid.clone(),
        report_for: format!("{}{}", calendar_href(&s.rep.login, Calendar::Activities), activity.href),
        client: view.client_code.clone().zip(view.client_name.clone()),
        stamp: view.report_requested_at.or(activity.start_at).map(|at| at.0).unwrap_or_default(),
    };
    render_report_task(&task)
}

fn changed_meanwhile() -> DavError {
    DavError::Status(
        StatusCode::PRECONDITION_FAILED,
        "the activity changed while this edit was applied; fetch it again".into(),
    )
}

fn crm_error(error: CrmError) -> DavError {
    match error {
        CrmError::NoteRequired(message) => Refusal::new(Precondition::NoteRequired, message).into(),
        CrmError::NoteTooLong(message) => Refusal::new(Precondition::NoteTooLong, message).into(),
        CrmError::Internal(e) => DavError::Internal(e),
        other => Refusal::new(Precondition::Refused, other.to_string()).into(),
    }
}

/// A device's write of the report task at `target` (see the module comment), with the voice notes
/// it carried inline (`audio`).
pub async fn save(
    s: &Session<'_>,
    target: &str,
    view: &ActivityView,
    parsed: &ParsedObject,
    audio: &[NewVoiceNote<'_>],
) -> Result<Written, DavError> {
    let uid = report_tasks::uid_for(&view.activity.uid);
    if parsed.uid != uid {
        let message = format!("the object at {target} has UID {uid}; a calendar object cannot change its UID");
        return Err(Refusal::new(Precondition::CalendarNoUidConflict, message).with_href(target).into());
    }
    let calendar = &s.config.calendar;
    let too_long = |text: &str| {
        (text.len() > calendar.max_note_bytes).then(|| {
            crm_error(CrmError::NoteTooLong(format!(
                "the notes are {} bytes long; a report may be at most {} bytes (calendar.max_note_bytes): shorten them and save again",
                text.len(),
                calendar.max_note_bytes
            )))
        })
    };
    if parsed.completes || !audio.is_empty() {
        let note = closing_note::new_text(REPORT_INSTRUCTIONS, &parsed.description, "");
        if let Some(refusal) = too_long(&note) {
            return Err(refusal);
        }
        return close(s, view, &note, parsed.completes, audio, parsed.completed_at).await;
    }
    let draft = Some(parsed.description.trim()).filter(|d| !d.is_empty() && *d != REPORT_INSTRUCTIONS);
    if draft == view.report_draft.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        return Ok(Written::Updated);
    }
    if let Some(refusal) = draft.and_then(too_long) {
        return Err(refusal);
    }
    match report_tasks::save_draft(s, view, draft).await.map_err(crm_error)? {
        true => Ok(Written::Updated),
        false => Err(changed_meanwhile()),
    }
}

/// Closes the activity of a report task with `note` (what the rep wrote) and `audio`: a voice note
/// is the report when `calendar.voice_note_closes` is on, whether the task was ticked done or not
/// (recording it is the rep's report); otherwise the closing-note rule applies as without it, and
/// nothing is written when it is not met (the voice note is not stored either).
pub async fn close(
    s: &Session<'_>,
    view: &ActivityView,
    note: &str,
    ticked: bool,
    audio: &[NewVoiceNote<'_>],
    completed_at: Option<DateTime<Utc>>,
) -> Result<Written, DavError> {
    let calendar = &s.config.calendar;
    let voice_closes = calendar.voice_note_closes && !audio.is_empty();
    let written = ticked && closing_note::is_enough(note, calendar.min_note_words, calendar.min_note_chars);
    if !(voice_closes || written) {
        let mut message = closing_note::refusal(&view.activity.subject, calendar.min_note_words, true);
        if !audio.is_empty() {
            message.push_str(
                " A voice note does not close an activity on this server (calendar.voice_note_closes is off):                  it is kept only with a written report.",
            );
        }
        return Err(crm_error(CrmError::NoteRequired(message)));
    }
    match report_tasks::close(s, view, note, audio, completed_at).await.map_err(crm_error)? {
        true => Ok(Written::Updated),
        false => Err(changed_meanwhile()),
    }
}

/// A report task cannot be deleted: it goes when its activity is closed or cancelled.
pub fn refuse_delete(view: &ActivityView) -> DavError {
    let subject = view.activity.subject.trim();
    Refusal::new(
        Precondition::Refused,
        format!(
            "the report task of '{subject}' goes away when the activity is closed: tick it done with a few words \
             about how it went, or delete the event itself if it did not take place"
        ),
    )
    .into()
}

/// A device's new object under a name or UID of the report tasks.
pub fn reserved(name: &str, uid: &str) -> DavError {
    Refusal::new(
        Precondition::ReservedName,
        format!(
            "names beginning with '{}' and UIDs beginning with '{}' are the server's report tasks ({name}, UID {uid}): \
             choose another name and UID",
            report_tasks::NAME_PREFIX,
            report_tasks::UID_PREFIX
        ),
    )
    .into()
}
