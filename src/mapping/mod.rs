//! CRM <-> vCard and CRM <-> iCalendar. Lossless for what the CRM does not model: such properties
//! are kept as the device sent them and returned unchanged.

pub mod ical;
pub mod vcard;

/// The first control character iCalendar and vCard do not allow in a content line (RFC 5545 3.1,
/// RFC 6350 3.3: anything below U+0020 but tab, CR and LF, and DEL), as (line number, character).
/// Such bytes never come from a calendar or address-book app; let through, a NUL inside a
/// parameter made the parser read the property as another one, so they are refused up front.
pub fn forbidden_control(text: &str) -> Option<(usize, char)> {
    let at = text.find(|c: char| c.is_ascii_control() && !matches!(c, '\t' | '\r' | '\n'))?;
    let line = text[..at].matches('\n').count() + 1;
    Some((line, text[at..].chars().next().unwrap_or('\0')))
}

/// The message for a refused control character.
pub fn describe_control((line, c): (usize, char)) -> String {
    format!("line {line} holds the control character U+{:04X}, which is not allowed in a content line", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tab_cr_and_lf_are_allowed_controls() {
        assert_eq!(forbidden_control("BEGIN:VCARD\r\nNOTE:a\tb\r\nEND:VCARD\r\n"), None);
        assert_eq!(forbidden_control("BEGIN:VCARD\r\nFN;X=a\0b:c\r\n"), Some((2, '\0')));
        assert_eq!(forbidden_control("A\nB\nC\x7f"), Some((3, '\x7f')));
        assert_eq!(
            describe_control((2, '\u{3}')),
            "line 2 holds the control character U+0003, which is not allowed in a content line"
        );
    }
}
