//! A collection of members, each a text with an ETag at an href: what the address book and the
//! calendars are to DAV. The methods on them are written once here against [`Collection`]; a
//! collection says only what is its own (its rows, media type, parsing, what a write does).

use std::future::Future;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::conditions::Conditions;
use super::error::{DavError, Precondition, Refusal};
use super::members::{MemberLookup, Page, Stored};
use super::multistatus::{Multistatus, PropStat, PropValue};
use super::names::PropName;
use super::path::member_name;
use super::reply::{self, Depth, Reply};
use super::request::{PropfindRequest, ProppatchOperation, ProppatchRequest};

/// A member's ETag and the text it is the tag of (the form stored and listed by sync).
pub struct Tagged {
    pub etag: String,
    pub text: String,
}

/// What an accepted write did.
pub enum Written {
    Created,
    Updated,
    /// Accepted and left as it was: nothing on the member can be edited.
    Ignored,
}

/// The writes whose refusals are audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Put,
    Delete,
}

/// The settings of how a collection shows on a device, the only properties a device may set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    Name,
    Color,
}

/// How a collection's members are described in a multistatus.
#[derive(Debug, Clone)]
pub struct MemberShape {
    /// `DAV:getcontenttype` of every member.
    pub content_type: &'static str,
    /// The property that carries a member's text (`CALDAV:calendar-data`, `CARDDAV:address-data`),
    /// served only when asked for by name.
    pub data: PropName,
}

impl MemberShape {
    /// The properties of a member from its ETag and, when asked for, its text.
    pub fn props(&self, etag: &str, data: Option<String>) -> Vec<(PropName, PropValue)> {
        let mut props = vec![
            (PropName::dav("getetag"), PropValue::Text(etag.to_string())),
            (PropName::dav("getcontenttype"), PropValue::Text(self.content_type.into())),
            (PropName::dav("resourcetype"), PropValue::ResourceType(vec![])),
        ];
        if let Some(data) = data {
            props.push((self.data.clone(), PropValue::Text(data)));
        }
        props
    }

    /// The propstats answering `request` for a member.
    pub fn propstats(&self, request: &PropfindRequest, etag: &str, data: Option<String>) -> Vec<PropStat> {
        reply::select_props(request, self.props(etag, data), std::slice::from_ref(&self.data))
    }
}

/// A DAV collection of members. Futures are `Send`: they run on the server's worker threads.
pub trait Collection: Sync {
    /// A member as the collection finds it (its row).
    type Member: Send + Sync;
    /// A body sent for a member, parsed.
    type Parsed: Send;

    /// The collection's href, ending in `/`.
    fn href(&self) -> String;

    fn member_href(&self, name: &str) -> String {
        format!("{}{name}", self.href())
    }

    fn shape(&self) -> MemberShape;

    /// What a member is called in messages, e.g. "the card".
    fn noun(&self) -> &'static str;

    /// The precondition a body that is not valid data violates.
    fn valid_data(&self) -> Precondition;

    /// Why a body of this media type (None: not stated) is refused, if it is.
    fn media_type_refusal(&self, content_type: Option<&str>) -> Option<Refusal>;

    /// The collection's own properties; brings its members up to date.
    fn properties(&self) -> impl Future<Output = anyhow::Result<Vec<(PropName, PropValue)>>> + Send;

    /// The members as last brought up to date, with their texts if `with_data`.
    fn members(&self, with_data: bool) -> impl Future<Output = anyhow::Result<Vec<Stored>>> + Send;

    /// How a report asks for members' text (the attributes of calendar-data, address-data).
    type DataRequest: Send + Sync;

    /// What a multiget finds members' ETags and texts in.
    type Entries: MemberLookup + 'static;

    /// The ETag and text (if `with_data`) of each of `names` the collection holds, by name, the
    /// text in the form `request` asks for.
    fn entries(
        &self,
        names: &[String],
        with_data: bool,
        request: Option<&Self::DataRequest>,
    ) -> impl Future<Output = Result<Self::Entries, DavError>> + Send;

    /// Whether `request` asks for texts reshaped member by member (e.g. recurrences expanded):
    /// then the answer is written whole before it is sent, as reshaping can fail on a bound.
    /// None by default: texts are sent as stored.
    fn reshapes(&self, _request: Option<&Self::DataRequest>) -> bool {
        false
    }

