//! The web console under `/ui/`: server-rendered pages (maud templates, checked at compile time),
//! every asset embedded in the binary, its own login with a server-side session cookie and a CSRF
//! token on every form. It grants what the JSON API grants: its writes go through the JSON API
//! in-process ([`api`]: the admin API, and `/admin/api/me/tokens` for a rep's own tokens), so
//! rights, validation and the audit log are those of the API.
//!
//! Pages: login; for everyone "Set up my devices" and "My figures"; for admins the reps, the
//! visibility rules with a live preview, client reassignment and the audit log; for managers and
//! admins the reports dashboard.

mod admin;
mod api;
mod assets;
mod devices;
mod layout;
mod login;
mod manager;
mod profile;
pub mod session;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use maud::Markup;

use crate::http::AppState;
use crate::http::response::{self, Reply};
use session::Session;

pub const PREFIX: &str = "/ui/";

/// The console's forms are small: a bound far under the DAV body limit.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Whether the path belongs to the console.
pub fn owns(path: &str) -> bool {
    path == "/ui" || path.starts_with(PREFIX)
}

/// Whether a request to `/` comes from a browser (not a DAV client) and should go to the console.
pub fn wants_console(headers: &http::HeaderMap) -> bool {
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|t| t.trim().starts_with("text/html")));
    accepts_html && !headers.contains_key(header::AUTHORIZATION)
}

/// A console request, its form fields read, and its session if it has one.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub headers: http::HeaderMap,
    pub client: IpAddr,
    /// `scheme://host` the browser reached the server at: what devices are given.
    pub base: String,
    pub secure: bool,
    pub session: Option<Session>,
}

impl Ctx<'_> {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A form field, trimmed, `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.field(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.form.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect()
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    pub fn user_agent(&self) -> &str {
        self.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The session of a page that needs one (routing has checked it is there).
    pub fn session(&self) -> &Session {
        self.session.as_ref().expect("a page behind the login has a session")
    }
}

pub async fn handle(
    state: &Arc<AppState>,
    peer: SocketAddr,
    request: http::Request<Incoming>,
    login: &mut String,
) -> Reply {
    let (parts, body) = request.into_parts();
    let body_timeout = Duration::from_secs(state.config.connections.body_timeout_secs);
    let body = match tokio::time::timeout(body_timeout, Limited::new(body, MAX_FORM_BYTES).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            return page_error(StatusCode::PAYLOAD_TOO_LARGE, &format!("a form larger than {MAX_FORM_BYTES} bytes"));
        }
        Err(_) => return page_error(StatusCode::REQUEST_TIMEOUT, "the form was not received in time; try again"),
    };
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form { form_urlencoded::parse(&body).into_owned().collect() } else { Vec::new() };
    let query =
        parts.uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let base = crate::feeds::request_base(&state.config, &parts.headers);
    let client = crate::http::client_ip(peer.ip(), &parts.headers, &state.config.trusted_proxies);
    let session = match parts
        .headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| session::cookie(c, session::COOKIE))
    {
        Some(secret) => match session::find(&state.store, secret).await {
            Ok(found) => found,
            Err(e) => return internal(e),
        },
        None => None,
    };
    if let Some(session) = &session {
        *login = session.rep.login.clone();
    }
    let ctx = Ctx {
        state,
        method: parts.method,
        path: parts.uri.path().to_string(),
        query,
        form,
        secure: base.starts_with("https://"),
        base,
        headers: parts.headers,
        client,
        session,
    };
    let mut reply = route(&ctx).await;
    let headers = reply.headers_mut();
    // Pages hold tokens and CRM data: never cached, never framed, nothing loaded from elsewhere.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
    ));
    reply
}

async fn route(ctx: &Ctx<'_>) -> Reply {
    let path = ctx.path.as_str();
    let method = &ctx.method;
    if path == "/ui" {
        return response::redirect(StatusCode::MOVED_PERMANENTLY, PREFIX);
    }
    if let Some(asset) = path.strip_prefix("/ui/assets/") {
        return assets::serve(asset);
    }
    if path == "/ui/login" {
        return match *method {
            Method::GET | Method::HEAD => login::form(ctx, None, StatusCode::OK),
            Method::POST => login::submit(ctx).await,
            _ => not_allowed("GET, POST"),
        };
    }
    let Some(session) = &ctx.session else {
        if path.ends_with(".json") {
            return response::json(StatusCode::UNAUTHORIZED, &serde_json::json!({"error": "log in to the console"}));
        }
        return response::redirect(StatusCode::SEE_OTHER, "/ui/login");
    };
    // Every state change carries the session's CSRF token (a form field, or a header from the
    // console's script); SameSite=Strict already keeps the cookie off cross-site requests.
    if *method == Method::POST {
        let sent = ctx.field("csrf").or_else(|| ctx.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()));
        if !sent.is_some_and(|sent| session::same_secret(sent, &session.csrf_token)) {
            return page_error(
                StatusCode::FORBIDDEN,
                "this form did not come from your console session (CSRF check failed): reload the page and try again",
            );
        }
    } else if *method != Method::GET && *method != Method::HEAD {
        return not_allowed("GET, POST");
    }
    let role = session.rep.role.as_str();
    let segments: Vec<&str> = path.trim_start_matches(PREFIX).split('/').filter(|s| !s.is_empty()).collect();
    match (segments.first().copied(), method == Method::POST) {
        (Some("logout"), true) => login::logout(ctx).await,
        (None | Some("devices"), _) => devices::handle(ctx, &segments).await,
        (Some("tokens"), true) => devices::handle(ctx, &segments).await,
        (Some("figures"), false) => manager::figures(ctx).await,
        (Some("admin"), _) if role != "admin" => page_error(StatusCode::FORBIDDEN, "this page needs an admin account"),
        (Some("admin"), _) => admin::handle(ctx, &segments[1..]).await,
        (Some("dashboard" | "reports" | "team"), _) if role != "admin" && role != "manager" => {
            page_error(StatusCode::FORBIDDEN, "this page needs a manager or admin account")
        }
        (Some("dashboard"), false) => manager::dashboard(ctx).await,
        (Some("reports"), false) => manager::download(ctx, &segments[1..]).await,
        (Some("team"), false) => manager::team(ctx).await,
        _ => page_error(StatusCode::NOT_FOUND, &format!("no console page at {path}")),
    }
}

/// A full HTML page.
pub fn html(status: StatusCode, markup: Markup) -> Reply {
    response::reply(status, "text/html; charset=utf-8", markup.into_string())
}

/// An error as a page a person can read, with a way back.
pub fn page_error(status: StatusCode, message: &str) -> Reply {
    html(status, layout::bare(&format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")), message))
}

fn not_allowed(allow: &'static str) -> Reply {
    let mut reply = page_error(StatusCode::METHOD_NOT_ALLOWED, &format!("use {allow} on this page"));
    reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    reply
}

pub fn internal(error: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %error, "console request failed");
    page_error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was changed")
}
