//! Typed request bodies: PROPFIND (RFC 4918 9.1), PROPPATCH (RFC 4918 9.2) and the
//! REPORTs of CalDAV (RFC 4791 7), CardDAV (RFC 6352 8) and sync-collection (RFC 6578).
//!
//! Unknown elements are ignored wherever they appear, as RFC 4918 17 requires, so newer
//! clients adding extension elements keep working.

use super::error::XmlError;
use super::filter::{CardFilter, CompFilter, TimeRange};
use super::names::{NS_CALDAV, NS_CARDDAV, NS_DAV, PropName};
use super::tree::{Document, Element};

/// Which properties a PROPFIND (or a REPORT) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropfindRequest {
    /// All live and dead properties the server returns by default, plus `include`.
    AllProp { include: Vec<PropName> },
    /// Property names only, no values.
    PropName,
    /// Exactly these properties.
    Prop(Vec<PropName>),
}

impl PropfindRequest {
    /// An empty body means allprop (RFC 4918 9.1).
    pub fn parse(body: &[u8]) -> Result<Self, XmlError> {
        if is_blank(body) {
            return Ok(Self::AllProp { include: Vec::new() });
        }
        let document = Document::parse(body)?;
        let root = document.expect_root(NS_DAV, "propfind")?;
        Ok(PropertySelection::of(root).request)
    }
}

/// A property selection together with the element that lists the names (DAV:prop, or
/// DAV:include after allprop), where calendar-data and address-data carry their options.
struct PropertySelection<'a> {
    request: PropfindRequest,
    listing: Option<&'a Element>,
}

impl<'a> PropertySelection<'a> {
    /// The first of prop / propname / allprop among `parent`'s children; none means
    /// allprop, for an empty `<propfind/>` and for REPORTs that omit it.
    fn of(parent: &'a Element) -> Self {
        for child in parent.elements() {
            if child.is(NS_DAV, "prop") {
                return Self { request: PropfindRequest::Prop(child_names(child)), listing: Some(child) };
            }
            if child.is(NS_DAV, "propname") {
                return Self { request: PropfindRequest::PropName, listing: None };
            }
            if child.is(NS_DAV, "allprop") {
                let include = parent.child(NS_DAV, "include");
                return Self {
                    request: PropfindRequest::AllProp { include: include.map(child_names).unwrap_or_default() },
                    listing: include,
                };
            }
        }
        Self { request: PropfindRequest::AllProp { include: Vec::new() }, listing: None }
    }

    fn requested(&self, ns: &str, name: &str) -> Option<&'a Element> {
        self.listing.and_then(|listing| listing.child(ns, name))
    }
}

/// A PROPPATCH body: operations in document order, as RFC 4918 9.2 requires them applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProppatchRequest {
    pub operations: Vec<ProppatchOperation>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProppatchOperation {
    Set {
        name: PropName,
        /// The value's text content (all descendant text, not trimmed).
        text: String,
        /// The value exactly as sent, for structured values. Prefixes declared on
        /// ancestors are not repeated in it.
        raw_xml: String,
    },
    Remove(PropName),
}

impl ProppatchRequest {
    pub fn parse(body: &[u8]) -> Result<Self, XmlError> {
        let document = parse_non_empty(body, "PROPPATCH")?;
        let root = document.expect_root(NS_DAV, "propertyupdate")?;
        let mut operations = Vec::new();
        for instruction in root.elements() {
            let is_set = instruction.is(NS_DAV, "set");
            if !is_set && !instruction.is(NS_DAV, "remove") {
                continue;
            }
            let properties = instruction.children_named(NS_DAV, "prop").flat_map(Element::elements);
            for property in properties {
                operations.push(if is_set {
                    ProppatchOperation::Set {
                        name: property.prop_name(),
                        text: property.text(),
                        raw_xml: document.raw_inner(property).to_owned(),
                    }
                } else {
                    ProppatchOperation::Remove(property.prop_name())
                });
            }
        }
        if operations.is_empty() {
            return Err(XmlError::new("propertyupdate holds no property to set or remove"));
        }
        Ok(Self { operations })
    }
}

