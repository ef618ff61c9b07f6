//! A rep's address book: one card per contact of each visible client (an organisation card for a
//! client without contacts), with the client's last three notes. Reading and writing contacts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use chrono::NaiveDate;

use super::audit::{AuditEntry, insert_audit};
use super::figures::{self, Figures};
use super::notes::{ClientNote, insert_note};
use super::visibility::visible_condition;
use super::voice_notes::VoiceNote;
use crate::on_db;
use crate::store::{Store, Ts};

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Client {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub category: String,
    pub status: String,
    pub territory: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    pub phone: String,
    pub website: String,
}

/// The contact fields a rep may edit from a device, plus what the device sent that the CRM does
/// not model (kept verbatim for the round trip).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ContactFields {
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub email: String,
    pub phone: String,
    pub mobile: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    pub vcard_extra: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Contact {
    pub id: i64,
    pub uid: String,
    pub href: String,
    pub fields: ContactFields,
}

#[derive(Clone, Debug, Serialize)]
pub struct Note {
    pub body: String,
    pub created_at: Ts,
    pub author: Option<String>,
}

/// One address-book entry.
#[derive(Clone, Debug)]
pub struct Card {
    pub client: Arc<Client>,
    pub contact: Option<Contact>,
    /// The client's newest notes, newest first (at most three).
    pub notes: Arc<Vec<Note>>,
    /// The client's newest voice notes, newest first (at most three).
    pub voice_notes: Arc<Vec<VoiceNote>>,
    /// The client's figures, from its results.
    pub figures: Arc<Figures>,
}

/// Organisation cards are named `client-CODE.vcf` with UID `crmdav-client-CODE`: names the server
/// generates, which devices cannot write into (see `is_reserved_href`, `is_reserved_uid`).
const ORG_HREF_PREFIX: &str = "client-";
const ORG_HREF_SUFFIX: &str = ".vcf";
const SERVER_UID_PREFIX: &str = "crmdav-";
const ORG_UID_PREFIX: &str = "crmdav-client-";

/// Name of the organisation card of a client that has no contact.
pub fn org_card_href(client_code: &str) -> String {
    format!("{ORG_HREF_PREFIX}{client_code}{ORG_HREF_SUFFIX}")
}

fn org_card_uid(client_code: &str) -> String {
    format!("{ORG_UID_PREFIX}{client_code}")
}

/// Whether a card name is of the form the server gives organisation cards (in any case: a device
/// or a case-insensitive file system may change it).
pub fn is_reserved_href(href: &str) -> bool {
    let lower = href.to_ascii_lowercase();
    lower.starts_with(ORG_HREF_PREFIX) && lower.ends_with(ORG_HREF_SUFFIX)
}

/// Whether a UID is in the server's own namespace.
pub fn is_reserved_uid(uid: &str) -> bool {
    uid.get(..SERVER_UID_PREFIX.len()).is_some_and(|prefix| prefix.eq_ignore_ascii_case(SERVER_UID_PREFIX))
}

/// The client codes whose organisation card a contact's name or UID would collide with.
fn claimed_org_codes(contact: &Contact) -> impl Iterator<Item = &str> {
    let by_href = org_card_code(&contact.href);
    let by_uid = contact.uid.strip_prefix(ORG_UID_PREFIX);
    by_href.into_iter().chain(by_uid)
}

impl Card {
    pub fn href(&self) -> String {
        match &self.contact {
            Some(contact) => contact.href.clone(),
            None => org_card_href(&self.client.code),
        }
    }

    pub fn uid(&self) -> String {
        match &self.contact {
            Some(contact) => contact.uid.clone(),
            None => org_card_uid(&self.client.code),
        }
    }
}

#[derive(sqlx::FromRow)]
struct CardRow {
    #[sqlx(flatten)]
    client: Client,
    contact_id: Option<i64>,
    contact_uid: Option<String>,
    contact_href: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    title: Option<String>,
    email: Option<String>,
    contact_phone: Option<String>,
    mobile: Option<String>,
    contact_street: Option<String>,
    contact_postal_code: Option<String>,
    contact_city: Option<String>,
    contact_country: Option<String>,
    vcard_extra: Option<String>,
}

#[derive(sqlx::FromRow)]
struct NoteRow {
    client_id: i64,
    body: String,
    created_at: Ts,
    author: Option<String>,
}

