//! Query filters of calendar-query (RFC 4791 9.7) and addressbook-query (RFC 6352 10.5),
//! time ranges (RFC 4791 9.9) and text matching with collations (RFC 4790).
//!
//! Component, property and parameter names are upper-cased when parsed, since iCalendar
//! and vCard names are case-insensitive.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::error::XmlError;
use super::names::{NS_CALDAV, NS_CARDDAV, PropName};
use super::tree::Element;

/// A period in UTC; at least one bound is set. `start` is inclusive, `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl TimeRange {
    /// Reads the `start`/`end` attributes, in iCalendar UTC form (`20060104T000000Z`).
    /// `require_both` is for expand and the limit-* elements, where RFC 4791 requires
    /// both bounds. The message is for the caller to wrap with its precondition.
    pub(crate) fn from_attributes(element: &Element, require_both: bool) -> Result<Self, String> {
        let bound = |attribute: &str| {
            element
                .attribute(attribute)
                .map(|value| {
                    parse_utc(value).ok_or_else(|| {
                        format!("{} {attribute}=\"{value}\" is not a UTC date-time like 20060104T000000Z", element.name)
                    })
                })
                .transpose()
        };
        let range = Self { start: bound("start")?, end: bound("end")? };
        match (range.start, range.end) {
            (None, None) => Err(format!("{} needs a start or an end", element.name)),
            (None, _) | (_, None) if require_both => Err(format!("{} needs both start and end", element.name)),
            (Some(start), Some(end)) if end <= start => Err(format!("{} ends before it starts", element.name)),
            _ => Ok(range),
        }
    }
}

/// Strictly `YYYYMMDDTHHMMSSZ`: chrono alone would accept signs and short years.
fn parse_utc(value: &str) -> Option<DateTime<Utc>> {
    let bytes = value.as_bytes();
    let well_formed = bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[..8].iter().chain(&bytes[9..15]).all(u8::is_ascii_digit);
    if !well_formed {
        return None;
    }
    NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ").ok().map(|naive| naive.and_utc())
}

/// RFC 4790 collations a server must support for CalDAV and CardDAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collation {
    /// `i;ascii-casemap`: ASCII letters compare case-insensitively (the default).
    #[default]
    AsciiCasemap,
    /// `i;octet`: exact comparison.
    Octet,
    /// `i;unicode-casemap`: case-insensitive over all of Unicode.
    UnicodeCasemap,
}

impl Collation {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "i;ascii-casemap" => Some(Self::AsciiCasemap),
            "i;octet" => Some(Self::Octet),
            "i;unicode-casemap" => Some(Self::UnicodeCasemap),
            _ => None,
        }
    }

    fn fold(self, text: &str) -> Cow<'_, str> {
        match self {
            Self::AsciiCasemap => Cow::Owned(text.to_ascii_lowercase()),
            Self::Octet => Cow::Borrowed(text),
            Self::UnicodeCasemap => Cow::Owned(text.to_lowercase()),
        }
    }
}

/// CardDAV's `match-type`; CalDAV text-match is always [`MatchType::Contains`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchType {
    Equals,
    #[default]
    Contains,
    StartsWith,
    EndsWith,
}

impl MatchType {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "equals" => Some(Self::Equals),
            "contains" => Some(Self::Contains),
            "starts-with" => Some(Self::StartsWith),
            "ends-with" => Some(Self::EndsWith),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    pub text: String,
    pub collation: Collation,
    /// `negate-condition="yes"`.
    pub negate: bool,
    pub match_type: MatchType,
}

impl TextMatch {
    /// Whether `haystack` satisfies this text-match, negation included.
    pub fn matches(&self, haystack: &str) -> bool {
        let haystack = self.collation.fold(haystack);
        let needle = self.collation.fold(&self.text);
        let found = match self.match_type {
            MatchType::Equals => haystack == needle,
            MatchType::Contains => haystack.contains(needle.as_ref()),
            MatchType::StartsWith => haystack.starts_with(needle.as_ref()),
            MatchType::EndsWith => haystack.ends_with(needle.as_ref()),
        };
        found != self.negate
    }
}

/// CALDAV:comp-filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub time_range: Option<TimeRange>,
    pub prop_filters: Vec<PropFilter>,
    pub comp_filters: Vec<CompFilter>,
}

/// CALDAV:prop-filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub time_range: Option<TimeRange>,
    pub text_match: Option<TextMatch>,
    pub param_filters: Vec<ParamFilter>,
}

/// CALDAV:param-filter or CARDDAV:param-filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub text_match: Option<TextMatch>,
}

