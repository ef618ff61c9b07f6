//! CRM card -> vCard (3.0 or 4.0), and device vCard -> editable contact fields.
//!
//! Parsing and writing go through `calcard` (folding, escaping, quoted-printable, groups and
//! parameters are its job). The CRM models names, title, one work email, a phone, a mobile and an
//! address; everything else a device sends (photo, birthday, extra emails, X-* and grouped labels)
//! is kept verbatim in `vcard_extra` and written back after the CRM's properties.

use calcard::vcard::{
    VCard, VCardEntry, VCardParameter, VCardParameterName, VCardProperty, VCardType, VCardValue, VCardVersion,
};
use sha2::{Digest, Sha256};

use crate::crm::addressbook::{Card, ContactFields};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V3,
    V4,
}

impl Version {
    pub fn content_type(self) -> &'static str {
        match self {
            Version::V3 => "text/vcard; charset=utf-8",
            Version::V4 => "text/vcard; charset=utf-8; version=4.0",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V3 => "3.0",
            Version::V4 => "4.0",
        }
    }
}

/// Properties the server derives from the CRM: a device's edits to them are ignored.
const DERIVED: &[&str] = &["CATEGORIES", "NOTE", "ORG", "URL", "PRODID", "REV", "VERSION", "UID", "FN", "KIND"];

fn text(property: VCardProperty, value: impl Into<String>) -> VCardEntry {
    VCardEntry::new(property).with_value(VCardValue::Text(value.into()))
}

fn typed(mut entry: VCardEntry, types: &[VCardType]) -> VCardEntry {
    for t in types {
        entry.add_param(VCardParameter::new(VCardParameterName::Type, t.clone()));
    }
    entry
}

/// A structured value (N, ADR, ORG): one value per component, written `;`-separated. (calcard's
/// `VCardValue::Component` is one component holding a `,`-separated list: `N:Doe,Jane,,,` would
/// make "Doe,Jane" a list of family names and leave the given name empty.)
fn components(property: VCardProperty, parts: &[&str]) -> VCardEntry {
    let mut entry = VCardEntry::new(property);
    entry.values = parts.iter().map(|part| VCardValue::Text(part.to_string())).collect();
    entry
}

fn money(cents: i64) -> String {
    let units = cents / 100;
    let digits = units.abs().to_string();
    let mut grouped = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    if units < 0 { format!("-{grouped}") } else { grouped }
}

/// Longest part of one note a card carries: every card of a client, in every address book, repeats
/// its last notes, so a long note would be copied many times over.
const NOTE_EXCERPT_CHARS: usize = 300;

/// `text` cut to `NOTE_EXCERPT_CHARS` characters, "…" marking a cut.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(NOTE_EXCERPT_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
    }
}

/// How the line of key figures starts, in the NOTE of every card.
const FIGURES_PREFIX: &str = "Sales YTD";

/// The text of the NOTE property: the client's last three notes (each cut short), newest first,
/// its last three voice notes (date, author, duration when known, URL), then key figures.
pub fn note_summary(card: &Card) -> String {
    let mut lines = Vec::new();
    for note in card.notes.iter() {
        let author = note.author.as_deref().map(|a| format!(" ({a})")).unwrap_or_default();
        lines.push(format!("{}{}: {}", note.created_at.0.format("%Y-%m-%d"), author, excerpt(note.body.trim())));
    }
    for voice in card.voice_notes.iter() {
        lines.push(voice.line(&voice.path()));
    }
    let client = &card.client;
    let figures = &card.figures;
    let last_order = match figures.last_order {
        Some(day) => format!("Last order: {day}"),
        None => "No order yet".into(),
    };
    lines.push(format!(
        "{FIGURES_PREFIX} {}: {} | {}: {} | {last_order} | Status: {} | Client {}",
        figures.year,
        amounts(&figures.this_year),
        figures.year - 1,
        amounts(&figures.last_year),
        client.status,
        client.code
    ));
    lines.join("\n")
}

