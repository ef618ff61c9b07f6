//! If-Match / If-None-Match (RFC 9110 13.1), read once per request into a typed value.

use http::{HeaderMap, StatusCode, header};

use super::error::DavError;

/// The entity tags one conditional header lists: `*` matches any existing resource.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tags {
    Any,
    /// Strong comparison after dropping a weak `W/` prefix, as clients send either.
    List(Vec<String>),
}

impl Tags {
    fn parse(headers: &HeaderMap, name: header::HeaderName) -> Option<Self> {
        let value = headers.get(name)?.to_str().ok()?;
        let tags: Vec<String> = value.split(',').map(|t| t.trim().trim_start_matches("W/").to_string()).collect();
        Some(if tags.iter().any(|t| t == "*") { Self::Any } else { Self::List(tags) })
    }

    /// Whether the tags name the resource whose ETag is `current` (None: no resource).
    fn match_current(&self, current: Option<&str>) -> bool {
        match (self, current) {
            (_, None) => false,
            (Self::Any, Some(_)) => true,
            (Self::List(tags), Some(etag)) => tags.iter().any(|t| t == etag),
        }
    }
}

/// The conditions a request puts on the state of the resource it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    if_match: Option<Tags>,
    if_none_match: Option<Tags>,
}

impl Conditions {
    pub fn parse(headers: &HeaderMap) -> Self {
        Self {
            if_match: Tags::parse(headers, header::IF_MATCH),
            if_none_match: Tags::parse(headers, header::IF_NONE_MATCH),
        }
    }

    /// Checks a write against the current ETag (None: no resource): 412 when a condition fails.
    pub fn check(&self, current: Option<&str>) -> Result<(), DavError> {
        if let Some(tags) = &self.if_match
            && !tags.match_current(current)
        {
            let message = match current {
                Some(etag) => {
                    format!("If-Match failed: the resource has changed (its ETag is now {etag}); fetch it again")
                }
                None => "If-Match failed: the resource does not exist".to_string(),
            };
            return Err(DavError::Status(StatusCode::PRECONDITION_FAILED, message));
        }
        if self.if_none_match.as_ref().is_some_and(|tags| tags.match_current(current)) {
            return Err(DavError::Status(
                StatusCode::PRECONDITION_FAILED,
                "If-None-Match failed: the resource already exists".into(),
            ));
        }
        Ok(())
    }

    /// Whether a GET or HEAD is answered 304: the client already holds `etag`.
    pub fn not_modified(&self, etag: &str) -> bool {
        self.if_none_match.as_ref().is_some_and(|tags| tags.match_current(Some(etag)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn conditions(name: &'static str, value: &'static str) -> Conditions {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        Conditions::parse(&headers)
    }

    #[test]
    fn conditional_headers() {
        assert!(Conditions::default().check(None).is_ok());
        let if_match = conditions("if-match", "\"a\"");
        assert!(if_match.check(Some("\"a\"")).is_ok());
        assert!(if_match.check(Some("\"b\"")).is_err());
        assert!(if_match.check(None).is_err());
        let create_only = conditions("if-none-match", "*");
        assert!(create_only.check(None).is_ok());
        assert!(create_only.check(Some("\"a\"")).is_err());
        assert!(conditions("if-none-match", "W/\"a\", \"b\"").not_modified("\"a\""));
        assert!(!conditions("if-none-match", "\"b\"").not_modified("\"a\""));
    }
}
