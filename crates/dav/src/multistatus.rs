//! Response bodies: 207 multistatus (RFC 4918 13) and DAV:error (RFC 4918 16).
//!
//! Bodies are written straight into a `String`. The well-known namespaces get fixed
//! prefixes declared once on the root; any other namespace is declared as the default
//! namespace on the element that uses it. Hrefs are given as decoded paths and
//! percent-encoded here, so every href in a response is encoded the same way.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::names::{NS_APPLE_ICAL, NS_CALDAV, NS_CALENDARSERVER, NS_CARDDAV, NS_CRMDAV, NS_DAV, PropName};

const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

/// Prefixes declared on every response root.
const PREFIXES: [(&str, &str); 6] = [
    ("d", NS_DAV),
    ("cal", NS_CALDAV),
    ("card", NS_CARDDAV),
    ("cs", NS_CALENDARSERVER),
    ("ical", NS_APPLE_ICAL),
    ("crm", NS_CRMDAV),
];

/// ASCII characters outside RFC 3986 `pchar` and `/`: what a path must percent-encode.
/// Non-ASCII is always encoded (as UTF-8 bytes).
const PATH_ENCODE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Percent-encodes a decoded path (or URL) for use as an href, keeping `/`.
pub fn encode_href(path: &str) -> String {
    utf8_percent_encode(path, PATH_ENCODE).to_string()
}

/// A property value as it is rendered inside its property element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    /// `<d:displayname/>`: for 404/403 propstats and empty values.
    Empty,
    /// Escaped text, including calendar-data and address-data (CR is kept).
    Text(String),
    /// One `<d:href>`, from a decoded path.
    Href(String),
    /// Several `<d:href>`s, from decoded paths.
    Hrefs(Vec<String>),
    /// `<d:collection/><cal:calendar/>`...
    ResourceType(Vec<PropName>),
    /// `<d:privilege><d:read/></d:privilege>`... (current-user-privilege-set).
    Privileges(Vec<PropName>),
    /// `<d:supported-report><d:report><cal:calendar-multiget/></d:report></d:supported-report>`...
    SupportedReports(Vec<PropName>),
    /// `<cal:comp name="VEVENT"/>`... (supported-calendar-component-set).
    Comps(Vec<String>),
    /// `<card:address-data-type content-type="text/vcard" version="3.0"/>`... from
    /// (content-type, version) pairs.
    AddressDataTypes(Vec<(String, String)>),
    /// Child XML rendered by the caller, inserted verbatim. It may use the root prefixes
    /// (d, cal, card, cs, ical, crm).
    Raw(String),
}

/// One `<d:propstat>`: properties that share a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropStat {
    pub status: u16,
    pub props: Vec<(PropName, PropValue)>,
}

impl PropStat {
    pub fn new(status: u16, props: Vec<(PropName, PropValue)>) -> Self {
        Self { status, props }
    }

    /// Properties listed by name only, e.g. the 404 propstat of unknown properties.
    pub fn names_only(status: u16, names: impl IntoIterator<Item = PropName>) -> Self {
        Self::new(status, names.into_iter().map(|name| (name, PropValue::Empty)).collect())
    }
}

/// A 207 Multi-Status body, built response by response.
#[derive(Debug)]
pub struct Multistatus {
    body: String,
    sync_token: Option<String>,
}

impl Default for Multistatus {
    fn default() -> Self {
        Self::new()
    }
}

impl Multistatus {
    pub fn new() -> Self {
        // Most answers are a few to tens of KiB: growing from a few bytes copied them over and
        // over (memmove was 4% of a 50-card multiget's CPU).
        let mut body = String::with_capacity(16 * 1024);
        body.push_str(XML_DECLARATION);
        open_root(&mut body, "multistatus");
        Self { body, sync_token: None }
    }

    /// A response carrying properties. `href` is a decoded path. Propstats without
    /// properties are left out; if none has any, one empty 200 propstat keeps the
    /// response valid.
    pub fn add_response(&mut self, href: &str, propstats: &[PropStat]) {
        let out = &mut self.body;
        out.push_str("<d:response>");
        write_href(out, href);
        let mut written = 0;
        for propstat in propstats.iter().filter(|propstat| !propstat.props.is_empty()) {
            out.push_str("<d:propstat><d:prop>");
            for (name, value) in &propstat.props {
                write_property(out, name, value);
            }
            out.push_str("</d:prop>");
            write_status(out, propstat.status);
            out.push_str("</d:propstat>");
            written += 1;
        }
        if written == 0 {
            out.push_str("<d:propstat><d:prop/>");
            write_status(out, 200);
            out.push_str("</d:propstat>");
        }
        out.push_str("</d:response>");
    }

