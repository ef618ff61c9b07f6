//! CardDAV (RFC 6352): a rep's visible CRM clients as one address book, `clients`.

mod filter;

use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::crm::Session;
use crate::crm::addressbook::{self, Card};
use crate::crm::audit::{self, AuditEntry};
use crate::dav::error::{Precondition, Refusal};
use crate::dav::multistatus::{Multistatus, PropStat, PropValue};
use crate::dav::names::PropName;
use crate::dav::path::member_name;
use crate::dav::reply::{self, Depth, Reply};
use crate::dav::request::{AddressDataRequest, PropfindRequest, ReportRequest};
use crate::mapping::vcard::{self, Version};
use crate::store::sync::{self, Entries, Member};

/// The one address book of every rep.
pub const BOOK: &str = "clients";

fn collection_key(rep_id: i64) -> String {
    format!("cards:{rep_id}")
}

pub fn book_href(login: &str) -> String {
    format!("/dav/addressbooks/{login}/{BOOK}/")
}

/// Brings the rep's address-book membership up to date; returns its sync sequence.
async fn refresh(s: &Session<'_>) -> anyhow::Result<i64> {
    sync::refresh(s.store, &collection_key(s.rep.id), vcard::RENDER_VERSION, || async {
        let cards = addressbook::cards(s.store, s.rep.id, None).await?;
        // Each card is dropped once rendered: the rows and the texts are never all held at once.
        Ok(cards
            .into_iter()
            .map(|card| {
                let body = vcard::render(&card, Version::V3);
                Member { href: card.href(), etag: vcard::etag(&body), body }
            })
            .collect())
    })
    .await
}

fn internal(e: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %e, "CardDAV request failed");
    reply::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was changed")
}

/// Properties of the address book collection.
pub async fn collection_props(s: &Session<'_>) -> Result<Vec<(PropName, PropValue)>, Reply> {
    let seq = refresh(s).await.map_err(internal)?;
    let token = sync::token(&collection_key(s.rep.id), seq);
    let (displayname, _) = sync::display(s.store, &collection_key(s.rep.id)).await.map_err(internal)?;
    Ok(vec![
        (
            PropName::dav("resourcetype"),
            PropValue::ResourceType(vec![PropName::dav("collection"), PropName::carddav("addressbook")]),
        ),
        (
            PropName::dav("displayname"),
            PropValue::Text(displayname.filter(|d| !d.is_empty()).unwrap_or_else(|| "CRM clients".into())),
        ),
        (
            PropName::carddav("addressbook-description"),
            PropValue::Text(format!("Clients visible to {} in the CRM", s.rep.display_name)),
        ),
        (PropName::calendarserver("getctag"), PropValue::Text(token.clone())),
        (PropName::dav("sync-token"), PropValue::Text(token)),
        (PropName::dav("getetag"), PropValue::Text(format!("\"{seq}\""))),
        (
            PropName::carddav("supported-address-data"),
            PropValue::AddressDataTypes(vec![("text/vcard".into(), "3.0".into()), ("text/vcard".into(), "4.0".into())]),
        ),
        (PropName::carddav("max-resource-size"), PropValue::Text((s.config.max_body_bytes).to_string())),
        (
            PropName::dav("supported-report-set"),
            PropValue::SupportedReports(vec![
                PropName::carddav("addressbook-multiget"),
                PropName::carddav("addressbook-query"),
                PropName::dav("sync-collection"),
            ]),
        ),
        // Reps edit and add contacts but never delete CRM contacts from a device: no unbind.
        (
            PropName::dav("current-user-privilege-set"),
            PropValue::Privileges(vec![
                PropName::dav("read"),
                PropName::dav("write-content"),
                PropName::dav("write-properties"),
                PropName::dav("bind"),
                PropName::dav("read-current-user-privilege-set"),
            ]),
        ),
        (PropName::dav("owner"), PropValue::Href(format!("/dav/principals/{}/", s.rep.login))),
    ])
}

fn card_props(etag: &str, address_data: Option<String>) -> Vec<(PropName, PropValue)> {
    let mut props = vec![
        (PropName::dav("getetag"), PropValue::Text(etag.to_string())),
        (PropName::dav("getcontenttype"), PropValue::Text("text/vcard; charset=utf-8".into())),
        (PropName::dav("resourcetype"), PropValue::ResourceType(vec![])),
    ];
    if let Some(data) = address_data {
        props.push((PropName::carddav("address-data"), PropValue::Text(data)));
    }
    props
}

