//! The rep's notes collection, `/dav/calendars/LOGIN/notes/`: the client notes of the clients the
//! rep sees, of the last `calendar.notes_days_back` days, as VJOURNAL entries (jtx Board,
//! Thunderbird). A rep writes their own notes there; the notes of others are read-only.

use std::collections::BTreeSet;

use chrono::{TimeDelta, Utc};
use http::{HeaderMap, StatusCode};

use crate::crm::Session;
use crate::crm::activities::{self, ActivityInput};
use crate::crm::audit::{self, AuditEntry};
use crate::crm::notes::{self, JournalNote, NoteRow};
use crate::crm::voice_notes::{self, NewVoiceNote, VoiceNote};
use crate::dav::collection::{Collection, Display, MemberShape, Tagged, Write, Written};
use crate::dav::error::{DavError, Precondition, Refusal};
use crate::dav::multistatus::PropValue;
use crate::dav::names::PropName;
use crate::dav::request::CalendarDataRequest;
use crate::mapping::ical::journal::{self, AttachedAudio, Journal, ParsedJournal};
use crate::mapping::vcard::etag as strong_etag;
use crate::store::Ts;
use crate::store::incremental::{LoggedChange, View};
use crate::store::sync::{self, Entries, Member, Page, Stored};

/// The text of a note that is a voice note alone.
const VOICE_NOTE_BODY: &str = "Voice note";

/// What the audit log records of a written entry: its text and its voice notes (not their bytes).
fn audit_text(body: &str, audio: &[NewVoiceNote<'_>]) -> String {
    let voices: Vec<String> = audio.iter().map(|a| format!("{} ({} bytes)", a.content_type, a.bytes.len())).collect();
    match voices.is_empty() {
        true => body.to_string(),
        false => format!("{body}\n[voice notes: {}]", voices.join(", ")),
    }
}

/// The collection's name under the rep's calendar home.
pub const NOTES: &str = "notes";

pub fn notes_href(login: &str) -> String {
    format!("/dav/calendars/{login}/{NOTES}/")
}

/// The store's key of the rep's notes collection.
pub fn collection_key(rep_id: i64) -> String {
    format!("notes:{rep_id}")
}

/// Days since the epoch, of today (UTC).
fn today() -> i64 {
    Utc::now().timestamp().div_euclid(86_400)
}

/// The first instant of the window: the start of the day `notes_days_back` days ago. Whole days,
/// so that the window moves once a day.
fn window_start(s: &Session<'_>, day: i64) -> Ts {
    let start = (day - s.config.calendar.notes_days_back.max(0)) * 86_400;
    Ts(chrono::DateTime::from_timestamp(start, 0).unwrap_or_default() - TimeDelta::zero())
}

/// The render version the collection is stored with: the renderer's, and the day, so that each
/// day the collection is computed in full once (notes leave the window as time passes, which logs
/// no change). 100,000 days hold any day until the year 2243.
fn render_version(day: i64) -> i32 {
    journal::JOURNAL_RENDER_VERSION * 100_000 + (day % 100_000) as i32
}

async fn refresh(s: &Session<'_>) -> anyhow::Result<i64> {
    let day = today();
    let view = NotesView { s, since: window_start(s, day) };
    sync::refresh(s.store, &collection_key(s.rep.id), render_version(day), &view, s.change_seq).await
}

/// The rep's notes collection as a view of the CRM (what `refresh` maintains; tests compute it in
/// full to compare).
pub fn view<'a>(s: &'a Session<'a>) -> impl View + 'a {
    NotesView { s, since: window_start(s, today()) }
}

/// The notes collection as a view of the CRM: an entry's source is its note.
struct NotesView<'a> {
    s: &'a Session<'a>,
    since: Ts,
}

