//! DAV answers: multistatus, errors with preconditions, Depth and conditional-request headers.

use crate::http::body::Body;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::error::Refusal;
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

/// The properties of a collection member from its ETag and, when asked for, its text.
pub type MemberProps = fn(&str, Option<String>) -> Vec<(PropName, PropValue)>;

/// A PROPFIND Depth 1 answer, sent while it is written: `body` (the collection's own response),
/// then each of `members` under `collection` with the properties `member_props` gives it.
pub fn members(
    body: Multistatus,
    collection: String,
    members: Vec<crate::store::sync::Stored>,
    request: &PropfindRequest,
    data_name: PropName,
    member_props: MemberProps,
) -> Reply {
    let request = request.clone();
    multistatus_streamed(body.stream(members, move |body, member| {
        body.add_response(
            &format!("{collection}{}", member.href),
            &select_props(&request, member_props(&member.etag, member.body), std::slice::from_ref(&data_name)),
        )
    }))
}

/// The sync-collection answer of one page of changes (RFC 6578 3.2), sent while it is written:
/// each change under `collection` with the properties `member_props` gives it from its ETag and
/// text, a 404 for each member that left, the 507 of an answer cut at the client's limit, then
/// the token to ask with next.
pub fn sync_collection(
    collection: String,
    page: crate::store::sync::Page,
    request: &PropfindRequest,
    data_name: PropName,
    member_props: MemberProps,
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
            &select_props(&request, member_props(&change.etag, change.body), std::slice::from_ref(&data_name)),
        ),
        None => body.add_status_with_error(&collection, 507, &PropName::dav("number-of-matches-within-limits")),
    }))
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
pub fn representation(headers: &HeaderMap, etag: &str, content_type: &'static str, body: String, head: bool) -> Reply {
    let etag_value = HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*"));
    if cached {
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

/// Checks If-Match / If-None-Match (RFC 7232) against the current ETag (None: no resource).
pub fn check_conditions(headers: &HeaderMap, current_etag: Option<&str>) -> Result<(), Reply> {
    let list = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/").to_string()).collect::<Vec<_>>())
    };
    if let Some(tags) = list("if-match") {
        let ok = match current_etag {
            Some(etag) => tags.iter().any(|t| t == "*" || t == etag),
            None => false,
        };
        if !ok {
            return Err(text(
                StatusCode::PRECONDITION_FAILED,
                match current_etag {
                    Some(etag) => {
                        format!("If-Match failed: the resource has changed (its ETag is now {etag}); fetch it again")
                    }
                    None => "If-Match failed: the resource does not exist".to_string(),
                },
            ));
        }
    }
    if let Some(tags) = list("if-none-match") {
        let clash = match current_etag {
            Some(etag) => tags.iter().any(|t| t == "*" || t == etag),
            None => false,
        };
        if clash {
            return Err(text(StatusCode::PRECONDITION_FAILED, "If-None-Match failed: the resource already exists"));
        }
    }
    Ok(())
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
    fn conditional_headers() {
        let mut headers = HeaderMap::new();
        assert!(check_conditions(&headers, None).is_ok());
        headers.insert("if-match", HeaderValue::from_static("\"a\""));
        assert!(check_conditions(&headers, Some("\"a\"")).is_ok());
        assert!(check_conditions(&headers, Some("\"b\"")).is_err());
        assert!(check_conditions(&headers, None).is_err());
        let mut headers = HeaderMap::new();
        headers.insert("if-none-match", HeaderValue::from_static("*"));
        assert!(check_conditions(&headers, None).is_ok());
        assert!(check_conditions(&headers, Some("\"a\"")).is_err());
    }

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
