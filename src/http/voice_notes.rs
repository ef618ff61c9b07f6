//! `GET`/`HEAD /dav/voice-notes/ID`: a voice note's audio, to the reps who see its client (404 to
//! the others, as for everything), with its type, length and ETag, and byte ranges (RFC 9110 14:
//! phones stream audio with `Range: bytes=...`).

use http::{HeaderValue, Method, StatusCode, header};

use crate::crm::reps::Rep;
use crate::crm::voice_notes;
use crate::dav::body::Body;
use crate::dav::conditions::Conditions;
use crate::dav::reply::{self, Reply};
use crate::store::Store;

pub async fn serve(store: &Store, rep: &Rep, method: &Method, id: &str, headers: &http::HeaderMap) -> Reply {
    let path = format!("{}{id}", voice_notes::PATH_PREFIX);
    if *method != Method::GET && *method != Method::HEAD {
        let mut answer = reply::text(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {path}"));
        answer.headers_mut().insert(header::ALLOW, HeaderValue::from_static("OPTIONS, GET, HEAD"));
        return answer;
    }
    let Ok(id) = id.parse::<i64>() else { return reply::not_found(&path) };
    let (note, bytes) = match voice_notes::audible(store, rep.id, id).await {
        Ok(Some(found)) => found,
        Ok(None) => return reply::not_found(&path),
        Err(e) => {
            tracing::error!(error = %e, "voice note read failed");
            return reply::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
    };
    let etag = format!("\"{}\"", note.sha256);
    let conditions = Conditions::parse(headers);
    if conditions.not_modified(&etag) {
        let mut not_modified = http::Response::new(Body::empty());
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        not_modified.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex etag"));
        return not_modified;
    }
    let total = bytes.len() as u64;
    // A Range is honoured unless If-Range names another version (RFC 9110 13.1.5).
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|tag| tag == etag));
    let (status, body, content_range) = match range {
        None => (StatusCode::OK, bytes, None),
        Some(range) => {
            let valid = http_range_header::parse_range_header(range).and_then(|ranges| ranges.validate(total));
            match valid.as_deref() {
                // One range: 206 with it. Several (rare for audio) are answered with the whole.
                Ok([one]) => {
                    let (start, end) = (*one.start(), *one.end());
                    let part = bytes[start as usize..=end as usize].to_vec();
                    (StatusCode::PARTIAL_CONTENT, part, Some(format!("bytes {start}-{end}/{total}")))
                }
                Ok(_) => (StatusCode::OK, bytes, None),
                Err(_) => {
                    let mut refused = reply::text(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        format!("the range {range:?} is not within the {total} bytes of {path}"),
                    );
                    refused.headers_mut().insert(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&format!("bytes */{total}")).expect("ascii"),
                    );
                    return refused;
                }
            }
        }
    };
    let length = body.len();
    let mut response = http::Response::new(if *method == Method::HEAD { Body::empty() } else { Body::from(body) });
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&note.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex etag"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    if let Some(content_range) = content_range {
        headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&content_range).expect("ascii"));
    }
    response
}