impl View for NotesView<'_> {
    async fn affected(&self, changes: &[LoggedChange]) -> anyhow::Result<Option<Vec<i64>>> {
        let (mut ids, mut clients) = (BTreeSet::new(), BTreeSet::new());
        for change in changes {
            match change.entity.as_str() {
                "notes" => {
                    ids.insert(change.entity_id);
                }
                // A client's name, code and visibility (status, manager) are on its notes.
                "clients" => clients.extend(change.client_id),
                // A voice note's change is logged as a change of its note too (schema 0013): the
                // "notes" entry above; one on an event alone is no entry's.
                "voice_notes" | "contacts" | "activities" | "collection_render" | "teams" => {}
                // Visibility rules, reps (authors' names), anything unknown: any entry may change.
                _ => return Ok(None),
            }
        }
        if !clients.is_empty() {
            let clients: Vec<i64> = clients.into_iter().collect();
            ids.extend(notes::ids_of_clients(self.s.store, &clients, self.since).await?);
            // Notes of those clients the collection holds but that no longer exist there.
            let stored = crate::store::incremental::members_of_sources(
                self.s.store,
                &collection_key(self.s.rep.id),
                &ids.iter().copied().collect::<Vec<_>>(),
            )
            .await?;
            ids.extend(stored.into_iter().map(|(_, source)| source));
        }
        Ok(Some(ids.into_iter().collect()))
    }

    async fn compute(&self, sources: Option<&[i64]>) -> anyhow::Result<Vec<Member>> {
        let rows = notes::list(self.s.store, self.s.rep.id, self.since, sources).await?;
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        let mut audio = voice_notes::of_notes(self.s.store, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let entry = NoteEntry { audio: audio.remove(&row.id).unwrap_or_default(), row };
                let body = render(self.s, &entry);
                Member { href: entry.row.name_for(self.s.rep.id), etag: strong_etag(&body), body, source: entry.row.id }
            })
            .collect())
    }
}

/// A note with its voice notes: a member of the notes collection.
pub struct NoteEntry {
    pub row: NoteRow,
    pub audio: Vec<VoiceNote>,
}

/// The URL a voice note is served at: under `push.public_url` when it is set (devices need an
/// absolute URL to fetch an attachment), else the path alone.
pub fn voice_note_url(s: &Session<'_>, note: &VoiceNote) -> String {
    voice_notes::url(s.config.push.public_url.as_deref(), note.id)
}

/// How an object links a voice note (its RFC 8607 managed attachment).
pub fn attached(s: &Session<'_>, voice: &VoiceNote) -> AttachedAudio {
    AttachedAudio {
        url: voice_note_url(s, voice),
        content_type: voice.content_type.clone(),
        managed_id: voice.id.to_string(),
        size: voice.size_bytes.max(0) as u64,
        filename: voice.filename.clone(),
    }
}

/// The journal entry of a note.
fn render(s: &Session<'_>, entry: &NoteEntry) -> String {
    let row = &entry.row;
    journal::render(&Journal {
        uid: row.uid(),
        body: row.body.clone(),
        created_at: row.created_at.0,
        client_code: row.client_code.clone(),
        client_name: row.client_name.clone(),
        author: row.author.clone(),
        audio: entry.audio.iter().map(|voice| attached(s, voice)).collect(),
        voice_lines: entry.audio.iter().map(|voice| voice.line(&voice_note_url(s, voice))).collect(),
    })
}

fn privileges(writable: bool) -> PropValue {
    let mut privileges = vec![PropName::dav("read"), PropName::dav("read-current-user-privilege-set")];
    if writable {
        privileges.extend([
            PropName::dav("write"),
            PropName::dav("write-content"),
            PropName::dav("write-properties"),
            PropName::dav("bind"),
            PropName::dav("unbind"),
        ]);
    }
    PropValue::Privileges(privileges)
}