const CARD_SELECT: &str = "SELECT c.id, c.code, c.name, c.category, c.status, c.territory, c.street, c.postal_code, c.city, c.country, c.phone, c.website, \
    k.id AS contact_id, k.uid AS contact_uid, k.href AS contact_href, k.first_name, k.last_name, k.title, k.email, \
    k.phone AS contact_phone, k.mobile, k.street AS contact_street, k.postal_code AS contact_postal_code, \
    k.city AS contact_city, k.country AS contact_country, k.vcard_extra \
    FROM clients c LEFT JOIN contacts k ON k.client_id = c.id";

/// Every card of the rep's address book, or only those named in `hrefs`, with figures as of `today`.
pub async fn cards(store: &Store, rep_id: i64, hrefs: Option<&[String]>, today: NaiveDate) -> Result<Vec<Card>> {
    match hrefs {
        None => select_cards(store, rep_id, Selection::All, today).await,
        Some(hrefs) => select_cards(store, rep_id, Selection::Hrefs(hrefs), today).await,
    }
}

/// The cards of the rep's address book that are of `client_ids` (those the rep sees).
pub async fn cards_of_clients(store: &Store, rep_id: i64, client_ids: &[i64], today: NaiveDate) -> Result<Vec<Card>> {
    select_cards(store, rep_id, Selection::Clients(client_ids), today).await
}

enum Selection<'a> {
    All,
    Hrefs(&'a [String]),
    Clients(&'a [i64]),
}

async fn select_cards(store: &Store, rep_id: i64, selection: Selection<'_>, today: NaiveDate) -> Result<Vec<Card>> {
    let mut rows: Vec<CardRow> = Vec::new();
    let visible = visible_condition("$1");
    match selection {
        Selection::All => {
            let sql = format!("{CARD_SELECT} WHERE {visible} ORDER BY c.id, k.id");
            rows = on_db!(store, read, |pool| sqlx::query_as(&sql).bind(rep_id).fetch_all(pool).await?);
        }
        Selection::Hrefs(hrefs) => {
            for chunk in hrefs.chunks(500) {
                let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let list = placeholders.join(", ");
                let sql = format!(
                    "{CARD_SELECT} WHERE {visible} AND (k.href IN ({list}) OR (k.id IS NULL AND ('client-' || c.code || '.vcf') IN ({list}))) ORDER BY c.id, k.id"
                );
                let mut chunk_rows: Vec<CardRow> = on_db!(store, read, |pool| {
                    let mut query = sqlx::query_as(&sql).bind(rep_id);
                    for href in chunk {
                        query = query.bind(href);
                    }
                    query.fetch_all(pool).await?
                });
                rows.append(&mut chunk_rows);
            }
        }
        Selection::Clients(ids) => {
            // The list is one bound value: one statement text whatever its length, so PostgreSQL
            // plans it once per connection (this runs on every sync that follows a CRM change).
            rows = crate::rows_where_in!(store, format!("{CARD_SELECT} WHERE {visible} AND c.id"), rep_id, ids);
        }
    }
    let whole_book = matches!(selection, Selection::All);
    let client_ids: Vec<i64> = {
        let mut ids: Vec<i64> = rows.iter().map(|r| r.client.id).collect();
        ids.dedup();
        ids
    };
    let notes =
        if whole_book { latest_notes_visible(store, rep_id).await? } else { latest_notes(store, &client_ids).await? };
    let voice_notes = super::voice_notes::latest_of_clients(store, &client_ids).await?;
    let figures = if whole_book {
        figures::of_visible(store, rep_id, today).await?
    } else {
        figures::of_clients(store, &client_ids, today).await?
    };
    let no_figures = Arc::new(Figures::none(today));
    let mut clients: HashMap<i64, Arc<Client>> = HashMap::new();
    let mut cards = Vec::with_capacity(rows.len());
    for row in rows {
        let client = clients.entry(row.client.id).or_insert_with(|| Arc::new(row.client.clone())).clone();
        let contact = row.contact_id.map(|id| Contact {
            id,
            uid: row.contact_uid.unwrap_or_default(),
            href: row.contact_href.unwrap_or_default(),
            fields: ContactFields {
                first_name: row.first_name.unwrap_or_default(),
                last_name: row.last_name.unwrap_or_default(),
                title: row.title.unwrap_or_default(),
                email: row.email.unwrap_or_default(),
                phone: row.contact_phone.unwrap_or_default(),
                mobile: row.mobile.unwrap_or_default(),
                street: row.contact_street.unwrap_or_default(),
                postal_code: row.contact_postal_code.unwrap_or_default(),
                city: row.contact_city.unwrap_or_default(),
                country: row.contact_country.unwrap_or_default(),
                vcard_extra: row.vcard_extra,
            },
        });
        let notes = notes.get(&client.id).cloned().unwrap_or_default();
        let voice_notes = voice_notes.get(&client.id).cloned().unwrap_or_default();
        let figures = figures.get(&client.id).unwrap_or(&no_figures).clone();
        cards.push(Card { client, contact, notes, voice_notes, figures });
    }
    drop_shadowing_contacts(store, rep_id, &mut cards).await?;
    Ok(cards)
}

/// An address book never holds two members with one name or one UID. Contacts are unique among
/// themselves (table constraints), so only a contact in the organisation cards' namespace (written
/// by another program, or by a device before that namespace was reserved) can collide: with an
/// organisation card the rep also sees. The server's card keeps its name; the contact is left out,
/// in every listing and lookup alike, so one bad row cannot break or shadow anyone's address book.
async fn drop_shadowing_contacts(store: &Store, rep_id: i64, cards: &mut Vec<Card>) -> Result<()> {
    let claimed: Vec<String> =
        cards.iter().filter_map(|card| card.contact.as_ref()).flat_map(claimed_org_codes).map(str::to_owned).collect();
    if claimed.is_empty() {
        return Ok(());
    }
    let shown = visible_org_card_codes(store, rep_id, &claimed).await?;
    cards.retain(|card| {
        let Some(contact) = &card.contact else { return true };
        let shadows = claimed_org_codes(contact).any(|code| shown.contains(code));
        if shadows {
            tracing::warn!(contact = contact.id, href = %contact.href, uid = %contact.uid,
                "contact left out of an address book: its name or UID is an organisation card's");
        }
        !shadows
    });
    Ok(())
}

/// The clients having a contact whose name or UID is that of the organisation card of one of
/// `codes`: whether such a contact is in an address book depends on that card (see
/// `drop_shadowing_contacts`), so a change to those clients concerns it too.
pub async fn clients_shadowed_by(store: &Store, codes: &[String]) -> Result<Vec<i64>> {
    let mut found = Vec::new();
    for chunk in codes.chunks(250) {
        let names: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let uids: Vec<String> = (chunk.len() + 1..=2 * chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT DISTINCT client_id FROM contacts WHERE href IN ({}) OR uid IN ({})",
            names.join(", "),
            uids.join(", ")
        );
        let mut rows: Vec<i64> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_scalar(&sql);
            for code in chunk {
                query = query.bind(org_card_href(code));
            }
            for code in chunk {
                query = query.bind(org_card_uid(code));
            }
            query.fetch_all(pool).await?
        });
        found.append(&mut rows);
    }
    Ok(found)
}