/// Whether a line of a device's NOTE is the server's: a line of the summary the card carries now,
/// or one shaped like a summary line (a dated note, the figures), so that an old or edited summary
/// is not taken for the rep's words either.
fn is_summary_line(line: &str, summary_lines: &[&str]) -> bool {
    let line = line.trim();
    if summary_lines.iter().any(|s| s.trim() == line)
        || line.starts_with(FIGURES_PREFIX)
        || crate::crm::voice_notes::is_line(line)
    {
        return true;
    }
    // "2026-12-01: ..." or "2026-12-01 (Alice): ...".
    line.len() >= 11
        && line.as_bytes()[..10]
            .iter()
            .enumerate()
            .all(|(i, b)| if i == 4 || i == 7 { *b == b'-' } else { b.is_ascii_digit() })
        && (line[10..].starts_with(": ") || line[10..].starts_with(" ("))
}

/// What the rep wrote above the server's part of a card's NOTE: the lines before the first line
/// of the summary (trimmed), if any; none when no line of the summary is left. Text the card
/// already shows as one of its notes (a device sending the card again before fetching it back) is
/// not new. An edit or a removal of the summary itself yields nothing: the summary is derived.
pub fn added_note(card: &Card, sent: Option<&str>) -> Option<String> {
    let summary = note_summary(card);
    let summary_lines: Vec<&str> = summary.lines().collect();
    let sent: Vec<&str> = sent?.lines().collect();
    let added: Vec<&str> = sent.iter().copied().take_while(|line| !is_summary_line(line, &summary_lines)).collect();
    // Text is added *above* the server's part: a NOTE rewritten whole (the summary gone) is an
    // edit of the derived part, which changes nothing.
    if added.len() == sent.len() {
        return None;
    }
    let added = added.join("\n").trim().to_string();
    // A note the card shows already (its first lines: the ones after stop at the summary).
    let shown = |note: &crate::crm::addressbook::Note| {
        let mut lines = note.body.trim().lines().map(str::trim);
        added.lines().all(|line| lines.next() == Some(line.trim()))
    };
    if added.is_empty() || card.notes.iter().any(shown) {
        return None;
    }
    Some(added)
}

/// `EUR 1,234` or `EUR 1,234 + USD 56`; `0` for none.
fn amounts(per_currency: &[(String, i64)]) -> String {
    if per_currency.is_empty() {
        return "0".into();
    }
    per_currency.iter().map(|(currency, cents)| format!("{currency} {}", money(*cents))).collect::<Vec<_>>().join(" + ")
}

/// The version of the text [`render`] writes for an address book (vCard 3.0), stored with the texts
/// it wrote. Bump it with any change to that text (here, or in the `Card` that `crm::addressbook`
/// builds): each address book is then re-rendered on its next use, and devices fetch the cards
/// whose text changed. A change the bump forgets is served from the stored texts until the CRM
/// rows change.
pub const RENDER_VERSION: i32 = 3;

/// The render version an address book's texts are recorded under as of `today`: [`RENDER_VERSION`]
/// and the year, since a card's figures are "this year to date" and "last year". On 1 January
/// every address book is re-rendered on its next use (time passing logs no change), and devices
/// fetch the cards whose figures moved.
pub fn render_version(today: chrono::NaiveDate) -> i32 {
    RENDER_VERSION * 10_000 + chrono::Datelike::year(&today)
}

/// The vCard text of a CRM card. Changing its output: bump [`RENDER_VERSION`].
pub fn render(card: &Card, version: Version) -> String {
    write(&to_vcard(card, version), version)
}

pub fn write(vcard: &VCard, version: Version) -> String {
    let mut out = String::new();
    let vcard_version = if version == Version::V4 { VCardVersion::V4_0 } else { VCardVersion::V3_0 };
    vcard.write_to(&mut out, vcard_version).expect("writing to a String cannot fail");
    out
}