    /// A response with only a status, e.g. a sync-collection deletion (404) or a
    /// truncated result (507). `href` is a decoded path.
    pub fn add_status(&mut self, href: &str, status: u16) {
        let out = &mut self.body;
        out.push_str("<d:response>");
        write_href(out, href);
        write_status(out, status);
        out.push_str("</d:response>");
    }

    /// A status-only response that names the postcondition it reports, e.g. a result cut at
    /// the client's limit: 507 with `DAV:number-of-matches-within-limits` (RFC 5323 / 6578 3.6).
    pub fn add_status_with_error(&mut self, href: &str, status: u16, condition: &PropName) {
        let out = &mut self.body;
        out.push_str("<d:response>");
        write_href(out, href);
        write_status(out, status);
        out.push_str("<d:error>");
        write_empty_element(out, condition);
        out.push_str("</d:error></d:response>");
    }

    /// The `<d:sync-token>` written after the responses (RFC 6578 3.2).
    pub fn set_sync_token(&mut self, token: impl Into<String>) {
        self.sync_token = Some(token.into());
    }

    /// The complete body.
    pub fn finish(mut self) -> String {
        if let Some(token) = &self.sync_token {
            self.body.push_str("<d:sync-token>");
            escape_into(&mut self.body, token, Escape::Text);
            self.body.push_str("</d:sync-token>");
        }
        self.body.push_str("</d:multistatus>");
        self.body
    }
}

/// How much of a streamed multistatus is written before it is handed to the connection.
const CHUNK_BYTES: usize = 64 * 1024;

impl Multistatus {
    /// The answer as chunks written while they are sent: what was added so far, then for each of
    /// `items` what `write` adds, then the end (with the sync-token, if set). A multiget of
    /// thousands of members then never holds its whole answer in memory.
    pub fn stream<I, F>(self, items: I, write: F) -> Streamed<I::IntoIter, F>
    where
        I: IntoIterator,
        F: FnMut(&mut Multistatus, I::Item),
    {
        Streamed { body: Some(self), items: items.into_iter(), write }
    }
}

/// See [`Multistatus::stream`].
pub struct Streamed<I, F> {
    body: Option<Multistatus>,
    items: I,
    write: F,
}

impl<I: Iterator, F: FnMut(&mut Multistatus, I::Item)> Iterator for Streamed<I, F> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let body = self.body.as_mut()?;
        while body.body.len() < CHUNK_BYTES {
            match self.items.next() {
                Some(item) => (self.write)(body, item),
                None => return self.body.take().map(Multistatus::finish),
            }
        }
        Some(std::mem::replace(&mut body.body, String::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 2)))
    }
}

/// A `DAV:error` body (RFC 4918 16) naming the violated precondition, with a sentence
/// for humans in `<crm:message>`: clients show or log unknown elements and ignore them
/// otherwise, as they do sabre/dav's `<s:message>`.
pub fn error_body(precondition: &PropName, message: &str) -> String {
    let mut out = String::from(XML_DECLARATION);
    open_root(&mut out, "error");
    write_empty_element(&mut out, precondition);
    out.push_str("<crm:message>");
    escape_into(&mut out, message, Escape::Text);
    out.push_str("</crm:message></d:error>");
    out
}

/// An error body whose precondition holds an href, as `CARDDAV:no-uid-conflict` and
/// `CALDAV:no-uid-conflict` do: the resource that already uses the UID.
pub fn error_body_with_href(precondition: &PropName, href: &str, message: &str) -> String {
    let mut inner = String::new();
    write_href(&mut inner, href);
    let mut out = String::from(XML_DECLARATION);
    open_root(&mut out, "error");
    write_property(&mut out, precondition, &PropValue::Raw(inner));
    out.push_str("<crm:message>");
    escape_into(&mut out, message, Escape::Text);
    out.push_str("</crm:message></d:error>");
    out
}

