//! Hardened parsing of a request body into a small, namespace-resolved element tree.
//!
//! Request bodies come from the network, so this is the one place that reads untrusted
//! XML: it refuses DOCTYPEs (so no entity is ever defined, let alone expanded), bounds
//! nesting depth and element count, requires UTF-8, and resolves every element to its
//! namespace URI so the typed parsers never look at prefixes.

use std::ops::Range;

use quick_xml::NsReader;
use quick_xml::events::{BytesDecl, BytesStart, Event};
use quick_xml::name::ResolveResult;

use super::error::XmlError;
use super::names::PropName;

/// Deepest element nesting accepted; real DAV bodies stay under 10.
const MAX_DEPTH: usize = 64;
/// Most elements accepted in one body; a large multiget of a few thousand hrefs fits.
const MAX_ELEMENTS: usize = 50_000;
/// Most attributes (namespace declarations included) on one element. Real bodies use a
/// handful; the bound matters because duplicate checks and prefix lookups are linear.
const MAX_ATTRIBUTES: usize = 32;

enum Node {
    Element(Element),
    Text(String),
}

pub(crate) struct Element {
    pub ns: String,
    pub name: String,
    /// Unprefixed attributes only: DAV attributes (`name`, `start`, `collation`...) have
    /// no namespace, and `xmlns` declarations are already applied.
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
    /// Byte range of the element's content in the source, between its tags; the end is
    /// set when the end tag is read.
    inner: Range<usize>,
}

impl Element {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn prop_name(&self) -> PropName {
        PropName::new(self.ns.clone(), self.name.clone())
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Child elements, skipping text.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|node| match node {
            Node::Element(element) => Some(element),
            Node::Text(_) => None,
        })
    }

    pub fn children_named<'a>(&'a self, ns: &'a str, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.elements().filter(move |child| child.is(ns, name))
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|child| child.is(ns, name))
    }

    /// All descendant text in document order (the DOM's `textContent`).
    pub fn text(&self) -> String {
        let mut text = String::new();
        self.collect_text(&mut text);
        text
    }

    fn collect_text(&self, out: &mut String) {
        for node in &self.children {
            match node {
                Node::Text(text) => out.push_str(text),
                Node::Element(element) => element.collect_text(out),
            }
        }
    }

    fn push_text(&mut self, text: &str) {
        if let Some(Node::Text(last)) = self.children.last_mut() {
            last.push_str(text);
        } else {
            self.children.push(Node::Text(text.to_owned()));
        }
    }
}

pub(crate) struct Document<'a> {
    source: &'a str,
    pub root: Element,
}

impl<'a> Document<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, XmlError> {
        let source = std::str::from_utf8(body).map_err(|error| {
            XmlError::new(format!("request body is not valid UTF-8 (bad byte at offset {})", error.valid_up_to()))
        })?;
        let root = build_tree(source)?;
        Ok(Self { source, root })
    }

    /// The root element if it is `{ns}name`, otherwise an error naming the expected root.
    pub fn expect_root(&self, ns: &str, name: &str) -> Result<&Element, XmlError> {
        if self.root.is(ns, name) {
            Ok(&self.root)
        } else {
            Err(XmlError::new(format!(
                "expected root element {}, found {}",
                PropName::new(ns.to_string(), name.to_string()),
                self.root.prop_name()
            )))
        }
    }

    /// The element's content exactly as sent. Prefixes declared on ancestors are not
    /// repeated, so the text is only self-contained if the client declared them inside.
    pub fn raw_inner(&self, element: &Element) -> &'a str {
        self.source.get(element.inner.clone()).unwrap_or_default()
    }
}