    /// A member's text as `request` asks for it (see [`Collection::reshapes`]).
    fn reshape(&self, text: String, _request: Option<&Self::DataRequest>) -> Result<String, DavError> {
        Ok(text)
    }

    /// The changes since `token` (at most `limit`); None when the token is unknown or expired.
    fn changes(
        &self,
        token: &str,
        limit: Option<usize>,
        with_data: bool,
    ) -> impl Future<Output = anyhow::Result<Option<Page>>> + Send;

    fn find(&self, name: &str) -> impl Future<Output = anyhow::Result<Option<Self::Member>>> + Send;

    /// The member's stored text and its ETag.
    fn tagged(&self, member: &Self::Member) -> Tagged;

    /// Properties of one member besides those of its shape: e.g. its
    /// `current-user-privilege-set` when it is not writable although the collection is.
    fn member_props(&self, _member: &Self::Member) -> Vec<(PropName, PropValue)> {
        Vec::new()
    }

    /// The media type and text a GET answers (by default the stored text).
    fn representation(&self, member: &Self::Member, tagged: Tagged, headers: &HeaderMap) -> (&'static str, String);

    fn parse(&self, text: &str) -> Result<Self::Parsed, Refusal>;

    /// Stores `parsed` (sent as `text`) at `name` over `existing`.
    fn save(
        &self,
        name: &str,
        existing: Option<Self::Member>,
        parsed: Self::Parsed,
        text: &str,
    ) -> impl Future<Output = Result<Written, DavError>> + Send;

    /// Why nothing may be written here (a read-only collection: no member written, added or
    /// removed, no property set), as a `DAV:need-privileges` refusal (RFC 3744 7.1.1); None for a
    /// writable collection.
    fn read_only(&self) -> Option<Refusal> {
        None
    }

    /// Which display setting a property is on this collection, if a device may set it.
    fn display_setting(&self, name: &PropName) -> Option<Display>;

    /// Stores the display settings (None: left as they are; empty: back to the default).
    fn set_display(
        &self,
        displayname: Option<&str>,
        color: Option<&str>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    fn remove(&self, name: &str, member: Self::Member) -> impl Future<Output = Result<(), DavError>> + Send;

    /// Records a refused write (with the text sent, when there was one).
    fn audit_refusal(
        &self,
        write: Write,
        name: &str,
        refusal: &Refusal,
        sent: Option<&str>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

async fn found<C: Collection>(c: &C, name: &str) -> Result<C::Member, DavError> {
    c.find(name).await?.ok_or_else(|| DavError::NotFound(c.member_href(name)))
}

/// The error of a refused write, once it is audited: no refusal goes unrecorded, so one whose
/// record cannot be written is a server failure.
async fn refused<C: Collection>(c: &C, write: Write, name: &str, refusal: Refusal, sent: Option<&str>) -> DavError {
    match c.audit_refusal(write, name, &refusal, sent).await {
        Ok(()) => DavError::Refused(refusal),
        Err(e) => DavError::Internal(e.context("the refusal could not be audited")),
    }
}

/// PROPFIND on the collection (Depth 0 or 1), the members sent while they are written. `extra`
/// are properties the server adds to the collection's own (e.g. WebDAV-Push's).
pub async fn propfind<C: Collection>(
    c: &C,
    depth: Depth,
    request: &PropfindRequest,
    extra: Vec<(PropName, PropValue)>,
) -> Result<Reply, DavError> {
    let href = c.href();
    let mut body = Multistatus::new();
    let mut properties = c.properties().await?;
    properties.extend(extra);
    body.add_response(&href, &reply::select_props(request, properties, &[]));
    if depth == Depth::Zero {
        return Ok(reply::multistatus(body));
    }
    // properties() just brought the members up to date: their stored text is current.
    let shape = c.shape();
    let members = c.members(reply::wants(request, &shape.data)).await?;
    Ok(reply::members(body, href, members, request, shape))
}

/// PROPFIND on one member.
pub async fn propfind_member<C: Collection>(c: &C, name: &str, request: &PropfindRequest) -> Result<Reply, DavError> {
    let member = found(c, name).await?;
    let Tagged { etag, text } = c.tagged(&member);
    let shape = c.shape();
    let data = reply::wants(request, &shape.data).then_some(text);
    let mut props = shape.props(&etag, data);
    props.extend(c.member_props(&member));
    let mut body = Multistatus::new();
    body.add_response(&c.member_href(name), &reply::select_props(request, props, std::slice::from_ref(&shape.data)));
    Ok(reply::multistatus(body))
}

/// GET or HEAD of one member.
pub async fn get<C: Collection>(
    c: &C,
    name: &str,
    headers: &HeaderMap,
    conditions: &Conditions,
    head: bool,
) -> Result<Reply, DavError> {
    let member = found(c, name).await?;
    let tagged = c.tagged(&member);
    let etag = tagged.etag.clone();
    let (content_type, text) = c.representation(&member, tagged, headers);
    Ok(reply::representation(conditions, &etag, content_type, text, head))
}

/// DELETE of one member, under the request's conditions.
pub async fn delete<C: Collection>(c: &C, name: &str, conditions: &Conditions) -> Result<Reply, DavError> {
    let member = found(c, name).await?;
    if let Some(refusal) = c.read_only() {
        return Err(refused(c, Write::Delete, name, refusal, None).await);
    }
    conditions.check(Some(&c.tagged(&member).etag))?;
    match c.remove(name, member).await {
        Ok(()) => Ok(reply::text(StatusCode::NO_CONTENT, "")),
        Err(DavError::Refused(refusal)) => Err(refused(c, Write::Delete, name, refusal, None).await),
        Err(e) => Err(e),
    }
}

/// PUT of one member: media type, text, parse, the request's conditions, then the collection's save.
pub async fn put<C: Collection>(
    c: &C,
    name: &str,
    conditions: &Conditions,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Reply, DavError> {
    if let Some(refusal) = c.read_only() {
        return Err(refused(c, Write::Put, name, refusal, None).await);
    }
    if let Some(refusal) = c.media_type_refusal(content_type) {
        return Err(refused(c, Write::Put, name, refusal, None).await);
    }
    let Ok(text) = std::str::from_utf8(body) else {
        let refusal = Refusal::new(c.valid_data(), format!("{} is not UTF-8 text", c.noun()));
        return Err(refused(c, Write::Put, name, refusal, None).await);
    };
    let parsed = match c.parse(text) {
        Ok(parsed) => parsed,
        Err(refusal) => return Err(refused(c, Write::Put, name, refusal, Some(text)).await),
    };
    let existing = c.find(name).await?;
    conditions.check(existing.as_ref().map(|m| c.tagged(m).etag).as_deref())?;
    let status = match c.save(name, existing, parsed, text).await {
        Ok(Written::Created) => StatusCode::CREATED,
        Ok(Written::Updated) => StatusCode::NO_CONTENT,
        Ok(Written::Ignored) => return Ok(reply::text(StatusCode::NO_CONTENT, "")),
        Err(DavError::Refused(refusal)) => return Err(refused(c, Write::Put, name, refusal, Some(text)).await),
        Err(e) => return Err(e),
    };
    let mut response = reply::text(status, "");
    // The ETag only when the member is stored exactly as sent (RFC 4791 5.3.4, RFC 6352 6.3.2.3):
    // else the client must fetch what the server made of it.
    if let Ok(Some(member)) = c.find(name).await {
        let stored = c.tagged(&member);
        if stored_as_sent(&stored.text, text) {
            response.headers_mut().insert(header::ETAG, HeaderValue::from_str(&stored.etag).expect("hex etag"));
        }
    }
    Ok(response)
}

/// PROPPATCH of `href`, on `collection` when it is one: display settings only, all or nothing.
pub async fn proppatch<C: Collection>(
    collection: Option<&C>,
    href: &str,
    patch: &ProppatchRequest,
) -> Result<Reply, DavError> {
    if let Some(refusal) = collection.and_then(|c| c.read_only()) {
        return Err(DavError::Refused(refusal));
    }
    let (mut ok, mut forbidden) = (Vec::new(), Vec::new());
    let (mut displayname, mut color) = (None, None);
    for operation in &patch.operations {
        let (name, value) = match operation {
            ProppatchOperation::Set { name, text, .. } => (name, text.trim().to_string()),
            // Removing a display setting restores the default.
            ProppatchOperation::Remove(name) => (name, String::new()),
        };
        match collection.and_then(|c| c.display_setting(name)) {
            Some(Display::Name) => displayname = Some(value),
            Some(Display::Color) => color = Some(value),
            None => {
                forbidden.push(name.clone());
                continue;
            }
        }
        ok.push(name.clone());
    }
    let mut body = Multistatus::new();
    if !forbidden.is_empty() {
        // PROPPATCH is atomic (RFC 4918 9.2): one refused property fails them all.
        body.add_response(href, &[PropStat::names_only(403, forbidden), PropStat::names_only(424, ok)]);
        return Ok(reply::multistatus(body));
    }
    if let Some(c) = collection {
        c.set_display(displayname.as_deref(), color.as_deref()).await?;
    }
    body.add_response(href, &[PropStat::names_only(200, ok)]);
    Ok(reply::multistatus(body))
}

/// Whether the stored text is the one sent, line endings and trailing blank lines aside.
fn stored_as_sent(stored: &str, sent: &str) -> bool {
    stored.replace("\r\n", "\n").trim_end() == sent.replace("\r\n", "\n").trim_end()
}

/// calendar-multiget and addressbook-multiget (RFC 4791 7.9, RFC 6352 8.7): each href asked for,
/// answered in the order asked, a 404 for each the collection does not hold.
pub async fn multiget<C: Collection>(
    c: &C,
    props: PropfindRequest,
    hrefs: Vec<String>,
    data: Option<C::DataRequest>,
) -> Result<Reply, DavError> {
    let href = c.href();
    let shape = c.shape();
    let names: Vec<Option<String>> = hrefs.iter().map(|h| member_name(h, &href)).collect();
    let wanted: Vec<String> = names.iter().flatten().cloned().collect();
    let found = c.entries(&wanted, reply::wants(&props, &shape.data), data.as_ref()).await?;
    // One member's response: (name, ETag, text as it is to be served), or 404 for its href.
    let write = move |body: &mut Multistatus, raw: &str, member: Option<(&str, &str, Option<String>)>| match member {
        Some((name, etag, data)) => body.add_response(&format!("{href}{name}"), &shape.propstats(&props, etag, data)),
        None => body.add_status(&reply::unknown_member(raw), 404),
    };
    if !c.reshapes(data.as_ref()) {
        // Written while it is sent: thousands of members are never held as one answer.
        return Ok(reply::multistatus_streamed(Multistatus::new().stream(
            hrefs.into_iter().zip(names),
            move |body, (raw, name)| {
                let member = name.as_deref().and_then(|name| found.get(name).map(|(etag, text)| (name, etag, text)));
                write(body, &raw, member.map(|(name, etag, text)| (name, etag, text.map(str::to_owned))))
            },
        )));
    }
    let mut body = Multistatus::new();
    for (raw, name) in hrefs.iter().zip(names) {
        let member = match name.as_deref().and_then(|name| found.get(name).map(|(etag, text)| (name, etag, text))) {
            Some((name, etag, text)) => {
                Some((name, etag, text.map(|t| c.reshape(t.to_owned(), data.as_ref())).transpose()?))
            }
            None => None,
        };
        write(&mut body, raw, member);
    }
    Ok(reply::multistatus(body))
}

/// RFC 6578 sync-collection, with `DAV:limit` honoured by a cursor token.
pub async fn sync_collection<C: Collection>(
    c: &C,
    token: &str,
    level: &str,
    limit: Option<u32>,
    props: &PropfindRequest,
) -> Result<Reply, DavError> {
    if level != "1" {
        return Err(Refusal::new(
            Precondition::SupportedSyncLevel,
            format!("{} has no sub-collections: use sync-level 1", c.href()),
        )
        .into());
    }
    let shape = c.shape();
    let page =
        c.changes(token, limit.map(|l| l as usize), reply::wants(props, &shape.data)).await?.ok_or_else(|| {
            Refusal::new(
                Precondition::ValidSyncToken,
                "unknown or expired sync-token: sync again from the start (empty token)",
            )
        })?;
    Ok(reply::sync_collection(c.href(), page, props, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_as_sent_ignores_line_endings_only() {
        assert!(stored_as_sent("A\r\nB\r\n", "A\nB\n"));
        assert!(stored_as_sent("A\r\nB\r\n", "A\r\nB"));
        assert!(!stored_as_sent("A\r\nB\r\n", "A\nC\n"));
    }
}