/// The answer to a DAV:principal-search-property-set REPORT (RFC 3744 9.5): each property a
/// principal-property-search looks in, with a description for people.
pub fn principal_search_property_set(properties: &[(PropName, &str)]) -> String {
    let mut out = String::from(XML_DECLARATION);
    open_root(&mut out, "principal-search-property-set");
    for (name, description) in properties {
        out.push_str("<d:principal-search-property><d:prop>");
        write_empty_element(&mut out, name);
        out.push_str("</d:prop><d:description xml:lang=\"en\">");
        escape_into(&mut out, description, Escape::Text);
        out.push_str("</d:description></d:principal-search-property>");
    }
    out.push_str("</d:principal-search-property-set>");
    out
}

fn open_root(out: &mut String, local_name: &str) {
    out.push_str("<d:");
    out.push_str(local_name);
    for (prefix, ns) in PREFIXES {
        out.push_str(" xmlns:");
        out.push_str(prefix);
        out.push_str("=\"");
        out.push_str(ns);
        out.push('"');
    }
    out.push('>');
}

fn write_property(out: &mut String, name: &PropName, value: &PropValue) {
    if *value == PropValue::Empty {
        write_empty_element(out, name);
    } else {
        write_start_tag(out, name);
        write_value(out, value);
        write_end_tag(out, name);
    }
}

fn write_value(out: &mut String, value: &PropValue) {
    match value {
        PropValue::Empty => {}
        PropValue::Text(text) => escape_into(out, text, Escape::Text),
        PropValue::Href(href) => write_href(out, href),
        PropValue::Hrefs(hrefs) => hrefs.iter().for_each(|href| write_href(out, href)),
        PropValue::ResourceType(types) => {
            types.iter().for_each(|kind| write_empty_element(out, kind));
        }
        PropValue::Privileges(privileges) => {
            for privilege in privileges {
                out.push_str("<d:privilege>");
                write_empty_element(out, privilege);
                out.push_str("</d:privilege>");
            }
        }
        PropValue::SupportedReports(reports) => {
            for report in reports {
                out.push_str("<d:supported-report><d:report>");
                write_empty_element(out, report);
                out.push_str("</d:report></d:supported-report>");
            }
        }
        PropValue::Comps(components) => {
            for component in components {
                out.push_str("<cal:comp name=\"");
                escape_into(out, component, Escape::Attribute);
                out.push_str("\"/>");
            }
        }
        PropValue::AddressDataTypes(types) => {
            for (content_type, version) in types {
                out.push_str("<card:address-data-type content-type=\"");
                escape_into(out, content_type, Escape::Attribute);
                out.push_str("\" version=\"");
                escape_into(out, version, Escape::Attribute);
                out.push_str("\"/>");
            }
        }
        PropValue::Raw(xml) => out.push_str(xml),
    }
}

fn write_href(out: &mut String, path: &str) {
    out.push_str("<d:href>");
    escape_into(out, &encode_href(path), Escape::Text);
    out.push_str("</d:href>");
}

fn write_status(out: &mut String, status: u16) {
    out.push_str("<d:status>HTTP/1.1 ");
    out.push_str(&status.to_string());
    out.push(' ');
    out.push_str(reason_phrase(status));
    out.push_str("</d:status>");
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        207 => "Multi-Status",
        301 => "Moved Permanently",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        415 => "Unsupported Media Type",
        423 => "Locked",
        424 => "Failed Dependency",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        507 => "Insufficient Storage",
        _ => "",
    }
}

fn prefix_of(ns: &str) -> Option<&'static str> {
    PREFIXES.iter().find(|(_, known)| *known == ns).map(|(prefix, _)| *prefix)
}

/// Writes `<prefix:name` or, for a namespace without a fixed prefix, `<name xmlns="ns"`
/// (which also covers the empty namespace, as `xmlns=""`).
fn write_tag_opening(out: &mut String, name: &PropName) {
    out.push('<');
    match prefix_of(&name.ns) {
        Some(prefix) => {
            out.push_str(prefix);
            out.push(':');
            out.push_str(&name.name);
        }
        None => {
            out.push_str(&name.name);
            out.push_str(" xmlns=\"");
            escape_into(out, &name.ns, Escape::Attribute);
            out.push('"');
        }
    }
}

fn write_start_tag(out: &mut String, name: &PropName) {
    write_tag_opening(out, name);
    out.push('>');
}