fn address_data_name() -> PropName {
    PropName::carddav("address-data")
}

/// The vCard version asked for in an address-data element.
fn requested_version(request: Option<&AddressDataRequest>) -> Result<Version, Reply> {
    match request.and_then(|r| r.version.as_deref()) {
        None | Some("3.0") => Ok(Version::V3),
        Some("4.0") => Ok(Version::V4),
        Some(other) => Err(reply::precondition_failed(
            StatusCode::FORBIDDEN,
            PropName::carddav("supported-address-data"),
            &format!("vCard version {other} is not available: ask for 3.0 or 4.0"),
        )),
    }
}

/// vCard 4.0 when the Accept header asks for it, else 3.0 (what iOS and most clients expect).
fn accepted_version(headers: &HeaderMap) -> Version {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("version=4.0") { Version::V4 } else { Version::V3 }
}

/// PROPFIND on the address book (Depth 0 or 1).
pub async fn propfind(s: &Session<'_>, depth: Depth, request: &PropfindRequest) -> Reply {
    let href = book_href(&s.rep.login);
    let props = match collection_props(s).await {
        Ok(props) => props,
        Err(reply) => return reply,
    };
    let mut body = Multistatus::new();
    body.add_response(&href, &reply::select_props(request, props, &[]));
    if depth == Depth::Zero {
        return reply::multistatus(body);
    }
    // collection_props just brought the members up to date: their stored text is current.
    let with_data = reply::wants(request, &address_data_name());
    let members = match sync::stored(s.store, &collection_key(s.rep.id), None, with_data).await {
        Ok(members) => members,
        Err(e) => return internal(e),
    };
    reply::members(body, href, members, request, address_data_name(), card_props)
}

/// PROPFIND on one card.
pub async fn propfind_card(s: &Session<'_>, name: &str, props: &PropfindRequest) -> Reply {
    match find_card(s, name).await {
        Ok(Some(card)) => {
            let mut body = Multistatus::new();
            body.add_response(
                &format!("{}{}", book_href(&s.rep.login), card.href()),
                &card_propstats(&card, props, Version::V3),
            );
            reply::multistatus(body)
        }
        Ok(None) => reply::not_found(&format!("{}{name}", book_href(&s.rep.login))),
        Err(e) => internal(e),
    }
}

/// Whether the rep sees a card named `name`.
pub async fn card_exists(s: &Session<'_>, name: &str) -> anyhow::Result<bool> {
    Ok(find_card(s, name).await?.is_some())
}

async fn find_card(s: &Session<'_>, name: &str) -> anyhow::Result<Option<Card>> {
    Ok(addressbook::cards(s.store, s.rep.id, Some(&[name.to_string()])).await?.into_iter().next())
}

/// GET or HEAD of one card.
pub async fn get(s: &Session<'_>, name: &str, headers: &HeaderMap, head: bool) -> Reply {
    let card = match find_card(s, name).await {
        Ok(Some(card)) => card,
        Ok(None) => return reply::not_found(&format!("{}{name}", book_href(&s.rep.login))),
        Err(e) => return internal(e),
    };
    let version = accepted_version(headers);
    // The ETag is that of the 3.0 form whatever the representation, as sync-collection lists it.
    let etag = vcard::etag(&vcard::render(&card, Version::V3));
    reply::representation(headers, &etag, version.content_type(), vcard::render(&card, version), head)
}

fn is_vcard_type(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(ct) => {
            let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            mime == "text/vcard" || mime == "text/x-vcard" || mime == "text/directory"
        }
    }
}

