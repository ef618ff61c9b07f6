//! Handing a client to another account manager, with what becomes of its open activities.
//!
//! The client's planned activities of the old account manager either move to the new one (they
//! leave the old rep's calendars and reach the new rep's) or stay with their owner, who keeps
//! seeing them whatever the client's visibility (`activities::in_calendar`). Completed and
//! cancelled activities never move: they are the old rep's record. One transaction with its audit
//! row: a refusal (an activity the new rep could not hold) changes nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::CrmError;
use super::audit::{AuditEntry, insert_audit};
use super::rules::Actor;
use crate::on_db;
use crate::store::{Store, Ts};

/// What becomes of the client's planned activities of the old account manager.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenActivities {
    /// They go to the new account manager (the default: the client's open work follows the client).
    #[default]
    Move,
    /// They stay with the rep who owns them.
    Keep,
}

impl OpenActivities {
    pub fn as_str(self) -> &'static str {
        match self {
            OpenActivities::Move => "move",
            OpenActivities::Keep => "keep",
        }
    }
}

impl FromStr for OpenActivities {
    type Err = CrmError;

    fn from_str(s: &str) -> Result<OpenActivities, CrmError> {
        match s.trim() {
            "move" => Ok(OpenActivities::Move),
            "keep" => Ok(OpenActivities::Keep),
            other => Err(CrmError::Invalid(format!("open_activities: {other:?} is not a choice; use move or keep"))),
        }
    }
}

impl fmt::Display for OpenActivities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reassignment did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassignment {
    /// The client's code and name.
    pub client: String,
    pub client_name: String,
    /// Login of the previous account manager (none if the client had none).
    pub from: Option<String>,
    pub to: String,
    pub open_activities: OpenActivities,
    /// Planned activities of the previous account manager that went to the new one.
    pub moved: u64,
    /// Planned activities of the previous account manager left with them (`keep`).
    pub kept: u64,
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: i64,
    name: String,
    manager_id: Option<i64>,
    manager_login: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TargetRep {
    id: i64,
    active: bool,
}

/// How many clashing activities a refusal names (the rest are counted).
const NAMED_CLASHES: usize = 3;

/// Makes `to` the account manager of the client `code`; see the module comment. Errors: no such
/// client (`NotFound`), no such or disabled rep, or already theirs (`Invalid`), an activity the
/// new rep already has a UID or name of (`Conflict`).
pub async fn reassign(
    store: &Store,
    actor: Actor<'_>,
    code: &str,
    to: &str,
    open: OpenActivities,
) -> Result<Reassignment, CrmError> {
    let now = Ts::now();
    let done = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let client: ClientRow = sqlx::query_as(
            "SELECT c.id, c.name, c.account_manager_id AS manager_id, r.login AS manager_login \
             FROM clients c LEFT JOIN reps r ON r.id = c.account_manager_id WHERE c.code = $1",
        )
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("no client with code {code:?}")))?;
        let target: TargetRep = sqlx::query_as("SELECT id, active FROM reps WHERE login = $1")
            .bind(to)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| CrmError::Invalid(format!("to: no rep with login {to:?}")))?;
        if !target.active {
            return Err(CrmError::Invalid(format!(
                "to: {to} is disabled and would not see the client; enable them first or choose another rep"
            )));
        }
        if client.manager_id == Some(target.id) {
            return Err(CrmError::Invalid(format!("to: {to} is already the account manager of {code}")));
        }
        let open_ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM activities WHERE client_id = $1 AND rep_id = $2 AND status = 'planned' ORDER BY id",
        )
        .bind(client.id)
        .bind(client.manager_id)
        .fetch_all(&mut *tx)
        .await?;
        if open == OpenActivities::Move {
            // The new rep's activities are unique by name and by UID (cancelled ones included).
            let clashes: Vec<(String, String)> = sqlx::query_as(
                "SELECT a.uid, a.href FROM activities a WHERE a.client_id = $1 AND a.rep_id = $2 AND a.status = 'planned' \
                 AND EXISTS (SELECT 1 FROM activities b WHERE b.rep_id = $3 AND (b.href = a.href OR b.uid = a.uid)) ORDER BY a.id",
            )
            .bind(client.id)
            .bind(client.manager_id)
            .bind(target.id)
            .fetch_all(&mut *tx)
            .await?;
            if !clashes.is_empty() {
                return Err(CrmError::Conflict(clash_message(code, to, &clashes)));
            }
        }
        sqlx::query("UPDATE clients SET account_manager_id = $2, updated_at = $3 WHERE id = $1")
            .bind(client.id)
            .bind(target.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let moved = match open {
            OpenActivities::Move => sqlx::query(
                "UPDATE activities SET rep_id = $3, updated_at = $4 WHERE client_id = $1 AND rep_id = $2 AND status = 'planned'",
            )
            .bind(client.id)
            .bind(client.manager_id)
            .bind(target.id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            OpenActivities::Keep => 0,
        };
        let done = Reassignment {
            client: code.to_string(),
            client_name: client.name,
            from: client.manager_login,
            to: to.to_string(),
            open_activities: open,
            moved,
            kept: open_ids.len() as u64 - moved,
        };
        insert_audit!(
            &mut *tx,
            AuditEntry {
                rep_id: actor.rep_id,
                device: actor.device,
                action: "client.reassign",
                target: &format!("client:{code}"),
                outcome: "ok",
                before: Some(serde_json::json!({ "account_manager": done.from }).to_string()),
                after: serde_json::to_string(&done).ok(),
            }
        )?;
        tx.commit().await?;
        done
    });
    Ok(done)
}

/// One line for people: what changed hands.
pub fn summary(done: &Reassignment) -> String {
    let from = done.from.as_deref().unwrap_or("nobody");
    let activities = match (done.moved, done.kept) {
        (0, 0) => format!("{from} had no planned activities with it"),
        (moved, 0) => format!("{moved} planned activities moved from {from} to {}", done.to),
        (_, kept) => format!("{kept} planned activities stay with {from}"),
    };
    format!("{} ({}): account manager {from} -> {}; {activities}", done.client, done.client_name, done.to)
}

fn clash_message(code: &str, to: &str, clashes: &[(String, String)]) -> String {
    let mut named: Vec<String> =
        clashes.iter().take(NAMED_CLASHES).map(|(uid, href)| format!("{href} (UID {uid})")).collect();
    if clashes.len() > NAMED_CLASHES {
        named.push(format!("and {} more", clashes.len() - NAMED_CLASHES));
    }
    format!(
        "{to} already has an activity with the same name or UID as {} of the open activities of {code} ({}); \
         nothing was changed: rename or cancel those activities, or reassign with open activities kept",
        clashes.len(),
        named.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_activities_parse_and_clashes_are_named() {
        assert_eq!("move".parse::<OpenActivities>().unwrap(), OpenActivities::Move);
        assert_eq!(" keep".parse::<OpenActivities>().unwrap(), OpenActivities::Keep);
        assert!("drop".parse::<OpenActivities>().unwrap_err().to_string().contains("use move or keep"));
        let clashes: Vec<(String, String)> = (0..5).map(|i| (format!("u{i}"), format!("e{i}.ics"))).collect();
        let message = clash_message("C1", "bob", &clashes);
        assert!(message.contains("as 5 of the open activities of C1"), "{message}");
        assert!(message.contains("e0.ics (UID u0), e1.ics (UID u1), e2.ics (UID u2), and 2 more"), "{message}");
    }
}