fn write_empty_element(out: &mut String, name: &PropName) {
    write_tag_opening(out, name);
    out.push_str("/>");
}

fn write_end_tag(out: &mut String, name: &PropName) {
    out.push_str("</");
    if let Some(prefix) = prefix_of(&name.ns) {
        out.push_str(prefix);
        out.push(':');
    }
    out.push_str(&name.name);
    out.push('>');
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    Text,
    Attribute,
}

/// Bytes that `escape_into` must look at in each mode: markup, CR, the C0 controls XML cannot
/// carry, and 0xEF (the lead byte of U+FFFE/U+FFFF); attributes add `"`, LF and TAB.
const fn special_bytes(attribute: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b != b'\t' as usize && b != b'\n' as usize;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[0xef] = true;
    if attribute {
        table[b'"' as usize] = true;
        table[b'\n' as usize] = true;
        table[b'\t' as usize] = true;
    }
    table
}

static SPECIAL_IN_TEXT: [bool; 256] = special_bytes(false);
static SPECIAL_IN_ATTRIBUTE: [bool; 256] = special_bytes(true);

/// XML-escapes `text`. CR is written as a character reference so iCalendar and vCard
/// CRLF line endings survive the parser's end-of-line normalisation; characters XML 1.0
/// cannot carry at all become U+FFFD rather than making the body ill-formed.
fn escape_into(out: &mut String, text: &str, mode: Escape) {
    // Copies runs of plain text at once, found with a table lookup per byte: a multiget answer is
    // megabytes of vCard/iCalendar text with few characters to escape.
    let special = if mode == Escape::Attribute { &SPECIAL_IN_ATTRIBUTE } else { &SPECIAL_IN_TEXT };
    let bytes = text.as_bytes();
    let mut done = 0;
    while let Some(offset) = bytes[done..].iter().position(|b| special[*b as usize]) {
        let i = done + offset;
        out.push_str(&text[done..i]);
        let (replacement, len) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'\r' => ("&#13;", 1),
            b'"' => ("&quot;", 1),
            b'\n' => ("&#10;", 1),
            b'\t' => ("&#9;", 1),
            // U+FFFE and U+FFFF (EF BF BE / EF BF BF) are not XML characters either.
            0xef if bytes[i + 1] == 0xbf && matches!(bytes[i + 2], 0xbe | 0xbf) => ("\u{fffd}", 3),
            // Any other character starting with EF is fine (`text` is UTF-8, so it has 3 bytes).
            0xef => (&text[i..i + 3], 3),
            _ => ("\u{fffd}", 1),
        };
        out.push_str(replacement);
        done = i + len;
    }
    out.push_str(&text[done..]);
}

#[cfg(test)]
mod tests {
    use percent_encoding::percent_decode_str;

    use super::*;
    use crate::tree::{Document, Element};

    /// Parses a rendered body back, namespace-aware, failing on any ill-formed output.
    fn parse(body: &str) -> Element {
        assert!(body.starts_with(XML_DECLARATION), "{body}");
        Document::parse(body.as_bytes()).unwrap_or_else(|error| panic!("{error}\n{body}")).root
    }

    fn names(element: &Element) -> Vec<PropName> {
        element.elements().map(Element::prop_name).collect()
    }

    fn status_text(element: &Element) -> String {
        element.child(NS_DAV, "status").unwrap().text()
    }

