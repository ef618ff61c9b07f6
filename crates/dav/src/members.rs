//! A collection's members as the protocol serves them: what a listing, a multiget and a
//! sync-collection answer are made of. The storage produces them; nothing here knows how.

/// A member as recorded, with its text when it was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub href: String,
    pub etag: String,
    pub body: Option<String>,
}

/// One entry of a sync-collection answer: a member that changed, or one that left (`deleted`),
/// with its text when it was asked for and the member is still there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub href: String,
    pub etag: String,
    pub deleted: bool,
    pub seq: i64,
    pub body: Option<String>,
}

/// One answer to a sync-collection request.
pub struct Page {
    pub changes: Vec<Change>,
    /// More changes remain: the client must ask again with `next_token`.
    pub truncated: bool,
    pub next_token: String,
}

/// Members' ETags and texts found by href, as a multiget reads them.
pub trait MemberLookup: Send + Sync {
    /// The ETag of the member at `href`, and its text if it was asked for.
    fn get(&self, href: &str) -> Option<(&str, Option<&str>)>;
}
