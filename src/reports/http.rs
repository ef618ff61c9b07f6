//! `GET /admin/api/reports/` (the list of reports) and
//! `GET /admin/api/reports/{kind}?rep=&from=&to=&compare=&format=&bom=`, for admins and managers.
//! Errors are JSON `{"error": "..."}`, as in the rest of the admin API.

use std::collections::HashMap;

use http::{HeaderValue, Method, StatusCode, header};
use serde_json::json;

use super::{Compare, Format, Kind, Params, output, parse_date};
use crate::crm::CrmError;
use crate::crm::reps::Rep;
use crate::crm::teams;
use crate::http::AppState;
use crate::http::response::{self, Reply};

pub const PREFIX: &str = "/admin/api/reports";

/// Whether the path is one this module answers.
pub fn owns(path: &str) -> bool {
    path == PREFIX || path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

fn error(status: StatusCode, message: &str) -> Reply {
    response::json(status, &json!({ "error": message }))
}

/// `rep` is the authenticated sender; `query` the raw query string. A manager's reports cover the
/// reps of the teams they lead, and no one else.
pub async fn handle(state: &AppState, method: &Method, path: &str, query: Option<&str>, rep: &Rep) -> Reply {
    let role = rep.role.as_str();
    if role != "admin" && role != "manager" {
        return error(StatusCode::FORBIDDEN, "reports need a manager or admin account");
    }
    let rest = path.strip_prefix(PREFIX).unwrap_or("").trim_matches('/');
    if rest.contains('/') {
        return error(StatusCode::NOT_FOUND, &format!("no report at {path}"));
    }
    if *method != Method::GET && *method != Method::HEAD {
        let mut reply = error(StatusCode::METHOD_NOT_ALLOWED, &format!("{method} is not allowed on {path}; use GET"));
        reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return reply;
    }
    if rest.is_empty() {
        let kinds: Vec<_> = Kind::ALL
            .iter()
            .map(|k| {
                json!({
                    "report": k.name(),
                    "title": k.title(),
                    "description": k.description(),
                    "href": format!("{PREFIX}/{}", k.name()),
                })
            })
            .collect();
        return response::json(
            StatusCode::OK,
            &json!({ "reports": kinds, "compare": ["reps", "years"], "formats": ["json", "csv", "svg"] }),
        );
    }
    let Ok(kind) = rest.parse::<Kind>() else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no report {rest:?}; reports: {}", Kind::ALL.map(Kind::name).join(", ")),
        );
    };
    let (mut params, format, bom) = match parse_query(kind, query) {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    if role == "manager" {
        let team = match teams::team_logins(&state.store, &rep.login).await {
            Ok(team) => team,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot read the manager's teams");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
            }
        };
        params = params.within(team);
        // An unknown login is answered as for anyone (400, from the report); a rep of another
        // team is refused.
        let known = match &params.rep {
            Some(login) => crate::crm::reps::find(&state.store, login).await.ok().flatten().is_some(),
            None => false,
        };
        if let Some(login) = params.rep.as_deref().filter(|login| known && !params.covers(login)) {
            return error(
                StatusCode::FORBIDDEN,
                &format!("{login} is not in a team you manage: a manager's reports cover the reps of their teams"),
            );
        }
    }
    let report = match super::run(&state.store, &params).await {
        Ok(report) => report,
        Err(CrmError::Invalid(m)) => return error(StatusCode::BAD_REQUEST, &m),
        Err(CrmError::NotFound(m)) => return error(StatusCode::NOT_FOUND, &m),
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), report = kind.name(), "report failed");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
    };
    let body = match output::render(&report, format, bom) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), report = kind.name(), "report rendering failed");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
    };
    let length = body.len();
    let mut reply = response::reply(
        StatusCode::OK,
        format.content_type(),
        if *method == Method::HEAD { String::new() } else { body },
    );
    let h = reply.headers_mut();
    if *method == Method::HEAD {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    let file = format!("{}_{}_{}.{}", kind.name(), params.period.from, params.period.to, format.extension());
    let disposition = if format == Format::Csv { "attachment" } else { "inline" };
    if let Ok(value) = HeaderValue::from_str(&format!("{disposition}; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    // Charts are shown in browsers: nothing in them may run or load.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    reply
}

const QUERY_FIELDS: &[&str] = &["rep", "from", "to", "compare", "format", "bom"];

fn parse_query(kind: Kind, query: Option<&str>) -> Result<(Params, Format, bool), String> {
    let mut fields: HashMap<String, String> = HashMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| format!("{name}: not UTF-8"))
        };
        let (name, value) = (decode(name)?, decode(value)?);
        if !QUERY_FIELDS.contains(&name.as_str()) {
            return Err(format!("{name}: unknown parameter; expected {}", QUERY_FIELDS.join(", ")));
        }
        if fields.insert(name.clone(), value).is_some() {
            return Err(format!("{name}: given twice"));
        }
    }
    let get = |name: &str| fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let date = |name: &str| get(name).map(|v| parse_date(v).map_err(|e| format!("{name}: {e}"))).transpose();
    let compare = get("compare").map(|v| v.parse::<Compare>().map_err(|e| format!("compare: {e}"))).transpose()?;
    let format = get("format").map_or(Ok(Format::Json), |v| v.parse::<Format>().map_err(|e| format!("format: {e}")))?;
    let bom = match get("bom") {
        None | Some("0" | "false" | "no") => false,
        Some("1" | "true" | "yes") => true,
        Some(other) => return Err(format!("bom: {other:?} is not a yes/no value; use 1 or 0")),
    };
    let today = chrono::Utc::now().date_naive();
    let params = Params::new(kind, get("rep").map(str::to_string), date("from")?, date("to")?, compare, today)
        .map_err(|e| e.to_string())?;
    Ok((params, format, bom))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let (params, format, bom) =
            parse_query(Kind::ActivityResults, Some("rep=alice&from=2026-01-01&to=2026-06-30&format=csv&bom=1"))
                .unwrap();
        assert_eq!(params.rep.as_deref(), Some("alice"));
        assert_eq!(params.period.to.to_string(), "2026-06-30");
        assert_eq!((format, bom), (Format::Csv, true));
        assert!(parse_query(Kind::ActivityResults, Some("from=yesterday")).unwrap_err().starts_with("from:"));
        assert!(parse_query(Kind::ActivityResults, Some("repp=alice")).unwrap_err().contains("unknown parameter"));
        assert!(parse_query(Kind::ActivityResults, Some("compare=teams")).is_err());
        assert!(owns("/admin/api/reports") && owns("/admin/api/reports/x") && !owns("/admin/api/reportsx"));
    }
}
