//! Voice notes attached to calendar objects: the inline audio a device sends in an object (taken
//! out, checked against `calendar.max_voice_note_bytes`), and RFC 8607 managed attachments:
//! `POST OBJECT?action=attachment-add` (the audio as the body), `attachment-update` and
//! `attachment-remove` (`&managed-id=ID`), on events, report tasks and journal entries. Only audio
//! is taken: the server stores voice notes, not files.

use std::future::Future;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::crm::Session;
use crate::crm::activities::ActivityView;
use crate::crm::audit::AuditEntry;
use crate::crm::voice_notes::{self, NewVoiceNote, Owner};
use crate::dav::collection::{Collection, Tagged, Write, Written};
use crate::dav::conditions::Conditions;
use crate::dav::error::{DavError, Precondition, Refusal};
use crate::dav::multistatus::PropValue;
use crate::dav::names::PropName;
use crate::dav::reply::{self, Reply};
use crate::mapping::ical::attachments::{InlineAudio, take_inline_audio};

use super::report_task;

/// The RFC 8607 section 6 properties of the calendar home and the calendars: attachments are
/// served by this server (an empty `DAV:href`), up to `calendar.max_voice_note_bytes` each.
pub fn properties(s: &Session<'_>) -> Vec<(PropName, PropValue)> {
    vec![
        (PropName::caldav("managed-attachments-server-URL"), PropValue::Raw("<d:href/>".into())),
        (PropName::caldav("max-attachment-size"), PropValue::Text(s.config.calendar.max_voice_note_bytes.to_string())),
    ]
}

/// 413 for a recording over `calendar.max_voice_note_bytes`.
pub fn too_big(s: &Session<'_>, length: usize) -> DavError {
    DavError::Status(StatusCode::PAYLOAD_TOO_LARGE, too_big_message(s, length))
}

fn too_big_message(s: &Session<'_>, length: usize) -> String {
    format!(
        "the voice note is {length} bytes long; a voice note may be at most {} bytes (calendar.max_voice_note_bytes): record a shorter one",
        s.config.calendar.max_voice_note_bytes
    )
}

/// A device's object without its inline audio, and that audio, each recording checked against
/// the size limit (413: nothing is written).
pub fn inline_audio(s: &Session<'_>, text: &str) -> Result<(String, Vec<InlineAudio>), DavError> {
    let (kept, audio) = take_inline_audio(text)
        .map_err(|message| DavError::from(Refusal::new(Precondition::ValidCalendarData, message)))?;
    if let Some(big) = audio.iter().find(|a| a.bytes.len() > s.config.calendar.max_voice_note_bytes) {
        return Err(too_big(s, big.bytes.len()));
    }
    Ok((kept, audio))
}

/// The recordings to store, measured.
pub fn measured(audio: &[InlineAudio]) -> Vec<NewVoiceNote<'_>> {
    audio.iter().map(|a| NewVoiceNote::measured(&a.content_type, a.filename.as_deref(), &a.bytes)).collect()
}

/// What a member's managed attachments are attached to.
pub enum Attachable {
    /// Voice notes of an activity or a note: added, replaced and removed.
    Owner(Owner),
    /// A report task: a voice note added is its report (`report_task::close`).
    ReportTask(Box<ActivityView>),
}

/// A collection whose members take managed attachments.
pub trait ManagedAttachments: Collection {
    fn session(&self) -> &Session<'_>;

    /// What `member`'s attachments belong to; a refusal when the rep may not change it.
    fn attachable(&self, member: &Self::Member) -> Result<Attachable, DavError>;

    /// The object's text as it is now, if it is still in the collection.
    fn current(&self, name: &str) -> impl Future<Output = anyhow::Result<Option<Tagged>>> + Send {
        async move { Ok(self.find(name).await?.map(|member| self.tagged(&member))) }
    }
}

/// The action a POST asks for (RFC 8607 3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Add,
    Update(i64),
    Remove(i64),
}

const ACTIONS: &str = "action=attachment-add, action=attachment-update&managed-id=ID or action=attachment-remove&managed-id=ID (RFC 8607)";

