//! The console's writes go through the JSON API in-process: one implementation of
//! the rights, the validation and the audit log, and proof that the API covers what the console does.

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;

use super::Ctx;
use crate::crm::credentials::Authenticated;
use crate::http::admin;
use crate::http::routes::Request;

/// A refusal of the API: its status and its sentence.
pub struct Refused {
    pub status: StatusCode,
    pub message: String,
}

/// Calls `method path[?query]` of the admin API as the session's rep, with a JSON body.
pub async fn call(ctx: &Ctx<'_>, method: Method, path: &str, body: Option<Value>) -> Result<Value, Refused> {
    let session = ctx.session();
    let mut headers = http::HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // The audit log names the device: the console, then the browser.
    let device = format!("crmdav console; {}", ctx.user_agent());
    if let Ok(value) = HeaderValue::from_str(&device) {
        headers.insert(header::USER_AGENT, value);
    }
    let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q.to_string())));
    let request = Request {
        method,
        path: path.to_string(),
        query,
        headers,
        body: body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
        // Not a stored credential: the session proved who this is.
        user: Authenticated { rep: session.rep.clone(), credential_id: 0, change_seq: None },
    };
    let reply = admin::handle(ctx.state, &request).await;
    let status = reply.status();
    let bytes = reply.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(value)
    } else {
        let message = value.get("error").and_then(Value::as_str).unwrap_or("the request was refused").to_string();
        Err(Refused { status, message })
    }
}

/// The path segment of a login or code in an API path.
pub fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
