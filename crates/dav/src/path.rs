//! The URL layout of the DAV tree, parsed once from a request path.
//!
//! ```text
//! /dav/principals/                    principal collection (principal-collection-set)
//! /dav/principals/{login}/
//! /dav/addressbooks/{login}/            address-book home
//! /dav/addressbooks/{login}/{book}/     address book      ({book}/{name} a card)
//! /dav/calendars/{login}/               calendar home
//! /dav/calendars/{login}/{calendar}/    calendar          ({calendar}/{name} an object)
//! ```

use percent_encoding::percent_decode_str;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DavPath {
    /// `/` or `/dav/`: where clients start discovery.
    Root,
    /// `/dav/principals/`: the principal-collection-set; each rep sees only their own principal in it.
    Principals,
    Principal {
        login: String,
    },
    AddressbookHome {
        login: String,
    },
    Addressbook {
        login: String,
        book: String,
    },
    Card {
        login: String,
        book: String,
        name: String,
    },
    CalendarHome {
        login: String,
    },
    Calendar {
        login: String,
        calendar: String,
    },
    CalendarObject {
        login: String,
        calendar: String,
        name: String,
    },
}

#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    /// Not a path of the DAV tree.
    NotFound,
    /// A segment that is not allowed (encoded slash, dot segments, control characters, bad UTF-8).
    Invalid(String),
}

fn decode_segment(raw: &str) -> Result<String, PathError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| PathError::Invalid(format!("path segment {raw:?} is not UTF-8")))?
        .into_owned();
    if decoded.is_empty()
        || decoded == "."
        || decoded == ".."
        || decoded.contains('/')
        || decoded.contains('\\')
        || decoded.chars().any(char::is_control)
    {
        return Err(PathError::Invalid(format!("path segment {raw:?} is not a valid resource name")));
    }
    Ok(decoded)
}

impl DavPath {
    pub fn parse(path: &str) -> Result<DavPath, PathError> {
        if path == "/" || path == "/dav" || path == "/dav/" {
            return Ok(DavPath::Root);
        }
        let rest = path.strip_prefix("/dav/").ok_or(PathError::NotFound)?;
        let trailing_slash = rest.ends_with('/');
        let segments = rest.trim_end_matches('/').split('/').map(decode_segment).collect::<Result<Vec<_>, _>>()?;
        let owned = |i: usize| segments[i].clone();
        Ok(match (segments.iter().map(String::as_str).collect::<Vec<_>>().as_slice(), trailing_slash) {
            (["principals"], _) => DavPath::Principals,
            (["principals", _], _) => DavPath::Principal { login: owned(1) },
            (["addressbooks", _], _) => DavPath::AddressbookHome { login: owned(1) },
            (["addressbooks", _, _], _) => DavPath::Addressbook { login: owned(1), book: owned(2) },
            (["addressbooks", _, _, _], false) => DavPath::Card { login: owned(1), book: owned(2), name: owned(3) },
            (["calendars", _], _) => DavPath::CalendarHome { login: owned(1) },
            (["calendars", _, _], _) => DavPath::Calendar { login: owned(1), calendar: owned(2) },
            (["calendars", _, _, _], false) => {
                DavPath::CalendarObject { login: owned(1), calendar: owned(2), name: owned(3) }
            }
            _ => return Err(PathError::NotFound),
        })
    }

    /// The login the resource belongs to (None for the root).
    pub fn login(&self) -> Option<&str> {
        match self {
            DavPath::Root | DavPath::Principals => None,
            DavPath::Principal { login }
            | DavPath::AddressbookHome { login }
            | DavPath::Addressbook { login, .. }
            | DavPath::Card { login, .. }
            | DavPath::CalendarHome { login }
            | DavPath::Calendar { login, .. }
            | DavPath::CalendarObject { login, .. } => Some(login),
        }
    }

    /// The canonical (decoded) path of the resource; collections end with `/`.
    pub fn href(&self) -> String {
        match self {
            DavPath::Root => "/dav/".into(),
            DavPath::Principals => "/dav/principals/".into(),
            DavPath::Principal { login } => format!("/dav/principals/{login}/"),
            DavPath::AddressbookHome { login } => format!("/dav/addressbooks/{login}/"),
            DavPath::Addressbook { login, book } => format!("/dav/addressbooks/{login}/{book}/"),
            DavPath::Card { login, book, name } => format!("/dav/addressbooks/{login}/{book}/{name}"),
            DavPath::CalendarHome { login } => format!("/dav/calendars/{login}/"),
            DavPath::Calendar { login, calendar } => format!("/dav/calendars/{login}/{calendar}/"),
            DavPath::CalendarObject { login, calendar, name } => format!("/dav/calendars/{login}/{calendar}/{name}"),
        }
    }
}

/// The member name of `href` (as sent by a client in a multiget: absolute URL or path, percent-
/// encoded) if it lies directly inside `collection` (a decoded path ending with `/`).
pub fn member_name(href: &str, collection: &str) -> Option<String> {
    let path = match href.find("://") {
        Some(scheme_end) => &href[href[scheme_end + 3..].find('/').map(|i| scheme_end + 3 + i)?..],
        None => href,
    };
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    let name = decoded.strip_prefix(collection)?;
    (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tree() {
        assert_eq!(DavPath::parse("/").unwrap(), DavPath::Root);
        assert_eq!(DavPath::parse("/dav/principals/alice/").unwrap(), DavPath::Principal { login: "alice".into() });
        assert_eq!(DavPath::parse("/dav/principals").unwrap(), DavPath::Principals);
        assert_eq!(DavPath::parse("/dav/principals/").unwrap().href(), "/dav/principals/");
        assert_eq!(
            DavPath::parse("/dav/addressbooks/alice/clients/a%20b.vcf").unwrap(),
            DavPath::Card { login: "alice".into(), book: "clients".into(), name: "a b.vcf".into() }
        );
        assert_eq!(
            DavPath::parse("/dav/calendars/alice/activities").unwrap(),
            DavPath::Calendar { login: "alice".into(), calendar: "activities".into() }
        );
        assert_eq!(DavPath::parse("/elsewhere"), Err(PathError::NotFound));
        assert_eq!(DavPath::parse("/dav/calendars/alice/activities/x/y"), Err(PathError::NotFound));
    }

    #[test]
    fn refuses_traversal_and_encoded_slashes() {
        assert!(matches!(DavPath::parse("/dav/addressbooks/alice/clients/..%2Fbob"), Err(PathError::Invalid(_))));
        assert!(matches!(DavPath::parse("/dav/addressbooks/alice/../bob/clients/"), Err(PathError::Invalid(_))));
        assert!(matches!(DavPath::parse("/dav/calendars/alice/activities/%FF.ics"), Err(PathError::Invalid(_))));
        assert!(matches!(DavPath::parse("/dav/calendars/alice/activities/a%00.ics"), Err(PathError::Invalid(_))));
    }

    #[test]
    fn finds_members_from_paths_and_urls() {
        let collection = "/dav/addressbooks/alice/clients/";
        assert_eq!(member_name("/dav/addressbooks/alice/clients/x%40y.vcf", collection).as_deref(), Some("x@y.vcf"));
        assert_eq!(
            member_name("https://h:1/dav/addressbooks/alice/clients/x.vcf", collection).as_deref(),
            Some("x.vcf")
        );
        assert_eq!(member_name("/dav/addressbooks/bob/clients/x.vcf", collection), None);
        assert_eq!(member_name(collection, collection), None);
    }
}