pub async fn collection_props(s: &Session<'_>) -> anyhow::Result<Vec<(PropName, PropValue)>> {
    let seq = refresh(s).await?;
    let key = collection_key(s.rep.id);
    let token = sync::token(&key, seq);
    let (displayname, color) = sync::display(s.store, &key).await?;
    Ok(vec![
        (
            PropName::dav("resourcetype"),
            PropValue::ResourceType(vec![PropName::dav("collection"), PropName::caldav("calendar")]),
        ),
        (
            PropName::dav("displayname"),
            PropValue::Text(displayname.filter(|d| !d.is_empty()).unwrap_or_else(|| "CRM notes".into())),
        ),
        (
            PropName::apple_ical("calendar-color"),
            PropValue::Text(color.filter(|c| !c.is_empty()).unwrap_or_else(|| "#43A047FF".into())),
        ),
        (
            PropName::caldav("calendar-description"),
            PropValue::Text(format!(
                "Notes on the clients visible to {} (the last {} days)",
                s.rep.display_name, s.config.calendar.notes_days_back
            )),
        ),
        (PropName::caldav("supported-calendar-component-set"), PropValue::Comps(vec!["VJOURNAL".into()])),
        (
            PropName::caldav("supported-calendar-data"),
            PropValue::Raw(r#"<cal:calendar-data content-type="text/calendar" version="2.0"/>"#.into()),
        ),
        (PropName::caldav("max-resource-size"), PropValue::Text(s.config.max_body_bytes.to_string())),
        (PropName::calendarserver("getctag"), PropValue::Text(token.clone())),
        (PropName::dav("sync-token"), PropValue::Text(token)),
        (PropName::dav("getetag"), PropValue::Text(format!("\"{seq}\""))),
        (
            PropName::dav("supported-report-set"),
            PropValue::SupportedReports(vec![PropName::caldav("calendar-multiget"), PropName::dav("sync-collection")]),
        ),
        // A rep adds entries and changes their own; each entry of another rep says it is read-only.
        (PropName::dav("current-user-privilege-set"), privileges(true)),
        (PropName::dav("owner"), PropValue::Href(format!("/dav/principals/{}/", s.rep.login))),
    ]
    .into_iter()
    .chain(super::attachments::properties(s))
    .collect())
}

fn shape() -> MemberShape {
    MemberShape {
        content_type: "text/calendar; charset=utf-8; component=vjournal",
        data: PropName::caldav("calendar-data"),
    }
}

/// The client notes a rep sees, as a DAV collection of journal entries.
pub struct NotesCollection<'a> {
    s: &'a Session<'a>,
}

impl<'a> NotesCollection<'a> {
    pub fn new(s: &'a Session<'a>) -> Self {
        Self { s }
    }

    fn since(&self) -> Ts {
        window_start(self.s, today())
    }

    fn audit_entry<'e>(
        &'e self,
        action: &'e str,
        name: &'e str,
        outcome: &'e str,
        after: Option<String>,
    ) -> AuditEntry<'e> {
        AuditEntry {
            rep_id: Some(self.s.rep.id),
            device: self.s.device,
            action,
            target: name,
            outcome,
            before: None,
            after,
        }
    }

    /// The client a device's entry names, among those the rep sees: X-CRM-CLIENT, then a client
    /// name or code in CATEGORIES (as events are linked).
    async fn client_of(&self, parsed: &ParsedJournal) -> Result<i64, DavError> {
        let input = ActivityInput {
            x_crm_client: parsed.x_crm_client.clone(),
            categories: parsed.categories.clone(),
            ..ActivityInput::default()
        };
        match activities::resolve_client(self.s.store, self.s.rep.id, &input, None).await? {
            (Some(client), _) => Ok(client),
            (None, _) => Err(Refusal::new(
                Precondition::ClientRequired,
                "a note must name one of your CRM clients: add the client's name as a category (or X-CRM-CLIENT with its code)",
            )
            .into()),
        }
    }

    /// The note's text and voice notes, checked: a voice note alone is a note ("Voice note"); each
    /// voice note is at most `calendar.max_voice_note_bytes` (413 beyond).
    fn content<'p>(&self, parsed: &'p ParsedJournal) -> Result<(String, Vec<NewVoiceNote<'p>>), DavError> {
        let limit = self.s.config.calendar.max_voice_note_bytes;
        if let Some(big) = parsed.audio.iter().find(|a| a.bytes.len() > limit) {
            return Err(super::attachments::too_big(self.s, big.bytes.len()));
        }
        let audio = super::attachments::measured(&parsed.audio);
        let body = match (parsed.body.is_empty(), audio.is_empty()) {
            (true, false) => VOICE_NOTE_BODY.to_string(),
            _ => parsed.body.clone(),
        };
        self.check_body(&body)?;
        Ok((body, audio))
    }

    fn check_body(&self, body: &str) -> Result<(), DavError> {
        if body.is_empty() {
            return Err(Refusal::new(Precondition::Refused, "the note is empty: write something in it").into());
        }
        let limit = self.s.config.calendar.max_note_bytes;
        if body.len() > limit {
            return Err(Refusal::new(
                Precondition::NoteTooLong,
                format!(
                    "the note is {} bytes long; a note may be at most {limit} bytes (calendar.max_note_bytes): shorten it and save again",
                    body.len()
                ),
            )
            .into());
        }
        Ok(())
    }

    fn read_only(&self, note: &NoteRow) -> DavError {
        let author = note.author.as_deref().unwrap_or("another rep");
        Refusal::new(
            Precondition::NeedPrivileges,
            format!("this note is {author}'s: only its author can change or delete it"),
        )
        .into()
    }
}

