//! CardDAV (RFC 6352): a rep's visible CRM clients as one address book, `clients`.

mod filter;

use std::collections::BTreeSet;

use http::{HeaderMap, StatusCode, header};

use crate::crm::Session;
use crate::crm::addressbook::{self, Card};
use crate::crm::audit::{self, AuditEntry};
use crate::crm::notes::{self, ClientNote};
use crate::crm::prospects::{self, NewProspect};
use crate::dav::collection::{Collection, Display, MemberShape, Tagged, Write, Written};
use crate::dav::error::{DavError, Precondition, Refusal};
use crate::dav::multistatus::{Multistatus, PropStat, PropValue};
use crate::dav::names::PropName;
use crate::dav::reply::{self, Reply};
use crate::dav::request::{AddressDataRequest, PropfindRequest, ReportRequest};
use crate::mapping::vcard::{self, ParsedCard, Version};
use crate::store::incremental::{LoggedChange, View};
use crate::store::sync::{self, Entries, Member, Page, Stored};

/// The one address book of every rep.
pub const BOOK: &str = "clients";

/// The store's key of the rep's address book (its sync state, members and push subscriptions).
pub fn collection_key(rep_id: i64) -> String {
    format!("cards:{rep_id}")
}

pub fn book_href(login: &str) -> String {
    format!("/dav/addressbooks/{login}/{BOOK}/")
}

/// Brings the rep's address-book membership up to date; returns its sync sequence.
async fn refresh(s: &Session<'_>) -> anyhow::Result<i64> {
    sync::refresh(
        s.store,
        &collection_key(s.rep.id),
        vcard::render_version(s.config.today()),
        &BookView { s },
        s.change_seq,
    )
    .await
}

/// The rep's address book as a view of the CRM (what `refresh` maintains; tests compute it in full
/// to compare).
pub fn view<'a>(s: &'a Session<'a>) -> impl View + 'a {
    BookView { s }
}

/// The address book as a view of the CRM: a card's source is its client.
struct BookView<'a> {
    s: &'a Session<'a>,
}

impl View for BookView<'_> {
    async fn affected(&self, changes: &[LoggedChange]) -> anyhow::Result<Option<Vec<i64>>> {
        let mut clients = BTreeSet::new();
        for change in changes {
            match change.entity.as_str() {
                // A card shows its client, its contact, the client's last notes and voice notes, and
                // its figures (computed from its results).
                "clients" | "contacts" | "notes" | "voice_notes" | "results" => clients.extend(change.client_id),
                // Teams decide nothing a rep's cards show.
                "activities" | "objectives" | "collection_render" | "teams" => {}
                // Visibility rules, reps (note authors), anything unknown: any card may change.
                _ => return Ok(None),
            }
        }
        if clients.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let clients: Vec<i64> = clients.into_iter().collect();
        // Only clients the rep sees now or whose cards the book holds can change it: a change to
        // any other costs this one lookup and nothing more.
        let store = self.s.store;
        let (stored, visible) =
            addressbook::held_or_visible(store, &collection_key(self.s.rep.id), self.s.rep.id, &clients).await?;
        let mut relevant: BTreeSet<i64> = stored.iter().map(|(_, source)| *source).collect();
        relevant.extend(visible);
        if relevant.is_empty() {
            return Ok(Some(Vec::new()));
        }
        let mut clients: Vec<i64> = relevant.into_iter().collect();
        // A contact shadowed by an organisation card comes or goes with that card: the clients of
        // such contacts are concerned too (the card's code as it is now, and as it was stored).
        let mut codes = addressbook::client_codes(store, &clients).await?;
        codes.extend(stored.iter().filter_map(|(href, _)| addressbook::org_card_code(href)).map(str::to_owned));
        clients.extend(addressbook::clients_shadowed_by(store, &codes).await?);
        clients.sort_unstable();
        clients.dedup();
        Ok(Some(clients))
    }

    async fn compute(&self, sources: Option<&[i64]>) -> anyhow::Result<Vec<Member>> {
        let (store, rep, today) = (self.s.store, self.s.rep.id, self.s.config.today());
        let cards = match sources {
            None => addressbook::cards(store, rep, None, today).await?,
            Some(clients) => addressbook::cards_of_clients(store, rep, clients, today).await?,
        };
        // Each card is dropped once rendered: the rows and the texts are never all held at once.
        Ok(cards
            .into_iter()
            .map(|card| {
                let body = vcard::render(&card, Version::V3);
                Member { href: card.href(), etag: vcard::etag(&body), body, source: card.client.id }
            })
            .collect())
    }
}

fn internal(e: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %e, "CardDAV request failed");
    reply::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was changed")
}