/// Options of a requested CALDAV:calendar-data (RFC 4791 9.6). Component and property
/// selection (`<C:comp>`, `<C:prop>`) is accepted and not kept: whole objects are returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CalendarDataRequest {
    pub expand: Option<TimeRange>,
    pub limit_recurrence_set: Option<TimeRange>,
    pub limit_freebusy_set: Option<TimeRange>,
}

impl CalendarDataRequest {
    fn parse(element: &Element) -> Result<Self, XmlError> {
        // iCalendar 2.0 as text/calendar is the only calendar format served.
        let content_type = element.attribute("content-type").unwrap_or("text/calendar");
        let version = element.attribute("version").unwrap_or("2.0");
        if !content_type.eq_ignore_ascii_case("text/calendar") || version != "2.0" {
            return Err(XmlError::with_precondition(
                PropName::caldav("supported-calendar-data"),
                format!(
                    "calendar data is only available as text/calendar version 2.0, not {content_type} version {version}"
                ),
            ));
        }
        let range = |name: &str| {
            element
                .child(NS_CALDAV, name)
                .map(|range| TimeRange::from_attributes(range, true).map_err(XmlError::new))
                .transpose()
        };
        Ok(Self {
            expand: range("expand")?,
            limit_recurrence_set: range("limit-recurrence-set")?,
            limit_freebusy_set: range("limit-freebusy-set")?,
        })
    }
}

/// Options of a requested CARDDAV:address-data (RFC 6352 10.4). The caller checks the
/// content type and version against what it serves (CARDDAV:supported-address-data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressDataRequest {
    pub content_type: Option<String>,
    pub version: Option<String>,
    /// Requested vCard property names, upper-cased; empty means the whole card.
    pub props: Vec<String>,
}