impl Collection for NotesCollection<'_> {
    type Member = NoteEntry;
    type Parsed = ParsedJournal;
    type DataRequest = CalendarDataRequest;
    type Entries = Entries;

    async fn entries(
        &self,
        names: &[String],
        with_data: bool,
        _: Option<&CalendarDataRequest>,
    ) -> Result<Entries, DavError> {
        let synced = refresh(self.s).await?;
        Ok(sync::members_at(self.s.store, &collection_key(self.s.rep.id), synced, names, with_data).await?)
    }

    fn href(&self) -> String {
        notes_href(&self.s.rep.login)
    }

    fn shape(&self) -> MemberShape {
        shape()
    }

    fn noun(&self) -> &'static str {
        "the journal entry"
    }

    fn valid_data(&self) -> Precondition {
        Precondition::ValidCalendarData
    }

    fn media_type_refusal(&self, content_type: Option<&str>) -> Option<Refusal> {
        let mime = content_type.map(|ct| ct.split(';').next().unwrap_or("").trim());
        (!mime.is_none_or(|mime| mime.eq_ignore_ascii_case("text/calendar")))
            .then(|| Refusal::new(Precondition::SupportedCalendarData, "journal entries must be sent as text/calendar"))
    }

    async fn properties(&self) -> anyhow::Result<Vec<(PropName, PropValue)>> {
        collection_props(self.s).await
    }

    async fn members(&self, with_data: bool) -> anyhow::Result<Vec<Stored>> {
        sync::stored(self.s.store, &collection_key(self.s.rep.id), None, with_data).await
    }

    async fn changes(&self, token: &str, limit: Option<usize>, with_data: bool) -> anyhow::Result<Option<Page>> {
        let seq = refresh(self.s).await?;
        sync::page(self.s.store, &collection_key(self.s.rep.id), seq, token, limit, with_data).await
    }

    async fn find(&self, name: &str) -> anyhow::Result<Option<NoteEntry>> {
        let Some(row) = notes::find(self.s.store, self.s.rep.id, self.since(), name).await? else {
            return Ok(None);
        };
        let audio = voice_notes::of_notes(self.s.store, &[row.id]).await?.remove(&row.id).unwrap_or_default();
        Ok(Some(NoteEntry { row, audio }))
    }

    fn tagged(&self, entry: &NoteEntry) -> Tagged {
        let text = render(self.s, entry);
        Tagged { etag: strong_etag(&text), text }
    }

    fn member_props(&self, entry: &NoteEntry) -> Vec<(PropName, PropValue)> {
        vec![(PropName::dav("current-user-privilege-set"), privileges(entry.row.is_writable_by(self.s.rep.id)))]
    }

    fn representation(&self, _: &NoteEntry, tagged: Tagged, _: &HeaderMap) -> (&'static str, String) {
        ("text/calendar; charset=utf-8", tagged.text)
    }

    fn parse(&self, text: &str) -> Result<ParsedJournal, Refusal> {
        journal::parse(text).map_err(|message| {
            let precondition = if message.contains("only takes VJOURNAL") {
                Precondition::SupportedCalendarComponent
            } else {
                Precondition::ValidCalendarData
            };
            Refusal::new(precondition, message)
        })
    }

    async fn save(
        &self,
        name: &str,
        existing: Option<NoteEntry>,
        parsed: ParsedJournal,
        _: &str,
    ) -> Result<Written, DavError> {
        let s = self.s;
        if let Some(NoteEntry { row: note, .. }) = existing {
            if !note.is_writable_by(s.rep.id) {
                return Err(self.read_only(&note));
            }
            if parsed.uid != note.uid() {
                let target = self.member_href(name);
                let message = format!("the note at {target} has UID {}; a note cannot change its UID", note.uid());
                return Err(Refusal::new(Precondition::CalendarNoUidConflict, message).with_href(target).into());
            }
            let (body, audio) = self.content(&parsed)?;
            let client = self.client_of(&parsed).await?;
            let entry = AuditEntry {
                before: Some(note.body.clone()),
                ..self.audit_entry("note.put", name, "updated", Some(audit_text(&body, &audio)))
            };
            if !notes::update(s.store, note.id, s.rep.id, client, &body, &audio, entry).await? {
                return Err(DavError::Status(
                    StatusCode::PRECONDITION_FAILED,
                    "the note changed meanwhile; fetch it again".into(),
                ));
            }
            return Ok(Written::Updated);
        }
        if notes::is_reserved_name(name) || parsed.uid.to_ascii_lowercase().starts_with("crmdav-") {
            let message = format!(
                "{name} (UID {}) is reserved: names beginning with note- and UIDs beginning with crmdav- belong to the server's entries; save the entry under another name and UID",
                parsed.uid
            );
            return Err(Refusal::new(Precondition::ReservedName, message).into());
        }
        if let Some((_, href)) = notes::of_uid(s.store, s.rep.id, &parsed.uid).await? {
            let used_by = self.member_href(href.as_deref().unwrap_or(name));
            let message = format!("UID {} is already used by {used_by}", parsed.uid);
            return Err(Refusal::new(Precondition::CalendarNoUidConflict, message).with_href(used_by).into());
        }
        let (body, audio) = self.content(&parsed)?;
        let client = self.client_of(&parsed).await?;
        let note = JournalNote {
            client_id: client,
            rep_id: s.rep.id,
            uid: &parsed.uid,
            href: name,
            body: &body,
            audio: &audio,
        };
        match notes::create_journal(
            s.store,
            &note,
            self.audit_entry("note.put", name, "created", Some(audit_text(&body, &audio))),
        )
        .await?
        {
            Some(_) => Ok(Written::Created),
            None => Err(DavError::Status(
                StatusCode::PRECONDITION_FAILED,
                "a note was created under this name or UID meanwhile; fetch the collection again".into(),
            )),
        }
    }

    fn display_setting(&self, name: &PropName) -> Option<Display> {
        if *name == PropName::dav("displayname") {
            Some(Display::Name)
        } else if *name == PropName::apple_ical("calendar-color") {
            Some(Display::Color)
        } else {
            None
        }
    }

    async fn set_display(&self, displayname: Option<&str>, color: Option<&str>) -> anyhow::Result<()> {
        sync::set_display(self.s.store, &collection_key(self.s.rep.id), displayname, color).await
    }

    /// A rep deletes their own notes; those of others are read-only.
    async fn remove(&self, name: &str, NoteEntry { row: note, .. }: NoteEntry) -> Result<(), DavError> {
        if !note.is_writable_by(self.s.rep.id) {
            return Err(self.read_only(&note));
        }
        let entry =
            AuditEntry { before: Some(note.body.clone()), ..self.audit_entry("note.delete", name, "deleted", None) };
        notes::delete(self.s.store, note.id, self.s.rep.id, entry).await?;
        Ok(())
    }

    async fn audit_refusal(&self, write: Write, name: &str, refusal: &Refusal, _: Option<&str>) -> anyhow::Result<()> {
        let action = if write == Write::Put { "note.put" } else { "note.delete" };
        let after = Some(format!("{}: {}", refusal.precondition.name().name, refusal.message));
        audit::record(self.s.store, self.audit_entry(action, name, "refused", after)).await
    }
}

impl super::attachments::ManagedAttachments for NotesCollection<'_> {
    fn session(&self) -> &Session<'_> {
        self.s
    }

    /// A rep attaches recordings to their own entries only.
    fn attachable(&self, entry: &NoteEntry) -> Result<super::attachments::Attachable, DavError> {
        let note = &entry.row;
        if !note.is_writable_by(self.s.rep.id) {
            return Err(self.read_only(note));
        }
        Ok(super::attachments::Attachable::Owner(voice_notes::Owner::Note {
            note_id: note.id,
            client_id: note.client_id,
            activity_id: note.activity_id,
        }))
    }
}
