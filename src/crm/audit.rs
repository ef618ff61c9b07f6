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

/// One row of the audit log as shown: who (login), from which device, what, and the outcome.
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: crate::store::Ts,
    pub login: Option<String>,
    pub device: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub before_data: Option<String>,
    pub after_data: Option<String>,
}

/// Which rows to list; `None` does not filter. Dates are whole UTC days, both ends included.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub rep: Option<String>,
    pub outcome: Option<String>,
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
    pub limit: i64,
}

/// The newest rows first.
pub async fn list(store: &Store, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
    let day = |d: chrono::NaiveDate| crate::store::Ts(d.and_time(chrono::NaiveTime::MIN).and_utc());
    let from = filter.from.map(day);
    let to = filter.to.and_then(|d| d.succ_opt()).map(day);
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT a.id, a.at, r.login, a.device, a.action, a.target, a.outcome, a.before_data, a.after_data \
             FROM audit_log a LEFT JOIN reps r ON r.id = a.rep_id \
             WHERE ($1 IS NULL OR r.login = $1) AND ($2 IS NULL OR a.outcome = $2) \
             AND ($3 IS NULL OR a.at >= $3) AND ($4 IS NULL OR a.at < $4) ORDER BY a.id DESC LIMIT $5",
        )
        .bind(&filter.rep)
        .bind(&filter.outcome)
        .bind(from)
        .bind(to)
        .bind(filter.limit.clamp(1, 1000))
        .fetch_all(pool)
        .await?
    }))
}
