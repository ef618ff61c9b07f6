//! DAV method dispatch: discovery (root, principal, homes) and the collections of one rep.

use http::{Method, StatusCode, header};

use super::AppState;
use super::routes::Request;
use crate::caldav::attachments;
use crate::caldav::calendar::{self as caldav, CalendarCollection};
use crate::caldav::notes::{self, NotesCollection};
use crate::caldav::team::{self, TeamCalendar};
use crate::carddav::{self, AddressBook};
use crate::crm::Session;
use crate::crm::activities::Calendar;
use crate::crm::reps::Rep;
use crate::dav::collection::{self, Collection};
use crate::dav::conditions::Conditions;
use crate::dav::error::{DavError, Precondition, Refusal};
use crate::dav::multistatus::{Multistatus, PropValue};
use crate::dav::names::PropName;
use crate::dav::path::{DavPath, PathError};
use crate::dav::reply::{self, Depth, Reply};
use crate::dav::request::{PropfindRequest, ProppatchRequest, ReportRequest};
use crate::push::{self, Push, Watched};

/// The methods answered on the DAV tree, read once from the request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DavMethod {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Propfind,
    Proppatch,
    Report,
    MkCol,
    MkCalendar,
    Other,
}

impl DavMethod {
    fn of(method: &Method) -> Self {
        match method.as_str() {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "PUT" => Self::Put,
            "POST" => Self::Post,
            "DELETE" => Self::Delete,
            "PROPFIND" => Self::Propfind,
            "PROPPATCH" => Self::Proppatch,
            "REPORT" => Self::Report,
            "MKCOL" => Self::MkCol,
            "MKCALENDAR" => Self::MkCalendar,
            _ => Self::Other,
        }
    }
}

/// One of the rep's collections, as a path names it.
enum AnyCollection<'a> {
    Book(AddressBook<'a>),
    Calendar(CalendarCollection<'a>),
    Notes(NotesCollection<'a>),
    Team(TeamCalendar<'a>),
}

impl AnyCollection<'_> {
    /// The collection as WebDAV-Push subscriptions name it (the notes collection offers no push).
    fn watched(&self) -> Option<Watched> {
        match self {
            AnyCollection::Book(_) => Some(Watched::Book),
            AnyCollection::Calendar(c) => Some(Watched::Calendar(c.calendar())),
            AnyCollection::Notes(_) => None,
            AnyCollection::Team(_) => Some(Watched::Team),
        }
    }
}

/// Runs `$body` with `$c` bound to the collection, whichever kind it is.
macro_rules! on_collection {
    ($collection:expr, $c:ident => $body:expr) => {
        match $collection {
            AnyCollection::Book($c) => $body,
            AnyCollection::Calendar($c) => $body,
            AnyCollection::Notes($c) => $body,
            AnyCollection::Team($c) => $body,
        }
    };
}

/// Which of a rep's fixed collections a collection name is: the one place where names are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CollectionId {
    Book,
    Calendar(Calendar),
    Notes,
    Team,
}

/// The collection `path` is or is in: `Ok(None)` for the discovery resources (root, principals,
/// homes), `Err(())` for a collection name that names none of the rep's collections. `rep`: whose
/// tree it is (the team calendar is a manager's); None asks whether anyone has it.
fn collection_id(path: &DavPath, rep: Option<&Rep>) -> Result<Option<CollectionId>, ()> {
    let book = |name: &str| if name == carddav::BOOK { Ok(Some(CollectionId::Book)) } else { Err(()) };
    let calendar = |name: &str| match name {
        notes::NOTES => Ok(Some(CollectionId::Notes)),
        team::TEAM if rep.is_none_or(team::has_team_calendar) => Ok(Some(CollectionId::Team)),
        _ => Calendar::from_name(name).map(|c| Some(CollectionId::Calendar(c))).ok_or(()),
    };
    match path {
        DavPath::Addressbook { book: name, .. } | DavPath::Card { book: name, .. } => book(name),
        DavPath::Calendar { calendar: name, .. } | DavPath::CalendarObject { calendar: name, .. } => calendar(name),
        DavPath::Root
        | DavPath::Principals
        | DavPath::Principal { .. }
        | DavPath::AddressbookHome { .. }
        | DavPath::CalendarHome { .. } => Ok(None),
    }
}

/// The collection `path` is or is in, and the member's name when it names one; None when it
/// names no collection (discovery resources, or a collection that does not exist).
fn resolve<'a>(s: &'a Session<'a>, path: &'a DavPath) -> Option<(AnyCollection<'a>, Option<&'a str>)> {
    let collection = match collection_id(path, Some(s.rep)).ok()?? {
        CollectionId::Book => AnyCollection::Book(AddressBook::new(s)),
        CollectionId::Calendar(calendar) => AnyCollection::Calendar(CalendarCollection::new(s, calendar)),
        CollectionId::Notes => AnyCollection::Notes(NotesCollection::new(s)),
        CollectionId::Team => AnyCollection::Team(TeamCalendar::new(s)),
    };
    let member = match path {
        DavPath::Card { name, .. } | DavPath::CalendarObject { name, .. } => Some(name.as_str()),
        _ => None,
    };
    Some((collection, member))
}

