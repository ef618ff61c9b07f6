//! Client notes <-> VJOURNAL, for the rep's notes collection (`caldav::notes`).
//!
//! A note is shown as a journal entry dated when it was written: SUMMARY its first line, DESCRIPTION
//! its whole text, CATEGORIES and X-CRM-CLIENT its client, X-CRM-AUTHOR who wrote it, and an
//! ATTACH per voice note (a URL). A device's entry (jtx Board, Thunderbird) becomes a note: its
//! text is the DESCRIPTION (with the SUMMARY first when the DESCRIPTION does not start with it),
//! linked to a client like an event is (X-CRM-CLIENT, then a client name or code in CATEGORIES).

use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarParameter, ICalendarParameterName,
    ICalendarProperty,
};
use chrono::{DateTime, Utc};

pub use super::attachments::AttachedAudio;
use super::attachments::{InlineAudio, take_inline_audio};
use super::read::{check_reads_back, parse_one_calendar};
use super::value::{self, other, value_text};
use super::{X_CRM_CLIENT, X_CRM_NAME};

const PRODID: &str = "-//crmdav//CRM notes//EN";
const X_CRM_AUTHOR: &str = "X-CRM-AUTHOR";
/// Longest SUMMARY written: the first line of a note, cut.
const SUMMARY_CHARS: usize = 80;

/// The version of the objects [`render`] writes for the notes collection, stored with its texts.
/// Bump it with any change to them.
pub const JOURNAL_RENDER_VERSION: i32 = 2;

/// What a journal entry shows of a note.
#[derive(Debug, Clone)]
pub struct Journal {
    pub uid: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub client_code: String,
    pub client_name: String,
    pub author: Option<String>,
    pub audio: Vec<AttachedAudio>,
    /// A line per voice note, after the text (`VoiceNote::line`): the date, author and length
    /// that the ATTACH does not say. A device sending them back is not writing them.
    pub voice_lines: Vec<String>,
}

/// The first line of a note, cut to [`SUMMARY_CHARS`].
fn summary_of(body: &str) -> String {
    let first = body.trim().lines().next().unwrap_or("").trim();
    match first.char_indices().nth(SUMMARY_CHARS) {
        None => first.to_string(),
        Some((cut, _)) => format!("{}…", first[..cut].trim_end()),
    }
}

/// The journal entry of a note.
pub fn render(journal: &Journal) -> String {
    let mut root = ICalendarComponent::new(ICalendarComponentType::VCalendar);
    root.add_property(ICalendarProperty::Version, "2.0".to_owned());
    root.add_property(ICalendarProperty::Prodid, PRODID.to_owned());
    root.component_ids.push(1);
    let mut entry = ICalendarComponent::new(ICalendarComponentType::VJournal);
    entry.add_uid(&journal.uid);
    entry.add_dtstamp(value::partial_utc(journal.created_at));
    entry.entries.push(value::date_entry(
        ICalendarProperty::Dtstart,
        value::partial_utc(journal.created_at),
        false,
        None,
    ));
    let text = |name: ICalendarProperty, text: &str| ICalendarEntry::new(name).with_value(text.to_owned());
    entry.entries.push(text(ICalendarProperty::Summary, &summary_of(&journal.body)));
    let description: Vec<&str> =
        std::iter::once(journal.body.trim()).chain(journal.voice_lines.iter().map(String::as_str)).collect();
    entry.entries.push(text(ICalendarProperty::Description, &description.join("\n")));
    entry.entries.push(text(ICalendarProperty::Categories, &journal.client_name));
    let mut client = text(other(X_CRM_CLIENT), &journal.client_code);
    client.add_param(ICalendarParameter::new(
        ICalendarParameterName::Other(X_CRM_NAME.into()),
        journal.client_name.clone(),
    ));
    entry.entries.push(client);
    if let Some(author) = &journal.author {
        entry.entries.push(text(other(X_CRM_AUTHOR), author));
    }
    entry.entries.extend(journal.audio.iter().map(AttachedAudio::entry));
    ICalendar { components: vec![root, entry] }.to_string()
}

/// What a device's journal entry says, in CRM terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedJournal {
    pub uid: String,
    /// The note's text (trimmed).
    pub body: String,
    pub x_crm_client: Option<String>,
    pub categories: Vec<String>,
    /// Inline audio attachments: voice notes to store.
    pub audio: Vec<InlineAudio>,
}

