//! Export: every row of an entity as CSV, in the columns and forms an import reads, so that an
//! export imported again changes nothing.

use sqlx::Row;

use super::columns::{Entity, Kind};
use super::values::{format_money, format_time};
use super::{DbType, read_value};
use crate::store::Store;
use crate::store::rows::SqlValue;

/// The SELECT of an entity: one expression per CSV column, in order (references as the code,
/// login or UID they name).
fn select(entity: Entity) -> &'static str {
    match entity {
        Entity::Clients => {
            "SELECT c.code, c.name, c.category, c.status, c.territory, r.login, c.street, c.postal_code, c.city, \
             c.country, c.phone, c.website FROM clients c LEFT JOIN reps r ON r.id = c.account_manager_id ORDER BY c.code"
        }
        Entity::Contacts => {
            "SELECT k.uid, c.code, k.first_name, k.last_name, k.title, k.email, k.phone, k.mobile, k.street, \
             k.postal_code, k.city, k.country FROM contacts k JOIN clients c ON c.id = k.client_id ORDER BY c.code, k.uid"
        }
        Entity::Activities => {
            "SELECT a.uid, r.login, c.code, k.uid, a.kind, a.subject, a.location, a.start_at, a.end_at, a.all_day, \
             a.timezone, a.status, a.completed_at FROM activities a JOIN reps r ON r.id = a.rep_id \
             LEFT JOIN clients c ON c.id = a.client_id LEFT JOIN contacts k ON k.id = a.contact_id ORDER BY a.id"
        }
        // Notes of no client (an activity's own) are not client notes: an import needs the client.
        Entity::Notes => {
            "SELECT c.code, n.created_at, n.body, r.login, a.uid FROM notes n JOIN clients c ON c.id = n.client_id \
             LEFT JOIN reps r ON r.id = n.rep_id LEFT JOIN activities a ON a.id = n.activity_id ORDER BY n.id"
        }
        Entity::Results => {
            "SELECT x.reference, c.code, r.login, a.uid, x.ordered_on, x.amount_cents, x.currency, x.kind \
             FROM results x JOIN clients c ON c.id = x.client_id LEFT JOIN reps r ON r.id = x.rep_id \
             LEFT JOIN activities a ON a.id = x.activity_id ORDER BY x.ordered_on, x.reference"
        }
        Entity::Objectives => {
            "SELECT r.login, o.period_start, o.period_end, o.amount_cents, o.currency, o.visits, o.new_clients \
             FROM objectives o JOIN reps r ON r.id = o.rep_id ORDER BY r.login, o.period_start, o.period_end"
        }
    }
}

/// How export reads a column: references are read as the text they name.
fn export_type(kind: Kind) -> DbType {
    match kind {
        Kind::ClientCode | Kind::RepLogin | Kind::ContactUid | Kind::ActivityUid => DbType::Text,
        other => super::db_type(other),
    }
}

fn cell(kind: Kind, value: &SqlValue) -> String {
    match value {
        SqlValue::Text(Some(text)) => text.clone(),
        SqlValue::Int(Some(n)) if kind == Kind::Money => format_money(*n),
        SqlValue::Int(Some(n)) => n.to_string(),
        SqlValue::Bool(Some(b)) => b.to_string(),
        SqlValue::Date(Some(d)) => d.to_string(),
        SqlValue::Time(Some(t)) => format_time(t.0),
        _ => String::new(),
    }
}

/// Every row of `entity` as CSV (a header row, then one row per record; CRLF line ends).
pub async fn export(store: &Store, entity: Entity) -> anyhow::Result<Vec<u8>> {
    let columns = entity.columns();
    let types: Vec<DbType> = columns.iter().map(|c| export_type(c.kind)).collect();
    let rows: Vec<Vec<SqlValue>> = crate::on_db!(store, read, |pool| {
        let rows = sqlx::query(select(entity)).fetch_all(pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(types.len());
            for (i, t) in types.iter().enumerate() {
                values.push(read_value!(row, i, *t));
            }
            out.push(values);
        }
        out
    });
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    writer.write_record(columns.iter().map(|c| c.name))?;
    for row in &rows {
        writer.write_record(columns.iter().zip(row).map(|(column, value)| cell(column.kind, value)))?;
    }
    writer.into_inner().map_err(|e| anyhow::anyhow!("cannot write CSV: {e}"))
}