/// Of `client_ids`, the cards the rep's address book `collection` holds (href, client) and the
/// clients the rep sees now: what a change to those clients can alter in the book. One statement:
/// under churn it runs on every poll, and most changed clients are neither (another rep's).
pub async fn held_or_visible(
    store: &Store,
    collection: &str,
    rep_id: i64,
    client_ids: &[i64],
) -> Result<(Vec<(String, i64)>, Vec<i64>)> {
    let sql = |list: &str| {
        format!(
            "SELECT href, source_id FROM collection_members WHERE collection = $1 AND NOT deleted AND source_id {list} \
             UNION ALL SELECT NULL, c.id FROM clients c WHERE {} AND c.id {list}",
            visible_condition("$2")
        )
    };
    let rows: Vec<(Option<String>, i64)> = match store.db() {
        crate::store::Db::Sqlite { read, .. } => {
            sqlx::query_as(&sql("IN (SELECT value FROM json_each($3))"))
                .bind(collection)
                .bind(rep_id)
                .bind(serde_json::to_string(client_ids)?)
                .fetch_all(read)
                .await?
        }
        crate::store::Db::Postgres(pool) => {
            sqlx::query_as(&sql("= ANY($3)")).bind(collection).bind(rep_id).bind(client_ids).fetch_all(pool).await?
        }
    };
    let (held, visible): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(href, _)| href.is_some());
    Ok((
        held.into_iter().filter_map(|(href, client)| Some((href?, client))).collect(),
        visible.into_iter().map(|(_, client)| client).collect(),
    ))
}

/// The codes of `client_ids` as they are now.
pub async fn client_codes(store: &Store, client_ids: &[i64]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for chunk in client_ids.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT code FROM clients WHERE id IN ({})", list.join(", "));
        let mut rows: Vec<String> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_scalar(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        found.append(&mut rows);
    }
    Ok(found)
}

