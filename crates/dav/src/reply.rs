//! DAV answers: multistatus, errors with preconditions, Depth and conditional-request headers.

use super::body::Body;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::collection::MemberShape;
use super::conditions::Conditions;
use super::error::{DavError, Refusal};
use super::multistatus::{Multistatus, PropStat, PropValue, error_body, error_body_with_href};
use super::names::PropName;
use super::request::PropfindRequest;

pub type Reply = http::Response<Body>;

pub fn xml(status: StatusCode, body: String) -> Reply {
    let mut response = http::Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml; charset=utf-8"));
    response
}

pub fn multistatus(body: Multistatus) -> Reply {
    xml(StatusCode::MULTI_STATUS, body.finish())
}

/// A 207 sent while it is written (see [`Multistatus::stream`]).
pub fn multistatus_streamed(chunks: impl Iterator<Item = String> + Send + 'static) -> Reply {
    let mut response = xml(StatusCode::MULTI_STATUS, String::new());
    *response.body_mut() = Body::chunks(chunks.map(bytes::Bytes::from));
    response
}

/// A PROPFIND Depth 1 answer, sent while it is written: `body` (the collection's own response),
/// then each of `members` under `collection` with the properties `shape` gives it.
pub fn members(
    body: Multistatus,
    collection: String,
    members: Vec<super::members::Stored>,
    request: &PropfindRequest,
    shape: MemberShape,
) -> Reply {
    let request = request.clone();
    multistatus_streamed(body.stream(members, move |body, member| {
        body.add_response(
            &format!("{collection}{}", member.href),
            &shape.propstats(&request, &member.etag, member.body),
        )
    }))
}

/// The sync-collection answer of one page of changes (RFC 6578 3.2), sent while it is written:
/// each change under `collection` with the properties `shape` gives it from its ETag and text, a
/// 404 for each member that left, the 507 of an answer cut at the client's limit, then the token
/// to ask with next.
pub fn sync_collection(
    collection: String,
    page: super::members::Page,
    request: &PropfindRequest,
    shape: MemberShape,
) -> Reply {
    let mut body = Multistatus::new();
    body.set_sync_token(page.next_token);
    let request = request.clone();
    // Each change, then (None) the mark of an answer cut at the client's limit.
    let items = page.changes.into_iter().map(Some).chain(page.truncated.then_some(None));
    multistatus_streamed(body.stream(items, move |body, change| match change {
        Some(change) if change.deleted => body.add_status(&format!("{collection}{}", change.href), 404),
        Some(change) => body.add_response(
            &format!("{collection}{}", change.href),
            &shape.propstats(&request, &change.etag, change.body),
        ),
        None => body.add_status_with_error(&collection, 507, &PropName::dav("number-of-matches-within-limits")),
    }))
}

/// The href a multistatus names a requested member by that is not there: its path, decoded, as
/// found members are named (a client may have sent an absolute URL).
pub fn unknown_member(href: &str) -> String {
    let path = match href.find("://") {
        Some(i) => href[i + 3..].find('/').map_or("/", |j| &href[i + 3 + j..]),
        None => href,
    };
    percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned()
}

/// An error with a `DAV:error` body naming the precondition, and a sentence for people.
pub fn precondition_failed(status: StatusCode, precondition: PropName, message: &str) -> Reply {
    xml(status, error_body(&precondition, message))
}

/// The answer to a refused request: the precondition's status and a `DAV:error` body naming it
/// (with the href of the resource in the way, when there is one to name).
pub fn refusal(refusal: &Refusal) -> Reply {
    let name = refusal.precondition.name();
    let body = match &refusal.href {
        Some(href) => error_body_with_href(&name, href, &refusal.message),
        None => error_body(&name, &refusal.message),
    };
    xml(refusal.precondition.status(), body)
}

