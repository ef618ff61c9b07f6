//! Prospects entered from a phone: a new card whose ORG names no client the rep sees creates a
//! client (status `prospect`, managed by the rep) with the card as its first contact.
//!
//! The duplicate check must not reveal clients the rep cannot see: a name equal to a hidden
//! client's is answered exactly like a new name (a new prospect is filed), and the audit log flags
//! it (`client.create` with outcome `possible-duplicate`) for an admin to merge.

use anyhow::Result;
use serde_json::json;

use super::addressbook::{ContactFields, FIELD_COLUMNS, bind_fields};
use super::audit::{AuditEntry, insert_audit};
use super::notes::{ClientNote, insert_note};
use super::visibility::visible_condition;
use crate::on_db;
use crate::store::Store;

/// A prospect and its first contact, as a device's new card describes them.
pub struct NewProspect<'a> {
    /// The client's name: the card's ORG.
    pub name: &'a str,
    pub rep_id: i64,
    pub uid: &'a str,
    pub href: &'a str,
    pub fields: &'a ContactFields,
    /// The card's NOTE, the prospect's first note.
    pub note: Option<&'a str>,
}

/// A new client code: `P` and eight hex digits, unlike the CRM's own codes and unguessable, so
/// that it says nothing of how many clients exist.
fn prospect_code() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string().to_ascii_uppercase();
    format!("P{}", &id[..8])
}

/// The codes of clients the rep does not see whose name is `name` (case-insensitive): never shown
/// to the rep, only written to the audit log.
async fn hidden_namesakes(store: &Store, rep_id: i64, name: &str) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT c.code FROM clients c WHERE LOWER(c.name) = LOWER($2) AND NOT ({}) ORDER BY c.id",
        visible_condition("$1")
    );
    Ok(on_db!(store, read, |pool| sqlx::query_scalar(&sql).bind(rep_id).bind(name.trim()).fetch_all(pool).await?))
}

/// Creates the prospect, its contact and its first note, audited; one transaction. Returns the new
/// client's code, or None (nothing written) when the card's UID or name is another contact's.
pub async fn create(store: &Store, prospect: &NewProspect<'_>, card_audit: AuditEntry<'_>) -> Result<Option<String>> {
    let namesakes = hidden_namesakes(store, prospect.rep_id, prospect.name).await?;
    let code = prospect_code();
    let (outcome, after) = if namesakes.is_empty() {
        ("created", json!({ "code": code, "name": prospect.name.trim(), "status": "prospect" }))
    } else {
        (
            "possible-duplicate",
            json!({
                "code": code,
                "name": prospect.name.trim(),
                "status": "prospect",
                "same_name_as_hidden_clients": namesakes,
                "action": "an admin should check whether to merge this prospect into one of those clients",
            }),
        )
    };
    let client_audit = AuditEntry {
        rep_id: card_audit.rep_id,
        device: card_audit.device,
        action: "client.create",
        target: &code,
        outcome,
        before: None,
        after: Some(after.to_string()),
    };
    let placeholders: Vec<String> = (4..4 + FIELD_COLUMNS.len()).map(|i| format!("${i}")).collect();
    let contact_sql = format!(
        "INSERT INTO contacts (uid, href, client_id, {}) VALUES ($1, $2, $3, {}) ON CONFLICT DO NOTHING RETURNING id",
        FIELD_COLUMNS.join(", "),
        placeholders.join(", ")
    );
    let created = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let client_id: i64 = sqlx::query_scalar(
            "INSERT INTO clients (code, name, status, account_manager_id) VALUES ($1, $2, 'prospect', $3) RETURNING id",
        )
        .bind(&code)
        .bind(prospect.name.trim())
        .bind(prospect.rep_id)
        .fetch_one(&mut *tx)
        .await?;
        let contact: Option<i64> = bind_fields!(
            sqlx::query_scalar(&contact_sql).bind(prospect.uid).bind(prospect.href).bind(client_id),
            prospect.fields
        )
        .fetch_optional(&mut *tx)
        .await?;
        if contact.is_none() {
            // Dropping the transaction rolls the client back too.
            false
        } else {
            if let Some(body) = prospect.note {
                insert_note!(&mut *tx, ClientNote { client_id, rep_id: prospect.rep_id, body })?;
            }
            insert_audit!(&mut *tx, client_audit)?;
            insert_audit!(&mut *tx, card_audit)?;
            tx.commit().await?;
            true
        }
    });
    Ok(created.then_some(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prospect_codes_are_distinct_and_shaped() {
        let (a, b) = (prospect_code(), prospect_code());
        assert_ne!(a, b);
        assert!(a.len() == 9 && a.starts_with('P') && a[1..].chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
}
