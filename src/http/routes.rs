//! Routing: which part of the server answers a request, after limits and authentication.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::AppState;
use super::auth::AuthOutcome;
use super::response::{self, Reply};
use crate::crm::credentials::Authenticated;

/// A request whose body has been read (within the size limit) and whose sender is known.
pub struct Request {
    pub method: Method,
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub user: Authenticated,
}

impl Request {
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn user_agent(&self) -> &str {
        self.header(header::USER_AGENT).unwrap_or("")
    }
}

pub async fn handle(
    state: Arc<AppState>,
    peer: SocketAddr,
    request: http::Request<Incoming>,
) -> Result<Reply, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    // A feed token in the path is a credential: it is not logged.
    let path = crate::feeds::loggable_path(request.uri().path()).into_owned();
    let mut login = String::new();
    let mut reply = route(&state, peer, request, &mut login).await;
    reply.headers_mut().insert(header::SERVER, HeaderValue::from_static(concat!("crmdav/", env!("CARGO_PKG_VERSION"))));
    let status = reply.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(target: "crmdav::request", %method, %path, status, duration_ms, rep = %login, "request");
    Ok(reply)
}

async fn route(state: &Arc<AppState>, peer: SocketAddr, request: http::Request<Incoming>, login: &mut String) -> Reply {
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let method = request.method().clone();
    match (method.clone(), path.as_str()) {
        (Method::GET | Method::HEAD, "/healthz") => return healthz(state).await,
        (_, "/.well-known/caldav" | "/.well-known/carddav") => {
            // RFC 6764 section 5: point clients at the context path; they then ask it for their principal.
            return response::redirect(StatusCode::MOVED_PERMANENTLY, "/dav/");
        }
        // Subscription feeds: the token in the path is the credential, checked on every request.
        (_, feed) if feed.starts_with(crate::feeds::PREFIX) => {
            return crate::feeds::http::handle(state, &method, feed, request.headers(), login).await;
        }
        (Method::OPTIONS, _) => return options(&path, state.push.enabled()),
        // The web console has its own login (a session cookie), not HTTP Basic.
        (_, console) if crate::web::owns(console) => return crate::web::handle(state, peer, request, login).await,
        // Browsers ask for an icon on their own: a 401 challenge there would pop up a login dialog.
        (Method::GET | Method::HEAD, "/favicon.ico") if !request.headers().contains_key(header::AUTHORIZATION) => {
            return response::text(StatusCode::NOT_FOUND, "no icon");
        }
        // A browser opening the server's address lands on the console; DAV clients go on to /.
        (Method::GET | Method::HEAD, "/") if crate::web::wants_console(request.headers()) => {
            return response::redirect(StatusCode::SEE_OTHER, crate::web::PREFIX);
        }
        _ => {}
    }
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let client = super::client_addr::client_ip(peer.ip(), request.headers(), &state.config.trusted_proxies);
    let refused = match state.auth.authenticate(&state.store, authorization.as_deref(), client).await {
        Ok(AuthOutcome::Ok(user)) => Ok(user),
        Ok(AuthOutcome::Denied) => Err(response::unauthorized()),
        Ok(AuthOutcome::Throttled(wait)) => Err(response::too_many_attempts(wait)),
        Ok(AuthOutcome::Busy) => Err(response::logins_busy()),
        Err(e) => Err(internal_error(e)),
    };
    let user = match refused {
        Ok(user) => user,
        Err(reply) => return after_unread_body(state, request.into_body(), reply).await,
    };
    *login = user.rep.login.clone();
    // Reports: managers as well as admins (the rest of the admin API is for admins only).
    if crate::reports::http::owns(&path) {
        return crate::reports::http::handle(state, &method, &path, request.uri().query(), &user.rep).await;
    }
    let (parts, body) = request.into_parts();
    if let Some(length) =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && length > state.config.max_body_bytes as u64
    {
        return closing(too_large(state.config.max_body_bytes));
    }
    // A body dribbled, or chunked without end, would hold the connection and its buffer forever.
    let body_timeout = Duration::from_secs(state.config.connections.body_timeout_secs);
    let body = match tokio::time::timeout(body_timeout, Limited::new(body, state.config.max_body_bytes).collect()).await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return closing(too_large(state.config.max_body_bytes));
        }
        Ok(Err(e)) => {
            return response::text(StatusCode::BAD_REQUEST, format!("cannot read request body: {e}"));
        }
        Err(_) => return body_timed_out(body_timeout),
    };
    let request = Request { method, path, headers: parts.headers, body, user, query };
    dispatch(state, request).await
}