/// Properties of the address book collection.
pub async fn collection_props(s: &Session<'_>) -> anyhow::Result<Vec<(PropName, PropValue)>> {
    let seq = refresh(s).await?;
    let token = sync::token(&collection_key(s.rep.id), seq);
    let (displayname, _) = sync::display(s.store, &collection_key(s.rep.id)).await?;
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

fn address_data_name() -> PropName {
    PropName::carddav("address-data")
}

/// The vCard version asked for in an address-data element.
fn requested_version(request: Option<&AddressDataRequest>) -> Result<Version, Refusal> {
    match request.and_then(|r| r.version.as_deref()) {
        None | Some("3.0") => Ok(Version::V3),
        Some("4.0") => Ok(Version::V4),
        Some(other) => Err(Refusal::new(
            Precondition::SupportedAddressData,
            format!("vCard version {other} is not available: ask for 3.0 or 4.0"),
        )),
    }
}

/// REPORT on the address book.
pub async fn report(s: &Session<'_>, report: ReportRequest) -> Reply {
    let href = book_href(&s.rep.login);
    match report {
        ReportRequest::AddressbookQuery { props, address_data, filter, limit } => {
            let version = match requested_version(address_data.as_ref()) {
                Ok(v) => v,
                Err(refusal) => return reply::refusal(&refusal),
            };
            let cards = match addressbook::cards(s.store, s.rep.id, None, s.config.today()).await {
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
        ReportRequest::SyncCollection { .. }
        | ReportRequest::AddressbookMultiget { .. }
        | ReportRequest::CalendarMultiget { .. }
        | ReportRequest::CalendarQuery { .. }
        | ReportRequest::FreeBusyQuery { .. }
        | ReportRequest::PrincipalPropertySearch { .. }
        | ReportRequest::PrincipalSearchPropertySet
        | ReportRequest::Unsupported(_) => reply::refusal(&Refusal::new(
            Precondition::SupportedReport,
            "this report is not supported on an address book",
        )),
    }
}

fn card_propstats(card: &Card, props: &PropfindRequest, version: Version) -> Vec<PropStat> {
    let (etag, data) = card_entry(card, version, reply::wants(props, &address_data_name()));
    shape().propstats(props, &etag, data)
}

/// A card's ETag (always that of its 3.0 text, the one stored) and its text in `version` if `with_data`.
fn card_entry(card: &Card, version: Version, with_data: bool) -> (String, Option<String>) {
    let v3 = vcard::render(card, Version::V3);
    let etag = vcard::etag(&v3);
    let data = with_data.then(|| if version == Version::V3 { v3 } else { vcard::render(card, version) });
    (etag, data)
}

/// The ETag and text of each of `names` that the rep can see, by name. Served from the text stored
/// with the members when 3.0 is asked for (the common case, a client fetching what its sync just
/// listed), else rendered from the CRM rows.
async fn multiget_entries(
    s: &Session<'_>,
    names: &[String],
    version: Version,
    with_data: bool,
) -> anyhow::Result<Entries> {
    let key = collection_key(s.rep.id);
    if version == Version::V3 {
        // Brought up to date first (what changed since the sync that listed them: usually
        // nothing), so that the stored texts answer.
        let synced = refresh(s).await?;
        return sync::members_at(s.store, &key, synced, names, with_data).await;
    }
    let cards = addressbook::cards(s.store, s.rep.id, Some(names), s.config.today()).await?;
    Ok(Entries::Owned(cards.iter().map(|card| (card.href(), card_entry(card, version, with_data))).collect()))
}

fn shape() -> MemberShape {
    MemberShape { content_type: "text/vcard; charset=utf-8", data: address_data_name() }
}

/// vCard 4.0 when the Accept header asks for it, else 3.0 (what iOS and most clients expect).
fn accepted_version(headers: &HeaderMap) -> Version {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.contains("version=4.0") { Version::V4 } else { Version::V3 }
}

async fn find_card(s: &Session<'_>, name: &str) -> anyhow::Result<Option<Card>> {
    Ok(addressbook::cards(s.store, s.rep.id, Some(&[name.to_string()]), s.config.today()).await?.into_iter().next())
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

/// What the audit log records of a card a device wrote.
#[derive(serde::Serialize)]
struct CardEdit<'a> {
    #[serde(flatten)]
    fields: &'a crate::crm::addressbook::ContactFields,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

/// A note is copied into the cards of its client in every address book: its size is bounded.
fn check_note_size(s: &Session<'_>, body: &str) -> Result<(), Refusal> {
    let limit = s.config.calendar.max_note_bytes;
    if body.len() <= limit {
        return Ok(());
    }
    Err(Refusal::new(
        Precondition::NoteTooLong,
        format!(
            "the note added to the card is {} bytes long; a note may be at most {limit} bytes (calendar.max_note_bytes): shorten it and save again",
            body.len()
        ),
    ))
}

/// A rep's visible CRM clients as one DAV collection of cards.
pub struct AddressBook<'a> {
    s: &'a Session<'a>,
}

impl<'a> AddressBook<'a> {
    pub fn new(s: &'a Session<'a>) -> Self {
        Self { s }
    }

    fn audit_entry<'e>(
        &'e self,
        action: &'e str,
        name: &'e str,
        outcome: &'e str,
        after: Option<String>,
    ) -> AuditEntry<'e> {
        AuditEntry {
            rep_id: Some(self.s.rep.id),
            device: self.s.device,
            action,
            target: name,
            outcome,
            before: None,
            after,
        }
    }
}

impl Collection for AddressBook<'_> {
    type Member = Card;
    type Parsed = ParsedCard;
    type DataRequest = AddressDataRequest;
    type Entries = Entries;

    async fn entries(
        &self,
        names: &[String],
        with_data: bool,
        request: Option<&AddressDataRequest>,
    ) -> Result<Entries, DavError> {
        let version = requested_version(request)?;
        Ok(multiget_entries(self.s, names, version, with_data).await?)
    }

    fn href(&self) -> String {
        book_href(&self.s.rep.login)
    }

    fn shape(&self) -> MemberShape {
        shape()
    }

    fn noun(&self) -> &'static str {
        "the card"
    }

    fn valid_data(&self) -> Precondition {
        Precondition::ValidAddressData
    }

    fn media_type_refusal(&self, content_type: Option<&str>) -> Option<Refusal> {
        let mime = content_type.map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let vcard = mime.is_none_or(|mime| mime == "text/vcard" || mime == "text/x-vcard" || mime == "text/directory");
        (!vcard).then(|| Refusal::new(Precondition::SupportedAddressData, "cards must be sent as text/vcard"))
    }

    async fn properties(&self) -> anyhow::Result<Vec<(PropName, PropValue)>> {
        collection_props(self.s).await
    }

    async fn members(&self, with_data: bool) -> anyhow::Result<Vec<Stored>> {
        sync::stored(self.s.store, &collection_key(self.s.rep.id), None, with_data).await
    }

    async fn changes(&self, token: &str, limit: Option<usize>, with_data: bool) -> anyhow::Result<Option<Page>> {
        let seq = refresh(self.s).await?;
        sync::page(self.s.store, &collection_key(self.s.rep.id), seq, token, limit, with_data).await
    }

    async fn find(&self, name: &str) -> anyhow::Result<Option<Card>> {
        find_card(self.s, name).await
    }

    /// The ETag is that of the 3.0 form whatever the representation, as sync-collection lists it.
    fn tagged(&self, card: &Card) -> Tagged {
        let text = vcard::render(card, Version::V3);
        Tagged { etag: vcard::etag(&text), text }
    }

    fn representation(&self, card: &Card, tagged: Tagged, headers: &HeaderMap) -> (&'static str, String) {
        match accepted_version(headers) {
            Version::V3 => (Version::V3.content_type(), tagged.text),
            version => (version.content_type(), vcard::render(card, version)),
        }
    }

    fn parse(&self, text: &str) -> Result<ParsedCard, Refusal> {
        vcard::parse(text)
            .map_err(|message| Refusal::new(Precondition::ValidAddressData, format!("invalid vCard: {message}")))
    }

    /// An edit of an existing contact (with the note the rep wrote above the card's summary), a
    /// new contact under a visible client, or a new prospect.
    async fn save(
        &self,
        name: &str,
        existing: Option<Card>,
        parsed: ParsedCard,
        text: &str,
    ) -> Result<Written, DavError> {
        let s = self.s;
        let target = self.member_href(name);
        if let Some(card) = existing {
            if parsed.uid.as_deref().is_some_and(|uid| uid != card.uid()) {
                let message = format!("the card at {target} has UID {}; a card cannot change its UID", card.uid());
                return Err(Refusal::new(Precondition::AddressbookNoUidConflict, message).with_href(target).into());
            }
            let added = vcard::added_note(&card, parsed.note.as_deref());
            if let Some(body) = &added {
                check_note_size(s, body)?;
            }
            let note = added.as_deref().map(|body| ClientNote { client_id: card.client.id, rep_id: s.rep.id, body });
            let Some(contact) = &card.contact else {
                // An organisation card shows CRM client data only: nothing on it is editable but
                // its note.
                return match &note {
                    Some(note) => {
                        let after = Some(note.body.to_string());
                        notes::add(s.store, note, self.audit_entry("card.note", name, "created", after)).await?;
                        Ok(Written::Updated)
                    }
                    None => {
                        let entry = self.audit_entry("card.put", name, "ignored", Some(text.into()));
                        let _ = audit::record(s.store, entry).await;
                        Ok(Written::Ignored)
                    }
                };
            };
            let before = serde_json::to_string(&contact.fields).ok();
            let after = serde_json::to_string(&CardEdit { fields: &parsed.fields, note: added.as_deref() }).ok();
            let entry = AuditEntry { before, ..self.audit_entry("card.put", name, "updated", after) };
            if !addressbook::update_contact(s.store, contact.id, &contact.fields, &parsed.fields, note.as_ref(), entry)
                .await?
            {
                return Err(DavError::Status(
                    StatusCode::PRECONDITION_FAILED,
                    "the contact changed while this edit was applied; fetch it again".into(),
                ));
            }
            return Ok(Written::Updated);
        }
        let Some(uid) = parsed.uid.clone() else {
            return Err(Refusal::new(Precondition::ValidAddressData, "the card has no UID").into());
        };
        // The server's own names come first and depend on nothing stored.
        if let Some(message) = reserved_name(name, &uid) {
            return Err(Refusal::new(Precondition::ReservedName, message).into());
        }
        // A new card's NOTE is all the rep's: the card's first note.
        let note = parsed.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if let Some(body) = note {
            check_note_size(s, body)?;
        }
        // The client before any lookup of other contacts: a card for a client the rep does not
        // see is refused (or filed as a prospect) alike whether its UID or name exists elsewhere.
        let Some(org) = parsed.org.clone() else {
            let message = "a new contact needs ORG set to the name of one of your CRM clients";
            return Err(Refusal::new(Precondition::ClientRequired, message).into());
        };
        let client = addressbook::visible_client_by_name(s.store, s.rep.id, &org).await?;
        if client.is_none() && !s.config.carddav.create_prospects {
            let message = format!("no CRM client named {org:?} is visible to you: set ORG to a client's exact name");
            return Err(Refusal::new(Precondition::ClientRequired, message).into());
        }
        // A UID the rep can see in use is named; one used where they cannot see is not.
        if let Some(href) = addressbook::href_of_uid(s.store, &uid).await?
            && find_card(s, &href).await.ok().flatten().is_some()
        {
            let used_by = self.member_href(&href);
            let message = format!("UID {uid} is already used by {used_by}");
            return Err(Refusal::new(Precondition::AddressbookNoUidConflict, message).with_href(used_by).into());
        }
        let after = serde_json::to_string(&CardEdit { fields: &parsed.fields, note }).ok();
        let entry = self.audit_entry("card.put", name, "created", after);
        let created = match client {
            Some(client) => {
                addressbook::create_contact(s.store, client.id, &uid, name, &parsed.fields, note, entry).await?
            }
            None => {
                let prospect =
                    NewProspect { name: &org, rep_id: s.rep.id, uid: &uid, href: name, fields: &parsed.fields, note };
                prospects::create(s.store, &prospect, entry).await?.is_some()
            }
        };
        if created {
            return Ok(Written::Created);
        }
        // The UID or the name is another contact's, one this rep cannot see (or one created
        // meanwhile): the same answer whichever it is, and no href that would point at it.
        let message = format!(
            "UID {uid} or the name {name} is already used by another contact: give the card a new UID and name"
        );
        Err(Refusal::new(Precondition::AddressbookNoUidConflict, message).into())
    }

    fn display_setting(&self, name: &PropName) -> Option<Display> {
        (*name == PropName::dav("displayname")).then_some(Display::Name)
    }

    /// The address book's display name, kept per rep (it has no colour).
    async fn set_display(&self, displayname: Option<&str>, _: Option<&str>) -> anyhow::Result<()> {
        sync::set_display(self.s.store, &collection_key(self.s.rep.id), displayname, None).await
    }

    /// Reps do not delete CRM contacts from a device.
    async fn remove(&self, _: &str, _: Card) -> Result<(), DavError> {
        Err(Refusal::new(
            Precondition::NeedPrivileges,
            "CRM contacts cannot be deleted from a device: ask your CRM administrator",
        )
        .into())
    }

    async fn audit_refusal(&self, write: Write, name: &str, _: &Refusal, sent: Option<&str>) -> anyhow::Result<()> {
        let action = if write == Write::Put { "card.put" } else { "card.delete" };
        audit::record(self.s.store, self.audit_entry(action, name, "refused", sent.map(str::to_owned))).await
    }
}
