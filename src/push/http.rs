//! The requests of WebDAV-Push: a `POST` of `push-register` on a collection subscribes (or
//! updates a subscription), a `DELETE` of the registration URL it answered with unsubscribes.
//! Authentication and the 404 for another rep's collection are the DAV tree's, before this.

use chrono::{Duration, Utc};
use http::{HeaderValue, Method, StatusCode, header};

use super::subscriptions::{self, NewSubscription, Registered};
use super::webpush::{UserAgentKeys, normalize_base64url};
use super::{Push, REGISTRATIONS, Watched, delivery, target};
use crate::config::Config;
use crate::crm::reps::Rep;
use crate::dav::error::XmlError;
use crate::dav::names::PropName;
use crate::dav::push::{self, Registration};
use crate::dav::reply::{self, Reply};
use crate::store::{Store, Ts};

/// A registration request on one of the rep's collections.
pub struct RegisterRequest<'a> {
    pub rep: &'a Rep,
    pub watched: Watched,
    pub body: &'a [u8],
    /// The request's `Host`, for the registration URL when no public URL is configured.
    pub host: Option<&'a str>,
}

fn refused(precondition: PropName, message: &str) -> Reply {
    reply::precondition_failed(StatusCode::FORBIDDEN, precondition, message)
}

/// `POST` on a collection: 201 with the registration's `Location` and `Expires` for a new
/// subscription, 204 with the same headers when the push resource was registered already.
pub async fn register(store: &Store, config: &Config, push: &Push, request: RegisterRequest<'_>) -> Reply {
    if !push.enabled() {
        return refused(push::push_not_available(), "WebDAV-Push is turned off on this server");
    }
    let registration = match Registration::parse(request.body) {
        Ok(registration) => registration,
        Err(XmlError { precondition: Some(precondition), message }) => return refused(precondition, &message),
        Err(XmlError { message, .. }) => {
            return reply::text(StatusCode::BAD_REQUEST, format!("invalid push-register body: {message}"));
        }
    };
    let invalid = |message: &str| refused(push::invalid_subscription(), message);
    if let Err(reason) = target::check(&registration.push_resource, push.config().allow_insecure_loopback) {
        return invalid(&reason);
    }
    if let Err(reason) = UserAgentKeys::decode(&registration.public_key, &registration.auth_secret) {
        return invalid(&reason);
    }
    let (Some(public_key), Some(auth_secret)) =
        (normalize_base64url(&registration.public_key), normalize_base64url(&registration.auth_secret))
    else {
        return invalid("the subscription's keys are not base64url");
    };
    let now = Utc::now();
    let longest = now + Duration::days(push.config().max_expiry_days as i64);
    let expires = match registration.expires {
        Some(asked) if asked <= now => return invalid("expires is in the past"),
        Some(asked) => asked.min(longest),
        None => now + Duration::days(push.config().default_expiry_days as i64),
    };
    let collection = request.watched.key(request.rep.id);
    // Up to date now, so that what changed before the registration is not pushed.
    let baseline = match delivery::refresh(store, config, request.rep.id, request.watched).await {
        Ok(_) => subscriptions::content_seq(store, &collection).await,
        Err(e) => Err(e),
    };
    let baseline = match baseline {
        Ok(seq) => seq,
        Err(e) => return internal(e),
    };
    let new = NewSubscription {
        rep_id: request.rep.id,
        collection: &collection,
        push_resource: &registration.push_resource,
        public_key: &public_key,
        auth_secret: &auth_secret,
        // Whole seconds, as stored and as the Expires header says.
        expires_at: Ts(chrono::DateTime::from_timestamp(expires.timestamp(), 0).unwrap_or(expires)),
        baseline_seq: baseline,
    };
    let (status, id) = match subscriptions::register(store, &new, push.config().max_subscriptions_per_rep).await {
        Ok(Registered::Created(id)) => (StatusCode::CREATED, id),
        Ok(Registered::Updated(id)) => (StatusCode::NO_CONTENT, id),
        Ok(Registered::LimitReached) => {
            return refused(
                push::push_not_available(),
                &format!(
                    "{} holds {} push subscriptions, the most allowed: remove some (or let them expire) first",
                    request.rep.login,
                    push.config().max_subscriptions_per_rep
                ),
            );
        }
        Err(e) => return internal(e),
    };
    tracing::info!(rep = %request.rep.login, collection, registration = %id, created = status == StatusCode::CREATED, "push registration");
    let mut answer = empty(status);
    let location = format!("{}{REGISTRATIONS}{id}", base_url(config, push, request.host));
    let headers = answer.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    if let Ok(expires) = HeaderValue::from_str(&push::http_date(new.expires_at.0)) {
        headers.insert(header::EXPIRES, expires);
    }
    answer
}

/// A request to `/dav/push/ID`: `DELETE` unsubscribes (204), 404 for a registration the rep does
/// not hold (unknown, expired, or another rep's).
pub async fn registration(store: &Store, rep: &Rep, method: &Method, id: &str) -> Reply {
    if method != Method::DELETE {
        let mut answer = reply::text(StatusCode::METHOD_NOT_ALLOWED, "a push registration can only be deleted");
        answer.headers_mut().insert(header::ALLOW, HeaderValue::from_static("OPTIONS, DELETE"));
        return answer;
    }
    match subscriptions::unregister(store, rep.id, id).await {
        Ok(true) => {
            tracing::info!(rep = %rep.login, registration = %id, "push unregistration");
            empty(StatusCode::NO_CONTENT)
        }
        Ok(false) => reply::not_found(&format!("{REGISTRATIONS}{id}")),
        Err(e) => internal(e),
    }
}

/// Where devices reach the server: the configured public URL, else the listener's scheme and the
/// request's `Host`.
fn base_url(config: &Config, push: &Push, host: Option<&str>) -> String {
    if let Some(url) = &push.config().public_url {
        return url.trim_end_matches('/').to_string();
    }
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    let host = host
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'?' | b'#' | b'@')))
        .map_or_else(|| config.listen.to_string(), str::to_string);
    format!("{scheme}://{host}")
}

fn empty(status: StatusCode) -> Reply {
    let mut answer = http::Response::new(crate::dav::body::Body::empty());
    *answer.status_mut() = status;
    answer
}

fn internal(e: anyhow::Error) -> Reply {
    tracing::error!(error = %format!("{e:#}"), "push registration failed");
    reply::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was registered")
}
