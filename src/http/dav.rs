//! DAV method dispatch: discovery (root, principal, homes) and the collections of one rep.

use http::{Method, StatusCode, header};

use super::AppState;
use super::routes::Request;
use crate::caldav::calendar as caldav;
use crate::carddav;
use crate::crm::Session;
use crate::crm::activities::Calendar;
use crate::dav::multistatus::{Multistatus, PropStat, PropValue};
use crate::dav::names::PropName;
use crate::dav::path::{DavPath, PathError};
use crate::dav::reply::{self, Depth, Reply};
use crate::dav::request::{PropfindRequest, ProppatchOperation, ProppatchRequest, ReportRequest};

pub async fn handle(state: &AppState, request: &Request) -> Reply {
    let session =
        Session { store: &state.store, config: &state.config, rep: &request.user.rep, device: request.user_agent() };
    let s = &session;
    if let Some(mkcalendar) = collection_creation(&request.method) {
        return super::mkcol::refuse(s, request, mkcalendar).await;
    }
    let path = match DavPath::parse(&request.path) {
        Ok(path) => path,
        Err(PathError::NotFound) => return reply::not_found(&request.path),
        Err(PathError::Invalid(message)) => return reply::text(StatusCode::BAD_REQUEST, message),
    };
    // Another rep's resources do not exist for this one: 404, not 403, so nothing leaks.
    if path.login().is_some_and(|login| login != request.user.rep.login) {
        return reply::not_found(&request.path);
    }
    match (&request.method, &path) {
        (m, _) if *m == Method::from_bytes(b"PROPFIND").expect("valid method") => propfind(s, &path, request).await,
        (m, _) if *m == Method::from_bytes(b"PROPPATCH").expect("valid method") => proppatch(s, &path, request).await,
        (m, _) if *m == Method::from_bytes(b"REPORT").expect("valid method") => report(s, &path, request).await,
        (&Method::GET | &Method::HEAD, DavPath::Card { book, name, .. }) if book == carddav::BOOK => {
            carddav::get(s, name, &request.headers, request.method == Method::HEAD).await
        }
        (&Method::PUT, DavPath::Card { book, name, .. }) if book == carddav::BOOK => {
            carddav::put(s, name, &request.headers, &request.body).await
        }
        (&Method::DELETE, DavPath::Card { book, name, .. }) if book == carddav::BOOK => carddav::delete(s, name).await,
        (&Method::GET | &Method::HEAD, DavPath::CalendarObject { calendar, name, .. })
            if Calendar::from_name(calendar).is_some() =>
        {
            caldav::get(s, calendar_of(calendar), name, &request.headers, request.method == Method::HEAD).await
        }
        (&Method::PUT, DavPath::CalendarObject { calendar, name, .. }) if Calendar::from_name(calendar).is_some() => {
            caldav::put(s, calendar_of(calendar), name, &request.headers, &request.body).await
        }
        (&Method::DELETE, DavPath::CalendarObject { calendar, name, .. })
            if Calendar::from_name(calendar).is_some() =>
        {
            caldav::delete(s, calendar_of(calendar), name, &request.headers).await
        }
        (
            &Method::GET | &Method::HEAD,
            DavPath::Root
            | DavPath::Principals
            | DavPath::Principal { .. }
            | DavPath::AddressbookHome { .. }
            | DavPath::Addressbook { .. },
        ) => reply::text(StatusCode::OK, format!("crmdav: {} (use a CalDAV/CardDAV client)", path.href())),
        _ if !exists(&path) => reply::not_found(&request.path),
        (method, _) => method_not_allowed(&path, format!("{method} is not allowed on {}", path.href())),
    }
}

/// Some(true) for MKCALENDAR, Some(false) for MKCOL: the methods that make a collection.
fn collection_creation(method: &Method) -> Option<bool> {
    match method.as_str() {
        "MKCALENDAR" => Some(true),
        "MKCOL" => Some(false),
        _ => None,
    }
}