/// PUT of a card: edit of an existing contact, or a new contact under a visible client.
pub async fn put(s: &Session<'_>, name: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    let target = format!("{}{name}", book_href(&s.rep.login));
    let audit = |outcome: &'static str, after: Option<String>| AuditEntry {
        rep_id: Some(s.rep.id),
        device: s.device,
        action: "card.put",
        target: name,
        outcome,
        before: None,
        after,
    };
    let refuse = async |refusal: Refusal, after: Option<String>| {
        if let Err(e) = audit::record(s.store, audit("refused", after)).await {
            return internal(e);
        }
        reply::refusal(&refusal)
    };
    if !is_vcard_type(headers) {
        return refuse(Refusal::new(Precondition::SupportedAddressData, "cards must be sent as text/vcard"), None)
            .await;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return refuse(Refusal::new(Precondition::ValidAddressData, "the card is not UTF-8 text"), None).await;
    };
    let parsed = match vcard::parse(text) {
        Ok(parsed) => parsed,
        Err(message) => {
            let refusal = Refusal::new(Precondition::ValidAddressData, format!("invalid vCard: {message}"));
            return refuse(refusal, Some(text.into())).await;
        }
    };
    let existing = match find_card(s, name).await {
        Ok(card) => card,
        Err(e) => return internal(e),
    };
    let current_etag = existing.as_ref().map(|card| vcard::etag(&vcard::render(card, Version::V3)));
    if let Err(reply) = reply::check_conditions(headers, current_etag.as_deref()) {
        return reply;
    }
    match existing {
        Some(card) => {
            if parsed.uid.as_deref().is_some_and(|uid| uid != card.uid()) {
                let message = format!("the card at {target} has UID {}; a card cannot change its UID", card.uid());
                let refusal = Refusal::new(Precondition::AddressbookNoUidConflict, message).with_href(target);
                return refuse(refusal, Some(text.into())).await;
            }
            let Some(contact) = &card.contact else {
                // An organisation card shows CRM client data only: nothing on it is editable.
                let _ = audit::record(s.store, audit("ignored", Some(text.into()))).await;
                return reply::text(StatusCode::NO_CONTENT, "");
            };
            let before = serde_json::to_string(&contact.fields).ok();
            let after = serde_json::to_string(&parsed.fields).ok();
            let entry = AuditEntry { before, after, ..audit("updated", None) };
            match addressbook::update_contact(s.store, contact.id, &contact.fields, &parsed.fields, entry).await {
                Ok(true) => {}
                Ok(false) => {
                    return reply::text(
                        StatusCode::PRECONDITION_FAILED,
                        "the contact changed while this edit was applied; fetch it again",
                    );
                }
                Err(e) => return internal(e),
            }
            stored_reply(s, name, text, StatusCode::NO_CONTENT).await
        }
        None => {
            let Some(uid) = parsed.uid.clone() else {
                return refuse(Refusal::new(Precondition::ValidAddressData, "the card has no UID"), Some(text.into()))
                    .await;
            };
            // The server's own names come first and depend on nothing stored.
            if let Some(message) = reserved_name(name, &uid) {
                return refuse(Refusal::new(Precondition::ReservedName, message), Some(text.into())).await;
            }
            // The client before any lookup of other contacts: a card for a client the rep does not
            // see is refused alike whether its UID or name exists elsewhere or not.
            let Some(org) = parsed.org.clone() else {
                let message = "a new contact needs ORG set to the name of one of your CRM clients";
                return refuse(Refusal::new(Precondition::ClientRequired, message), Some(text.into())).await;
            };
            let client = match addressbook::visible_client_by_name(s.store, s.rep.id, &org).await {
                Ok(Some(client)) => client,
                Ok(None) => {
                    let message =
                        format!("no CRM client named {org:?} is visible to you: set ORG to a client's exact name");
                    return refuse(Refusal::new(Precondition::ClientRequired, message), Some(text.into())).await;
                }
                Err(e) => return internal(e),
            };
            // A UID the rep can see in use is named; one used where they cannot see is not.
            match addressbook::href_of_uid(s.store, &uid).await {
                Ok(Some(href)) if find_card(s, &href).await.ok().flatten().is_some() => {
                    let used_by = format!("{}{href}", book_href(&s.rep.login));
                    let message = format!("UID {uid} is already used by {used_by}");
                    let refusal = Refusal::new(Precondition::AddressbookNoUidConflict, message).with_href(used_by);
                    return refuse(refusal, Some(text.into())).await;
                }
                Ok(_) => {}
                Err(e) => return internal(e),
            }
            let after = serde_json::to_string(&parsed.fields).ok();
            let entry = AuditEntry { after, ..audit("created", None) };
            match addressbook::create_contact(s.store, client.id, &uid, name, &parsed.fields, entry).await {
                Ok(true) => stored_reply(s, name, text, StatusCode::CREATED).await,
                // The UID or the name is another contact's, one this rep cannot see (or one created
                // meanwhile): the same answer whichever it is, and no href that would point at it.
                Ok(false) => {
                    let message = format!(
                        "UID {uid} or the name {name} is already used by another contact: give the card a new UID and name"
                    );
                    refuse(Refusal::new(Precondition::AddressbookNoUidConflict, message), Some(text.into())).await
                }
                Err(e) => internal(e),
            }
        }
    }
}

