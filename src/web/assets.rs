//! The console's stylesheet and script, compiled into the binary (no CDN, nothing to deploy).

use http::{HeaderValue, StatusCode, header};

use crate::http::response::{self, Reply};

pub const CSS_PATH: &str = "/ui/assets/console.css";
pub const JS_PATH: &str = "/ui/assets/console.js";

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

pub fn serve(name: &str) -> Reply {
    let (content_type, body) = match name {
        "console.css" => ("text/css; charset=utf-8", CSS),
        "console.js" => ("text/javascript; charset=utf-8", JS),
        _ => return super::page_error(StatusCode::NOT_FOUND, &format!("no console asset {name:?}")),
    };
    let mut reply = response::reply(StatusCode::OK, content_type, body);
    reply.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    reply
}
