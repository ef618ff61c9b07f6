//! `GET|HEAD /feeds/{token}/activities.ics|clients.vcf`: answered before authentication, since the
//! token in the path is the credential.

use crate::dav::body::Body;
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::{FeedKind, PREFIX};
use crate::crm::credentials;
use crate::http::AppState;
use crate::http::response::{self, Reply};
use crate::mapping::vcard::etag as strong_etag;

/// `login` receives the rep's login, for the request log.
pub async fn handle(state: &AppState, method: &Method, path: &str, headers: &HeaderMap, login: &mut String) -> Reply {
    let not_found =
        || response::text(StatusCode::NOT_FOUND, "no feed at this address (the link may have been revoked)");
    let Some((token, file)) = path.strip_prefix(PREFIX).and_then(|rest| rest.split_once('/')) else {
        return not_found();
    };
    let Some(kind) = FeedKind::from_file_name(file) else { return not_found() };
    // Checked on every request, never cached: a revoked token is refused at once.
    let rep = match credentials::feed_token_rep(&state.store, token).await {
        Ok(Some(rep)) => rep,
        Ok(None) => return not_found(),
        Err(e) => return internal(e),
    };
    *login = rep.login.clone();
    if *method != Method::GET && *method != Method::HEAD {
        let mut reply = response::text(StatusCode::METHOD_NOT_ALLOWED, "feeds are read-only: use GET");
        reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return reply;
    }
    let now = Utc::now();
    touch(state, token, now).await;
    // Read before rendering: a change made meanwhile then shows in the body under an older date
    // (fetched again next time), never the reverse (a date newer than the body, hiding the change).
    let last_modified = match super::last_modified(&state.store, kind, now).await {
        Ok(at) => at,
        Err(e) => return internal(e),
    };
    let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    // RFC 9110 13.1.3: If-Modified-Since only counts without If-None-Match; it needs no rendering.
    if if_none_match.is_none()
        && let Some(last_modified) = last_modified
        && let Some(since) = headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()).and_then(http_date)
        && last_modified <= since
    {
        return not_modified(None, Some(last_modified));
    }
    let body = match super::render(&state.store, &state.config, &rep, kind, now).await {
        Ok(body) => body,
        Err(e) => return internal(e),
    };
    let etag = strong_etag(&body);
    if let Some(tags) = if_none_match
        && etag_matches(tags, &etag)
    {
        return not_modified(Some(&etag), last_modified);
    }
    let length = body.len();
    let head = *method == Method::HEAD;
    let mut reply = http::Response::new(if head { Body::empty() } else { Body::from(body) });
    let h = reply.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind.content_type()));
    if let Ok(disposition) = HeaderValue::from_str(&format!("inline; filename=\"{}\"", kind.file_name())) {
        h.insert(header::CONTENT_DISPOSITION, disposition);
    }
    if head {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    validators(h, Some(&etag), last_modified);
    reply
}

fn internal(error: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %error, "feed request failed");
    response::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

fn not_modified(etag: Option<&str>, last_modified: Option<DateTime<Utc>>) -> Reply {
    let mut reply = response::empty(StatusCode::NOT_MODIFIED);
    validators(reply.headers_mut(), etag, last_modified);
    reply
}

fn validators(h: &mut HeaderMap, etag: Option<&str>, last_modified: Option<DateTime<Utc>>) {
    if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
        h.insert(header::ETAG, etag);
    }
    if let Some(at) =
        last_modified.and_then(|at| HeaderValue::from_str(&at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok())
    {
        h.insert(header::LAST_MODIFIED, at);
    }
    // Revalidate every time (a revoked link must stop working), and never in a shared cache: the
    // URL is a secret and the content personal.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

/// Weak comparison (RFC 9110 8.8.3.2), as GET uses: `W/"x"` matches `"x"`; `*` matches anything.
fn etag_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`); other or invalid forms are ignored.
fn http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value.trim()).ok().map(|t| t.with_timezone(&Utc))
}

/// Records that the token is in use (shown by `token list`), at most once an hour per token so
/// that polling apps do not turn reads into writes. A failure only costs the record.
async fn touch(state: &AppState, token: &str, now: DateTime<Utc>) {
    let hash = credentials::token_hash(token);
    let stale = crate::store::Ts(now - chrono::Duration::hours(1));
    let result = crate::on_db!(state.store, write, |pool| {
        sqlx::query(
            "UPDATE credentials SET last_used_at = $2 WHERE secret_hash = $1 AND kind = 'feed-token' \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(&hash)
        .bind(crate::store::Ts(now))
        .bind(stale)
        .execute(pool)
        .await
        .map(|_| ())
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot record feed token use");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_helpers() {
        assert!(etag_matches("\"a\", W/\"b\"", "\"b\""));
        assert!(etag_matches("*", "\"b\""));
        assert!(!etag_matches("\"a\"", "\"b\""));
        let date = http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(date.to_rfc3339(), "1994-11-06T08:49:37+00:00");
        assert!(http_date("yesterday").is_none());
    }
}
