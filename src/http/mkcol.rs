//! MKCALENDAR and MKCOL. The collections are fixed views of the CRM, so each request is refused,
//! with the answer the RFCs give for where it was aimed: 405 on a resource that exists (RFC 4918
//! 9.3.1; `DAV:resource-must-be-null` for MKCALENDAR, RFC 4791 5.3.1.1), 403 naming the location
//! precondition inside an existing collection, 409 where the parent does not exist.

use http::StatusCode;

use super::dav::{bad_xml, exists, is_mapped, method_not_allowed};
use super::routes::Request;
use crate::crm::Session;
use crate::dav::error::{Precondition, Refusal};
use crate::dav::mkcol::NewCollection;
use crate::dav::path::{DavPath, PathError};
use crate::dav::reply::{self, Reply};

pub async fn refuse(s: &Session<'_>, request: &Request, mkcalendar: bool) -> Reply {
    let kind = match NewCollection::requested(mkcalendar, &request.body) {
        Ok(kind) => kind,
        Err(e) => return bad_xml(e),
    };
    let target = match DavPath::parse(&request.path) {
        Ok(path) => Some(path),
        Err(PathError::NotFound) => None,
        Err(PathError::Invalid(message)) => return reply::text(StatusCode::BAD_REQUEST, message),
    };
    if let Some(path) = &target {
        // Another rep's resources do not exist for this one: 404, not 403, so nothing leaks.
        if is_someone_elses(s, path) {
            return reply::not_found(&request.path);
        }
        match is_mapped(s, path).await {
            Ok(true) if mkcalendar => {
                let message = format!("{} already exists: a calendar can only be made at a free URL", path.href());
                return reply::refusal(&Refusal::new(Precondition::ResourceMustBeNull, message));
            }
            Ok(true) => {
                let message = format!("{} already exists: MKCOL can only make a collection at a free URL", path.href());
                return method_not_allowed(path, message);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "MKCOL failed");
                return reply::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was changed");
            }
        }
    }
    let parent = parent_of(&request.path).and_then(|parent| DavPath::parse(parent).ok());
    match parent {
        Some(parent) if is_someone_elses(s, &parent) => reply::not_found(&request.path),
        Some(parent) if is_collection(&parent) && exists(&parent, Some(s.rep)) => reply::refusal(&Refusal::new(
            kind.location_refused(),
            "collections are fixed views of the CRM and cannot be created: use the calendars and the \
             address book the server lists",
        )),
        _ => reply::text(
            StatusCode::CONFLICT,
            format!("no collection holds {}: a collection can only be made inside an existing one", request.path),
        ),
    }
}

fn is_someone_elses(s: &Session<'_>, path: &DavPath) -> bool {
    path.login().is_some_and(|login| login != s.rep.login)
}

fn is_collection(path: &DavPath) -> bool {
    !matches!(path, DavPath::Card { .. } | DavPath::CalendarObject { .. })
}

/// The path of the collection `path` would be made in (with its trailing slash).
fn parent_of(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches('/');
    trimmed.rfind('/').map(|slash| &path[..=slash])
}

#[cfg(test)]
mod tests {
    use super::parent_of;

    #[test]
    fn parent_paths() {
        assert_eq!(parent_of("/dav/calendars/alice/new/"), Some("/dav/calendars/alice/"));
        assert_eq!(parent_of("/dav/calendars/alice/activities/x"), Some("/dav/calendars/alice/activities/"));
        assert_eq!(parent_of("/"), None);
    }
}
