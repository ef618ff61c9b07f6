//! Building responses.

use crate::dav::body::Body;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

pub type Reply = http::Response<Body>;

/// A response with a body and content type.
pub fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    let mut response = http::Response::new(Body::from(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A plain-text response whose body says what happened, for humans reading logs or curl output.
pub fn text(status: StatusCode, message: impl Into<String>) -> Reply {
    let mut message = message.into();
    message.push('\n');
    reply(status, "text/plain; charset=utf-8", message)
}

pub fn empty(status: StatusCode) -> Reply {
    let mut response = http::Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

pub fn unauthorized() -> Reply {
    let mut response =
        text(StatusCode::UNAUTHORIZED, "authentication required: use your crmdav login and password or an app token");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"crmdav\", charset=\"UTF-8\""));
    response
}

pub fn too_many_attempts(retry_after_secs: u64) -> Reply {
    let mut response = text(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many failed logins for this login or address: try again in {retry_after_secs} s"),
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// Password checks are rationed (each costs ~19 MiB and a core for tens of milliseconds).
pub fn logins_busy() -> Reply {
    let mut response =
        text(StatusCode::SERVICE_UNAVAILABLE, "too many logins are being checked at once: try again in a second");
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pub fn redirect(status: StatusCode, location: &str) -> Reply {
    let mut response = empty(status);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Reply {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => reply(status, "application/json", body),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode response: {e}")),
    }
}