fn build_tree(source: &str) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_str(source);
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut element_count = 0usize;

    loop {
        let event_offset = to_offset(reader.buffer_position());
        let event =
            reader.read_event().map_err(|error| syntax_error(source, to_offset(reader.error_position()), &error))?;
        match event {
            Event::Decl(declaration) => check_encoding(&declaration)?,
            Event::DocType(_) => {
                return Err(XmlError::new("DOCTYPE declarations are not allowed in request bodies"));
            }
            Event::Start(_) | Event::Empty(_) if root.is_some() && open.is_empty() => {
                return Err(XmlError::new(format!(
                    "more than one root element (second one at {})",
                    line_and_column(source, event_offset)
                )));
            }
            Event::Start(start) => {
                element_count += 1;
                check_limits(open.len() + 1, element_count)?;
                let content_start = to_offset(reader.buffer_position());
                open.push(new_element(&reader, &start, content_start)?);
            }
            Event::Empty(start) => {
                element_count += 1;
                check_limits(open.len() + 1, element_count)?;
                let element = new_element(&reader, &start, event_offset)?;
                attach(element, &mut open, &mut root);
            }
            Event::End(_) => {
                // quick-xml has already checked that the end tag matches the open one.
                let Some(mut element) = open.pop() else {
                    return Err(XmlError::new("unexpected end tag"));
                };
                element.inner.end = event_offset;
                attach(element, &mut open, &mut root);
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(|error| syntax_error(source, event_offset, &error))?;
                push_text(&mut open, &text, source, event_offset)?;
            }
            Event::CData(data) => {
                let text = data.decode().map_err(|error| syntax_error(source, event_offset, &error.into()))?;
                push_text(&mut open, &text, source, event_offset)?;
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }

    if let Some(unclosed) = open.last() {
        return Err(XmlError::new(format!("malformed XML: document ends inside element {}", unclosed.prop_name())));
    }
    root.ok_or_else(|| XmlError::new("request body contains no XML element"))
}

fn new_element(reader: &NsReader<&[u8]>, start: &BytesStart<'_>, content_start: usize) -> Result<Element, XmlError> {
    let (namespace, local_name) = reader.resolve_element(start.name());
    let ns = match namespace {
        ResolveResult::Bound(ns) => utf8(ns.as_ref())?.to_owned(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(prefix) => {
            return Err(XmlError::new(format!("undeclared namespace prefix '{}'", String::from_utf8_lossy(&prefix))));
        }
    };
    let name = utf8(local_name.as_ref())?;
    if start.attributes().with_checks(false).count() > MAX_ATTRIBUTES {
        return Err(XmlError::new(format!("element {name} has more than {MAX_ATTRIBUTES} attributes")));
    }
    // Names are echoed back in responses (404 propstats), so they must be real XML names.
    if !is_xml_local_name(name) {
        return Err(XmlError::new(format!("invalid element name '{name}'")));
    }

    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|error| XmlError::new(format!("malformed XML attribute: {error}")))?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let (namespace, key) = reader.resolve_attribute(attribute.key);
        if !matches!(namespace, ResolveResult::Unbound) {
            continue;
        }
        let value = attribute
            .unescape_value()
            .map_err(|error| XmlError::new(format!("malformed XML attribute value: {error}")))?;
        attributes.push((utf8(key.as_ref())?.to_owned(), value.into_owned()));
    }

    Ok(Element { ns, name: name.to_owned(), attributes, children: Vec::new(), inner: content_start..content_start })
}

fn attach(element: Element, open: &mut [Element], root: &mut Option<Element>) {
    match open.last_mut() {
        Some(parent) => parent.children.push(Node::Element(element)),
        None => *root = Some(element),
    }
}

fn push_text(open: &mut [Element], text: &str, source: &str, offset: usize) -> Result<(), XmlError> {
    match open.last_mut() {
        Some(parent) => parent.push_text(text),
        None if text.trim().is_empty() => {}
        None => {
            return Err(XmlError::new(format!(
                "malformed XML: text outside the root element at {}",
                line_and_column(source, offset)
            )));
        }
    }
    Ok(())
}

fn check_limits(depth: usize, element_count: usize) -> Result<(), XmlError> {
    if depth > MAX_DEPTH {
        return Err(XmlError::new(format!("XML nesting deeper than {MAX_DEPTH} levels")));
    }
    if element_count > MAX_ELEMENTS {
        return Err(XmlError::new(format!("XML body has more than {MAX_ELEMENTS} elements")));
    }
    Ok(())
}

/// Only UTF-8 is read; a body declaring another encoding would be misread.
fn check_encoding(declaration: &BytesDecl<'_>) -> Result<(), XmlError> {
    let Some(encoding) = declaration.encoding() else {
        return Ok(());
    };
    let encoding = encoding.map_err(|error| XmlError::new(format!("malformed XML declaration: {error}")))?;
    let encoding = String::from_utf8_lossy(&encoding);
    if ["utf-8", "utf8", "us-ascii"].iter().any(|accepted| encoding.eq_ignore_ascii_case(accepted)) {
        Ok(())
    } else {
        Err(XmlError::new(format!("unsupported XML encoding '{encoding}': send UTF-8")))
    }
}

/// XML `NCName`, allowing any non-ASCII character: enough to keep markup characters out.
fn is_xml_local_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || !first.is_ascii())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') || !c.is_ascii())
}

fn utf8(bytes: &[u8]) -> Result<&str, XmlError> {
    std::str::from_utf8(bytes).map_err(|_| XmlError::new("XML name is not valid UTF-8"))
}