/// Whether the path names a collection (or possible member) that exists for its owner.
pub(super) fn exists(path: &DavPath) -> bool {
    match path {
        DavPath::Addressbook { book, .. } | DavPath::Card { book, .. } => book == carddav::BOOK,
        DavPath::Calendar { calendar, .. } | DavPath::CalendarObject { calendar, .. } => {
            Calendar::from_name(calendar).is_some()
        }
        _ => true,
    }
}

/// Whether a resource is mapped at `path`: a collection of the tree, or a member that is stored.
pub(super) async fn is_mapped(s: &Session<'_>, path: &DavPath) -> anyhow::Result<bool> {
    if !exists(path) {
        return Ok(false);
    }
    match path {
        DavPath::Card { name, .. } => carddav::card_exists(s, name).await,
        DavPath::CalendarObject { calendar, name, .. } => caldav::object_exists(s, calendar_of(calendar), name).await,
        _ => Ok(true),
    }
}

/// The methods `path` answers, for the Allow header of a 405 and of OPTIONS (RFC 9110 10.2.1).
/// PROPPATCH is answered everywhere (with a 403 per property where nothing can be set); REPORT
/// only where a report is served; MKCOL and MKCALENDAR nowhere, the collections being fixed.
pub fn allowed_methods(path: &DavPath) -> &'static str {
    match path {
        DavPath::Root | DavPath::Principals | DavPath::Principal { .. } | DavPath::Addressbook { .. } => {
            "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT"
        }
        DavPath::AddressbookHome { .. } => "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH",
        DavPath::CalendarHome { .. } => "OPTIONS, PROPFIND, PROPPATCH",
        DavPath::Calendar { .. } => "OPTIONS, PROPFIND, PROPPATCH, REPORT",
        DavPath::Card { .. } | DavPath::CalendarObject { .. } => "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH",
    }
}

fn calendar_of(name: &str) -> Calendar {
    Calendar::from_name(name).expect("checked by the caller")
}

/// 405 with the methods `path` does answer.
pub(super) fn method_not_allowed(path: &DavPath, message: String) -> Reply {
    let mut reply = reply::text(StatusCode::METHOD_NOT_ALLOWED, message);
    reply.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allowed_methods(path)));
    reply
}

pub(super) fn bad_xml(error: crate::dav::error::XmlError) -> Reply {
    match error.precondition {
        Some(precondition) => reply::precondition_failed(StatusCode::FORBIDDEN, precondition, &error.message),
        None => reply::text(StatusCode::BAD_REQUEST, format!("invalid XML request body: {}", error.message)),
    }
}

pub(super) fn principal_href(login: &str) -> String {
    format!("/dav/principals/{login}/")
}

/// Properties every authenticated resource answers: who the user is and where their homes are.
fn user_props(s: &Session<'_>) -> Vec<(PropName, PropValue)> {
    let login = &s.rep.login;
    vec![
        (PropName::dav("current-user-principal"), PropValue::Href(principal_href(login))),
        (PropName::dav("principal-collection-set"), PropValue::Href("/dav/principals/".into())),
    ]
}

pub(super) fn principal_props(s: &Session<'_>) -> Vec<(PropName, PropValue)> {
    let login = &s.rep.login;
    let mut props = vec![
        (PropName::dav("resourcetype"), PropValue::ResourceType(vec![PropName::dav("principal")])),
        (PropName::dav("displayname"), PropValue::Text(s.rep.display_name.clone())),
        (PropName::dav("principal-URL"), PropValue::Href(principal_href(login))),
        (PropName::caldav("calendar-home-set"), PropValue::Href(format!("/dav/calendars/{login}/"))),
        (PropName::carddav("addressbook-home-set"), PropValue::Href(format!("/dav/addressbooks/{login}/"))),
        (PropName::dav("current-user-privilege-set"), PropValue::Privileges(vec![PropName::dav("read")])),
    ];
    if !s.rep.email.is_empty() {
        props.push((
            PropName::caldav("calendar-user-address-set"),
            PropValue::Hrefs(vec![format!("mailto:{}", s.rep.email)]),
        ));
        props.push((
            PropName::calendarserver("email-address-set"),
            PropValue::Raw(format!("<cs:email-address>{}</cs:email-address>", xml_text(&s.rep.email))),
        ));
    }
    props.extend(user_props(s));
    props
}

fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub(super) fn plain_collection_props(s: &Session<'_>, name: &str) -> Vec<(PropName, PropValue)> {
    let mut props = vec![
        (PropName::dav("resourcetype"), PropValue::ResourceType(vec![PropName::dav("collection")])),
        (PropName::dav("displayname"), PropValue::Text(name.into())),
        (PropName::dav("current-user-privilege-set"), PropValue::Privileges(vec![PropName::dav("read")])),
        (PropName::dav("owner"), PropValue::Href(principal_href(&s.rep.login))),
    ];
    props.extend(user_props(s));
    props
}

async fn propfind(s: &Session<'_>, path: &DavPath, request: &Request) -> Reply {
    let depth = match reply::depth(&request.headers, Depth::Infinity) {
        Ok(depth) => depth,
        Err(reply) => return reply,
    };
    let props = match PropfindRequest::parse(&request.body) {
        Ok(props) => props,
        Err(e) => return bad_xml(e),
    };
    // Depth infinity is answered as depth 1: the tree is shallow and clients cope (RFC 4918 9.1 allows refusing it).
    let depth = if depth == Depth::Infinity { Depth::One } else { depth };
    let mut body = Multistatus::new();
    match path {
        DavPath::Root => {
            let mut available = plain_collection_props(s, "crmdav");
            available.extend(principal_homes(s));
            body.add_response(&answered_href(path, request), &reply::select_props(&props, available, &[]));
        }
        DavPath::Principals => return super::principals::propfind(s, depth, &props),
        DavPath::Principal { .. } => {
            body.add_response(&path.href(), &reply::select_props(&props, principal_props(s), &[]));
        }
        DavPath::AddressbookHome { login } => {
            body.add_response(
                &path.href(),
                &reply::select_props(&props, plain_collection_props(s, "Address books"), &[]),
            );
            if depth == Depth::One {
                match carddav::collection_props(s).await {
                    Ok(available) => {
                        body.add_response(&carddav::book_href(login), &reply::select_props(&props, available, &[]))
                    }
                    Err(reply) => return reply,
                }
            }
        }
        DavPath::CalendarHome { login } => {
            body.add_response(&path.href(), &reply::select_props(&props, plain_collection_props(s, "Calendars"), &[]));
            if depth == Depth::One {
                for calendar in [Calendar::Activities, Calendar::FollowUps] {
                    match caldav::collection_props(s, calendar).await {
                        Ok(available) => body.add_response(
                            &caldav::calendar_href(login, calendar),
                            &reply::select_props(&props, available, &[]),
                        ),
                        Err(reply) => return reply,
                    }
                }
            }
        }
        DavPath::Calendar { calendar, .. } if Calendar::from_name(calendar).is_some() => {
            return caldav::propfind(s, calendar_of(calendar), depth, &props).await;
        }
        DavPath::CalendarObject { calendar, name, .. } if Calendar::from_name(calendar).is_some() => {
            return caldav::propfind_object(s, calendar_of(calendar), name, &props).await;
        }
        DavPath::Addressbook { book, .. } if book == carddav::BOOK => return carddav::propfind(s, depth, &props).await,
        DavPath::Card { book, name, .. } if book == carddav::BOOK => {
            return carddav::propfind_card(s, name, &props).await;
        }
        _ => return reply::not_found(&path.href()),
    }
    reply::multistatus(body)
}

/// The href a multistatus names the resource by: the canonical one, except that the root asked
/// for as `/` is answered as `/` (a client matches the answer against the URL it asked).
fn answered_href(path: &DavPath, request: &Request) -> String {
    if *path == DavPath::Root && request.path == "/" { "/".to_string() } else { path.href() }
}