impl AddressDataRequest {
    fn parse(element: &Element) -> Result<Self, XmlError> {
        let props = if element.child(NS_CARDDAV, "allprop").is_some() {
            Vec::new()
        } else {
            element
                .children_named(NS_CARDDAV, "prop")
                .map(|prop| {
                    prop.attribute("name")
                        .map(str::to_ascii_uppercase)
                        .ok_or_else(|| XmlError::new("address-data prop needs a name attribute"))
                })
                .collect::<Result<_, _>>()?
        };
        Ok(Self {
            content_type: element.attribute("content-type").map(str::to_owned),
            version: element.attribute("version").map(str::to_owned),
            props,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportRequest {
    /// RFC 4791 7.9.
    CalendarMultiget {
        props: PropfindRequest,
        calendar_data: Option<CalendarDataRequest>,
        /// As sent (whitespace trimmed): the caller percent-decodes and resolves them.
        hrefs: Vec<String>,
    },
    /// RFC 4791 7.8.
    CalendarQuery {
        props: PropfindRequest,
        calendar_data: Option<CalendarDataRequest>,
        /// The top comp-filter, always VCALENDAR.
        filter: CompFilter,
        /// A VTIMEZONE object for floating times, as sent.
        timezone: Option<String>,
    },
    /// RFC 4791 7.10.
    FreeBusyQuery { range: TimeRange },
    /// RFC 6352 8.7.
    AddressbookMultiget {
        props: PropfindRequest,
        address_data: Option<AddressDataRequest>,
        /// As sent (whitespace trimmed): the caller percent-decodes and resolves them.
        hrefs: Vec<String>,
    },
    /// RFC 6352 8.6.
    AddressbookQuery {
        props: PropfindRequest,
        address_data: Option<AddressDataRequest>,
        filter: CardFilter,
        limit: Option<u32>,
    },
    /// RFC 6578 3.2.
    SyncCollection {
        /// Empty for the initial sync.
        sync_token: String,
        /// `"1"` or `"infinite"`.
        sync_level: String,
        limit: Option<u32>,
        props: PropfindRequest,
    },
    /// RFC 3744 9.4: principals whose properties contain the given texts.
    PrincipalPropertySearch {
        searches: Vec<PropertySearch>,
        /// `test="anyof"`: one search must match; by default (`allof`) every one.
        any_of: bool,
        props: PropfindRequest,
    },
    /// RFC 3744 9.5: which properties principal-property-search looks in.
    PrincipalSearchPropertySet,
    /// Any other report (DAV:expand-property, principal-match...), named by its root
    /// element so the caller can answer 403 DAV:supported-report or 501.
    Unsupported(PropName),
}

/// One DAV:property-search of a principal-property-search: the text to find (case-insensitive,
/// anywhere in the value) in any of `props`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertySearch {
    pub props: Vec<PropName>,
    pub text: String,
}

impl ReportRequest {
    pub fn parse(body: &[u8]) -> Result<Self, XmlError> {
        let document = parse_non_empty(body, "REPORT")?;
        let root = &document.root;
        let selection = PropertySelection::of(root);
        let calendar_data =
            || selection.requested(NS_CALDAV, "calendar-data").map(CalendarDataRequest::parse).transpose();
        let address_data =
            || selection.requested(NS_CARDDAV, "address-data").map(AddressDataRequest::parse).transpose();

        let report = match (root.ns.as_str(), root.name.as_str()) {
            (NS_CALDAV, "calendar-multiget") => {
                Self::CalendarMultiget { calendar_data: calendar_data()?, props: selection.request, hrefs: hrefs(root) }
            }
            (NS_CALDAV, "calendar-query") => {
                let filter = root.child(NS_CALDAV, "filter").ok_or_else(|| {
                    XmlError::with_precondition(PropName::caldav("valid-filter"), "calendar-query needs a filter")
                })?;
                Self::CalendarQuery {
                    calendar_data: calendar_data()?,
                    props: selection.request,
                    filter: CompFilter::from_filter(filter)?,
                    timezone: root.child(NS_CALDAV, "timezone").map(Element::text),
                }
            }
            (NS_CALDAV, "free-busy-query") => {
                let range = root
                    .child(NS_CALDAV, "time-range")
                    .ok_or_else(|| XmlError::new("free-busy-query needs a time-range"))?;
                Self::FreeBusyQuery { range: TimeRange::from_attributes(range, false).map_err(XmlError::new)? }
            }
            (NS_CARDDAV, "addressbook-multiget") => Self::AddressbookMultiget {
                address_data: address_data()?,
                props: selection.request,
                hrefs: hrefs(root),
            },
            (NS_CARDDAV, "addressbook-query") => {
                let filter = root.child(NS_CARDDAV, "filter").ok_or_else(|| {
                    XmlError::with_precondition(
                        PropName::carddav("supported-filter"),
                        "addressbook-query needs a filter",
                    )
                })?;
                Self::AddressbookQuery {
                    address_data: address_data()?,
                    props: selection.request,
                    filter: CardFilter::parse(filter)?,
                    limit: limit(root, NS_CARDDAV)?,
                }
            }
            (NS_DAV, "sync-collection") => Self::SyncCollection {
                sync_token: root
                    .child(NS_DAV, "sync-token")
                    .map(|token| token.text().trim().to_owned())
                    .ok_or_else(|| XmlError::new("sync-collection needs a sync-token element"))?,
                sync_level: sync_level(root)?,
                limit: limit(root, NS_DAV)?,
                props: selection.request,
            },
            (NS_DAV, "principal-property-search") => {
                let searches: Vec<PropertySearch> = root
                    .children_named(NS_DAV, "property-search")
                    .map(|search| PropertySearch {
                        props: search.child(NS_DAV, "prop").map(child_names).unwrap_or_default(),
                        text: search.child(NS_DAV, "match").map(Element::text).unwrap_or_default(),
                    })
                    .collect();
                if searches.is_empty() {
                    return Err(XmlError::new("principal-property-search needs a property-search element"));
                }
                Self::PrincipalPropertySearch {
                    searches,
                    any_of: root.attribute("test") == Some("anyof"),
                    props: selection.request,
                }
            }
            (NS_DAV, "principal-search-property-set") => Self::PrincipalSearchPropertySet,
            _ => Self::Unsupported(root.prop_name()),
        };
        Ok(report)
    }
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

fn parse_non_empty<'a>(body: &'a [u8], method: &str) -> Result<Document<'a>, XmlError> {
    if is_blank(body) {
        return Err(XmlError::new(format!("{method} needs an XML body")));
    }
    Document::parse(body)
}

fn child_names(parent: &Element) -> Vec<PropName> {
    parent.elements().map(Element::prop_name).collect()
}

fn hrefs(root: &Element) -> Vec<String> {
    root.children_named(NS_DAV, "href").map(|href| href.text().trim().to_owned()).collect()
}

/// `<limit><nresults>N</nresults></limit>`, in the DAV or CardDAV namespace.
fn limit(root: &Element, ns: &str) -> Result<Option<u32>, XmlError> {
    let Some(nresults) = root.child(ns, "limit").and_then(|limit| limit.child(ns, "nresults")) else {
        return Ok(None);
    };
    let text = nresults.text();
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| XmlError::new(format!("nresults must be a count, not \"{}\"", text.trim())))
}

/// Clients written before RFC 6578 was final omit sync-level; they mean "1".
fn sync_level(root: &Element) -> Result<String, XmlError> {
    let level =
        root.child(NS_DAV, "sync-level").map(|level| level.text().trim().to_owned()).unwrap_or_else(|| "1".to_owned());
    if level == "1" || level == "infinite" {
        Ok(level)
    } else {
        Err(XmlError::new(format!("sync-level must be 1 or infinite, not \"{level}\"")))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::filter::{Collation, MatchType, TextMatch};
    use crate::names::{NS_APPLE_ICAL, NS_CALENDARSERVER};

    fn utc(y: i32, m: u32, d: u32) -> Option<chrono::DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap())
    }