/// The vCard of a CRM card, as properties (for filters) before it is written out.
pub fn to_vcard(card: &Card, version: Version) -> VCard {
    let client = &card.client;
    let mut entries =
        vec![text(VCardProperty::Prodid, "-//crmdav//CRM address book//EN"), text(VCardProperty::Uid, card.uid())];
    match &card.contact {
        Some(contact) => {
            let f = &contact.fields;
            let full_name = [f.first_name.as_str(), f.last_name.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            entries.push(text(VCardProperty::Fn, if full_name.is_empty() { client.name.clone() } else { full_name }));
            entries.push(components(VCardProperty::N, &[&f.last_name, &f.first_name, "", "", ""]));
            entries.push(components(VCardProperty::Org, &[&client.name]));
            if !f.title.is_empty() {
                entries.push(text(VCardProperty::Title, &f.title));
            }
            if !f.email.is_empty() {
                entries.push(typed(text(VCardProperty::Email, &f.email), &[VCardType::Work]));
            }
            if !f.phone.is_empty() {
                entries.push(typed(text(VCardProperty::Tel, &f.phone), &[VCardType::Work, VCardType::Voice]));
            }
            if !f.mobile.is_empty() {
                entries.push(typed(text(VCardProperty::Tel, &f.mobile), &[VCardType::Cell]));
            }
            if !(f.street.is_empty() && f.city.is_empty() && f.postal_code.is_empty() && f.country.is_empty()) {
                entries.push(typed(
                    components(VCardProperty::Adr, &["", "", &f.street, &f.city, "", &f.postal_code, &f.country]),
                    &[VCardType::Work],
                ));
            }
        }
        None => {
            // An organisation card: the client itself, for clients with no contact person.
            entries.push(text(VCardProperty::Fn, &client.name));
            entries.push(components(VCardProperty::N, &["", "", "", "", ""]));
            entries.push(components(VCardProperty::Org, &[&client.name]));
            if version == Version::V4 {
                entries.push(text(VCardProperty::Kind, "org"));
            } else {
                entries.push(text(VCardProperty::Other("X-ABShowAs".into()), "COMPANY"));
            }
            if !client.phone.is_empty() {
                entries.push(typed(text(VCardProperty::Tel, &client.phone), &[VCardType::Work, VCardType::Voice]));
            }
            entries.push(typed(
                components(
                    VCardProperty::Adr,
                    &["", "", &client.street, &client.city, "", &client.postal_code, &client.country],
                ),
                &[VCardType::Work],
            ));
        }
    }
    if !client.website.is_empty() {
        entries.push(text(VCardProperty::Url, &client.website));
    }
    if !client.category.is_empty() {
        entries.push(VCardEntry::new(VCardProperty::Categories).with_value(VCardValue::Text(client.category.clone())));
    }
    entries.push(text(VCardProperty::Note, note_summary(card)));
    entries.push(text(VCardProperty::Other("X-CRM-CLIENT-CODE".into()), &client.code));
    entries.push(text(VCardProperty::Other("X-CRM-CLIENT-STATUS".into()), &client.status));
    if let Some(extra) =
        card.contact.as_ref().and_then(|c| c.fields.vcard_extra.as_deref()).and_then(|e| VCard::parse(e).ok())
    {
        entries.extend(
            extra
                .entries
                .into_iter()
                .filter(|e| !matches!(e.name, VCardProperty::Begin | VCardProperty::End | VCardProperty::Version)),
        );
    }
    VCard { entries }
}

/// Strong ETag of a representation.
pub fn etag(rendered: &str) -> String {
    let digest = Sha256::digest(rendered.as_bytes());
    format!("\"{}\"", digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// What a device's card says, split into what the CRM stores and what it keeps verbatim.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedCard {
    pub uid: Option<String>,
    pub org: Option<String>,
    pub fields: ContactFields,
    /// The NOTE as the device sent it: the server's summary, and above it what the rep added
    /// (see [`added_note`]).
    pub note: Option<String>,
}

fn has_type(entry: &VCardEntry, wanted: VCardType) -> bool {
    entry.params.iter().any(|p| {
        p.name == VCardParameterName::Type
            && match &p.value {
                calcard::vcard::VCardParameterValue::Type(t) => *t == wanted,
                calcard::vcard::VCardParameterValue::Text(t) => {
                    t.eq_ignore_ascii_case(calcard::common::IanaString::as_str(&wanted))
                }
                _ => false,
            }
    })
}

/// The text of a property as filters compare it: values joined by ",", components by ";".
pub fn entry_text(entry: &VCardEntry) -> String {
    entry
        .values
        .iter()
        .filter_map(|v| match v {
            VCardValue::Component(parts) => Some(parts.join(";")),
            other => other.as_text().map(str::to_string),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn component(entry: &VCardEntry, index: usize) -> String {
    match entry.values.first() {
        Some(VCardValue::Component(parts)) => parts.get(index).cloned().unwrap_or_default(),
        _ => entry.values.get(index).and_then(|v| v.as_text()).unwrap_or_default().to_string(),
    }
}

/// Whether a property has a value: the server writes an empty field as no property at all.
fn has_text(entry: &VCardEntry) -> bool {
    !entry_text(entry).is_empty()
}

/// The parts of an ADR the CRM keeps: street, city, postal code and country.
fn address(entry: &VCardEntry) -> [String; 4] {
    [2, 3, 5, 6].map(|index| component(entry, index))
}

/// Parses a device's vCard (3.0 or 4.0). Errors name what is wrong.
pub fn parse(text: &str) -> Result<ParsedCard, String> {
    if let Some(found) = super::forbidden_control(text) {
        return Err(format!("not a vCard: {}", super::describe_control(found)));
    }
    let card = VCard::parse(text).map_err(|e| format!("not a vCard: {}", describe(&e)))?;
    // calcard closes a card left open at the end of the text; a body cut short is refused instead.
    if !text.trim_end().rsplit('\n').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("END:VCARD")) {
        return Err("the card is cut short: it does not end with END:VCARD".into());
    }
    let mut fields = ContactFields::default();
    let (mut uid, mut org, mut note) = (None, None, None::<String>);
    let mut kept = Vec::new();
    // Groups (iOS's `item1.ADR` + `item1.X-ABADR`) of the properties the CRM takes over: their
    // companion lines describe a property the server now writes itself, so they are not kept.
    let mut mapped_groups = Vec::new();
    let (mut have_email, mut have_phone, mut have_mobile, mut have_adr, mut have_title, mut have_n) =
        (false, false, false, false, false, false);
    for entry in card.entries {
        let name = entry.name.as_str().to_ascii_uppercase();
        let mapped = match entry.name {
            VCardProperty::Uid => {
                uid = Some(entry_text(&entry)).filter(|u| !u.is_empty());
                true
            }
            VCardProperty::Org => {
                org = Some(component(&entry, 0)).filter(|o| !o.is_empty());
                true
            }
            VCardProperty::Note if note.is_none() => {
                note = Some(entry_text(&entry)).filter(|n| !n.trim().is_empty());
                true
            }
            VCardProperty::N if !have_n => {
                have_n = true;
                fields.last_name = component(&entry, 0);
                fields.first_name = component(&entry, 1);
                true
            }
            VCardProperty::Title if !have_title && has_text(&entry) => {
                have_title = true;
                fields.title = entry_text(&entry);
                true
            }
            // The first of each kind with a value is the CRM's; further ones (a private email, a
            // second phone) and empty ones are kept as the device sent them. An empty one must not
            // take the field: the server writes an empty field as no property at all, so the next
            // one, kept verbatim, would become the field when the served card is read back.
            VCardProperty::Email if !have_email && has_text(&entry) => {
                have_email = true;
                fields.email = entry_text(&entry);
                true
            }
            VCardProperty::Tel if !have_mobile && has_text(&entry) && has_type(&entry, VCardType::Cell) => {
                have_mobile = true;
                fields.mobile = entry_text(&entry);
                true
            }
            VCardProperty::Tel if !have_phone && has_text(&entry) && !has_type(&entry, VCardType::Cell) => {
                have_phone = true;
                fields.phone = entry_text(&entry);
                true
            }
            VCardProperty::Adr if !have_adr && address(&entry).iter().any(|part| !part.is_empty()) => {
                have_adr = true;
                [fields.street, fields.city, fields.postal_code, fields.country] = address(&entry);
                true
            }
            _ if DERIVED.contains(&name.as_str()) || name.starts_with("X-CRM-") || name == "X-ABSHOWAS" => true,
            VCardProperty::Begin | VCardProperty::End => true,
            _ => false,
        };
        if mapped {
            if let Some(group) = &entry.group {
                mapped_groups.push(group.to_ascii_lowercase());
            }
        } else {
            kept.push(entry);
        }
    }
    let extra: Vec<VCardEntry> = kept
        .into_iter()
        .filter(|e| e.group.as_ref().is_none_or(|g| !mapped_groups.contains(&g.to_ascii_lowercase())))
        .filter(survives_writing)
        .collect();
    if !have_n {
        return Err("the card has no N (name) property".into());
    }
    // Decoded values (quoted-printable `=07`) can hold control characters a card cannot carry.
    for field in [
        &mut fields.first_name,
        &mut fields.last_name,
        &mut fields.title,
        &mut fields.email,
        &mut fields.phone,
        &mut fields.mobile,
        &mut fields.street,
        &mut fields.postal_code,
        &mut fields.city,
        &mut fields.country,
    ] {
        field.retain(|c| !c.is_control() || c == '\n' || c == '\t');
    }
    if !extra.is_empty() {
        let mut out = String::new();
        VCard { entries: extra }.write_to(&mut out, VCardVersion::V4_0).expect("writing to a String cannot fail");
        fields.vcard_extra = Some(out);
    }
    if let Some(text) = &mut note {
        *text = text.replace("\r\n", "\n").replace('\r', "\n");
        text.retain(|c| !c.is_control() || c == '\n' || c == '\t');
    }
    Ok(ParsedCard { uid, org, fields, note })
}

/// Whether a property the device sent reads back the same once written: one that does not (a
/// parameter with an unclosed quote, say `TEL;"x=a:b:+41...`, is written without quotes, and its
/// `:` then starts the value) would be served as another property, possibly as a CRM field. Such
/// a malformed property is dropped rather than kept.
fn survives_writing(entry: &VCardEntry) -> bool {
    let mut out = String::new();
    let card = VCard { entries: vec![entry.clone()] };
    // A control character can come from a decoded value (quoted-printable `=00`).
    if card.write_to(&mut out, VCardVersion::V4_0).is_err() || super::forbidden_control(&out).is_some() {
        return false;
    }
    VCard::parse(&out).is_ok_and(|again| again.entries.iter().any(|e| e == entry))
}

fn describe(entry: &calcard::Entry) -> String {
    match entry {
        calcard::Entry::InvalidLine(line) => format!("invalid line {line:?}"),
        calcard::Entry::ICalendar(_) => "an iCalendar object was sent where a vCard was expected".into(),
        calcard::Entry::Eof => "no BEGIN:VCARD found".into(),
        calcard::Entry::UnterminatedComponent(name) => format!("{name} is not terminated"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crm::addressbook::{Client, Contact};

    fn client() -> Client {
        Client {
            id: 1,
            code: "C00001".into(),
            name: "Nordwind Logistics GmbH".into(),
            category: "Retail".into(),
            status: "active".into(),
            territory: "North".into(),
            street: String::new(),
            postal_code: String::new(),
            city: String::new(),
            country: String::new(),
            phone: String::new(),
            website: String::new(),
        }
    }

    fn card_with_notes(notes: &[&str]) -> Card {
        let notes = notes
            .iter()
            .map(|body| crate::crm::addressbook::Note {
                body: body.to_string(),
                created_at: crate::store::Ts(chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap()),
                author: Some("Alice Example".into()),
            })
            .collect();
        Card {
            client: Arc::new(client()),
            contact: None,
            notes: Arc::new(notes),
            voice_notes: Arc::default(),
            figures: Arc::default(),
        }
    }

    /// Only the lines above the server's summary are the rep's: editing or removing the summary
    /// (or sending it back as it was) adds nothing, and a note already on the card is not new.
    #[test]
    fn the_note_added_above_the_summary_is_the_reps() {
        let card = card_with_notes(&["Signed the renewal.\nCall back in May."]);
        let summary = note_summary(&card);
        let added = |sent: &str| added_note(&card, Some(sent));
        assert_eq!(
            added(&format!("Wants a quote.\nBy Friday.\n{summary}")).as_deref(),
            Some("Wants a quote.\nBy Friday.")
        );
        assert_eq!(added(&summary), None, "the summary sent back unchanged");
        assert_eq!(added(&summary.replace("12,345", "99,999")), None, "the figures edited");
        assert_eq!(added(&summary.replace("Signed", "Refused")), None, "a shown note edited");
        assert_eq!(added("Sales YTD: 1 | anything"), None, "an old summary");
        assert_eq!(added("2025-01-02 (Bob): an old note"), None, "an old dated note");
        assert_eq!(added(""), None);
        assert_eq!(added("  \n\n"), None);
        assert_eq!(added_note(&card, None), None);
        assert_eq!(added(&format!("Signed the renewal.\nCall back in May.\n{summary}")), None, "already a note");
        assert_eq!(added("Only my words"), None, "the summary replaced by other words");
    }

    /// A device's NOTE is read with its line breaks (escaped `\n` in vCard 3.0).
    #[test]
    fn a_cards_note_is_parsed_with_its_lines() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Rossi;Anna;;;\r\nNOTE:Wants a quote\\, soon.\\nSales YTD: 1\r\nEND:VCARD\r\n";
        assert_eq!(parse(text).unwrap().note.as_deref(), Some("Wants a quote, soon.\nSales YTD: 1"));
    }

    #[test]
    fn the_figures_line_names_years_currencies_and_the_last_order() {
        use crate::crm::figures::Figures;
        let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let mut card = Card {
            client: Arc::new(client()),
            contact: None,
            notes: Arc::default(),
            voice_notes: Arc::default(),
            figures: Arc::default(),
        };
        card.figures = Arc::new(Figures {
            year: 2026,
            this_year: vec![("EUR".into(), 30_196_650), ("USD".into(), -5_000)],
            last_year: vec![("EUR".into(), 33_551_800)],
            last_order: Some(day("2026-11-20")),
        });
        assert_eq!(
            note_summary(&card),
            "Sales YTD 2026: EUR 301,966 + USD -50 | 2025: EUR 335,518 | Last order: 2026-11-20 | Status: active | Client C00001"
        );
        card.figures = Arc::new(Figures::none(day("2027-01-01")));
        assert_eq!(note_summary(&card), "Sales YTD 2027: 0 | 2026: 0 | No order yet | Status: active | Client C00001");
        assert_ne!(render_version(day("2026-12-31")), render_version(day("2027-01-01")), "figures roll over");
    }

    #[test]
    fn a_card_carries_each_note_cut_short() {
        assert_eq!(excerpt("short note"), "short note");
        let long = format!("{} tail", "é".repeat(NOTE_EXCERPT_CHARS));
        let cut = excerpt(&long);
        assert_eq!(cut, format!("{}…", "é".repeat(NOTE_EXCERPT_CHARS)));
    }

    fn stored_card(parsed: &ParsedCard) -> Card {
        let contact = Contact {
            id: 1,
            uid: parsed.uid.clone().unwrap_or_default(),
            href: "x.vcf".into(),
            fields: parsed.fields.clone(),
        };
        Card {
            client: Arc::new(client()),
            contact: Some(contact),
            notes: Arc::default(),
            voice_notes: Arc::default(),
            figures: Arc::default(),
        }
    }

    /// Property lines of a card, unfolded, without the ones the server derives.
    fn device_lines(text: &str) -> Vec<String> {
        let card = VCard::parse(text).unwrap();
        card.entries
            .iter()
            .filter(|e| {
                let name = e.name.as_str().to_ascii_uppercase();
                !DERIVED.contains(&name.as_str()) && !matches!(e.name, VCardProperty::Begin | VCardProperty::End)
            })
            .map(|e| {
                format!(
                    "{}{}={}",
                    e.group.as_deref().map(|g| format!("{g}.")).unwrap_or_default(),
                    e.name.as_str(),
                    entry_text(e)
                )
            })
            .collect()
    }

    /// Every card of the real-client corpus survives what the server does with it: parsed into
    /// CRM fields plus kept properties, written back (3.0 and 4.0), parsed again. The CRM fields
    /// come back equal, and every property the device sent is in the served card (mapped ones by
    /// value, kept ones verbatim), none twice.
    #[test]
    fn real_client_cards_round_trip() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vcard");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for version in [Version::V3, Version::V4] {
                let served = render(&stored_card(&parsed), version);
                let again = parse(&served)
                    .unwrap_or_else(|e| panic!("{} served as {version:?} is refused: {e}\n{served}", path.display()));
                assert_eq!(again.fields.first_name, parsed.fields.first_name, "{}", path.display());
                assert_eq!(
                    (
                        &again.fields.last_name,
                        &again.fields.title,
                        &again.fields.email,
                        &again.fields.phone,
                        &again.fields.mobile
                    ),
                    (
                        &parsed.fields.last_name,
                        &parsed.fields.title,
                        &parsed.fields.email,
                        &parsed.fields.phone,
                        &parsed.fields.mobile
                    ),
                    "{}",
                    path.display()
                );
                assert_eq!(
                    (&again.fields.street, &again.fields.city, &again.fields.postal_code, &again.fields.country),
                    (&parsed.fields.street, &parsed.fields.city, &parsed.fields.postal_code, &parsed.fields.country),
                    "{}",
                    path.display()
                );
                assert_eq!(
                    again.fields.vcard_extra,
                    parsed.fields.vcard_extra,
                    "kept properties are stable: {}",
                    path.display()
                );
                let served_lines = device_lines(&served);
                for kept in device_lines(parsed.fields.vcard_extra.as_deref().unwrap_or("BEGIN:VCARD\r\nEND:VCARD\r\n"))
                {
                    assert_eq!(
                        served_lines.iter().filter(|l| **l == kept).count(),
                        1,
                        "{kept} served once: {}\n{served}",
                        path.display()
                    );
                }
            }
            seen += 1;
        }
        assert!(seen >= 4, "the corpus has iOS, DAVx5, Thunderbird and vCard 4.0 cards");
    }

    /// An empty property does not take the CRM field: the server would serve the empty field as
    /// no property, and the next one of the kind, kept verbatim, would become the field on reading
    /// the served card back (found by the fuzzer: an empty `TEL;...;` line before a real TEL).
    #[test]
    fn empty_properties_do_not_take_the_crm_fields() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Rossi;Anna;;;\r\nTITLE:\r\nTITLE:Buyer\r\nEMAIL:\r\n\
                    EMAIL:anna@example.org\r\nTEL;TYPE=WORK:\r\nTEL;TYPE=WORK:+39 02 1234\r\nTEL;TYPE=CELL:\r\n\
                    TEL;TYPE=CELL:+39 333 1234\r\nADR;TYPE=WORK:;;;;Lombardia;;\r\n\
                    ADR;TYPE=HOME:;;Via Roma 1;Milano;;20121;Italy\r\nEND:VCARD\r\n";
        let parsed = parse(text).unwrap();
        let f = &parsed.fields;
        assert_eq!(
            (f.title.as_str(), f.email.as_str(), f.phone.as_str(), f.mobile.as_str()),
            ("Buyer", "anna@example.org", "+39 02 1234", "+39 333 1234")
        );
        assert_eq!(
            (f.street.as_str(), f.city.as_str(), f.postal_code.as_str(), f.country.as_str()),
            ("Via Roma 1", "Milano", "20121", "Italy")
        );
        let extra = f.vcard_extra.as_deref().unwrap();
        assert!(extra.contains("Lombardia"), "an address the CRM cannot hold is kept: {extra}");
        assert_served_card_reads_back(&parsed);
    }

    /// The card as served, in 3.0 and 4.0, reads back as the same CRM fields.
    fn assert_served_card_reads_back(parsed: &ParsedCard) {
        for version in [Version::V3, Version::V4] {
            let served = render(&stored_card(parsed), version);
            let again = parse(&served).unwrap_or_else(|e| panic!("{e}\n{served}"));
            assert_eq!(again.fields, parsed.fields, "{served}");
        }
    }

    /// A property whose parameter opens a quote it never closes is written back without the quote,
    /// and its `:` then starts another value: kept verbatim, `TEL;type=CELL;"x=VBEGIN:VEVENT` came
    /// back as a mobile number "VEVENT:" (found by the stable fuzz smoke run, tests/fuzz_smoke.rs).
    /// It is dropped; everything else on the card stays.
    #[test]
    fn a_property_that_would_read_back_as_another_is_dropped() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Muller;Jurgen;;;\r\nTEL;type=CELL;\"ype=VBEGIN:VEVENT\r\n\
                    TEL;type=WORK:+49 40 7654321\r\nNICKNAME:Jay\r\nEND:VCARD\r\n";
        let parsed = parse(text).unwrap();
        assert_eq!((parsed.fields.phone.as_str(), parsed.fields.mobile.as_str()), ("+49 40 7654321", ""));
        let extra = parsed.fields.vcard_extra.as_deref().unwrap();
        assert!(extra.contains("NICKNAME:Jay") && !extra.contains("VEVENT"), "{extra}");
        assert_served_card_reads_back(&parsed);
    }

    /// A control character decoded from quoted-printable is not stored, in a CRM field or in a
    /// kept property: the served card could not carry it (found by tests/fuzz_smoke.rs).
    #[test]
    fn decoded_control_characters_are_not_kept() {
        let text = "BEGIN:VCARD\r\nVERSION:2.1\r\nN;ENCODING=QUOTED-PRINTABLE:Do=07e;Jane;;;\r\n\
                    NOTE;ENCODING=QUOTED-PRINTABLE:a=00b\r\nNICKNAME:JD\r\nEND:VCARD\r\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.fields.last_name, "Doe");
        let extra = parsed.fields.vcard_extra.as_deref().unwrap();
        assert!(super::super::forbidden_control(extra).is_none() && extra.contains("NICKNAME:JD"), "{extra:?}");
        assert_served_card_reads_back(&parsed);
    }

    #[test]
    fn ios_grouped_address_is_the_crm_address_and_is_not_served_twice() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vcard/ios-17-contact.vcf")).unwrap();
        let parsed = parse(&text).unwrap();
        assert_eq!((parsed.fields.street.as_str(), parsed.fields.city.as_str()), ("Hauptstrasse 5", "Hamburg"));
        assert_eq!(parsed.fields.email, "j.mueller@nordwind.example");
        assert_eq!(parsed.fields.mobile, "+49 170 1234567");
        let served = render(&stored_card(&parsed), Version::V3).replace("\r\n ", "");
        let addresses = served
            .lines()
            .filter(|l| l.split([';', ':']).next().is_some_and(|n| n.ends_with("ADR") && !n.ends_with("X-ABADR")));
        assert_eq!(addresses.count(), 1, "{served}");
        assert!(!served.contains("X-ABADR"), "the label of the address the CRM took over goes with it");
        assert!(
            served.contains("item2.EMAIL") && served.contains("private@example.com"),
            "a second, private email is kept"
        );
        assert!(served.contains("BDAY:1980-04-12") && served.contains("PHOTO"), "{served}");
        assert!(served.contains(":Müller;Jürgen;;;"), "structured values are ;-separated: {served}");
    }
}