/// The action of the query, or why it cannot be done: 400 for a malformed request, a refusal for
/// what RFC 8607 names (`valid-rid`, `valid-managed-id`).
fn action(query: Option<&str>) -> Result<Action, DavError> {
    let bad = |message: String| DavError::Status(StatusCode::BAD_REQUEST, message);
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let value = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if value("rid").is_some() {
        return Err(Refusal::new(
            Precondition::ValidRid,
            "attachments are added to the whole object here, not to one occurrence: send the request without rid",
        )
        .into());
    }
    let managed_id = || -> Result<i64, DavError> {
        let id = value("managed-id").ok_or_else(|| bad(format!("this action needs a managed-id: {ACTIONS}")))?;
        id.parse().map_err(|_| {
            Refusal::new(Precondition::ValidManagedId, format!("managed-id {id:?} names no attachment of this object"))
                .into()
        })
    };
    match value("action") {
        Some("attachment-add") => Ok(Action::Add),
        Some("attachment-update") => Ok(Action::Update(managed_id()?)),
        Some("attachment-remove") => Ok(Action::Remove(managed_id()?)),
        Some(other) => Err(bad(format!("unknown action {other:?}: a POST on a calendar object takes {ACTIONS}"))),
        None => Err(bad(format!("a POST on a calendar object needs an action: {ACTIONS}"))),
    }
}