/// Reads a device's object for the notes collection: one VCALENDAR holding one VJOURNAL, with its
/// inline audio attachments taken out (voice notes). Errors name what is wrong.
pub fn parse(text: &str) -> Result<ParsedJournal, String> {
    if let Some(found) = crate::mapping::forbidden_control(text) {
        return Err(crate::mapping::describe_control(found));
    }
    let (text, audio) = take_inline_audio(text)?;
    let calendar = parse_one_calendar(&text).map_err(|e| e.to_string())?;
    check_reads_back(&calendar).map_err(|e| e.to_string())?;
    let mut journals = calendar.components[0]
        .component_ids
        .iter()
        .filter_map(|id| calendar.components.get(*id as usize))
        .filter(|c| !matches!(c.component_type, ICalendarComponentType::VTimezone));
    let journal = match (journals.next(), journals.next()) {
        (Some(journal), None) if journal.component_type == ICalendarComponentType::VJournal => journal,
        (Some(other), None) => {
            return Err(format!(
                "the object holds a {} but the notes collection only takes VJOURNAL",
                other.component_type.as_str()
            ));
        }
        (None, _) => return Err("the object holds no VJOURNAL".into()),
        (Some(_), Some(_)) => return Err("the object must hold exactly one VJOURNAL".into()),
    };
    let uid = journal.uid().map(str::trim).filter(|u| !u.is_empty()).ok_or("the VJOURNAL has no UID")?;
    let texts = |property: &ICalendarProperty| -> Vec<String> {
        journal.entries.iter().filter(|e| value::same_property(&e.name, property)).map(value_text).collect()
    };
    let first =
        |property: ICalendarProperty| texts(&property).into_iter().next().unwrap_or_default().trim().to_string();
    let summary = first(ICalendarProperty::Summary);
    // The server's voice-note lines are no part of the note's text.
    let description = first(ICalendarProperty::Description)
        .lines()
        .filter(|line| !crate::crm::voice_notes::is_line(line))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string();
    let body = if summary.is_empty() || description.starts_with(summary.trim_end_matches('…')) {
        description
    } else if description.is_empty() {
        summary
    } else {
        format!("{summary}\n{description}")
    };
    let x_crm_client = Some(first(other(X_CRM_CLIENT))).filter(|c| !c.is_empty());
    let categories = journal
        .entries
        .iter()
        .filter(|e| value::same_property(&e.name, &ICalendarProperty::Categories))
        .flat_map(|e| e.values.iter().filter_map(|v| v.as_text().map(|t| t.trim().to_string())))
        .filter(|c| !c.is_empty())
        .collect();
    Ok(ParsedJournal { uid: uid.to_string(), body: body.trim().to_string(), x_crm_client, categories, audio })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::ical::test_support::utc;

    fn journal(body: &str) -> Journal {
        Journal {
            uid: "crmdav-note-7".into(),
            body: body.into(),
            created_at: utc(2026, 12, 1, 9, 30),
            client_code: "C00009".into(),
            client_name: "Horizon Energy AG".into(),
            author: Some("Alice Martin".into()),
            audio: vec![AttachedAudio {
                url: "https://crm.example/dav/voice-notes/3".into(),
                content_type: "audio/mp4".into(),
                managed_id: "3".into(),
                size: 5000,
                filename: Some("memo.m4a".into()),
            }],
            voice_lines: vec![
                "Voice note 2026-12-01, Alice Martin, 0:42: https://crm.example/dav/voice-notes/3".into(),
            ],
        }
    }

    /// A note served as a journal entry reads back as the same note, linked to the same client.
    #[test]
    fn a_note_reads_back_from_its_journal_entry() {
        let body = "Signed the renewal, two years.\nCall back in May about the new line.";
        let text = render(&journal(body));
        for line in [
            "UID:crmdav-note-7",
            "DTSTART:20261201T093000Z",
            "SUMMARY:Signed the renewal\\, two years.",
            "CATEGORIES:Horizon Energy AG",
            "X-CRM-CLIENT;X-CRM-NAME=\"Horizon Energy AG\":C00009",
            "ATTACH;MANAGED-ID=3;FMTTYPE=audio/mp4;SIZE=5000;FILENAME=memo.m4a:https://crm.example/dav/voice-notes/3",
        ] {
            assert!(text.replace("\r\n ", "").contains(&format!("{line}\r\n")), "{line} in {text}");
        }
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.body, body);
        assert_eq!(parsed.x_crm_client.as_deref(), Some("C00009"));
        assert_eq!(parsed.categories, ["Horizon Energy AG"]);
        let long = "x".repeat(200);
        assert_eq!(parse(&render(&journal(&long))).unwrap().body, long, "a cut summary is not part of the text");
    }

    /// jtx Board writes a title and a description: the note is both.
    #[test]
    fn a_title_and_a_description_make_one_note() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:+//IDN bitfire.at//ical4android\r\nBEGIN:VJOURNAL\r\n\
                    UID:j-1\r\nDTSTAMP:20261201T100000Z\r\nSUMMARY:Fair talk\r\nDESCRIPTION:Wants 40 pallets.\r\n\
                    CATEGORIES:Horizon Energy AG,Fair\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.body, "Fair talk\nWants 40 pallets.");
        assert_eq!(parsed.categories, ["Horizon Energy AG", "Fair"]);
        let event = text.replace("VJOURNAL", "VEVENT");
        assert!(parse(&event).unwrap_err().contains("only takes VJOURNAL"));
        assert!(parse(&text.replace("UID:j-1\r\n", "")).unwrap_err().contains("no UID"));
    }
}