    #[test]
    fn ios_propfind_with_many_namespaces() {
        let body = include_bytes!("../../../fixtures/requests/ios-propfind-calendar-home.xml");
        let PropfindRequest::Prop(names) = PropfindRequest::parse(body).unwrap() else {
            panic!("expected a prop list");
        };
        assert_eq!(names.len(), 36);
        assert_eq!(names[0], PropName::dav("add-member"));
        // The same prefix is bound to different namespaces on siblings.
        assert!(names.contains(&PropName::new(NS_APPLE_ICAL, "calendar-color")));
        assert!(names.contains(&PropName::new(NS_CALENDARSERVER, "getctag")));
        assert!(names.contains(&PropName::caldav("supported-calendar-component-set")));
        assert!(names.contains(&PropName::new("http://me.com/_namespace/", "bulk-requests")));
        assert_eq!(names.last(), Some(&PropName::dav("sync-token")));
    }

    #[test]
    fn propfind_forms() {
        let allprop = PropfindRequest::AllProp { include: Vec::new() };
        assert_eq!(PropfindRequest::parse(b"").unwrap(), allprop);
        assert_eq!(PropfindRequest::parse(b" \r\n").unwrap(), allprop);
        assert_eq!(PropfindRequest::parse(br#"<propfind xmlns="DAV:"><allprop/></propfind>"#).unwrap(), allprop);
        assert_eq!(
            PropfindRequest::parse(br#"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#).unwrap(),
            PropfindRequest::PropName
        );
        assert_eq!(
            PropfindRequest::parse(
                br#"<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><allprop/><include><C:calendar-home-set/></include></propfind>"#
            )
            .unwrap(),
            PropfindRequest::AllProp {
                include: vec![PropName::caldav("calendar-home-set")]
            }
        );
    }

    #[test]
    fn wrong_root_names_the_expected_one() {
        let error = PropfindRequest::parse(br#"<D:propertyupdate xmlns:D="DAV:"/>"#).err().unwrap();
        assert!(error.message.contains("{DAV:}propfind"), "{error}");
        // Right local name, wrong namespace.
        let error = PropfindRequest::parse(br#"<propfind xmlns="urn:not-dav"><allprop/></propfind>"#).err().unwrap();
        assert!(error.message.contains("{DAV:}propfind"), "{error}");
    }

    #[test]
    fn ios_proppatch_keeps_order_text_and_raw_xml() {
        let body = include_bytes!("../../../fixtures/requests/ios-proppatch-calendar.xml");
        let request = ProppatchRequest::parse(body).unwrap();
        assert_eq!(
            request.operations,
            [
                ProppatchOperation::Set {
                    name: PropName::dav("displayname"),
                    text: "Visits & calls".into(),
                    raw_xml: "Visits &amp; calls".into(),
                },
                ProppatchOperation::Set {
                    name: PropName::apple_ical("calendar-color"),
                    text: "#FF2968FF".into(),
                    raw_xml: "#FF2968FF".into(),
                },
                ProppatchOperation::Set {
                    name: PropName::apple_ical("calendar-order"),
                    text: "3".into(),
                    raw_xml: "3".into(),
                },
                ProppatchOperation::Remove(PropName::caldav("calendar-description")),
            ]
        );
    }

    #[test]
    fn proppatch_needs_operations() {
        assert!(ProppatchRequest::parse(b"").is_err());
        assert!(ProppatchRequest::parse(br#"<propertyupdate xmlns="DAV:"/>"#).is_err());
    }

    #[test]
    fn davx5_initial_sync_collection() {
        let body = include_bytes!("../../../fixtures/requests/davx5-sync-collection.xml");
        assert_eq!(
            ReportRequest::parse(body).unwrap(),
            ReportRequest::SyncCollection {
                sync_token: String::new(),
                sync_level: "1".into(),
                limit: None,
                props: PropfindRequest::Prop(vec![PropName::dav("getcontenttype"), PropName::dav("getetag"),]),
            }
        );
    }

    #[test]
    fn sync_collection_with_token_and_limit() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<A:sync-collection xmlns:A="DAV:">
  <A:sync-token>
    http://crmdav.example/ns/sync/1234
  </A:sync-token>
  <A:limit><A:nresults>100</A:nresults></A:limit>
  <A:prop><A:getetag/></A:prop>
</A:sync-collection>"#;
        let ReportRequest::SyncCollection { sync_token, sync_level, limit, .. } = ReportRequest::parse(body).unwrap()
        else {
            panic!("expected sync-collection");
        };
        assert_eq!(sync_token, "http://crmdav.example/ns/sync/1234");
        assert_eq!(sync_level, "1");
        assert_eq!(limit, Some(100));

        let bad_level =
            br#"<sync-collection xmlns="DAV:"><sync-token/><sync-level>2</sync-level><prop/></sync-collection>"#;
        assert!(ReportRequest::parse(bad_level).is_err());
        let no_token = br#"<sync-collection xmlns="DAV:"><sync-level>1</sync-level><prop/></sync-collection>"#;
        assert!(ReportRequest::parse(no_token).is_err());
    }

    #[test]
    fn thunderbird_calendar_query_with_time_range() {
        let body = include_bytes!("../../../fixtures/requests/thunderbird-calendar-query.xml");
        let ReportRequest::CalendarQuery { props, calendar_data, filter, timezone } =
            ReportRequest::parse(body).unwrap()
        else {
            panic!("expected calendar-query");
        };
        assert_eq!(props, PropfindRequest::Prop(vec![PropName::dav("getetag")]));
        assert_eq!(calendar_data, None);
        assert_eq!(timezone, None);
        assert_eq!(filter.name, "VCALENDAR");
        let event = &filter.comp_filters[0];
        assert_eq!(event.name, "VEVENT");
        assert_eq!(event.time_range, Some(TimeRange { start: utc(2024, 3, 11), end: utc(2024, 6, 10) }));
    }

    #[test]
    fn calendar_query_with_expand() {
        let body = include_bytes!("../../../fixtures/requests/calendar-query-expand.xml");
        let ReportRequest::CalendarQuery { props, calendar_data, timezone, .. } = ReportRequest::parse(body).unwrap()
        else {
            panic!("expected calendar-query");
        };
        // calendar-data is both a listed property and a set of options.
        assert_eq!(props, PropfindRequest::Prop(vec![PropName::dav("getetag"), PropName::caldav("calendar-data")]));
        let week = TimeRange { start: utc(2024, 4, 1), end: utc(2024, 4, 8) };
        assert_eq!(calendar_data, Some(CalendarDataRequest { expand: Some(week), ..CalendarDataRequest::default() }));
        assert!(timezone.unwrap().contains("TZID:Europe/Paris"));
    }

    #[test]
    fn calendar_data_options_are_validated() {
        let query = |calendar_data: &str| {
            ReportRequest::parse(format!(
                r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>{calendar_data}</D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"#
            ).as_bytes())
        };
        let ReportRequest::CalendarQuery { calendar_data, .. } = query(
            r#"<C:calendar-data content-type="text/calendar" version="2.0"><C:limit-recurrence-set start="20240101T000000Z" end="20240201T000000Z"/><C:limit-freebusy-set start="20240101T000000Z" end="20240102T000000Z"/></C:calendar-data>"#,
        )
        .unwrap() else {
            panic!("expected calendar-query");
        };
        let calendar_data = calendar_data.unwrap();
        assert_eq!(calendar_data.limit_recurrence_set.unwrap().end, utc(2024, 2, 1));
        assert_eq!(calendar_data.limit_freebusy_set.unwrap().end, utc(2024, 1, 2));

        let error = query(r#"<C:calendar-data content-type="application/calendar+json"/>"#).err().unwrap();
        assert_eq!(error.precondition, Some(PropName::caldav("supported-calendar-data")));
        // expand needs both bounds.
        assert!(query(r#"<C:calendar-data><C:expand start="20240101T000000Z"/></C:calendar-data>"#).is_err());

        let no_filter = br#"<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"/>"#;
        let error = ReportRequest::parse(no_filter).err().unwrap();
        assert_eq!(error.precondition, Some(PropName::caldav("valid-filter")));
    }

    #[test]
    fn davx5_calendar_multiget_keeps_hrefs_as_sent() {
        let body = include_bytes!("../../../fixtures/requests/davx5-calendar-multiget.xml");
        assert_eq!(
            ReportRequest::parse(body).unwrap(),
            ReportRequest::CalendarMultiget {
                props: PropfindRequest::Prop(vec![
                    PropName::dav("getcontenttype"),
                    PropName::dav("getetag"),
                    PropName::caldav("calendar-data"),
                ]),
                calendar_data: Some(CalendarDataRequest::default()),
                hrefs: vec![
                    "/dav/calendars/alice/activities/3f0c7a4e-1b2d-4c5e-9f10-2a3b4c5d6e7f.ics".into(),
                    "/dav/calendars/alice/activities/visit%20ACME%20Corp.ics".into(),
                    "/dav/calendars/alice/activities/040000008200E00074C5B7101A82E008@outlook.ics".into(),
                ],
            }
        );
    }

    #[test]
    fn addressbook_query_with_anyof_and_allof() {
        let body = include_bytes!("../../../fixtures/requests/addressbook-query-anyof-allof.xml");
        let ReportRequest::AddressbookQuery { props, address_data, filter, limit } =
            ReportRequest::parse(body).unwrap()
        else {
            panic!("expected addressbook-query");
        };
        assert_eq!(props, PropfindRequest::Prop(vec![PropName::dav("getetag"), PropName::carddav("address-data")]));
        assert_eq!(
            address_data,
            Some(AddressDataRequest {
                content_type: Some("text/vcard".into()),
                version: Some("3.0".into()),
                props: vec!["VERSION".into(), "UID".into(), "FN".into(), "EMAIL".into()],
            })
        );
        assert_eq!(limit, Some(25));
        assert!(!filter.all_of);
        let [name, email] = filter.prop_filters.as_slice() else {
            panic!("expected two prop-filters");
        };
        assert_eq!(name.name, "FN");
        assert!(!name.all_of);
        assert!(name.text_matches[0].matches("Jürgen MÜLLER"));
        assert_eq!(email.name, "EMAIL");
        assert!(email.all_of);
        assert_eq!(
            email.text_matches,
            [
                TextMatch {
                    text: "anna".into(),
                    collation: Collation::UnicodeCasemap,
                    negate: false,
                    match_type: MatchType::StartsWith,
                },
                TextMatch {
                    text: "@example.org".into(),
                    collation: Collation::UnicodeCasemap,
                    negate: true,
                    match_type: MatchType::EndsWith,
                },
            ]
        );
        let type_filter = &email.param_filters[0];
        assert_eq!(type_filter.name, "TYPE");
        let type_match = type_filter.text_match.as_ref().unwrap();
        assert_eq!(type_match.collation, Collation::AsciiCasemap);
        assert!(type_match.matches("WORK"));
        assert!(!type_match.matches("workshop"));
    }

    #[test]
    fn addressbook_multiget_and_limits() {
        let body = br#"<?xml version='1.0' encoding='UTF-8' ?><CARD:addressbook-multiget xmlns="DAV:" xmlns:CARD="urn:ietf:params:xml:ns:carddav"><prop><getetag /><CARD:address-data /></prop><href>/dav/addressbooks/alice/clients/a.vcf</href><href>/dav/addressbooks/alice/clients/b.vcf</href></CARD:addressbook-multiget>"#;
        let ReportRequest::AddressbookMultiget { address_data, hrefs, .. } = ReportRequest::parse(body).unwrap() else {
            panic!("expected addressbook-multiget");
        };
        assert_eq!(address_data, Some(AddressDataRequest::default()));
        assert_eq!(hrefs.len(), 2);

        let bad_limit = br#"<C:addressbook-query xmlns:C="urn:ietf:params:xml:ns:carddav"><C:filter/><C:limit><C:nresults>-1</C:nresults></C:limit></C:addressbook-query>"#;
        assert!(ReportRequest::parse(bad_limit).is_err());
        let empty_filter =
            br#"<C:addressbook-query xmlns:C="urn:ietf:params:xml:ns:carddav"><C:filter/></C:addressbook-query>"#;
        let ReportRequest::AddressbookQuery { props, filter, .. } = ReportRequest::parse(empty_filter).unwrap() else {
            panic!("expected addressbook-query");
        };
        assert!(filter.prop_filters.is_empty());
        assert_eq!(props, PropfindRequest::AllProp { include: Vec::new() });
    }

    #[test]
    fn free_busy_query() {
        let body = br#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20240101T000000Z" end="20240108T000000Z"/></C:free-busy-query>"#;
        assert_eq!(
            ReportRequest::parse(body).unwrap(),
            ReportRequest::FreeBusyQuery { range: TimeRange { start: utc(2024, 1, 1), end: utc(2024, 1, 8) } }
        );
        assert!(ReportRequest::parse(br#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"/>"#).is_err());
    }

    #[test]
    fn other_reports_are_unsupported_by_name() {
        let expand_property = br#"<D:expand-property xmlns:D="DAV:"><D:property name="calendar-proxy-read-for" namespace="http://calendarserver.org/ns/"><D:property name="displayname"/></D:property></D:expand-property>"#;
        assert_eq!(
            ReportRequest::parse(expand_property).unwrap(),
            ReportRequest::Unsupported(PropName::dav("expand-property"))
        );
        let unknown = br#"<x:whatever xmlns:x="urn:example"/>"#;
        assert_eq!(
            ReportRequest::parse(unknown).unwrap(),
            ReportRequest::Unsupported(PropName::new("urn:example", "whatever"))
        );
        assert!(ReportRequest::parse(b"").is_err());
    }

    #[test]
    fn hostile_bodies_are_refused_before_interpretation() {
        let doctype = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&e;</D:displayname></D:prop></D:propfind>"#;
        assert!(PropfindRequest::parse(doctype).err().unwrap().message.contains("DOCTYPE"));
        let deep = format!(
            r#"<D:propfind xmlns:D="DAV:"><D:prop>{}{}</D:prop></D:propfind>"#,
            "<D:x>".repeat(100),
            "</D:x>".repeat(100)
        );
        assert!(PropfindRequest::parse(deep.as_bytes()).is_err());
        assert!(ReportRequest::parse(b"<D:sync-collection xmlns:D=\"DAV:\">\xff</D:sync-collection>").is_err());
    }
}