    #[test]
    fn a_streamed_answer_is_the_whole_answer_in_bounded_chunks() {
        let text = "BEGIN:VCARD\r\nFN:A & B\r\nEND:VCARD\r\n".repeat(40);
        let write = |body: &mut Multistatus, i: usize| {
            let props = vec![
                (PropName::dav("getetag"), PropValue::Text(format!("\"{i}\""))),
                (PropName::dav("x"), PropValue::Text(text.clone())),
            ];
            body.add_response(&format!("/dav/card {i}.vcf"), &[PropStat::new(200, props)]);
        };
        let mut whole = Multistatus::new();
        whole.add_status("/gone.vcf", 404);
        whole.set_sync_token("urn:t:1");
        let mut streamed = Multistatus::new();
        streamed.add_status("/gone.vcf", 404);
        streamed.set_sync_token("urn:t:1");
        (0..2000).for_each(|i| write(&mut whole, i));
        let chunks: Vec<String> = streamed.stream(0..2000, write).collect();
        assert!(chunks.len() > 10, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.len() < 2 * CHUNK_BYTES), "a chunk outgrew its bound");
        let joined = chunks.concat();
        assert_eq!(joined, whole.finish());
        assert_eq!(parse(&joined).elements().count(), 2001 + 1, "responses and the sync-token");
        // Nothing to add: the answer is still a complete multistatus.
        assert_eq!(
            Multistatus::new().stream(std::iter::empty::<()>(), |_, _| ()).collect::<String>(),
            Multistatus::new().finish()
        );
    }

    #[test]
    fn renders_every_value_kind_in_the_right_namespace() {
        let calendar_data = "BEGIN:VCALENDAR\r\nSUMMARY:Q3 review <ACME & Co>\r\nEND:VCALENDAR\r\n";
        let mut multistatus = Multistatus::new();
        multistatus.add_response(
            "/dav/calendars/alice/activities/",
            &[
                PropStat::new(
                    200,
                    vec![
                        (PropName::dav("displayname"), PropValue::Text("Visits & <calls>".into())),
                        (
                            PropName::dav("resourcetype"),
                            PropValue::ResourceType(vec![PropName::dav("collection"), PropName::caldav("calendar")]),
                        ),
                        (PropName::calendarserver("getctag"), PropValue::Text("\"42\"".into())),
                        (PropName::apple_ical("calendar-color"), PropValue::Text("#FF2968FF".into())),
                        (
                            PropName::dav("current-user-privilege-set"),
                            PropValue::Privileges(vec![PropName::dav("read"), PropName::dav("write")]),
                        ),
                        (
                            PropName::dav("supported-report-set"),
                            PropValue::SupportedReports(vec![
                                PropName::caldav("calendar-multiget"),
                                PropName::dav("sync-collection"),
                            ]),
                        ),
                        (
                            PropName::caldav("supported-calendar-component-set"),
                            PropValue::Comps(vec!["VEVENT".into(), "VTODO".into()]),
                        ),
                        (
                            PropName::carddav("supported-address-data"),
                            PropValue::AddressDataTypes(vec![
                                ("text/vcard".into(), "3.0".into()),
                                ("text/vcard".into(), "4.0".into()),
                            ]),
                        ),
                        (PropName::dav("owner"), PropValue::Href("/dav/principals/alice/".into())),
                        (
                            PropName::caldav("calendar-user-address-set"),
                            PropValue::Hrefs(vec!["mailto:alice@example.com".into(), "/dav/principals/alice/".into()]),
                        ),
                        (PropName::caldav("calendar-data"), PropValue::Text(calendar_data.into())),
                        (PropName::crmdav("rep"), PropValue::Raw("<crm:login>alice</crm:login>".into())),
                    ],
                ),
                PropStat::names_only(
                    404,
                    [PropName::new("http://me.com/_namespace/", "bulk-requests"), PropName::new("", "no-namespace")],
                ),
            ],
        );
        let root = parse(&multistatus.finish());
        assert!(root.is(NS_DAV, "multistatus"));
        let response = root.child(NS_DAV, "response").unwrap();
        assert_eq!(response.child(NS_DAV, "href").unwrap().text(), "/dav/calendars/alice/activities/");
        let propstats: Vec<_> = response.children_named(NS_DAV, "propstat").collect();
        assert_eq!(propstats.len(), 2);
        assert_eq!(status_text(propstats[0]), "HTTP/1.1 200 OK");
        assert_eq!(status_text(propstats[1]), "HTTP/1.1 404 Not Found");

        let prop = propstats[0].child(NS_DAV, "prop").unwrap();
        let value = |ns: &str, name: &str| prop.child(ns, name).unwrap();
        assert_eq!(value(NS_DAV, "displayname").text(), "Visits & <calls>");
        assert_eq!(names(value(NS_DAV, "resourcetype")), [PropName::dav("collection"), PropName::caldav("calendar")]);
        assert_eq!(value(NS_CALENDARSERVER, "getctag").text(), "\"42\"");
        assert_eq!(value(NS_APPLE_ICAL, "calendar-color").text(), "#FF2968FF");
        let privileges: Vec<_> =
            value(NS_DAV, "current-user-privilege-set").children_named(NS_DAV, "privilege").flat_map(names).collect();
        assert_eq!(privileges, [PropName::dav("read"), PropName::dav("write")]);
        let reports: Vec<_> = value(NS_DAV, "supported-report-set")
            .children_named(NS_DAV, "supported-report")
            .flat_map(|supported| supported.children_named(NS_DAV, "report"))
            .flat_map(names)
            .collect();
        assert_eq!(reports, [PropName::caldav("calendar-multiget"), PropName::dav("sync-collection")]);
        let comps: Vec<_> = value(NS_CALDAV, "supported-calendar-component-set")
            .children_named(NS_CALDAV, "comp")
            .map(|comp| comp.attribute("name").unwrap().to_owned())
            .collect();
        assert_eq!(comps, ["VEVENT", "VTODO"]);
        let address_types: Vec<_> = value(NS_CARDDAV, "supported-address-data")
            .children_named(NS_CARDDAV, "address-data-type")
            .map(|kind| (kind.attribute("content-type").unwrap(), kind.attribute("version").unwrap()))
            .collect();
        assert_eq!(address_types, [("text/vcard", "3.0"), ("text/vcard", "4.0")]);
        assert_eq!(value(NS_DAV, "owner").child(NS_DAV, "href").unwrap().text(), "/dav/principals/alice/");
        let addresses: Vec<_> =
            value(NS_CALDAV, "calendar-user-address-set").children_named(NS_DAV, "href").map(Element::text).collect();
        assert_eq!(addresses, ["mailto:alice@example.com", "/dav/principals/alice/"]);
        // CRLF line endings survive XML end-of-line normalisation.
        assert_eq!(value(NS_CALDAV, "calendar-data").text(), calendar_data);
        assert_eq!(value(NS_CRMDAV, "rep").child(NS_CRMDAV, "login").unwrap().text(), "alice");

        let missing = names(propstats[1].child(NS_DAV, "prop").unwrap());
        assert_eq!(
            missing,
            [PropName::new("http://me.com/_namespace/", "bulk-requests"), PropName::new("", "no-namespace"),]
        );
    }

    #[test]
    fn well_known_namespaces_use_the_root_prefixes() {
        let mut multistatus = Multistatus::new();
        multistatus.add_response(
            "/x",
            &[PropStat::names_only(200, [PropName::calendarserver("getctag"), PropName::new("urn:other", "thing")])],
        );
        let body = multistatus.finish();
        assert_eq!(body.matches("xmlns:cs=").count(), 1);
        assert!(body.contains("<cs:getctag/>"), "{body}");
        assert!(body.contains(r#"<thing xmlns="urn:other"/>"#), "{body}");
    }

    #[test]
    fn sync_collection_deletions_and_token() {
        let mut multistatus = Multistatus::new();
        multistatus.add_response(
            "/dav/addressbooks/alice/clients/kept.vcf",
            &[PropStat::new(200, vec![(PropName::dav("getetag"), PropValue::Text("\"e1\"".into()))])],
        );
        multistatus.add_status("/dav/addressbooks/alice/clients/gone.vcf", 404);
        multistatus.set_sync_token("http://crmdav.example/ns/sync/17");
        let root = parse(&multistatus.finish());

        let responses: Vec<_> = root.children_named(NS_DAV, "response").collect();
        assert_eq!(responses.len(), 2);
        let deleted = responses[1];
        assert_eq!(deleted.child(NS_DAV, "href").unwrap().text(), "/dav/addressbooks/alice/clients/gone.vcf");
        assert_eq!(status_text(deleted), "HTTP/1.1 404 Not Found");
        assert!(deleted.child(NS_DAV, "propstat").is_none());
        let last = root.elements().last().unwrap();
        assert!(last.is(NS_DAV, "sync-token"));
        assert_eq!(last.text(), "http://crmdav.example/ns/sync/17");
    }

    #[test]
    fn response_without_properties_stays_valid() {
        let mut multistatus = Multistatus::new();
        multistatus.add_response("/a", &[PropStat::new(404, Vec::new())]);
        let root = parse(&multistatus.finish());
        let propstat = root.child(NS_DAV, "response").and_then(|response| response.child(NS_DAV, "propstat")).unwrap();
        assert_eq!(status_text(propstat), "HTTP/1.1 200 OK");
        assert!(names(propstat.child(NS_DAV, "prop").unwrap()).is_empty());
    }

    #[test]
    fn hrefs_are_percent_encoded_paths() {
        assert_eq!(
            encode_href("/dav/calendars/alice/visit ACME #2?.ics"),
            "/dav/calendars/alice/visit%20ACME%20%232%3F.ics"
        );
        assert_eq!(encode_href("/dav/cards/Müller 100%.vcf"), "/dav/cards/M%C3%BCller%20100%25.vcf");
        // pchar characters stay, so mailto: and absolute URLs pass through.
        assert_eq!(encode_href("mailto:alice@example.com"), "mailto:alice@example.com");
        assert_eq!(encode_href("/a/b;c=d&e+f'(x)~"), "/a/b;c=d&e+f'(x)~");

        let path = "/dav/cards/Zoë & <Ann>/x y.vcf";
        let mut multistatus = Multistatus::new();
        multistatus.add_status(path, 404);
        let root = parse(&multistatus.finish());
        let href = root.child(NS_DAV, "response").unwrap().child(NS_DAV, "href").unwrap().text();
        assert_eq!(percent_decode_str(&href).decode_utf8().unwrap(), path);
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        let mut multistatus = Multistatus::new();
        multistatus.add_response(
            "/a",
            &[PropStat::new(
                200,
                vec![(PropName::dav("displayname"), PropValue::Text("bell\u{7}\u{0}tab\there".into()))],
            )],
        );
        let root = parse(&multistatus.finish());
        let text = root
            .child(NS_DAV, "response")
            .and_then(|response| response.child(NS_DAV, "propstat"))
            .and_then(|propstat| propstat.child(NS_DAV, "prop"))
            .and_then(|prop| prop.child(NS_DAV, "displayname"))
            .unwrap()
            .text();
        assert_eq!(text, "bell\u{fffd}\u{fffd}tab\there");
    }

    #[test]
    fn escaping_copies_plain_runs_and_replaces_only_what_it_must() {
        let text = "Müller & Söhne <b>\r\n\tquote\" \u{1}end\u{fffe}\u{ffff}\u{fffd}€";
        let mut out = String::new();
        escape_into(&mut out, text, Escape::Text);
        assert_eq!(out, "Müller &amp; Söhne &lt;b&gt;&#13;\n\tquote\" \u{fffd}end\u{fffd}\u{fffd}\u{fffd}€");
        let mut out = String::new();
        escape_into(&mut out, text, Escape::Attribute);
        assert_eq!(out, "Müller &amp; Söhne &lt;b&gt;&#13;&#10;&#9;quote&quot; \u{fffd}end\u{fffd}\u{fffd}\u{fffd}€");
    }

    #[test]
    fn attribute_values_are_escaped() {
        let mut multistatus = Multistatus::new();
        multistatus.add_response(
            "/a",
            &[PropStat::new(
                200,
                vec![(
                    PropName::caldav("supported-calendar-component-set"),
                    PropValue::Comps(vec!["V\"EVENT\"/><x y='".into()]),
                )],
            )],
        );
        let body = multistatus.finish();
        let root = parse(&body);
        let comp = root
            .child(NS_DAV, "response")
            .and_then(|response| response.child(NS_DAV, "propstat"))
            .and_then(|propstat| propstat.child(NS_DAV, "prop"))
            .and_then(|prop| prop.child(NS_CALDAV, "supported-calendar-component-set"))
            .and_then(|set| set.child(NS_CALDAV, "comp"))
            .unwrap();
        assert_eq!(comp.attribute("name"), Some("V\"EVENT\"/><x y='"));
    }

    #[test]
    fn error_body_names_the_precondition_and_explains() {
        let body = error_body(
            &PropName::crmdav("note-required"),
            "Completing an activity needs a note: write what happened in the description.",
        );
        let root = parse(&body);
        assert!(root.is(NS_DAV, "error"));
        assert_eq!(names(&root), [PropName::crmdav("note-required"), PropName::crmdav("message")]);
        assert!(root.child(NS_CRMDAV, "message").unwrap().text().starts_with("Completing"));

        let root = parse(&error_body(&PropName::caldav("valid-filter"), "bad <time-range> & co"));
        assert!(root.child(NS_CALDAV, "valid-filter").is_some());
        assert_eq!(root.child(NS_CRMDAV, "message").unwrap().text(), "bad <time-range> & co");

        let root = parse(&error_body(&PropName::new("urn:x", "custom"), ""));
        assert!(root.child("urn:x", "custom").is_some());
    }
}