/// CARDDAV:filter. With no prop-filter it matches every card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFilter {
    /// `test="allof"`; the default `anyof` is `false`.
    pub all_of: bool,
    pub prop_filters: Vec<CardPropFilter>,
}

/// CARDDAV:prop-filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardPropFilter {
    pub name: String,
    /// `test="allof"` over this filter's text-matches and param-filters.
    pub all_of: bool,
    pub is_not_defined: bool,
    pub text_matches: Vec<TextMatch>,
    pub param_filters: Vec<ParamFilter>,
}

/// Which specification a filter comes from: it decides the namespace of the filter
/// elements, the preconditions reported, and whether `match-type` is honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    CalDav,
    CardDav,
}

impl Dialect {
    fn ns(self) -> &'static str {
        match self {
            Self::CalDav => NS_CALDAV,
            Self::CardDav => NS_CARDDAV,
        }
    }

    /// CardDAV defines no valid-filter; supported-filter is its filter precondition.
    fn filter_error(self, message: impl Into<String>) -> XmlError {
        let precondition = match self {
            Self::CalDav => PropName::caldav("valid-filter"),
            Self::CardDav => PropName::carddav("supported-filter"),
        };
        XmlError::with_precondition(precondition, message)
    }

    fn collation_error(self, collation: &str) -> XmlError {
        XmlError::with_precondition(
            PropName::new(self.ns(), "supported-collation"),
            format!("collation '{collation}' is not supported; use i;ascii-casemap, i;octet or i;unicode-casemap"),
        )
    }
}

impl CompFilter {
    /// The content of a CALDAV:filter: exactly one comp-filter, for VCALENDAR.
    pub(crate) fn from_filter(filter: &Element) -> Result<Self, XmlError> {
        let dialect = Dialect::CalDav;
        let mut comp_filters = filter.children_named(NS_CALDAV, "comp-filter");
        let (Some(top), None) = (comp_filters.next(), comp_filters.next()) else {
            return Err(dialect.filter_error("filter must hold exactly one comp-filter"));
        };
        let top = Self::parse(top)?;
        if top.name != "VCALENDAR" {
            return Err(dialect.filter_error(format!("the top comp-filter must be VCALENDAR, not {}", top.name)));
        }
        Ok(top)
    }

