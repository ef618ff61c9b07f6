//! `POST /admin/api/import/{entity}?dry_run=&partial=` (a CSV body) and
//! `GET /admin/api/export/{entity}` (CSV), for admins. Errors are JSON `{"error": "..."}` as in the
//! rest of the admin API; an import with rejected rows answers 422 with the same report as a
//! successful one (what was, or would have been, inserted, updated, unchanged, and each rejected
//! line with its reason). Every import is audited.

use http::{HeaderValue, Method, StatusCode, header};
use serde_json::json;

use super::{Entity, ImportError, Options, Quiet};
use crate::crm::audit::{self, AuditEntry};
use crate::http::AppState;
use crate::http::response::{self, Reply};
use crate::http::routes::Request;

const IMPORT: &str = "/admin/api/import";
const EXPORT: &str = "/admin/api/export";

/// Whether the path is one this module answers.
pub fn owns(path: &str) -> bool {
    [IMPORT, EXPORT]
        .iter()
        .any(|prefix| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/')))
}

fn error(status: StatusCode, message: &str) -> Reply {
    response::json(status, &json!({ "error": message }))
}

fn not_allowed(method: &Method, path: &str, allow: &'static str) -> Reply {
    let mut reply = error(StatusCode::METHOD_NOT_ALLOWED, &format!("{method} is not allowed on {path}; use {allow}"));
    reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    reply
}

pub async fn handle(state: &AppState, request: &Request) -> Reply {
    if !request.user.rep.is_admin() {
        return error(StatusCode::FORBIDDEN, "import and export need an admin account");
    }
    let (importing, rest) = match request.path.strip_prefix(IMPORT) {
        Some(rest) => (true, rest),
        None => (false, request.path.strip_prefix(EXPORT).unwrap_or("")),
    };
    let entities = Entity::ALL.map(Entity::name).join(", ");
    let name = rest.trim_matches('/');
    let Ok(entity) = name.parse::<Entity>() else {
        return error(StatusCode::NOT_FOUND, &format!("no entity {name:?} at {}; entities: {entities}", request.path));
    };
    if importing {
        if request.method != Method::POST {
            return not_allowed(&request.method, &request.path, "POST");
        }
        import(state, request, entity).await
    } else {
        if request.method != Method::GET && request.method != Method::HEAD {
            return not_allowed(&request.method, &request.path, "GET, HEAD");
        }
        export(state, request, entity).await
    }
}

fn options(query: Option<&str>) -> Result<Options, String> {
    let mut options = Options::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, "1"));
        let flag = match value {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" => false,
            other => return Err(format!("{name}: {other:?} is not a yes/no value; use 1 or 0")),
        };
        match name {
            "dry_run" => options.dry_run = flag,
            "partial" => options.partial = flag,
            other => return Err(format!("{other}: unknown parameter; expected dry_run, partial")),
        }
    }
    Ok(options)
}

async fn import(state: &AppState, request: &Request, entity: Entity) -> Reply {
    let options = match options(request.query.as_deref()) {
        Ok(options) => options,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let audit = |outcome: &'static str, after: serde_json::Value| AuditEntry {
        rep_id: Some(request.user.rep.id),
        device: request.user_agent(),
        action: "import",
        target: entity.name(),
        outcome,
        before: None,
        after: Some(after.to_string()),
    };
    match super::import(&state.store, entity, &request.body, options, &Quiet).await {
        Ok(outcome) => {
            let status = if outcome.rejected.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            if !options.dry_run {
                let summary = json!({ "inserted": outcome.inserted, "updated": outcome.updated,
                    "unchanged": outcome.unchanged, "rejected": outcome.rejected.len(), "written": outcome.written });
                let result = if outcome.written { "ok" } else { "refused" };
                if let Err(e) = audit::record(&state.store, audit(result, summary)).await {
                    tracing::error!(error = %format!("{e:#}"), "cannot write audit row");
                }
            }
            response::json(status, &outcome)
        }
        Err(ImportError::Refused(message)) => error(StatusCode::BAD_REQUEST, &message),
        Err(ImportError::Storage(e)) => {
            tracing::error!(error = %format!("{e:#}"), entity = entity.name(), "import failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was imported")
        }
    }
}

async fn export(state: &AppState, request: &Request, entity: Entity) -> Reply {
    if let Some(query) = request.query.as_deref().filter(|q| !q.is_empty()) {
        return error(StatusCode::BAD_REQUEST, &format!("{query}: an export takes no parameters"));
    }
    let body = match super::export::export(&state.store, entity).await {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), entity = entity.name(), "export failed");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
    };
    let length = body.len();
    let head = request.method == Method::HEAD;
    let mut reply = response::reply(
        StatusCode::OK,
        "text/csv; charset=utf-8; header=present",
        if head { Vec::new() } else { body },
    );
    let h = reply.headers_mut();
    if head {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{}.csv\"", entity.name())) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_options() {
        assert!(owns("/admin/api/import/clients") && owns("/admin/api/export/notes") && owns("/admin/api/import"));
        assert!(!owns("/admin/api/imports") && !owns("/admin/api/reps"));
        assert_eq!(options(Some("dry_run=1&partial=true")), Ok(Options { dry_run: true, partial: true }));
        assert_eq!(options(Some("dry_run")), Ok(Options { dry_run: true, partial: false }));
        assert!(options(Some("dryrun=1")).unwrap_err().contains("unknown parameter"));
        assert!(options(Some("partial=maybe")).is_err());
    }
}
