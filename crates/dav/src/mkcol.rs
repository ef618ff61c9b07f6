//! What a MKCALENDAR (RFC 4791 5.3.1) or MKCOL (RFC 4918 9.3, extended by RFC 5689) asks to
//! create: the kind of collection decides which precondition a refusal names.

use super::error::{Precondition, XmlError};
use super::names::{NS_CALDAV, NS_CARDDAV, NS_DAV};
use super::tree::Document;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewCollection {
    Calendar,
    Addressbook,
    /// A MKCOL without a body, or whose DAV:resourcetype names neither of the above.
    Plain,
}

impl NewCollection {
    /// The collection a MKCALENDAR (`mkcalendar`) or MKCOL with `body` asks for.
    pub fn requested(mkcalendar: bool, body: &[u8]) -> Result<Self, XmlError> {
        if mkcalendar {
            return Ok(Self::Calendar);
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::Plain);
        }
        let document = Document::parse(body)?;
        let root = document.expect_root(NS_DAV, "mkcol")?;
        let types = root
            .children_named(NS_DAV, "set")
            .flat_map(|set| set.children_named(NS_DAV, "prop"))
            .flat_map(|prop| prop.children_named(NS_DAV, "resourcetype"))
            .flat_map(|resourcetype| resourcetype.elements());
        let mut kind = Self::Plain;
        for element in types {
            if element.is(NS_CALDAV, "calendar") {
                kind = Self::Calendar;
            } else if element.is(NS_CARDDAV, "addressbook") {
                kind = Self::Addressbook;
            }
        }
        Ok(kind)
    }

    /// The precondition of a place where no such collection can be made.
    pub fn location_refused(self) -> Precondition {
        match self {
            Self::Calendar => Precondition::CalendarCollectionLocationOk,
            Self::Addressbook => Precondition::AddressbookCollectionLocationOk,
            Self::Plain => Precondition::NeedPrivileges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kind_asked_for() {
        assert_eq!(NewCollection::requested(true, b"").unwrap(), NewCollection::Calendar);
        assert_eq!(NewCollection::requested(false, b" \r\n").unwrap(), NewCollection::Plain);
        let extended = |resourcetype: &str| {
            format!(
                r#"<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype>{resourcetype}</D:resourcetype><D:displayname>x</D:displayname></D:prop></D:set></D:mkcol>"#
            )
        };
        let kind = |body: String| NewCollection::requested(false, body.as_bytes()).unwrap();
        assert_eq!(kind(extended("<D:collection/><C:calendar/>")), NewCollection::Calendar);
        assert_eq!(kind(extended("<D:collection/><A:addressbook/>")), NewCollection::Addressbook);
        assert_eq!(kind(extended("<D:collection/>")), NewCollection::Plain);
        assert!(NewCollection::requested(false, b"<D:propfind xmlns:D=\"DAV:\"/>").is_err());
        assert!(NewCollection::requested(false, b"<D:mkcol").is_err());
    }
}
