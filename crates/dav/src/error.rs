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

/// A protocol precondition a request violated, as named in the `DAV:error` body of the answer
/// (RFC 4918 16; RFC 4791 5.3.2 and 5.3.1.1; RFC 6352 6.3.2.1 and 6.3.1), and crmdav's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// `DAV:resource-must-be-null`: the URL a MKCALENDAR names is taken.
    ResourceMustBeNull,
    /// `DAV:need-privileges`: the rep may not do this to this resource.
    NeedPrivileges,
    /// `DAV:supported-report`: the report is not served on this resource.
    SupportedReport,
    /// `DAV:supported-sync-level` (RFC 6578 3.3): the collections have no sub-collections.
    SupportedSyncLevel,
    /// `DAV:valid-sync-token` (RFC 6578 3.2): the token is unknown or expired.
    ValidSyncToken,
    /// `CALDAV:calendar-collection-location-ok`: no calendar can be created at this URL.
    CalendarCollectionLocationOk,
    /// `CALDAV:supported-calendar-component`: the calendar does not take this component type.
    SupportedCalendarComponent,
    /// `CALDAV:supported-calendar-data`: the body is not of a calendar media type.
    SupportedCalendarData,
    /// `CALDAV:valid-calendar-data`: the body is not a valid iCalendar object.
    ValidCalendarData,
    /// `CALDAV:no-uid-conflict`: the UID is another object's, or not the one at this URL.
    CalendarNoUidConflict,
    /// `CALDAV:max-instances`: the object recurs more often than the server expands.
    MaxInstances,
    /// `CALDAV:valid-managed-id` (RFC 8607 3.10): the managed-id names no attachment of the object.
    ValidManagedId,
    /// `CALDAV:valid-rid` (RFC 8607 3.10): attachments are not taken per recurrence instance here.
    ValidRid,
    /// `CALDAV:max-attachment-size` (RFC 8607 3.10): the attachment is larger than the server takes.
    MaxAttachmentSize,
    /// `CARDDAV:addressbook-collection-location-ok`: no address book can be created at this URL.
    AddressbookCollectionLocationOk,
    /// `CARDDAV:supported-address-data`: the body is not of an address media type.
    SupportedAddressData,
    /// `CARDDAV:valid-address-data`: the body is not a valid vCard.
    ValidAddressData,
    /// `CARDDAV:no-uid-conflict`: the UID is another card's, or not the one at this URL.
    AddressbookNoUidConflict,
    /// `crm:note-required`: completing an activity needs a note.
    NoteRequired,
    /// `crm:note-too-long`.
    NoteTooLong,
    /// `crm:reserved-name`: the name or UID belongs to the server's own cards.
    ReservedName,
    /// `crm:client-required`: a new contact must belong to a client the rep sees.
    ClientRequired,
    /// `crm:refused`: another CRM rule refused the write.
    Refused,
}

impl Precondition {
    /// The element that names the precondition in a `DAV:error` body.
    pub fn name(self) -> PropName {
        match self {
            Self::ResourceMustBeNull => PropName::dav("resource-must-be-null"),
            Self::NeedPrivileges => PropName::dav("need-privileges"),
            Self::SupportedReport => PropName::dav("supported-report"),
            Self::SupportedSyncLevel => PropName::dav("supported-sync-level"),
            Self::ValidSyncToken => PropName::dav("valid-sync-token"),
            Self::CalendarCollectionLocationOk => PropName::caldav("calendar-collection-location-ok"),
            Self::SupportedCalendarComponent => PropName::caldav("supported-calendar-component"),
            Self::SupportedCalendarData => PropName::caldav("supported-calendar-data"),
            Self::ValidCalendarData => PropName::caldav("valid-calendar-data"),
            Self::CalendarNoUidConflict => PropName::caldav("no-uid-conflict"),
            Self::MaxInstances => PropName::caldav("max-instances"),
            Self::ValidManagedId => PropName::caldav("valid-managed-id"),
            Self::ValidRid => PropName::caldav("valid-rid"),
            Self::MaxAttachmentSize => PropName::caldav("max-attachment-size"),
            Self::AddressbookCollectionLocationOk => PropName::carddav("addressbook-collection-location-ok"),
            Self::SupportedAddressData => PropName::carddav("supported-address-data"),
            Self::ValidAddressData => PropName::carddav("valid-address-data"),
            Self::AddressbookNoUidConflict => PropName::carddav("no-uid-conflict"),
            Self::NoteRequired => PropName::crmdav("note-required"),
            Self::NoteTooLong => PropName::crmdav("note-too-long"),
            Self::ReservedName => PropName::crmdav("reserved-name"),
            Self::ClientRequired => PropName::crmdav("client-required"),
            Self::Refused => PropName::crmdav("refused"),
        }
    }

    /// The status a violation is answered with: 403, or 409 where the request clashes with
    /// another resource, as RFC 4918 16 lets preconditions choose.
    pub fn status(self) -> http::StatusCode {
        match self {
            Self::CalendarNoUidConflict | Self::AddressbookNoUidConflict => http::StatusCode::CONFLICT,
            Self::MaxAttachmentSize => http::StatusCode::PAYLOAD_TOO_LARGE,
            _ => http::StatusCode::FORBIDDEN,
        }
    }
}

/// A write refused by a precondition: what is answered, with a sentence for people and, where
/// the RFC asks for one and the caller may see it, the href of the resource in the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub precondition: Precondition,
    pub message: String,
    pub href: Option<String>,
}

impl Refusal {
    pub fn new(precondition: Precondition, message: impl Into<String>) -> Self {
        Self { precondition, message: message.into(), href: None }
    }

    /// The refusal naming `href`, the resource that is in the way (e.g. that holds the UID).
    pub fn with_href(mut self, href: impl Into<String>) -> Self {
        self.href = Some(href.into());
        self
    }
}

/// Why a DAV request is not answered as asked: what handlers return with `?`, turned into one
/// response by [`reply::error`](super::reply::error).
#[derive(Debug, thiserror::Error)]
pub enum DavError {
    /// A precondition refused the request: its status and a `DAV:error` body.
    #[error("{}: {}", .0.precondition.name().name, .0.message)]
    Refused(Refusal),
    /// No resource at this href (404).
    #[error("no resource at {0}")]
    NotFound(String),
    /// Another answer with a sentence for people, e.g. 412 for a failed If-Match.
    #[error("{1}")]
    Status(http::StatusCode, String),
    /// The server failed; logged, and answered 500 without details.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<Refusal> for DavError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}
