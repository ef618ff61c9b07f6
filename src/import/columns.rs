//! The CSV columns of each entity: their names (the header an import reads and an export
//! writes), the database column each fills, the kind of value, and which are required. Documented
//! in README.md ("Importing and exporting CSV"); samples in fixtures/import/.

use std::fmt;
use std::str::FromStr;

/// The entities that are imported and exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    Clients,
    Contacts,
    Activities,
    Notes,
    Results,
    Objectives,
}

impl Entity {
    pub const ALL: [Entity; 6] =
        [Entity::Clients, Entity::Contacts, Entity::Activities, Entity::Notes, Entity::Results, Entity::Objectives];

    pub fn name(self) -> &'static str {
        match self {
            Entity::Clients => "clients",
            Entity::Contacts => "contacts",
            Entity::Activities => "activities",
            Entity::Notes => "notes",
            Entity::Results => "results",
            Entity::Objectives => "objectives",
        }
    }

    /// The table it is stored in.
    pub fn table(self) -> &'static str {
        self.name()
    }

    /// Its CSV columns, in export order; the key columns first.
    pub fn columns(self) -> &'static [Column] {
        match self {
            Entity::Clients => CLIENTS,
            Entity::Contacts => CONTACTS,
            Entity::Activities => ACTIVITIES,
            Entity::Notes => NOTES,
            Entity::Results => RESULTS,
            Entity::Objectives => OBJECTIVES,
        }
    }

    /// The CSV columns that identify a row: an import updates the row they name, or inserts one.
    pub fn key(self) -> &'static [&'static str] {
        match self {
            Entity::Clients => &["code"],
            Entity::Contacts => &["uid"],
            Entity::Activities => &["uid"],
            // Notes have no identifier of their own: a note is the one with the same client, time
            // and text.
            Entity::Notes => &["client_code", "created_at", "body"],
            Entity::Results => &["reference"],
            Entity::Objectives => &["rep", "period_start", "period_end"],
        }
    }
}

impl FromStr for Entity {
    type Err = String;
    fn from_str(s: &str) -> Result<Entity, String> {
        Entity::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown entity {s:?}: use one of {}", Entity::ALL.map(Entity::name).join(", ")))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a CSV cell holds, and how it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Free text, kept as written.
    Text,
    /// An identifier (client code, UID, reference): surrounding blanks are dropped.
    Id,
    /// One of a fixed list of words.
    OneOf(&'static [&'static str]),
    /// A whole number, 0 or more.
    Count,
    /// An amount with up to two decimals (`1234.50`), stored in cents.
    Money,
    /// An ISO 4217 code (`EUR`).
    Currency,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339 (`2026-03-02T09:00:00Z`), or `YYYY-MM-DD HH:MM[:SS]` in UTC.
    Time,
    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    Bool,
    /// A client code, stored as the client's id.
    ClientCode,
    /// A rep's login, stored as the rep's id.
    RepLogin,
    /// A contact's UID, stored as the contact's id.
    ContactUid,
    /// An activity's UID, stored as the activity's id.
    ActivityUid,
}

#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// The CSV header name.
    pub name: &'static str,
    /// The database column it fills.
    pub db: &'static str,
    pub kind: Kind,
    /// A row without a value for it is refused (and a file without the column).
    pub required: bool,
}

const fn col(name: &'static str, db: &'static str, kind: Kind, required: bool) -> Column {
    Column { name, db, kind, required }
}

const fn text(name: &'static str) -> Column {
    col(name, name, Kind::Text, false)
}

// The first word of each list is what an empty cell means (the table's default).
pub const CLIENT_STATUSES: &[&str] = &["active", "prospect", "inactive", "closed"];
pub const ACTIVITY_KINDS: &[&str] = &["meeting", "call", "visit", "task"];
pub const ACTIVITY_STATUSES: &[&str] = &["planned", "completed", "cancelled"];
pub const RESULT_KINDS: &[&str] = &["repeat", "new"];

const CLIENTS: &[Column] = &[
    col("code", "code", Kind::Id, true),
    col("name", "name", Kind::Text, true),
    text("category"),
    col("status", "status", Kind::OneOf(CLIENT_STATUSES), false),
    text("territory"),
    col("account_manager", "account_manager_id", Kind::RepLogin, false),
    text("street"),
    text("postal_code"),
    text("city"),
    text("country"),
    text("phone"),
    text("website"),
];

const CONTACTS: &[Column] = &[
    col("uid", "uid", Kind::Id, true),
    col("client_code", "client_id", Kind::ClientCode, true),
    text("first_name"),
    text("last_name"),
    text("title"),
    text("email"),
    text("phone"),
    text("mobile"),
    text("street"),
    text("postal_code"),
    text("city"),
    text("country"),
];

const ACTIVITIES: &[Column] = &[
    col("uid", "uid", Kind::Id, true),
    col("rep", "rep_id", Kind::RepLogin, true),
    col("client_code", "client_id", Kind::ClientCode, false),
    col("contact_uid", "contact_id", Kind::ContactUid, false),
    col("kind", "kind", Kind::OneOf(ACTIVITY_KINDS), true),
    text("subject"),
    text("location"),
    col("start", "start_at", Kind::Time, false),
    col("end", "end_at", Kind::Time, false),
    col("all_day", "all_day", Kind::Bool, false),
    text("timezone"),
    col("status", "status", Kind::OneOf(ACTIVITY_STATUSES), false),
    col("completed_at", "completed_at", Kind::Time, false),
];

const NOTES: &[Column] = &[
    col("client_code", "client_id", Kind::ClientCode, true),
    col("created_at", "created_at", Kind::Time, true),
    col("body", "body", Kind::Text, true),
    col("rep", "rep_id", Kind::RepLogin, false),
    col("activity_uid", "activity_id", Kind::ActivityUid, false),
];

const RESULTS: &[Column] = &[
    col("reference", "reference", Kind::Id, true),
    col("client_code", "client_id", Kind::ClientCode, true),
    col("rep", "rep_id", Kind::RepLogin, false),
    col("activity_uid", "activity_id", Kind::ActivityUid, false),
    col("ordered_on", "ordered_on", Kind::Date, true),
    col("amount", "amount_cents", Kind::Money, true),
    col("currency", "currency", Kind::Currency, true),
    col("kind", "kind", Kind::OneOf(RESULT_KINDS), false),
];

const OBJECTIVES: &[Column] = &[
    col("rep", "rep_id", Kind::RepLogin, true),
    col("period_start", "period_start", Kind::Date, true),
    col("period_end", "period_end", Kind::Date, true),
    col("amount", "amount_cents", Kind::Money, false),
    col("currency", "currency", Kind::Currency, false),
    col("visits", "visits", Kind::Count, false),
    col("new_clients", "new_clients", Kind::Count, false),
];

/// The column of `entity` named `name`.
pub fn find(entity: Entity, name: &str) -> Option<&'static Column> {
    entity.columns().iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_required_columns() {
        for entity in Entity::ALL {
            for key in entity.key() {
                assert!(find(entity, key).is_some_and(|c| c.required), "{entity}: {key}");
            }
            assert_eq!(entity.name().parse::<Entity>(), Ok(entity));
        }
    }
}