fn to_offset(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

fn syntax_error(source: &str, offset: usize, error: &quick_xml::Error) -> XmlError {
    XmlError::new(format!("malformed XML at {}: {error}", line_and_column(source, offset)))
}

/// "line L, column C" (1-based, column in bytes) for a byte offset into the source.
fn line_and_column(source: &str, offset: usize) -> String {
    let before = &source.as_bytes()[..offset.min(source.len())];
    let line = before.iter().filter(|&&byte| byte == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&byte| byte == b'\n').map_or(0, |newline| newline + 1);
    format!("line {line}, column {}", before.len() - line_start + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Result<Element, XmlError> {
        Document::parse(xml.as_bytes()).map(|document| document.root)
    }

    #[test]
    fn resolves_namespaces_not_prefixes() {
        let root = parse(r#"<x:a xmlns:x="DAV:"><y:b xmlns:y="DAV:"/><c xmlns="urn:other"/><d/></x:a>"#).unwrap();
        assert!(root.is("DAV:", "a"));
        let names: Vec<_> = root.elements().map(Element::prop_name).collect();
        assert_eq!(names, [PropName::dav("b"), PropName::new("urn:other", "c"), PropName::new("", "d"),]);
    }

    #[test]
    fn same_prefix_rebound_on_siblings() {
        let root =
            parse(r#"<A:prop xmlns:A="DAV:"><B:x xmlns:B="urn:one"/><B:x xmlns:B="urn:two"/></A:prop>"#).unwrap();
        let namespaces: Vec<_> = root.elements().map(|e| e.ns.as_str()).collect();
        assert_eq!(namespaces, ["urn:one", "urn:two"]);
    }

    #[test]
    fn keeps_raw_inner_xml_and_text_content() {
        let xml = "<a xmlns='DAV:'><b>one <i>two</i> &amp; <![CDATA[<three>]]></b><c/></a>";
        let document = Document::parse(xml.as_bytes()).unwrap();
        let b = document.root.child("DAV:", "b").unwrap();
        assert_eq!(document.raw_inner(b), "one <i>two</i> &amp; <![CDATA[<three>]]>");
        assert_eq!(b.text(), "one two & <three>");
        let c = document.root.child("DAV:", "c").unwrap();
        assert_eq!(document.raw_inner(c), "");
        assert_eq!(document.raw_inner(&document.root), &xml[16..xml.len() - 4]);
    }

    #[test]
    fn reads_unprefixed_attributes_only() {
        let root = parse(r#"<a xmlns:x="urn:x" name="VEVENT" x:name="other" start="1 &lt; 2"/>"#).unwrap();
        assert_eq!(root.attribute("name"), Some("VEVENT"));
        assert_eq!(root.attribute("start"), Some("1 < 2"));
        assert_eq!(root.attribute("xmlns:x"), None);
    }

    #[test]
    fn refuses_doctype_and_never_expands_entities() {
        let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<propfind xmlns="DAV:"><prop><displayname>&lol2;</displayname></prop></propfind>"#;
        let error = parse(billion_laughs).err().unwrap();
        assert!(error.message.contains("DOCTYPE"), "{error}");

        let external = r#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert!(parse(external).err().unwrap().message.contains("DOCTYPE"));

        // Without a DOCTYPE an entity reference is simply undefined.
        assert!(parse("<a>&x;</a>").is_err());
    }

    #[test]
    fn bounds_nesting_depth() {
        let nested = |depth: usize| format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        let error = parse(&nested(MAX_DEPTH + 1)).err().unwrap();
        assert!(error.message.contains("nesting"), "{error}");
    }

    #[test]
    fn bounds_element_count() {
        let flat = |count: usize| format!("<a>{}</a>", "<b/>".repeat(count - 1));
        assert!(parse(&flat(MAX_ELEMENTS)).is_ok());
        let error = parse(&flat(MAX_ELEMENTS + 1)).err().unwrap();
        assert!(error.message.contains("elements"), "{error}");
    }

    #[test]
    fn bounds_attribute_count() {
        let with_attributes = |count: usize| {
            let attributes: String = (0..count).map(|i| format!(" xmlns:p{i}=\"urn:{i}\"")).collect();
            format!("<a{attributes}/>")
        };
        assert!(parse(&with_attributes(MAX_ATTRIBUTES)).is_ok());
        let error = parse(&with_attributes(MAX_ATTRIBUTES + 1)).err().unwrap();
        assert!(error.message.contains("attributes"), "{error}");
    }

    #[test]
    fn refuses_non_utf8() {
        let latin1 = b"<a xmlns=\"DAV:\">caf\xe9</a>";
        let error = Document::parse(latin1).err().unwrap();
        assert!(error.message.contains("UTF-8"), "{error}");

        let declared = r#"<?xml version="1.0" encoding="ISO-8859-1"?><a/>"#;
        assert!(parse(declared).err().unwrap().message.contains("encoding"));
        assert!(parse(r#"<?xml version='1.0' encoding='UTF-8' ?><a/>"#).is_ok());
        assert!(parse("\u{feff}<a/>").is_ok());
    }

    #[test]
    fn malformed_xml_names_the_position() {
        let error = parse("<a xmlns=\"DAV:\">\n  <b>\n</a>").err().unwrap();
        assert!(error.message.contains("line 3"), "{error}");

        let error = parse("<a>\n<b></b>").err().unwrap();
        assert!(error.message.contains("ends inside"), "{error}");

        assert!(parse("<a/><b/>").err().unwrap().message.contains("root"));
        assert!(parse("<a/>junk").is_err());
        assert!(parse("").is_err());
        assert!(parse("<x:a/>").err().unwrap().message.contains("prefix"));
        assert!(parse(r#"<a b="1" b="2"/>"#).is_err());
    }

    #[test]
    fn refuses_names_that_could_break_markup() {
        assert!(parse(r#"<a xmlns="DAV:"><b"c/></a>"#).is_err());
    }
}
