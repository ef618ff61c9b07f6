//! The principal collection `/dav/principals/` (the principal-collection-set every resource
//! names) and the principal searches of RFC 3744 9.4-9.5 that clients send to it.
//!
//! Reps do not see each other: the collection holds, for each rep, only their own principal, and
//! a search finds them or nothing.

use http::StatusCode;

use super::dav::{plain_collection_props, principal_href, principal_props};
use crate::crm::Session;
use crate::dav::multistatus::{self, Multistatus};
use crate::dav::names::PropName;
use crate::dav::path::DavPath;
use crate::dav::reply::{self, Depth, Reply};
use crate::dav::request::{PropertySearch, PropfindRequest};

/// PROPFIND on the collection: itself, and at Depth 1 the rep's own principal.
pub fn propfind(s: &Session<'_>, depth: Depth, props: &PropfindRequest) -> Reply {
    let mut body = Multistatus::new();
    body.add_response(
        &DavPath::Principals.href(),
        &reply::select_props(props, plain_collection_props(s, "Principals"), &[]),
    );
    if depth != Depth::Zero {
        body.add_response(&principal_href(&s.rep.login), &reply::select_props(props, principal_props(s), &[]));
    }
    reply::multistatus(body)
}

/// The properties a search looks in, with their text for this rep.
fn searchable(s: &Session<'_>) -> Vec<(PropName, String)> {
    let mut properties = vec![(PropName::dav("displayname"), s.rep.display_name.clone())];
    if !s.rep.email.is_empty() {
        properties.push((PropName::caldav("calendar-user-address-set"), format!("mailto:{}", s.rep.email)));
        properties.push((PropName::calendarserver("email-address-set"), s.rep.email.clone()));
    }
    properties
}

/// DAV:principal-property-search: the rep's principal when it matches, else an empty multistatus.
pub fn property_search(s: &Session<'_>, searches: &[PropertySearch], any_of: bool, props: &PropfindRequest) -> Reply {
    let values = searchable(s);
    let matches = |search: &PropertySearch| {
        let wanted = search.text.trim().to_lowercase();
        values.iter().any(|(name, value)| search.props.contains(name) && value.to_lowercase().contains(&wanted))
    };
    let found = if any_of { searches.iter().any(matches) } else { searches.iter().all(matches) };
    let mut body = Multistatus::new();
    if found {
        body.add_response(&principal_href(&s.rep.login), &reply::select_props(props, principal_props(s), &[]));
    }
    reply::multistatus(body)
}

/// DAV:principal-search-property-set: what property_search looks in.
pub fn search_property_set() -> Reply {
    reply::xml(
        StatusCode::OK,
        multistatus::principal_search_property_set(&[
            (PropName::dav("displayname"), "Name"),
            (PropName::caldav("calendar-user-address-set"), "Calendar user address (mailto:)"),
            (PropName::calendarserver("email-address-set"), "Email address"),
        ]),
    )
}
