//! addressbook-query filters (RFC 6352 10.5) evaluated on a card's properties.

use calcard::vcard::{VCard, VCardEntry, VCardParameterValue};

use crate::dav::filter::{CardFilter, CardPropFilter, ParamFilter};
use crate::mapping::vcard::entry_text;

pub fn matches(card: &VCard, filter: &CardFilter) -> bool {
    if filter.prop_filters.is_empty() {
        return true;
    }
    let mut results = filter.prop_filters.iter().map(|pf| prop_filter_matches(card, pf));
    if filter.all_of { results.all(|r| r) } else { results.any(|r| r) }
}

fn entries<'a>(card: &'a VCard, name: &'a str) -> impl Iterator<Item = &'a VCardEntry> + 'a {
    card.entries.iter().filter(move |e| e.name.as_str().eq_ignore_ascii_case(name))
}

fn prop_filter_matches(card: &VCard, filter: &CardPropFilter) -> bool {
    let mut found = entries(card, &filter.name).peekable();
    if filter.is_not_defined {
        return found.peek().is_none();
    }
    if filter.text_matches.is_empty() && filter.param_filters.is_empty() {
        return found.peek().is_some();
    }
    // The prop-filter matches if any instance of the property satisfies its tests.
    found.any(|entry| {
        let value = entry_text(entry);
        let mut tests = filter
            .text_matches
            .iter()
            .map(|tm| tm.matches(&value))
            .chain(filter.param_filters.iter().map(|pf| param_filter_matches(entry, pf)));
        if filter.all_of { tests.all(|r| r) } else { tests.any(|r| r) }
    })
}

fn param_filter_matches(entry: &VCardEntry, filter: &ParamFilter) -> bool {
    let values: Vec<String> = entry
        .params
        .iter()
        .filter(|p| p.name.as_str().eq_ignore_ascii_case(&filter.name))
        .map(|p| match &p.value {
            VCardParameterValue::Text(t) => t.clone(),
            VCardParameterValue::Type(t) => calcard::common::IanaString::as_str(t).to_string(),
            VCardParameterValue::Integer(i) => i.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    if filter.is_not_defined {
        return values.is_empty();
    }
    match &filter.text_match {
        None => !values.is_empty(),
        Some(tm) => values.iter().any(|v| tm.matches(v)),
    }
}