/// Why a new card may not take this name or UID: they are in the namespace of the cards the server
/// generates (organisation cards), which a device could otherwise use to shadow a client's card in
/// the address books of other reps.
fn reserved_name(name: &str, uid: &str) -> Option<String> {
    if addressbook::is_reserved_href(name) {
        return Some(format!(
            "{name} is a reserved name: names of the form client-CODE.vcf belong to the server's client cards; save the card under another name"
        ));
    }
    if addressbook::is_reserved_uid(uid) {
        return Some(format!(
            "UID {uid} is reserved: UIDs beginning with crmdav- belong to the server's cards; give the card a new UID"
        ));
    }
    None
}

/// The answer to an accepted PUT: the new ETag only if the stored card is exactly what the device
/// sent (RFC 6352 5.3.4: when the server changed it, e.g. ignored a derived field, no ETag).
async fn stored_reply(s: &Session<'_>, name: &str, sent: &str, status: StatusCode) -> Reply {
    let mut response = reply::text(status, "");
    if let Ok(Some(card)) = find_card(s, name).await {
        let stored = vcard::render(&card, Version::V3);
        if stored.replace("\r\n", "\n").trim_end() == sent.replace("\r\n", "\n").trim_end() {
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_str(&vcard::etag(&stored)).expect("hex etag"));
        }
    }
    response
}

/// DELETE: reps do not delete CRM contacts from a device.
pub async fn delete(s: &Session<'_>, name: &str) -> Reply {
    match find_card(s, name).await {
        Ok(Some(_)) => {}
        Ok(None) => return reply::not_found(&format!("{}{name}", book_href(&s.rep.login))),
        Err(e) => return internal(e),
    }
    let _ = audit::record(
        s.store,
        AuditEntry {
            rep_id: Some(s.rep.id),
            device: s.device,
            action: "card.delete",
            target: name,
            outcome: "refused",
            before: None,
            after: None,
        },
    )
    .await;
    reply::refusal(&Refusal::new(
        Precondition::NeedPrivileges,
        "CRM contacts cannot be deleted from a device: ask your CRM administrator",
    ))
}

/// REPORT on the address book.
pub async fn report(s: &Session<'_>, report: ReportRequest) -> Reply {
    let href = book_href(&s.rep.login);
    match report {
        ReportRequest::AddressbookMultiget { props, address_data, hrefs } => {
            let version = match requested_version(address_data.as_ref()) {
                Ok(v) => v,
                Err(reply) => return reply,
            };
            let names: Vec<Option<String>> = hrefs.iter().map(|h| member_name(h, &href)).collect();
            let wanted: Vec<String> = names.iter().flatten().cloned().collect();
            let found = match multiget_entries(s, &wanted, version, reply::wants(&props, &address_data_name())).await {
                Ok(found) => found,
                Err(e) => return internal(e),
            };
            // Written while it is sent: thousands of cards are never held as one answer.
            let body = Multistatus::new().stream(hrefs.into_iter().zip(names), move |body, (raw, name)| {
                match name.as_deref().and_then(|name| Some((name, found.get(name)?))) {
                    Some((name, (etag, data))) => body.add_response(
                        &format!("{href}{name}"),
                        &reply::select_props(&props, card_props(etag, data.map(str::to_owned)), &[address_data_name()]),
                    ),
                    None => body.add_status(&decoded(&raw), 404),
                }
            });
            reply::multistatus_streamed(body)
        }
        ReportRequest::AddressbookQuery { props, address_data, filter, limit } => {
            let version = match requested_version(address_data.as_ref()) {
                Ok(v) => v,
                Err(reply) => return reply,
            };
            let cards = match addressbook::cards(s.store, s.rep.id, None).await {
                Ok(cards) => cards,
                Err(e) => return internal(e),
            };
            let mut body = Multistatus::new();
            let mut matched = 0usize;
            let limit = limit.map(|l| l as usize);
            for card in &cards {
                if !filter::matches(&vcard::to_vcard(card, version), &filter) {
                    continue;
                }
                if limit.is_some_and(|l| matched >= l) {
                    // RFC 6352 8.6.1: say that the result was cut at the client's limit.
                    body.add_status_with_error(&href, 507, &PropName::dav("number-of-matches-within-limits"));
                    break;
                }
                matched += 1;
                body.add_response(&format!("{href}{}", card.href()), &card_propstats(card, &props, version));
            }
            reply::multistatus(body)
        }
        ReportRequest::SyncCollection { sync_token, sync_level, limit, props } => {
            sync_collection(s, &sync_token, &sync_level, limit, &props).await
        }
        ReportRequest::CalendarMultiget { .. }
        | ReportRequest::CalendarQuery { .. }
        | ReportRequest::FreeBusyQuery { .. }
        | ReportRequest::PrincipalPropertySearch { .. }
        | ReportRequest::PrincipalSearchPropertySet
        | ReportRequest::Unsupported(_) => reply::precondition_failed(
            StatusCode::FORBIDDEN,
            PropName::dav("supported-report"),
            "this report is not supported on an address book",
        ),
    }
}