/// The client code of an organisation card's name, if it is one.
pub fn org_card_code(href: &str) -> Option<&str> {
    href.strip_prefix(ORG_HREF_PREFIX).and_then(|rest| rest.strip_suffix(ORG_HREF_SUFFIX))
}

/// Which of `codes` are clients the rep sees as an organisation card (visible, without contacts).
async fn visible_org_card_codes(store: &Store, rep_id: i64, codes: &[String]) -> Result<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in codes.chunks(500) {
        let list: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT c.code FROM clients c WHERE c.code IN ({}) AND {} \
             AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.client_id = c.id)",
            list.join(", "),
            visible_condition("$1")
        );
        let rows: Vec<String> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_scalar(&sql).bind(rep_id);
            for code in chunk {
                query = query.bind(code);
            }
            query.fetch_all(pool).await?
        });
        found.extend(rows);
    }
    Ok(found)
}

const NOTES_RANKED: &str = "SELECT n.client_id, n.body, n.created_at, r.display_name AS author FROM \
    (SELECT client_id, body, created_at, rep_id, ROW_NUMBER() OVER (PARTITION BY client_id ORDER BY created_at DESC, id DESC) AS rn \
     FROM notes WHERE client_id IN ";

fn group_notes(rows: Vec<NoteRow>) -> HashMap<i64, Arc<Vec<Note>>> {
    let mut grouped: HashMap<i64, Vec<Note>> = HashMap::new();
    for row in rows {
        grouped.entry(row.client_id).or_default().push(Note {
            body: row.body,
            created_at: row.created_at,
            author: row.author,
        });
    }
    grouped.into_iter().map(|(id, notes)| (id, Arc::new(notes))).collect()
}

async fn latest_notes_visible(store: &Store, rep_id: i64) -> Result<HashMap<i64, Arc<Vec<Note>>>> {
    let sql = format!(
        "{NOTES_RANKED}(SELECT c.id FROM clients c WHERE {})) n LEFT JOIN reps r ON r.id = n.rep_id WHERE n.rn <= 3 ORDER BY n.client_id, n.rn",
        visible_condition("$1")
    );
    let rows: Vec<NoteRow> = on_db!(store, read, |pool| sqlx::query_as(&sql).bind(rep_id).fetch_all(pool).await?);
    Ok(group_notes(rows))
}

async fn latest_notes(store: &Store, client_ids: &[i64]) -> Result<HashMap<i64, Arc<Vec<Note>>>> {
    let mut rows: Vec<NoteRow> = Vec::new();
    for chunk in client_ids.chunks(500) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "{NOTES_RANKED}({})) n LEFT JOIN reps r ON r.id = n.rep_id WHERE n.rn <= 3 ORDER BY n.client_id, n.rn",
            list.join(", ")
        );
        let mut chunk_rows: Vec<NoteRow> = on_db!(store, read, |pool| {
            let mut query = sqlx::query_as(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(pool).await?
        });
        rows.append(&mut chunk_rows);
    }
    Ok(group_notes(rows))
}

/// A visible client whose name equals `name` (case-insensitive), for cards created on a device.
pub async fn visible_client_by_name(store: &Store, rep_id: i64, name: &str) -> Result<Option<Client>> {
    let sql = format!(
        "SELECT c.id, c.code, c.name, c.category, c.status, c.territory, \
         c.street, c.postal_code, c.city, c.country, c.phone, c.website FROM clients c \
         WHERE LOWER(c.name) = LOWER($2) AND {} ORDER BY c.id LIMIT 1",
        visible_condition("$1")
    );
    Ok(on_db!(store, read, |pool| sqlx::query_as(&sql).bind(rep_id).bind(name.trim()).fetch_optional(pool).await?))
}

/// The href of the contact that already uses `uid`, if any (a UID must be unique).
pub async fn href_of_uid(store: &Store, uid: &str) -> Result<Option<String>> {
    Ok(on_db!(store, read, |pool| sqlx::query_scalar("SELECT href FROM contacts WHERE uid = $1")
        .bind(uid)
        .fetch_optional(pool)
        .await?))
}

pub(crate) const FIELD_COLUMNS: [&str; 11] = [
    "first_name",
    "last_name",
    "title",
    "email",
    "phone",
    "mobile",
    "street",
    "postal_code",
    "city",
    "country",
    "vcard_extra",
];

