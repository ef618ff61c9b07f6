//! The one error type of the DAV XML layer.

use super::names::PropName;

/// A request body that cannot be used: malformed, refused for safety, or violating a
/// protocol precondition.
///
/// Without a precondition the caller answers 400 Bad Request. With one, it answers with
/// the status the RFC gives for that precondition (403 for the CalDAV/CardDAV filter and
/// collation ones) and a `DAV:error` body built by
/// [`error_body`](super::multistatus::error_body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct XmlError {
    /// A sentence for humans (logs and the `DAV:error` body).
    pub message: String,
    /// The RFC precondition element to put in the `DAV:error` body, e.g.
    /// `{urn:ietf:params:xml:ns:caldav}valid-filter`.
    pub precondition: Option<PropName>,
}

impl XmlError {
    /// An unusable body with no specific precondition (400 Bad Request).
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), precondition: None }
    }

    /// A violated precondition, to be reported in a `DAV:error` body.
    pub fn with_precondition(precondition: PropName, message: impl Into<String>) -> Self {
        Self { message: message.into(), precondition: Some(precondition) }
    }
}