/// The audio a POST carries: its media type (audio only), file name and bytes (within the limit).
fn audio_body<'b>(
    s: &Session<'_>,
    headers: &'b HeaderMap,
    body: &'b [u8],
) -> Result<(String, Option<String>, &'b [u8]), DavError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !content_type.starts_with("audio/") {
        let sent = if content_type.is_empty() { "no Content-Type".to_string() } else { content_type };
        return Err(DavError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{sent}: this server keeps voice notes only; attach a recording (audio/*, e.g. audio/mp4)"),
        ));
    }
    if body.is_empty() {
        return Err(DavError::Status(StatusCode::BAD_REQUEST, "the request body holds no audio".into()));
    }
    if body.len() > s.config.calendar.max_voice_note_bytes {
        return Err(Refusal::new(Precondition::MaxAttachmentSize, too_big_message(s, body.len())).into());
    }
    let filename = headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).and_then(filename_of);
    Ok((content_type, filename, body))
}

/// The `filename` of a Content-Disposition (`attachment;filename=memo.m4a`, quoted or not).
fn filename_of(disposition: &str) -> Option<String> {
    disposition
        .split(';')
        .map(str::trim)
        .find_map(|part| {
            let (name, value) = part.split_once('=')?;
            name.trim().eq_ignore_ascii_case("filename").then(|| value.trim().trim_matches('"').to_string())
        })
        .filter(|name| !name.is_empty())
}

/// A POST on member `name` of `c` (RFC 8607 3.2): the action of the query, under the request's
/// conditions (If-Match on the object's ETag).
pub async fn post<C: ManagedAttachments>(
    c: &C,
    name: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, DavError> {
    let s = c.session();
    let action = match action(query) {
        Err(DavError::Refused(refusal)) => return Err(refused(c, name, refusal).await),
        other => other?,
    };
    let member = c.find(name).await?.ok_or_else(|| DavError::NotFound(c.member_href(name)))?;
    Conditions::parse(headers).check(Some(&c.tagged(&member).etag))?;
    let attachable = match c.attachable(&member) {
        Err(DavError::Refused(refusal)) => return Err(refused(c, name, refusal).await),
        other => other?,
    };
    let target = c.member_href(name);
    let audit = |action: &'static str, after: Option<String>| AuditEntry {
        rep_id: Some(s.rep.id),
        device: s.device,
        action,
        target: name,
        outcome: "updated",
        before: None,
        after,
    };
    let (status, managed_id) = match (action, attachable) {
        (Action::Add, Attachable::Owner(owner)) => {
            let (content_type, filename, bytes) = audio_body(s, headers, body)?;
            let voice = NewVoiceNote::measured(&content_type, filename.as_deref(), bytes);
            let after = format!("{content_type} ({} bytes)", bytes.len());
            let id = voice_notes::add(s.store, owner, s.rep.id, &voice, audit("voice-note.add", Some(after))).await?;
            (StatusCode::CREATED, Some(id))
        }
        (Action::Add, Attachable::ReportTask(view)) => {
            let (content_type, filename, bytes) = audio_body(s, headers, body)?;
            let voice = NewVoiceNote::measured(&content_type, filename.as_deref(), bytes);
            // What the rep wrote in the task so far goes with the voice note.
            let draft = view.report_draft.clone().unwrap_or_default();
            match report_task::close(s, &view, draft.trim(), false, std::slice::from_ref(&voice), None).await {
                Ok(Written::Updated | Written::Created | Written::Ignored) => {}
                Err(DavError::Refused(refusal)) => return Err(refused(c, name, refusal).await),
                Err(e) => return Err(e),
            }
            let id = crate::crm::voice_notes::of_activities(s.store, &[view.activity.id])
                .await?
                .remove(&view.activity.id)
                .and_then(|notes| notes.into_iter().rev().find(|v| v.sha256 == voice_notes::digest(bytes)))
                .map(|v| v.id);
            (StatusCode::CREATED, id)
        }
        (Action::Update(id), Attachable::Owner(owner)) => {
            let (content_type, filename, bytes) = audio_body(s, headers, body)?;
            let voice = NewVoiceNote::measured(&content_type, filename.as_deref(), bytes);
            let after = format!("{id} replaced by {content_type} ({} bytes)", bytes.len());
            match voice_notes::replace(s.store, owner, id, s.rep.id, &voice, audit("voice-note.update", Some(after)))
                .await?
            {
                Some(new_id) => (StatusCode::OK, Some(new_id)),
                None => return Err(refused(c, name, unknown_managed_id(id, &target)).await),
            }
        }
        (Action::Remove(id), Attachable::Owner(owner)) => {
            let after = format!("{id} removed");
            match voice_notes::remove(s.store, owner, id, audit("voice-note.remove", Some(after))).await? {
                true => (StatusCode::NO_CONTENT, None),
                false => return Err(refused(c, name, unknown_managed_id(id, &target)).await),
            }
        }
        (Action::Update(id) | Action::Remove(id), Attachable::ReportTask(_)) => {
            return Err(refused(c, name, unknown_managed_id(id, &target)).await);
        }
    };
    answer(c, name, status, managed_id).await
}

fn unknown_managed_id(id: i64, target: &str) -> Refusal {
    Refusal::new(Precondition::ValidManagedId, format!("managed-id {id} names no attachment of {target}"))
}

async fn refused<C: Collection>(c: &C, name: &str, refusal: Refusal) -> DavError {
    match c.audit_refusal(Write::Put, name, &refusal, None).await {
        Ok(()) => DavError::Refused(refusal),
        Err(e) => DavError::Internal(e.context("the refusal could not be audited")),
    }
}

/// The answer of a done action: the object as it is now with its ETag (RFC 8607 3.5: the client
/// need not fetch it), the attachment's managed id and URL. A report task closed by its voice
/// note is no longer in the collection: then there is no object to send.
async fn answer<C: ManagedAttachments>(
    c: &C,
    name: &str,
    status: StatusCode,
    managed_id: Option<i64>,
) -> Result<Reply, DavError> {
    let s = c.session();
    let current = c.current(name).await?;
    let mut response = reply::text(status, "");
    *response.body_mut() = "".into();
    response.headers_mut().remove(header::CONTENT_TYPE);
    if let Some(Tagged { etag, text }) = current {
        let headers = response.headers_mut();
        headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex etag"));
        if status != StatusCode::NO_CONTENT {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
            headers.insert(header::CONTENT_LOCATION, HeaderValue::from_str(&c.member_href(name)).expect("href"));
            *response.body_mut() = text.into();
        }
    }
    if let Some(id) = managed_id {
        let headers = response.headers_mut();
        headers.insert("Cal-Managed-ID", HeaderValue::from(id));
        let url = voice_notes::url(s.config.push.public_url.as_deref(), id);
        headers.insert(header::LOCATION, HeaderValue::from_str(&url).expect("url"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_read_from_the_query() {
        assert_eq!(action(Some("action=attachment-add")).unwrap(), Action::Add);
        assert_eq!(action(Some("action=attachment-update&managed-id=12")).unwrap(), Action::Update(12));
        assert_eq!(action(Some("managed-id=7&action=attachment-remove")).unwrap(), Action::Remove(7));
        let status = |q: Option<&str>| match action(q) {
            Err(DavError::Status(status, _)) => Some(status.as_u16()),
            Err(DavError::Refused(r)) => Some(r.precondition.status().as_u16()),
            _ => None,
        };
        assert_eq!(status(Some("action=attachment-copy")), Some(400));
        assert_eq!(status(None), Some(400));
        assert_eq!(status(Some("action=attachment-remove")), Some(400));
        assert_eq!(status(Some("action=attachment-remove&managed-id=abc")), Some(403));
        assert_eq!(status(Some("action=attachment-add&rid=20261201T090000Z")), Some(403));
    }

    #[test]
    fn the_file_name_is_read_from_the_disposition() {
        assert_eq!(filename_of("attachment;filename=memo.m4a").as_deref(), Some("memo.m4a"));
        assert_eq!(filename_of("attachment; filename=\"Visit notes.m4a\"").as_deref(), Some("Visit notes.m4a"));
        assert_eq!(filename_of("attachment"), None);
    }
}
