//! The audit log: who changed what, from which device, with the data before and after. Every
//! write (accepted or refused) leaves a row, written in the same transaction as the change.

use anyhow::Result;

use crate::on_db;
use crate::store::Store;

pub struct AuditEntry<'a> {
    /// The rep who acted; None for the command line.
    pub rep_id: Option<i64>,
    /// The device's User-Agent, or `cli`.
    pub device: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub before: Option<String>,
    pub after: Option<String>,
}

pub const INSERT: &str = "INSERT INTO audit_log (rep_id, device, action, target, outcome, before_data, after_data) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Inserts an [`AuditEntry`] through `$executor` (a pool or an open transaction, of either
/// database), so that the row commits or rolls back with the change it records.
macro_rules! insert_audit {
    ($executor:expr, $entry:expr) => {{
        let entry: &$crate::crm::audit::AuditEntry<'_> = &$entry;
        sqlx::query($crate::crm::audit::INSERT)
            .bind(entry.rep_id)
            .bind(entry.device)
            .bind(entry.action)
            .bind(entry.target)
            .bind(entry.outcome)
            .bind(&entry.before)
            .bind(&entry.after)
            .execute($executor)
            .await
    }};
}
pub(crate) use insert_audit;

/// Records an entry on its own: for refused writes, which change nothing else.
pub async fn record(store: &Store, entry: AuditEntry<'_>) -> Result<()> {
    on_db!(store, write, |pool| {
        insert_audit!(pool, entry)?;
    });
    Ok(())
}
