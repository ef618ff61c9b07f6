//! XML names as WebDAV sees them: a namespace URI plus a local name, never a prefix.

use std::borrow::Cow;
use std::fmt;

/// `DAV:` (RFC 4918).
pub const NS_DAV: &str = "DAV:";
/// CalDAV (RFC 4791).
pub const NS_CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// CardDAV (RFC 6352).
pub const NS_CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// Apple CalendarServer extensions (getctag, push, sharing...).
pub const NS_CALENDARSERVER: &str = "http://calendarserver.org/ns/";
/// Apple iCal extensions (calendar-color, calendar-order...).
pub const NS_APPLE_ICAL: &str = "http://apple.com/ns/ical/";
/// crmdav's own properties and preconditions.
pub const NS_CRMDAV: &str = "urn:crmdav:ns";

/// A property or element name: namespace URI + local name. The empty namespace is
/// `ns == ""` (RFC 4918 allows properties in no namespace). The server's own names are static
/// strings, borrowed: a multistatus names a handful of properties for each of thousands of members.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropName {
    pub ns: Cow<'static, str>,
    pub name: Cow<'static, str>,
}

impl PropName {
    pub fn new(ns: impl Into<Cow<'static, str>>, name: impl Into<Cow<'static, str>>) -> Self {
        Self { ns: ns.into(), name: name.into() }
    }

    pub fn dav(name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(NS_DAV, name)
    }

    pub fn caldav(name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(NS_CALDAV, name)
    }

    pub fn carddav(name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(NS_CARDDAV, name)
    }

    pub fn calendarserver(name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(NS_CALENDARSERVER, name)
    }

    pub fn apple_ical(name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(NS_APPLE_ICAL, name)
    }

    pub fn crmdav(name: impl Into<Cow<'static, str>>) -> Self {
        Self::new(NS_CRMDAV, name)
    }

    /// True if this is `name` in namespace `ns`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }
}

/// Clark notation, `{DAV:}getetag`, for logs and error messages.
impl fmt::Display for PropName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}{}", self.ns, self.name)
    }
}