pub fn text(status: StatusCode, message: impl Into<String>) -> Reply {
    let mut message = message.into();
    message.push('\n');
    let mut response = http::Response::new(Body::from(message));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

pub fn not_found(href: &str) -> Reply {
    text(StatusCode::NOT_FOUND, format!("no resource at {href}"))
}

/// The answer to GET or HEAD of a resource whose representation is `body`: 304 when the client's
/// If-None-Match already names `etag`, else the body (none for HEAD) with its type and ETag.
pub fn representation(
    conditions: &Conditions,
    etag: &str,
    content_type: &'static str,
    body: String,
    head: bool,
) -> Reply {
    let etag_value = HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    if conditions.not_modified(etag) {
        let mut not_modified = http::Response::new(Body::empty());
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        not_modified.headers_mut().insert(header::ETAG, etag_value);
        return not_modified;
    }
    let length = body.len();
    let mut response = http::Response::new(if head { Body::empty() } else { Body::from(body) });
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::ETAG, etag_value);
    if head {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    response
}

/// The one answer to every [`DavError`]: the refusal's precondition, a plain sentence, or a
/// 500 that names nothing internal (the cause goes to the log).
pub fn error(error: DavError) -> Reply {
    match error {
        DavError::Refused(r) => refusal(&r),
        DavError::NotFound(href) => not_found(&href),
        DavError::Status(status, message) => text(status, message),
        DavError::Internal(e) => {
            tracing::error!(error = %e, "DAV request failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was changed")
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    Zero,
    One,
    Infinity,
}

/// The Depth header; `default` when absent (RFC 4918: infinity for PROPFIND, 0 for REPORT).
pub fn depth(headers: &HeaderMap, default: Depth) -> Result<Depth, Reply> {
    match headers.get("depth").map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "0" => Ok(Depth::Zero),
        Some(v) if v == "1" => Ok(Depth::One),
        Some(v) if v == "infinity" => Ok(Depth::Infinity),
        Some(v) => Err(text(StatusCode::BAD_REQUEST, format!("invalid Depth header {v:?}: use 0, 1 or infinity"))),
    }
}

/// The propstats answering `request` for a resource that has `available` properties.
/// `on_demand` names properties that exist but are only computed when asked for by name (they
/// are left out of allprop, as RFC 4918 allows for expensive ones).
pub fn select_props(
    request: &PropfindRequest,
    available: Vec<(PropName, PropValue)>,
    on_demand: &[PropName],
) -> Vec<PropStat> {
    match request {
        PropfindRequest::PropName => {
            let mut names: Vec<PropName> = available.into_iter().map(|(n, _)| n).collect();
            names.extend(on_demand.iter().cloned());
            vec![PropStat::names_only(200, names)]
        }
        PropfindRequest::AllProp { include } => {
            let mut found = available;
            found.retain(|(name, _)| !on_demand.contains(name) || include.contains(name));
            vec![PropStat::new(200, found)]
        }
        PropfindRequest::Prop(wanted) => {
            let mut found = Vec::new();
            let mut missing = Vec::new();
            let mut available = available;
            for name in wanted {
                match available.iter().position(|(n, _)| n == name) {
                    Some(i) => found.push(available.swap_remove(i)),
                    None => missing.push(name.clone()),
                }
            }
            vec![PropStat::new(200, found), PropStat::names_only(404, missing)]
        }
    }
}

/// Whether `request` asks for property `name` (allprop only includes it through `include`).
pub fn wants(request: &PropfindRequest, name: &PropName) -> bool {
    match request {
        PropfindRequest::Prop(names) => names.contains(name),
        PropfindRequest::AllProp { include } => include.contains(name),
        PropfindRequest::PropName => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(depth(&headers, Depth::Infinity).unwrap(), Depth::Infinity);
        headers.insert("depth", HeaderValue::from_static("1"));
        assert_eq!(depth(&headers, Depth::Zero).unwrap(), Depth::One);
        headers.insert("depth", HeaderValue::from_static("2"));
        assert!(depth(&headers, Depth::Zero).is_err());
    }
}