    fn parse(element: &Element) -> Result<Self, XmlError> {
        let dialect = Dialect::CalDav;
        Ok(Self {
            name: required_name(element, dialect)?,
            is_not_defined: element.child(NS_CALDAV, "is-not-defined").is_some(),
            time_range: time_range_child(element)?,
            prop_filters: element
                .children_named(NS_CALDAV, "prop-filter")
                .map(PropFilter::parse)
                .collect::<Result<_, _>>()?,
            comp_filters: element
                .children_named(NS_CALDAV, "comp-filter")
                .map(Self::parse)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl PropFilter {
    fn parse(element: &Element) -> Result<Self, XmlError> {
        let dialect = Dialect::CalDav;
        Ok(Self {
            name: required_name(element, dialect)?,
            is_not_defined: element.child(NS_CALDAV, "is-not-defined").is_some(),
            time_range: time_range_child(element)?,
            text_match: element
                .child(NS_CALDAV, "text-match")
                .map(|text_match| TextMatch::parse(text_match, dialect))
                .transpose()?,
            param_filters: param_filters(element, dialect)?,
        })
    }
}

impl ParamFilter {
    fn parse(element: &Element, dialect: Dialect) -> Result<Self, XmlError> {
        Ok(Self {
            name: required_name(element, dialect)?,
            is_not_defined: element.child(dialect.ns(), "is-not-defined").is_some(),
            text_match: element
                .child(dialect.ns(), "text-match")
                .map(|text_match| TextMatch::parse(text_match, dialect))
                .transpose()?,
        })
    }
}

impl CardFilter {
    pub(crate) fn parse(filter: &Element) -> Result<Self, XmlError> {
        let dialect = Dialect::CardDav;
        Ok(Self {
            all_of: test_is_all_of(filter, dialect)?,
            prop_filters: filter
                .children_named(NS_CARDDAV, "prop-filter")
                .map(CardPropFilter::parse)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl CardPropFilter {
    fn parse(element: &Element) -> Result<Self, XmlError> {
        let dialect = Dialect::CardDav;
        Ok(Self {
            name: required_name(element, dialect)?,
            all_of: test_is_all_of(element, dialect)?,
            is_not_defined: element.child(NS_CARDDAV, "is-not-defined").is_some(),
            text_matches: element
                .children_named(NS_CARDDAV, "text-match")
                .map(|text_match| TextMatch::parse(text_match, dialect))
                .collect::<Result<_, _>>()?,
            param_filters: param_filters(element, dialect)?,
        })
    }
}

impl TextMatch {
    fn parse(element: &Element, dialect: Dialect) -> Result<Self, XmlError> {
        let collation = match element.attribute("collation") {
            None => Collation::default(),
            Some(name) => Collation::from_name(name).ok_or_else(|| dialect.collation_error(name))?,
        };
        let negate = match element.attribute("negate-condition") {
            None | Some("no") => false,
            Some("yes") => true,
            Some(other) => {
                return Err(
                    dialect.filter_error(format!("negate-condition must be \"yes\" or \"no\", not \"{other}\""))
                );
            }
        };
        let match_type = match (dialect, element.attribute("match-type")) {
            (Dialect::CalDav, _) | (Dialect::CardDav, None) => MatchType::default(),
            (Dialect::CardDav, Some(name)) => MatchType::from_name(name)
                .ok_or_else(|| dialect.filter_error(format!("match-type \"{name}\" is not supported")))?,
        };
        Ok(Self { text: element.text(), collation, negate, match_type })
    }
}

fn param_filters(element: &Element, dialect: Dialect) -> Result<Vec<ParamFilter>, XmlError> {
    element
        .children_named(dialect.ns(), "param-filter")
        .map(|param_filter| ParamFilter::parse(param_filter, dialect))
        .collect()
}

fn required_name(element: &Element, dialect: Dialect) -> Result<String, XmlError> {
    match element.attribute("name").map(str::trim) {
        Some(name) if !name.is_empty() => Ok(name.to_ascii_uppercase()),
        _ => Err(dialect.filter_error(format!("{} needs a name attribute", element.name))),
    }
}

fn time_range_child(element: &Element) -> Result<Option<TimeRange>, XmlError> {
    element
        .child(NS_CALDAV, "time-range")
        .map(|range| TimeRange::from_attributes(range, false).map_err(|message| Dialect::CalDav.filter_error(message)))
        .transpose()
}

fn test_is_all_of(element: &Element, dialect: Dialect) -> Result<bool, XmlError> {
    match element.attribute("test") {
        None | Some("anyof") => Ok(false),
        Some("allof") => Ok(true),
        Some(other) => Err(dialect.filter_error(format!("test must be \"anyof\" or \"allof\", not \"{other}\""))),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::tree::Document;

    fn text_match(text: &str, collation: Collation, match_type: MatchType) -> TextMatch {
        TextMatch { text: text.to_owned(), collation, negate: false, match_type }
    }

    fn parse_comp_filter(xml: &str) -> Result<CompFilter, XmlError> {
        let document = Document::parse(xml.as_bytes())?;
        CompFilter::from_filter(&document.root)
    }

    #[test]
    fn collations_fold_case_as_specified() {
        let ascii = text_match("smith", Collation::AsciiCasemap, MatchType::Contains);
        assert!(ascii.matches("John SMITH"));
        assert!(!ascii.matches("John Smyth"));
        // ASCII folding leaves non-ASCII letters alone.
        assert!(!text_match("é", Collation::AsciiCasemap, MatchType::Contains).matches("É"));
        assert!(text_match("é", Collation::UnicodeCasemap, MatchType::Contains).matches("É"));
        assert!(text_match("Ölund", Collation::UnicodeCasemap, MatchType::Equals).matches("öLUND"));
        let octet = text_match("Smith", Collation::Octet, MatchType::Contains);
        assert!(octet.matches("Smith"));
        assert!(!octet.matches("smith"));
    }

    #[test]
    fn match_types_and_negation() {
        let haystack = "alice@example.com";
        let check = |text: &str, match_type| text_match(text, Collation::AsciiCasemap, match_type).matches(haystack);
        assert!(check("ALICE@EXAMPLE.COM", MatchType::Equals));
        assert!(!check("alice", MatchType::Equals));
        assert!(check("alice", MatchType::StartsWith));
        assert!(!check("example", MatchType::StartsWith));
        assert!(check(".com", MatchType::EndsWith));
        assert!(check("example", MatchType::Contains));

        let negated = TextMatch { negate: true, ..text_match("bob", Collation::AsciiCasemap, MatchType::Contains) };
        assert!(negated.matches(haystack));
        assert!(!negated.matches("Bob Jones"));
    }

    #[test]
    fn parses_nested_comp_filter_with_everything() {
        let filter = parse_comp_filter(
            r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav">
                 <C:comp-filter name="vcalendar">
                   <C:comp-filter name="VTODO">
                     <C:time-range start="20240101T000000Z"/>
                     <C:prop-filter name="COMPLETED"><C:is-not-defined/></C:prop-filter>
                     <C:prop-filter name="SUMMARY">
                       <C:text-match collation="i;octet" negate-condition="yes"
                                     match-type="equals">Call</C:text-match>
                       <C:param-filter name="LANGUAGE"><C:is-not-defined/></C:param-filter>
                     </C:prop-filter>
                   </C:comp-filter>
                 </C:comp-filter>
               </C:filter>"#,
        )
        .unwrap();
        assert_eq!(filter.name, "VCALENDAR");
        let todo = &filter.comp_filters[0];
        assert_eq!(todo.name, "VTODO");
        assert_eq!(
            todo.time_range,
            Some(TimeRange { start: Some(Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()), end: None })
        );
        assert!(todo.prop_filters[0].is_not_defined);
        let summary = &todo.prop_filters[1];
        assert_eq!(
            summary.text_match,
            Some(TextMatch {
                text: "Call".into(),
                collation: Collation::Octet,
                negate: true,
                // CalDAV has no match-type: always a substring match.
                match_type: MatchType::Contains,
            })
        );
        assert_eq!(summary.param_filters[0].name, "LANGUAGE");
        assert!(summary.param_filters[0].is_not_defined);
    }

    #[test]
    fn invalid_caldav_filters_are_valid_filter_errors() {
        let valid_filter = Some(PropName::caldav("valid-filter"));
        let cases = [
            // no comp-filter, two comp-filters, wrong top component
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"/>"#,
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VCALENDAR"/><comp-filter name="VCALENDAR"/></filter>"#,
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VEVENT"/></filter>"#,
            // time-range without bounds, local time, date only, reversed
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VCALENDAR"><time-range/></comp-filter></filter>"#,
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VCALENDAR"><time-range start="20240101T000000"/></comp-filter></filter>"#,
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VCALENDAR"><time-range start="20240101"/></comp-filter></filter>"#,
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VCALENDAR"><time-range start="20240201T000000Z" end="20240101T000000Z"/></comp-filter></filter>"#,
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VCALENDAR"><time-range start="+2024101T000000Z"/></comp-filter></filter>"#,
            // missing name, bad negate-condition
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VCALENDAR"><comp-filter/></comp-filter></filter>"#,
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VCALENDAR"><prop-filter name="UID"><text-match negate-condition="maybe">x</text-match></prop-filter></comp-filter></filter>"#,
        ];
        for xml in cases {
            let error = parse_comp_filter(xml).err().unwrap();
            assert_eq!(error.precondition, valid_filter, "{xml}: {error}");
        }
    }

    #[test]
    fn unknown_collation_names_the_dialect_precondition() {
        let error = parse_comp_filter(
            r#"<filter xmlns="urn:ietf:params:xml:ns:caldav"><comp-filter name="VCALENDAR"><prop-filter name="UID"><text-match collation="i;klingon">x</text-match></prop-filter></comp-filter></filter>"#,
        )
        .err()
        .unwrap();
        assert_eq!(error.precondition, Some(PropName::caldav("supported-collation")));

        let document = Document::parse(
            br#"<filter xmlns="urn:ietf:params:xml:ns:carddav"><prop-filter name="FN"><text-match collation="i;klingon">x</text-match></prop-filter></filter>"#,
        )
        .unwrap();
        let error = CardFilter::parse(&document.root).err().unwrap();
        assert_eq!(error.precondition, Some(PropName::carddav("supported-collation")));
    }

    #[test]
    fn invalid_card_filters_are_supported_filter_errors() {
        for xml in [
            r#"<filter xmlns="urn:ietf:params:xml:ns:carddav" test="someof"/>"#,
            r#"<filter xmlns="urn:ietf:params:xml:ns:carddav"><prop-filter/></filter>"#,
            r#"<filter xmlns="urn:ietf:params:xml:ns:carddav"><prop-filter name="FN"><text-match match-type="sounds-like">x</text-match></prop-filter></filter>"#,
        ] {
            let document = Document::parse(xml.as_bytes()).unwrap();
            let error = CardFilter::parse(&document.root).err().unwrap();
            assert_eq!(error.precondition, Some(PropName::carddav("supported-filter")), "{xml}");
        }
    }

    #[test]
    fn expand_ranges_need_both_bounds() {
        let document =
            Document::parse(br#"<expand xmlns="urn:ietf:params:xml:ns:caldav" start="20240101T000000Z"/>"#).unwrap();
        assert!(TimeRange::from_attributes(&document.root, true).is_err());
        assert!(TimeRange::from_attributes(&document.root, false).is_ok());
    }
}