macro_rules! bind_fields {
    ($query:expr, $f:expr) => {
        $query
            .bind(&$f.first_name)
            .bind(&$f.last_name)
            .bind(&$f.title)
            .bind(&$f.email)
            .bind(&$f.phone)
            .bind(&$f.mobile)
            .bind(&$f.street)
            .bind(&$f.postal_code)
            .bind(&$f.city)
            .bind(&$f.country)
            .bind(&$f.vcard_extra)
    };
}
pub(crate) use bind_fields;

/// Updates a contact's editable fields, if `expected` still holds (optimistic check inside the
/// transaction, so two concurrent edits cannot both win), adds the note the rep wrote on the card
/// if any, and audits it; one transaction.
pub async fn update_contact(
    store: &Store,
    contact_id: i64,
    expected: &ContactFields,
    fields: &ContactFields,
    note: Option<&ClientNote<'_>>,
    audit: AuditEntry<'_>,
) -> Result<bool> {
    let set: Vec<String> = FIELD_COLUMNS.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 2)).collect();
    let sql = format!("UPDATE contacts SET {}, updated_at = $13 WHERE id = $1", set.join(", "));
    let current_sql = format!("SELECT {} FROM contacts WHERE id = $1", FIELD_COLUMNS.join(", "));
    let updated = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        // Lock the row first (a no-op write), then compare: on PostgreSQL two edits with the same
        // If-Match would otherwise both read the old fields and both write (a lost update).
        sqlx::query("UPDATE contacts SET updated_at = updated_at WHERE id = $1")
            .bind(contact_id)
            .execute(&mut *tx)
            .await?;
        let current: Option<ContactFields> =
            sqlx::query_as(&current_sql).bind(contact_id).fetch_optional(&mut *tx).await?;
        if current.as_ref() != Some(expected) {
            false
        } else {
            bind_fields!(sqlx::query(&sql).bind(contact_id), fields).bind(Ts::now()).execute(&mut *tx).await?;
            if let Some(note) = note {
                insert_note!(&mut *tx, *note)?;
            }
            insert_audit!(&mut *tx, audit)?;
            tx.commit().await?;
            true
        }
    });
    Ok(updated)
}

/// Creates a contact under a client with the note written on its card if any, and audits it; one
/// transaction. `false` (nothing written) when the UID or the href is already another contact's.
pub async fn create_contact(
    store: &Store,
    client_id: i64,
    uid: &str,
    href: &str,
    fields: &ContactFields,
    note: Option<&str>,
    audit: AuditEntry<'_>,
) -> Result<bool> {
    let placeholders: Vec<String> = (4..4 + FIELD_COLUMNS.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO contacts (uid, href, client_id, {}) VALUES ($1, $2, $3, {}) ON CONFLICT DO NOTHING RETURNING id",
        FIELD_COLUMNS.join(", "),
        placeholders.join(", ")
    );
    let created = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let inserted: Option<i64> = bind_fields!(sqlx::query_scalar(&sql).bind(uid).bind(href).bind(client_id), fields)
            .fetch_optional(&mut *tx)
            .await?;
        if inserted.is_some() {
            if let (Some(body), Some(rep_id)) = (note, audit.rep_id) {
                insert_note!(&mut *tx, ClientNote { client_id, rep_id, body })?;
            }
            insert_audit!(&mut *tx, audit)?;
            tx.commit().await?;
        }
        inserted.is_some()
    });
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(uid: &str, href: &str) -> Contact {
        Contact { id: 1, uid: uid.into(), href: href.into(), fields: ContactFields::default() }
    }

    #[test]
    fn organisation_card_names_and_uids_are_reserved() {
        assert!(is_reserved_href(&org_card_href("C00001")));
        assert!(is_reserved_href("Client-C00001.VCF"));
        assert!(!is_reserved_href("client-notes.txt") && !is_reserved_href("my-client-1.vcf"));
        assert!(is_reserved_uid(&org_card_uid("C00001")) && is_reserved_uid("CRMDAV-anything"));
        assert!(!is_reserved_uid("3f0c7a4e-crmdav-") && !is_reserved_uid("crm"));
    }

    #[test]
    fn a_contact_claims_the_codes_its_name_or_uid_would_shadow() {
        let claims = |c: &Contact| claimed_org_codes(c).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(claims(&contact("crmdav-client-B", "client-A.vcf")), ["A", "B"]);
        assert!(claims(&contact("3f0c7a4e", "3f0c7a4e.vcf")).is_empty());
    }
}
