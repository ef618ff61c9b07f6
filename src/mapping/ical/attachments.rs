//! Inline audio attachments (`ATTACH;FMTTYPE=audio/...;ENCODING=BASE64;VALUE=BINARY:...`) taken out
//! of a device's object, to be stored once as voice notes; and the link to a stored voice note
//! that objects carry instead (an RFC 8607 managed attachment).
//!
//! Read from the text's lines rather than from calcard's parse: calcard decodes a BASE64 value and
//! keeps it as text when the bytes happen to be valid UTF-8, so the audio could not be told from
//! a text value. Lines are unfolded first; the value is decoded with the `base64` crate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use calcard::icalendar::{
    ICalendarComponent, ICalendarEntry, ICalendarParameter, ICalendarParameterName, ICalendarProperty, ICalendarValue,
};

/// A stored voice note as an object links it:
/// `ATTACH;MANAGED-ID=7;FMTTYPE=audio/mp4;SIZE=5000;FILENAME=memo.m4a:/dav/voice-notes/7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedAudio {
    pub url: String,
    pub content_type: String,
    /// RFC 8607 MANAGED-ID: what `attachment-update` and `attachment-remove` name it by.
    pub managed_id: String,
    pub size: u64,
    pub filename: Option<String>,
}

impl AttachedAudio {
    pub fn entry(&self) -> ICalendarEntry {
        let mut attach =
            ICalendarEntry::new(ICalendarProperty::Attach).with_values(vec![ICalendarValue::Text(self.url.clone())]);
        attach.add_param(ICalendarParameter::new(ICalendarParameterName::ManagedId, self.managed_id.clone()));
        attach.add_param(ICalendarParameter::new(ICalendarParameterName::Fmttype, self.content_type.clone()));
        attach.add_param(ICalendarParameter::new(ICalendarParameterName::Size, self.size));
        if let Some(filename) = self.filename.as_ref().filter(|f| !f.trim().is_empty()) {
            attach.add_param(ICalendarParameter::new(ICalendarParameterName::Filename, filename.clone()));
        }
        attach
    }
}

/// Links `audio` from `component`, in place of any ATTACH the component has that points at one of
/// them (a device sends back the links it was given; they are not kept twice).
pub fn link_audio(component: &mut ICalendarComponent, audio: &[AttachedAudio]) {
    if audio.is_empty() {
        return;
    }
    component.entries.retain(|entry| {
        !(entry.name == ICalendarProperty::Attach
            && entry.values.iter().filter_map(|v| v.as_text()).any(|url| audio.iter().any(|a| same_link(url, &a.url))))
    });
    component.entries.extend(audio.iter().map(AttachedAudio::entry));
}

/// Whether a device's ATTACH URL is the link `ours` (a path, or an absolute URL): the same path,
/// whatever the scheme and host it was resolved against.
fn same_link(url: &str, ours: &str) -> bool {
    let path = |u: &str| -> String {
        let rest = u.split_once("://").map_or(u, |(_, rest)| rest.find('/').map_or("", |at| &rest[at..]));
        rest.to_string()
    };
    path(url) == path(ours)
}

/// An audio attachment a device sent inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineAudio {
    pub content_type: String,
    pub filename: Option<String>,
    pub bytes: Vec<u8>,
}

/// The property name and parameters of a content line, and its value: split at the first `:`
/// outside a quoted parameter value.
fn split_line(line: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some((&line[..i], &line[i + 1..])),
            _ => {}
        }
    }
    None
}

/// `(NAME, value)` of each parameter of `head` (`ATTACH;FMTTYPE=audio/mp4;...`), names upper-cased.
fn params(head: &str) -> Vec<(String, String)> {
    head.split(';')
        .skip(1)
        .filter_map(|param| param.split_once('='))
        .map(|(name, value)| (name.trim().to_ascii_uppercase(), value.trim().trim_matches('"').to_string()))
        .collect()
}

/// The object without its inline audio attachments, and those attachments. Other attachments
/// (URLs, other media types) stay. An inline audio value that is not valid BASE64 is an error.
pub fn take_inline_audio(text: &str) -> Result<(String, Vec<InlineAudio>), String> {
    let unfolded = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "");
    if !unfolded.lines().any(|line| line.len() >= 6 && line[..6].eq_ignore_ascii_case("ATTACH")) {
        return Ok((text.to_string(), Vec::new()));
    }
    let mut kept = String::with_capacity(text.len());
    let mut audio = Vec::new();
    for line in unfolded.lines() {
        let inline = split_line(line).and_then(|(head, value)| {
            let name = head.split(';').next()?;
            if !name.eq_ignore_ascii_case("ATTACH") {
                return None;
            }
            let params = params(head);
            let param = |wanted: &str| params.iter().find(|(name, _)| name == wanted).map(|(_, v)| v.as_str());
            let content_type = param("FMTTYPE")?.to_ascii_lowercase();
            let binary = param("ENCODING").is_some_and(|e| e.eq_ignore_ascii_case("BASE64"))
                || param("VALUE").is_some_and(|v| v.eq_ignore_ascii_case("BINARY"));
            (content_type.starts_with("audio/") && binary).then(|| {
                let filename = param("X-FILENAME").or(param("FILENAME")).map(str::to_string);
                (content_type, filename, value.trim().to_string())
            })
        });
        match inline {
            Some((content_type, filename, value)) => {
                let bytes = STANDARD
                    .decode(value.as_bytes())
                    .map_err(|e| format!("the {content_type} attachment is not valid BASE64: {e}"))?;
                audio.push(InlineAudio { content_type, filename, bytes });
            }
            None => {
                kept.push_str(line);
                kept.push_str("\r\n");
            }
        }
    }
    Ok((kept, audio))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_audio_is_taken_out_and_the_rest_kept() {
        let audio = STANDARD.encode(b"\x00\x01ID3 fake audio");
        let folded: String =
            audio.as_bytes().chunks(40).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n ");
        let text = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VJOURNAL\r\nUID:1\r\nATTACH;FMTTYPE=audio/mp4;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=\"memo.m4a\":{folded}\r\n\
             ATTACH;FMTTYPE=image/png:https://example.org/p.png\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n"
        );
        let (kept, taken) = take_inline_audio(&text).unwrap();
        assert_eq!(
            taken,
            [InlineAudio {
                content_type: "audio/mp4".into(),
                filename: Some("memo.m4a".into()),
                bytes: b"\x00\x01ID3 fake audio".to_vec()
            }]
        );
        assert!(
            !kept.contains("audio/mp4") && kept.contains("ATTACH;FMTTYPE=image/png:https://example.org/p.png\r\n"),
            "{kept}"
        );
        let broken = text.replace(&audio[..8], "!!!!!!!!");
        assert!(take_inline_audio(&broken).unwrap_err().contains("BASE64"));
        let plain = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
        assert_eq!(take_inline_audio(plain).unwrap(), (plain.to_string(), Vec::new()));
    }
}