/// Home-set properties on the root too: some clients look for them there before the principal.
fn principal_homes(s: &Session<'_>) -> Vec<(PropName, PropValue)> {
    let login = &s.rep.login;
    vec![
        (PropName::caldav("calendar-home-set"), PropValue::Href(format!("/dav/calendars/{login}/"))),
        (PropName::carddav("addressbook-home-set"), PropValue::Href(format!("/dav/addressbooks/{login}/"))),
    ]
}

async fn proppatch(s: &Session<'_>, path: &DavPath, request: &Request) -> Reply {
    let patch = match ProppatchRequest::parse(&request.body) {
        Ok(patch) => patch,
        Err(e) => return bad_xml(e),
    };
    let calendar = match path {
        DavPath::Calendar { calendar, .. } => Calendar::from_name(calendar),
        _ => None,
    };
    let is_book = matches!(path, DavPath::Addressbook { book, .. } if book == carddav::BOOK);
    let (mut ok, mut forbidden) = (Vec::new(), Vec::new());
    let (mut displayname, mut color) = (None, None);
    for operation in &patch.operations {
        let (name, value) = match operation {
            ProppatchOperation::Set { name, text, .. } => (name, text.trim().to_string()),
            // Removing a display setting restores the default.
            ProppatchOperation::Remove(name) => (name, String::new()),
        };
        if (is_book || calendar.is_some()) && *name == PropName::dav("displayname") {
            displayname = Some(value);
            ok.push(name.clone());
        } else if calendar.is_some() && *name == PropName::apple_ical("calendar-color") {
            color = Some(value);
            ok.push(name.clone());
        } else {
            forbidden.push(name.clone());
        }
    }
    let mut body = Multistatus::new();
    if !forbidden.is_empty() {
        // PROPPATCH is atomic (RFC 4918 9.2): one refused property fails them all.
        body.add_response(
            &answered_href(path, request),
            &[PropStat::names_only(403, forbidden), PropStat::names_only(424, ok)],
        );
        return reply::multistatus(body);
    }
    let saved = match calendar {
        Some(calendar) => caldav::set_display(s, calendar, displayname.as_deref(), color.as_deref()).await,
        None if is_book => carddav::set_displayname(s, displayname.as_deref()).await,
        None => Ok(()),
    };
    if let Err(e) = saved {
        tracing::error!(error = %e, "PROPPATCH failed");
        return reply::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was changed");
    }
    body.add_response(&answered_href(path, request), &[PropStat::names_only(200, ok)]);
    reply::multistatus(body)
}

async fn report(s: &Session<'_>, path: &DavPath, request: &Request) -> Reply {
    if let Err(reply) = reply::depth(&request.headers, Depth::Zero) {
        return reply;
    }
    let report = match ReportRequest::parse(&request.body) {
        Ok(report) => report,
        Err(e) => return bad_xml(e),
    };
    match (path, report) {
        // Clients search the principal-collection-set, some the principal or the root.
        (
            DavPath::Root | DavPath::Principals | DavPath::Principal { .. },
            ReportRequest::PrincipalPropertySearch { searches, any_of, props },
        ) => super::principals::property_search(s, &searches, any_of, &props),
        (
            DavPath::Root | DavPath::Principals | DavPath::Principal { .. },
            ReportRequest::PrincipalSearchPropertySet,
        ) => super::principals::search_property_set(),
        (DavPath::Addressbook { book, .. }, report) if book == carddav::BOOK => carddav::report(s, report).await,
        (DavPath::Calendar { calendar, .. }, report) if Calendar::from_name(calendar).is_some() => {
            caldav::report(s, calendar_of(calendar), report).await
        }
        _ if !exists(path) => reply::not_found(&path.href()),
        _ => reply::precondition_failed(
            StatusCode::FORBIDDEN,
            PropName::dav("supported-report"),
            "no report is supported on this resource",
        ),
    }
}