async fn dispatch(state: &Arc<AppState>, request: Request) -> Reply {
    if crate::import::http::owns(&request.path) {
        return crate::import::http::handle(state, &request).await;
    }
    if request.path == "/admin/api" || request.path.starts_with(super::admin::PREFIX) {
        return super::admin::handle(state, &request).await;
    }
    if request.path == "/" || request.path == "/dav" || request.path.starts_with("/dav/") {
        return super::dav::handle(state, &request).await;
    }
    response::text(StatusCode::NOT_FOUND, format!("no resource at {}", request.path))
}

/// 200 only when the database answers reads and commits a write.
async fn healthz(state: &AppState) -> Reply {
    if let Err(e) = state.store.current_seq().await {
        return response::text(StatusCode::SERVICE_UNAVAILABLE, format!("database unavailable: {e:#}"));
    }
    match state.store.check_writable().await {
        Ok(()) => response::text(StatusCode::OK, "ok"),
        Err(e) => response::text(StatusCode::SERVICE_UNAVAILABLE, format!("storage cannot commit writes: {e}")),
    }
}

/// OPTIONS needs no authentication: clients probe capabilities before they log in. The Allow
/// header is that of the resource when the path names one of the DAV tree (known from the path
/// alone: nothing stored is looked up for an anonymous request).
fn options(path: &str, push: bool) -> Reply {
    let mut reply = response::empty(StatusCode::OK);
    let headers = reply.headers_mut();
    // No "access-control": RFC 3744 would promise the ACL method and DAV:acl, which are not served.
    // "webdav-push": the collections advertise WebDAV-Push and take registrations (src/push).
    let parsed = crate::dav::path::DavPath::parse(path);
    let collection = matches!(
        parsed,
        Ok(crate::dav::path::DavPath::Addressbook { .. } | crate::dav::path::DavPath::Calendar { .. })
    );
    // "calendar-managed-attachments": objects take RFC 8607 attachments (voice notes) by POST.
    let calendars = matches!(
        parsed,
        Ok(crate::dav::path::DavPath::CalendarHome { .. }
            | crate::dav::path::DavPath::Calendar { .. }
            | crate::dav::path::DavPath::CalendarObject { .. })
    );
    let mut dav = String::from("1, 3, calendar-access, addressbook");
    if push && collection {
        dav.push_str(", webdav-push");
    }
    if calendars {
        dav.push_str(", calendar-managed-attachments");
    }
    headers.insert("DAV", HeaderValue::from_str(&dav).expect("ascii"));
    let allow = match parsed {
        Ok(path) if super::dav::exists(&path, None) => super::dav::allowed_methods(&path),
        _ => "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, REPORT",
    };
    headers.insert(header::ALLOW, HeaderValue::from_static(allow));
    reply
}

fn body_timed_out(limit: Duration) -> Reply {
    closing(response::text(
        StatusCode::REQUEST_TIMEOUT,
        format!("request body not received within {} seconds; the request was not applied", limit.as_secs()),
    ))
}

/// `reply` to a request whose body was not read (or not all of it): the connection then ends, and
/// the answer says so, so that the client does not send its next request into a closing connection.
fn closing(mut reply: Reply) -> Reply {
    reply.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    reply
}

/// Answers `reply` to a request refused before its body was read (no or wrong credentials): the body
/// is read first and dropped as it arrives, within the size limit and the body timeout, so that
/// the connection stays usable. Clients that send a body before they know the server wants
/// credentials (python caldav probes with a 401 first) retry on the same connection at once;
/// answered unread, that connection was closed under them ("remote end closed connection").
/// A body over the limit or too slow: the answer closes the connection.
async fn after_unread_body(state: &AppState, body: Incoming, reply: Reply) -> Reply {
    use hyper::body::Body as _;
    if body.is_end_stream() {
        return reply;
    }
    let limit = state.config.max_body_bytes;
    if body.size_hint().lower() > limit as u64 {
        return closing(reply);
    }
    let timeout = Duration::from_secs(state.config.connections.body_timeout_secs);
    let drain = async {
        let mut body = body;
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            seen += frame.data_ref().map_or(0, |data| data.len());
            if seen > limit {
                return false;
            }
        }
        true
    };
    match tokio::time::timeout(timeout, drain).await {
        Ok(true) => reply,
        _ => closing(reply),
    }
}

fn too_large(limit: usize) -> Reply {
    response::text(StatusCode::PAYLOAD_TOO_LARGE, format!("request body larger than the limit of {limit} bytes"))
}

pub fn internal_error(error: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %error, "request failed");
    response::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; the request was not applied")
}