pub async fn handle(state: &AppState, request: &Request) -> Reply {
    let method = DavMethod::of(&request.method);
    let reads = matches!(method, DavMethod::Get | DavMethod::Head | DavMethod::Propfind | DavMethod::Report);
    let session = Session {
        store: &state.store,
        config: &state.config,
        rep: &request.user.rep,
        device: request.user_agent(),
        change_seq: request.user.change_seq.filter(|_| reads),
    };
    let s = &session;
    if matches!(method, DavMethod::MkCol | DavMethod::MkCalendar) {
        return super::mkcol::refuse(s, request, method == DavMethod::MkCalendar).await;
    }
    // A WebDAV-Push registration: only its rep can see (and delete) it.
    if let Some(id) = request.path.strip_prefix(push::REGISTRATIONS) {
        return push::http::registration(&state.store, &request.user.rep, &request.method, id).await;
    }
    // A voice note's audio: only the reps who see its client can hear it.
    if let Some(id) = request.path.strip_prefix(crate::crm::voice_notes::PATH_PREFIX) {
        return super::voice_notes::serve(&state.store, &request.user.rep, &request.method, id, &request.headers).await;
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
    let conditions = Conditions::parse(&request.headers);
    let answer = match (method, resolve(s, &path)) {
        (DavMethod::Propfind, resolved) => propfind(s, &state.push, &path, resolved, request).await,
        (DavMethod::Proppatch, resolved) => proppatch(&path, resolved, request).await,
        (DavMethod::Report, resolved) => return report(s, &path, resolved, request).await,
        (DavMethod::Get | DavMethod::Head, Some((c, Some(name)))) => {
            let head = method == DavMethod::Head;
            on_collection!(c, c => collection::get(&c, name, &request.headers, &conditions, head).await)
        }
        (DavMethod::Put, Some((c, Some(name)))) => {
            let content_type = request.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let answer =
                on_collection!(c, c => collection::put(&c, name, &conditions, content_type, &request.body).await);
            state.push.changed();
            answer
        }
        (DavMethod::Delete, Some((c, Some(name)))) => {
            let answer = on_collection!(c, c => collection::delete(&c, name, &conditions).await);
            state.push.changed();
            answer
        }
        // RFC 8607 managed attachments: voice notes added to, replaced on, removed from an object.
        (DavMethod::Post, Some((AnyCollection::Calendar(c), Some(name)))) => {
            let query = request.query.as_deref();
            let answer = attachments::post(&c, name, query, &request.headers, &request.body).await;
            state.push.changed();
            answer
        }
        (DavMethod::Post, Some((AnyCollection::Notes(c), Some(name)))) => {
            let query = request.query.as_deref();
            attachments::post(&c, name, query, &request.headers, &request.body).await
        }
        (DavMethod::Post, Some((AnyCollection::Notes(_), None))) => Ok(method_not_allowed(
            &path,
            format!("the notes collection offers no WebDAV-Push: {} is not allowed", request.method),
        )),
        (DavMethod::Post, Some((c, None))) => {
            let Some(watched) = c.watched() else { unreachable!("every other collection is watched") };
            let registration = push::http::RegisterRequest {
                rep: &request.user.rep,
                watched,
                body: &request.body,
                host: request.header(header::HOST),
            };
            Ok(push::http::register(&state.store, &state.config, &state.push, registration).await)
        }
        (DavMethod::Get | DavMethod::Head, _)
            if matches!(
                path,
                DavPath::Root
                    | DavPath::Principals
                    | DavPath::Principal { .. }
                    | DavPath::AddressbookHome { .. }
                    | DavPath::Addressbook { .. }
            ) =>
        {
            Ok(reply::text(StatusCode::OK, format!("crmdav: {} (use a CalDAV/CardDAV client)", path.href())))
        }
        _ if !exists(&path, Some(s.rep)) => Ok(reply::not_found(&request.path)),
        _ => Ok(method_not_allowed(&path, format!("{} is not allowed on {}", request.method, path.href()))),
    };
    answer.unwrap_or_else(reply::error)
}

/// Whether the path names a collection (or possible member) that exists for its owner `rep` (None:
/// for anyone).
pub(super) fn exists(path: &DavPath, rep: Option<&Rep>) -> bool {
    collection_id(path, rep).is_ok()
}

/// Whether a resource is mapped at `path`: a collection of the tree, or a member that is stored.
pub(super) async fn is_mapped(s: &Session<'_>, path: &DavPath) -> anyhow::Result<bool> {
    if !exists(path, Some(s.rep)) {
        return Ok(false);
    }
    match resolve(s, path) {
        Some((c, Some(name))) => on_collection!(c, c => Ok(c.find(name).await?.is_some())),
        _ => Ok(true),
    }
}

/// The methods `path` answers, for the Allow header of a 405 and of OPTIONS (RFC 9110 10.2.1).
/// PROPPATCH is answered everywhere (with a 403 per property where nothing can be set); REPORT
/// only where a report is served; MKCOL and MKCALENDAR nowhere, the collections being fixed.
pub fn allowed_methods(path: &DavPath) -> &'static str {
    match path {
        DavPath::Root | DavPath::Principals | DavPath::Principal { .. } => {
            "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT"
        }
        // POST: a WebDAV-Push registration (src/push).
        DavPath::Addressbook { .. } => "OPTIONS, GET, HEAD, POST, PROPFIND, PROPPATCH, REPORT",
        DavPath::AddressbookHome { .. } => "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH",
        DavPath::CalendarHome { .. } => "OPTIONS, PROPFIND, PROPPATCH",
        DavPath::Calendar { .. } => "OPTIONS, POST, PROPFIND, PROPPATCH, REPORT",
        DavPath::Card { .. } => "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH",
        // POST: RFC 8607 managed attachments (voice notes).
        DavPath::CalendarObject { .. } => "OPTIONS, GET, HEAD, PUT, POST, DELETE, PROPFIND, PROPPATCH",
    }
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

async fn propfind(
    s: &Session<'_>,
    push: &Push,
    path: &DavPath,
    resolved: Option<(AnyCollection<'_>, Option<&str>)>,
    request: &Request,
) -> Result<Reply, DavError> {
    let depth = match reply::depth(&request.headers, Depth::Infinity) {
        Ok(depth) => depth,
        Err(reply) => return Ok(reply),
    };
    let props = match PropfindRequest::parse(&request.body) {
        Ok(props) => props,
        Err(e) => return Ok(bad_xml(e)),
    };
    // Depth infinity is answered as depth 1: the tree is shallow and clients cope (RFC 4918 9.1 allows refusing it).
    let depth = if depth == Depth::Infinity { Depth::One } else { depth };
    if let Some((c, member)) = resolved {
        return match member {
            Some(name) => on_collection!(c, c => collection::propfind_member(&c, name, &props).await),
            None => {
                let extra = match c.watched() {
                    Some(watched) => push.properties(s.store, &watched.key(s.rep.id)).await?,
                    None => Vec::new(),
                };
                on_collection!(c, c => collection::propfind(&c, depth, &props, extra).await)
            }
        };
    }
    let mut body = Multistatus::new();
    match path {
        DavPath::Root => {
            let mut available = plain_collection_props(s, "crmdav");
            available.extend(principal_homes(s));
            body.add_response(&answered_href(path, request), &reply::select_props(&props, available, &[]));
        }
        DavPath::Principals => return Ok(super::principals::propfind(s, depth, &props)),
        DavPath::Principal { .. } => {
            body.add_response(&path.href(), &reply::select_props(&props, principal_props(s), &[]));
        }
        DavPath::AddressbookHome { .. } => {
            body.add_response(
                &path.href(),
                &reply::select_props(&props, plain_collection_props(s, "Address books"), &[]),
            );
            if depth == Depth::One {
                let book = AddressBook::new(s);
                let mut properties = book.properties().await?;
                properties.extend(push.properties(s.store, &Watched::Book.key(s.rep.id)).await?);
                body.add_response(&book.href(), &reply::select_props(&props, properties, &[]));
            }
        }
        DavPath::CalendarHome { .. } => {
            let mut home = plain_collection_props(s, "Calendars");
            home.extend(attachments::properties(s));
            body.add_response(&path.href(), &reply::select_props(&props, home, &[]));
            if depth == Depth::One {
                for calendar in [Calendar::Activities, Calendar::FollowUps] {
                    let key = Watched::Calendar(calendar).key(s.rep.id);
                    let calendar = CalendarCollection::new(s, calendar);
                    let mut properties = calendar.properties().await?;
                    properties.extend(push.properties(s.store, &key).await?);
                    body.add_response(&calendar.href(), &reply::select_props(&props, properties, &[]));
                }
                let notes = NotesCollection::new(s);
                body.add_response(&notes.href(), &reply::select_props(&props, notes.properties().await?, &[]));
                if team::has_team_calendar(s.rep) {
                    let team = TeamCalendar::new(s);
                    let mut properties = team.properties().await?;
                    properties.extend(push.properties(s.store, &Watched::Team.key(s.rep.id)).await?);
                    body.add_response(&team.href(), &reply::select_props(&props, properties, &[]));
                }
            }
        }
        _ => return Err(DavError::NotFound(path.href())),
    }
    Ok(reply::multistatus(body))
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

async fn proppatch(
    path: &DavPath,
    resolved: Option<(AnyCollection<'_>, Option<&str>)>,
    request: &Request,
) -> Result<Reply, DavError> {
    let patch = match ProppatchRequest::parse(&request.body) {
        Ok(patch) => patch,
        Err(e) => return Ok(bad_xml(e)),
    };
    let href = answered_href(path, request);
    match resolved {
        Some((c, None)) => on_collection!(c, c => collection::proppatch(Some(&c), &href, &patch).await),
        Some((AnyCollection::Team(_), Some(_))) => Ok(team::refuse_write()),
        // Members and discovery resources have nothing a device may set.
        _ => collection::proppatch::<AddressBook>(None, &href, &patch).await,
    }
}

async fn report(
    s: &Session<'_>,
    path: &DavPath,
    resolved: Option<(AnyCollection<'_>, Option<&str>)>,
    request: &Request,
) -> Reply {
    if let Err(reply) = reply::depth(&request.headers, Depth::Zero) {
        return reply;
    }
    let report = match ReportRequest::parse(&request.body) {
        Ok(report) => report,
        Err(e) => return bad_xml(e),
    };
    match (path, resolved, report) {
        // Clients search the principal-collection-set, some the principal or the root.
        (
            DavPath::Root | DavPath::Principals | DavPath::Principal { .. },
            _,
            ReportRequest::PrincipalPropertySearch { searches, any_of, props },
        ) => super::principals::property_search(s, &searches, any_of, &props),
        (
            DavPath::Root | DavPath::Principals | DavPath::Principal { .. },
            _,
            ReportRequest::PrincipalSearchPropertySet,
        ) => super::principals::search_property_set(),
        (_, Some((c, None)), ReportRequest::SyncCollection { sync_token, sync_level, limit, props }) => {
            on_collection!(c, c => collection::sync_collection(&c, &sync_token, &sync_level, limit, &props).await)
                .unwrap_or_else(reply::error)
        }
        (
            _,
            Some((AnyCollection::Calendar(c), None)),
            ReportRequest::CalendarMultiget { props, calendar_data, hrefs },
        ) => collection::multiget(&c, props, hrefs, calendar_data).await.unwrap_or_else(reply::error),
        (_, Some((AnyCollection::Notes(c), None)), ReportRequest::CalendarMultiget { props, calendar_data, hrefs }) => {
            collection::multiget(&c, props, hrefs, calendar_data).await.unwrap_or_else(reply::error)
        }
        (_, Some((AnyCollection::Team(c), None)), ReportRequest::CalendarMultiget { props, calendar_data, hrefs }) => {
            collection::multiget(&c, props, hrefs, calendar_data).await.unwrap_or_else(reply::error)
        }
        (_, Some((AnyCollection::Team(_), None)), report) => team::report(s, report).await,
        (
            _,
            Some((AnyCollection::Book(c), None)),
            ReportRequest::AddressbookMultiget { props, address_data, hrefs },
        ) => collection::multiget(&c, props, hrefs, address_data).await.unwrap_or_else(reply::error),
        (_, Some((AnyCollection::Book(_), None)), report) => carddav::report(s, report).await,
        (_, Some((AnyCollection::Calendar(c), None)), report) => caldav::report(s, c.calendar(), report).await,
        (_, Some((AnyCollection::Notes(_), None)), _) => reply::refusal(&Refusal::new(
            Precondition::SupportedReport,
            "the notes collection answers calendar-multiget and sync-collection",
        )),
        _ if !exists(path, Some(s.rep)) => reply::not_found(&path.href()),
        _ => reply::refusal(&Refusal::new(Precondition::SupportedReport, "no report is supported on this resource")),
    }
}