fn decoded(href: &str) -> String {
    let path = match href.find("://") {
        Some(i) => href[i + 3..].find('/').map_or("/", |j| &href[i + 3 + j..]),
        None => href,
    };
    percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned()
}

fn card_propstats(card: &Card, props: &PropfindRequest, version: Version) -> Vec<PropStat> {
    let (etag, data) = card_entry(card, version, reply::wants(props, &address_data_name()));
    reply::select_props(props, card_props(&etag, data), &[address_data_name()])
}

/// A card's ETag (always that of its 3.0 text, the one stored) and its text in `version` if `with_data`.
fn card_entry(card: &Card, version: Version, with_data: bool) -> (String, Option<String>) {
    let v3 = vcard::render(card, Version::V3);
    let etag = vcard::etag(&v3);
    let data = with_data.then(|| if version == Version::V3 { v3 } else { vcard::render(card, version) });
    (etag, data)
}

/// The ETag and text of each of `names` that the rep can see, by name. Served from the text stored
/// with the members when the address book is up to date and 3.0 is asked for (the common case, a
/// client fetching what its sync just listed), else rendered from the CRM rows.
async fn multiget_entries(
    s: &Session<'_>,
    names: &[String],
    version: Version,
    with_data: bool,
) -> anyhow::Result<Entries> {
    let key = collection_key(s.rep.id);
    if version == Version::V3
        && let Some(fresh) = sync::fresh_members(s.store, &key, vcard::RENDER_VERSION, names, with_data).await?
    {
        return Ok(fresh);
    }
    let cards = addressbook::cards(s.store, s.rep.id, Some(names)).await?;
    Ok(Entries::Owned(cards.iter().map(|card| (card.href(), card_entry(card, version, with_data))).collect()))
}

/// RFC 6578 sync-collection, with `DAV:limit` honoured by a cursor token.
async fn sync_collection(
    s: &Session<'_>,
    token: &str,
    level: &str,
    limit: Option<u32>,
    props: &PropfindRequest,
) -> Reply {
    if level != "1" {
        return reply::precondition_failed(
            StatusCode::FORBIDDEN,
            PropName::dav("supported-sync-level"),
            "the address book has no sub-collections: use sync-level 1",
        );
    }
    let seq = match refresh(s).await {
        Ok(seq) => seq,
        Err(e) => return internal(e),
    };
    let limit = limit.map(|l| l as usize);
    let with_data = reply::wants(props, &address_data_name());
    let page = match sync::page(s.store, &collection_key(s.rep.id), seq, token, limit, with_data).await {
        Ok(Some(page)) => page,
        Ok(None) => {
            return reply::precondition_failed(
                StatusCode::FORBIDDEN,
                PropName::dav("valid-sync-token"),
                "unknown or expired sync-token: sync again from the start (empty token)",
            );
        }
        Err(e) => return internal(e),
    };
    reply::sync_collection(book_href(&s.rep.login), page, props, address_data_name(), card_props)
}

/// PROPPATCH of the address book's display name (kept per rep).
pub async fn set_displayname(s: &Session<'_>, name: Option<&str>) -> anyhow::Result<()> {
    sync::set_display(s.store, &collection_key(s.rep.id), name, None).await
}
