//! CSV import and export of CRM entities (clients, contacts, activities, notes, results,
//! objectives), so that a company's existing data comes in without SQL and never stays locked in.
//!
//! An import reads the whole file first: its header against the entity's documented columns
//! ([`columns`]; an unknown or missing required column refuses the file), then every row (each
//! bad cell, unknown reference or repeated key is a rejected row with its line number and reason).
//! Rows are matched with what is stored by their key (client code, contact UID, activity UID,
//! result reference; a note by client, time and text; an objective by rep and period): a new key
//! is inserted, a stored row whose columns differ is updated (only the columns the file has), an
//! equal one is left alone, so importing the same file again changes nothing. Then, in one
//! transaction, inserts go in batches of multi-row statements and updates one statement each.
//! With rejected rows nothing is written unless `partial` asks to keep the valid ones; a dry run
//! computes everything and writes nothing.

pub mod columns;
pub mod demo_csv;
pub mod export;
pub mod http;
mod values;

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sqlx::Row;

pub use self::columns::Entity;
use self::columns::{Column, Kind};
use self::values::Cell;
use crate::store::rows::{SqlValue, bind_value, insert_sql, rows_per_statement};
use crate::store::{Db, Store, Ts};

/// What an import is asked to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Compute and report what would change; write nothing.
    pub dry_run: bool,
    /// Write the valid rows even when some are rejected (otherwise nothing is written then).
    pub partial: bool,
}

/// A row that was not imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// The line of the file the row starts on (the header is line 1).
    pub line: u64,
    pub reason: String,
}

/// What an import did, or (dry run, or refused for rejected rows) would have done.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub entity: &'static str,
    pub dry_run: bool,
    pub partial: bool,
    /// Data rows in the file.
    pub rows: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<Rejected>,
    /// Whether the inserts and updates were committed.
    pub written: bool,
}

impl Outcome {
    /// One line for people: what changed (or would), and how many rows were rejected.
    pub fn summary(&self) -> String {
        let verb = match (self.written, self.dry_run) {
            (true, _) => "imported",
            (false, true) => "dry run, nothing written; would import",
            (false, false) => "nothing written (rows rejected; --partial keeps the valid ones); would import",
        };
        format!(
            "{} {verb}: {} inserted, {} updated, {} unchanged, {} rejected",
            self.entity,
            self.inserted,
            self.updated,
            self.unchanged,
            self.rejected.len()
        )
    }
}

/// Why a file is refused as a whole (a row's problem is a [`Rejected`] row instead).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Storage(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> ImportError {
        ImportError::Storage(e.into())
    }
}

impl From<serde_json::Error> for ImportError {
    fn from(e: serde_json::Error) -> ImportError {
        ImportError::Storage(e.into())
    }
}

/// Told how an import advances (a terminal shows a progress bar; the API shows nothing).
pub trait Progress: Sync {
    /// A new stage of `total` steps begins.
    fn stage(&self, _name: &str, _total: u64) {}
    fn advance(&self, _steps: u64) {}
}

/// No progress shown.
pub struct Quiet;
impl Progress for Quiet {}

/// A row read from the file: its line and one cell per column the file has.
struct ParsedRow {
    line: u64,
    cells: Vec<Cell>,
}

/// A valid row: its line and one value per column the file has.
struct ValidRow {
    line: u64,
    values: Vec<SqlValue>,
}

/// Imports `input` (CSV, UTF-8, a header row first) as `entity`.
pub async fn import(
    store: &Store,
    entity: Entity,
    input: &[u8],
    options: Options,
    progress: &dyn Progress,
) -> Result<Outcome, ImportError> {
    let input = input.strip_prefix("\u{feff}".as_bytes()).unwrap_or(input);
    // The header is read as a record like the others, so that positions are the file's lines.
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(false).from_reader(input);
    let mut header = csv::StringRecord::new();
    match reader.read_record(&mut header) {
        Ok(true) => {}
        Ok(false) => return Err(ImportError::Refused("the file is empty: it needs a header row".into())),
        Err(e) => return Err(ImportError::Refused(format!("cannot read the header row: {e}"))),
    }
    let present = header_columns(entity, &header)?;
    let mut outcome = Outcome {
        entity: entity.name(),
        dry_run: options.dry_run,
        partial: options.partial,
        rows: 0,
        inserted: 0,
        updated: 0,
        unchanged: 0,
        rejected: Vec::new(),
        written: false,
    };

    // Read and check every cell.
    progress.stage("reading", input.len() as u64);
    let mut parsed = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut read_bytes = 0;
    // Lines are counted here: the csv crate's own count is one short after a CRLF.
    let mut current_line = 1;
    loop {
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // Bad UTF-8 or broken quoting: the rest of the file cannot be read reliably.
                outcome.rows += 1;
                outcome.rejected.push(Rejected {
                    line: line_of(input, start, &mut read_bytes, &mut current_line),
                    reason: format!("unreadable CSV: {e}"),
                });
                break;
            }
        }
        let record_start = record.position().map_or(start, |p| p.byte());
        let before = read_bytes;
        let line = line_of(input, record_start, &mut read_bytes, &mut current_line);
        progress.advance(read_bytes - before);
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        outcome.rows += 1;
        if record.len() != present.len() {
            outcome.rejected.push(Rejected {
                line,
                reason: format!("{} fields, but the header has {}", record.len(), present.len()),
            });
            continue;
        }
        let mut cells = Vec::with_capacity(present.len());
        let mut reasons = Vec::new();
        for (column, text) in present.iter().zip(record.iter()) {
            match values::parse(column, text) {
                Ok(cell) => cells.push(cell),
                Err(reason) => reasons.push(reason),
            }
        }
        if reasons.is_empty() {
            parsed.push(ParsedRow { line, cells });
        } else {
            outcome.rejected.push(Rejected { line, reason: reasons.join("; ") });
        }
    }

    // Codes, logins and UIDs become ids; each row is checked whole; keys are unique in the file.
    progress.stage("checking", parsed.len() as u64);
    let refs = References::load(store, &present, &parsed).await?;
    let key_indexes: Vec<usize> = entity
        .key()
        .iter()
        .map(|k| present.iter().position(|c| c.name == *k).expect("key columns are required"))
        .collect();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut valid = Vec::with_capacity(parsed.len());
    for row in parsed {
        progress.advance(1);
        let resolved = resolve(&present, row.cells, &refs).and_then(|values| check_row(entity, &present, values));
        match resolved {
            Err(reason) => outcome.rejected.push(Rejected { line: row.line, reason }),
            Ok(values) => {
                let key = row_key(&values, &key_indexes);
                if let Some(first) = seen.get(&key) {
                    let names = entity.key().join(", ");
                    outcome.rejected.push(Rejected {
                        line: row.line,
                        reason: format!("the same {names} as line {first}: each row must be another {}", entity.name()),
                    });
                    continue;
                }
                seen.insert(key, row.line);
                valid.push(ValidRow { line: row.line, values });
            }
        }
    }
    outcome.rejected.sort_by_key(|r| r.line);

    // Matched with what is stored.
    progress.stage("comparing", valid.len() as u64);
    let stored = stored_rows(store, entity, &present, &valid, &key_indexes).await?;
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    for row in valid {
        progress.advance(1);
        match stored.get(&row_key(&row.values, &key_indexes)) {
            None => inserts.push(row),
            Some((_, current)) if *current == row.values => outcome.unchanged += 1,
            Some((id, _)) => updates.push((*id, row)),
        }
    }
    outcome.inserted = inserts.len();
    outcome.updated = updates.len();
    if options.dry_run || (!outcome.rejected.is_empty() && !options.partial) {
        return Ok(outcome);
    }
    progress.stage("writing", (inserts.len() + updates.len()) as u64);
    write(store, entity, &present, &inserts, &updates, progress).await?;
    outcome.written = true;
    Ok(outcome)
}

/// The line (from 1) of the byte `at`, counting on from the line `line` of the byte `counted`.
fn line_of(input: &[u8], at: u64, counted: &mut u64, line: &mut u64) -> u64 {
    let mut at = (at as usize).min(input.len());
    // After a CRLF the csv crate puts a record's start on the LF: the record begins after it.
    while input.get(at).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
        at += 1;
    }
    let from = (*counted as usize).min(at);
    *line += input[from..at].iter().filter(|b| **b == b'\n').count() as u64;
    *counted = at as u64;
    *line
}

/// The entity's columns in the order of the header; unknown, repeated and missing required columns
/// refuse the file.
fn header_columns(entity: Entity, header: &csv::StringRecord) -> Result<Vec<&'static Column>, ImportError> {
    let expected = || entity.columns().iter().map(|c| c.name).collect::<Vec<_>>().join(", ");
    let mut present: Vec<&'static Column> = Vec::new();
    for name in header.iter() {
        let name = name.trim().trim_start_matches('\u{feff}');
        let Some(column) = columns::find(entity, &name.to_ascii_lowercase()) else {
            return Err(ImportError::Refused(format!(
                "unknown column {name:?} in a {} file: its columns are {}",
                entity.name(),
                expected()
            )));
        };
        if present.iter().any(|c| c.name == column.name) {
            return Err(ImportError::Refused(format!("the column {name:?} is given twice")));
        }
        present.push(column);
    }
    let missing: Vec<&str> = entity
        .columns()
        .iter()
        .filter(|c| c.required && !present.iter().any(|p| p.name == c.name))
        .map(|c| c.name)
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::Refused(format!(
            "a {} file needs the column{} {} (its columns are {})",
            entity.name(),
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", "),
            expected()
        )));
    }
    Ok(present)
}

/// A row's key, as text (the values of its key columns).
fn row_key(values: &[SqlValue], key_indexes: &[usize]) -> String {
    let parts: Vec<String> = key_indexes.iter().map(|i| format!("{:?}", values[*i])).collect();
    parts.join("\u{1f}")
}

/// The ids of the codes, logins and UIDs the rows name.
#[derive(Default)]
struct References {
    ids: HashMap<(RefKind, String), i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RefKind {
    Client,
    Rep,
    Contact,
    Activity,
}

impl RefKind {
    fn of(kind: Kind) -> Option<RefKind> {
        match kind {
            Kind::ClientCode => Some(RefKind::Client),
            Kind::RepLogin => Some(RefKind::Rep),
            Kind::ContactUid => Some(RefKind::Contact),
            Kind::ActivityUid => Some(RefKind::Activity),
            _ => None,
        }
    }

    /// The table and its identifying column.
    fn lookup(self) -> (&'static str, &'static str) {
        match self {
            RefKind::Client => ("clients", "code"),
            RefKind::Rep => ("reps", "login"),
            RefKind::Contact => ("contacts", "uid"),
            RefKind::Activity => ("activities", "uid"),
        }
    }

    fn missing(self, name: &str) -> String {
        match self {
            RefKind::Client => format!("no client with code {name:?}"),
            RefKind::Rep => format!("no rep with login {name:?}"),
            RefKind::Contact => format!("no contact with UID {name:?}"),
            RefKind::Activity => format!("no activity with UID {name:?}"),
        }
    }
}

/// Ids (and one bound list: a JSON array on SQLite, an array on PostgreSQL) per lookup.
const LOOKUP_CHUNK: usize = 10_000;

impl References {
    async fn load(store: &Store, present: &[&Column], rows: &[ParsedRow]) -> Result<References, ImportError> {
        let mut wanted: HashMap<RefKind, HashSet<String>> = HashMap::new();
        for (i, column) in present.iter().enumerate() {
            let Some(kind) = RefKind::of(column.kind) else { continue };
            let names = wanted.entry(kind).or_default();
            for row in rows {
                if let Cell::Ref(Some(name)) = &row.cells[i] {
                    names.insert(name.clone());
                }
            }
        }
        let mut refs = References::default();
        for (kind, names) in wanted {
            let (table, column) = kind.lookup();
            let names: Vec<String> = names.into_iter().collect();
            for chunk in names.chunks(LOOKUP_CHUNK) {
                let sql = format!("SELECT {column}, id FROM {table} WHERE {column}");
                let found: Vec<(String, i64)> = crate::rows_where_in_only!(store, sql, chunk);
                // An activity UID may be used by several reps: the first one found is taken.
                for (name, id) in found {
                    refs.ids.entry((kind, name)).or_insert(id);
                }
            }
        }
        Ok(refs)
    }
}

/// The row's values, references replaced by ids.
fn resolve(present: &[&Column], cells: Vec<Cell>, refs: &References) -> Result<Vec<SqlValue>, String> {
    let mut values = Vec::with_capacity(cells.len());
    let mut reasons = Vec::new();
    for (column, cell) in present.iter().zip(cells) {
        match cell {
            Cell::Value(value) => values.push(value),
            Cell::Ref(None) => values.push(SqlValue::Int(None)),
            Cell::Ref(Some(name)) => {
                let kind = RefKind::of(column.kind).expect("a reference column");
                match refs.ids.get(&(kind, name.clone())) {
                    Some(id) => values.push(SqlValue::Int(Some(*id))),
                    None => reasons.push(format!("{}: {}", column.name, kind.missing(&name))),
                }
            }
        }
    }
    if reasons.is_empty() { Ok(values) } else { Err(reasons.join("; ")) }
}

/// The value of the column `name` in a row, if the file has it.
fn value<'v>(present: &[&Column], values: &'v [SqlValue], name: &str) -> Option<&'v SqlValue> {
    present.iter().position(|c| c.name == name).map(|i| &values[i])
}

/// Checks that span several cells of a row.
fn check_row(entity: Entity, present: &[&Column], values: Vec<SqlValue>) -> Result<Vec<SqlValue>, String> {
    let get = |name| value(present, &values, name);
    match entity {
        Entity::Activities => {
            if let (Some(SqlValue::Time(Some(start))), Some(SqlValue::Time(Some(end)))) = (get("start"), get("end"))
                && end < start
            {
                return Err(format!(
                    "end: {} is before the start {}",
                    values::format_time(end.0),
                    values::format_time(start.0)
                ));
            }
            let completed = get("status") == Some(&SqlValue::from("completed"));
            if completed && !matches!(get("completed_at"), Some(SqlValue::Time(Some(_)))) {
                return Err("completed_at: a completed activity needs the time it was completed".into());
            }
        }
        Entity::Objectives => {
            if let (Some(SqlValue::Date(Some(start))), Some(SqlValue::Date(Some(end)))) =
                (get("period_start"), get("period_end"))
                && end < start
            {
                return Err(format!("period_end: {end} is before period_start {start}"));
            }
        }
        _ => {}
    }
    Ok(values)
}

/// The database type a column's values are read as.
#[derive(Clone, Copy)]
enum DbType {
    Text,
    Int,
    Bool,
    Date,
    Time,
}

fn db_type(kind: Kind) -> DbType {
    match kind {
        Kind::Text | Kind::Id | Kind::OneOf(_) | Kind::Currency => DbType::Text,
        Kind::Count | Kind::Money | Kind::ClientCode | Kind::RepLogin | Kind::ContactUid | Kind::ActivityUid => {
            DbType::Int
        }
        Kind::Bool => DbType::Bool,
        Kind::Date => DbType::Date,
        Kind::Time => DbType::Time,
    }
}

/// Reads column `index` of `row` as `db_type`.
macro_rules! read_value {
    ($row:expr, $index:expr, $db_type:expr) => {
        match $db_type {
            DbType::Text => SqlValue::Text($row.try_get::<Option<String>, _>($index)?),
            DbType::Int => SqlValue::Int($row.try_get::<Option<i64>, _>($index)?),
            DbType::Bool => SqlValue::Bool($row.try_get::<Option<bool>, _>($index)?),
            DbType::Date => SqlValue::Date($row.try_get::<Option<chrono::NaiveDate>, _>($index)?),
            DbType::Time => SqlValue::Time($row.try_get::<Option<$crate::store::Ts>, _>($index)?),
        }
    };
}
pub(crate) use read_value;

/// The stored rows the valid rows may match, by key: id and the values of the file's columns.
async fn stored_rows(
    store: &Store,
    entity: Entity,
    present: &[&Column],
    rows: &[ValidRow],
    key_indexes: &[usize],
) -> Result<HashMap<String, (i64, Vec<SqlValue>)>, ImportError> {
    let selected: Vec<&str> = present.iter().map(|c| c.db).collect();
    let types: Vec<DbType> = present.iter().map(|c| db_type(c.kind)).collect();
    // What the stored rows are looked up by: the key's first column (for notes and objectives,
    // their client or rep, and the rest of the key is compared here).
    let by = key_indexes[0];
    let mut found = HashMap::new();
    let sql = format!("SELECT id, {} FROM {} WHERE {}", selected.join(", "), entity.table(), present[by].db);
    let mut lookups: Vec<SqlValue> = rows.iter().map(|r| r.values[by].clone()).collect();
    lookups.sort_by_key(|v| format!("{v:?}"));
    lookups.dedup();
    for chunk in lookups.chunks(LOOKUP_CHUNK) {
        let list = LookupList::of(chunk);
        let stored: Vec<(i64, Vec<SqlValue>)> = match (store.db(), &list) {
            (Db::Sqlite { read, .. }, _) => {
                let sql = format!("{sql} IN (SELECT value FROM json_each($1))");
                let json = match &list {
                    LookupList::Texts(texts) => serde_json::to_string(texts)?,
                    LookupList::Ints(ints) => serde_json::to_string(ints)?,
                };
                let rows = sqlx::query(&sql).bind(json).fetch_all(read).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut values = Vec::with_capacity(types.len());
                    for (i, t) in types.iter().enumerate() {
                        values.push(read_value!(row, i + 1, *t));
                    }
                    out.push((row.try_get::<i64, _>(0)?, values));
                }
                out
            }
            (Db::Postgres(pool), list) => {
                let sql = format!("{sql} = ANY($1)");
                let query = sqlx::query(&sql);
                let query = match list {
                    LookupList::Texts(texts) => query.bind(texts.clone()),
                    LookupList::Ints(ints) => query.bind(ints.clone()),
                };
                let rows = query.fetch_all(pool).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut values = Vec::with_capacity(types.len());
                    for (i, t) in types.iter().enumerate() {
                        values.push(read_value!(row, i + 1, *t));
                    }
                    out.push((row.try_get::<i64, _>(0)?, values));
                }
                out
            }
        };
        for (id, values) in stored {
            found.entry(row_key(&values, key_indexes)).or_insert((id, values));
        }
    }
    Ok(found)
}

/// A list of lookup values, bound as one value.
enum LookupList {
    Texts(Vec<String>),
    Ints(Vec<i64>),
}

impl LookupList {
    fn of(values: &[SqlValue]) -> LookupList {
        if values.iter().all(|v| matches!(v, SqlValue::Int(_))) {
            LookupList::Ints(
                values.iter().filter_map(|v| if let SqlValue::Int(Some(i)) = v { Some(*i) } else { None }).collect(),
            )
        } else {
            LookupList::Texts(
                values
                    .iter()
                    .filter_map(|v| if let SqlValue::Text(Some(t)) = v { Some(t.clone()) } else { None })
                    .collect(),
            )
        }
    }
}

/// Columns an insert sets besides the file's: the names of new cards and events, where an
/// activity's time range ends, and who wrote the row.
fn insert_extras(entity: Entity, present: &[&Column], values: &[SqlValue]) -> Vec<(&'static str, SqlValue)> {
    let text = |name| match value(present, values, name) {
        Some(SqlValue::Text(Some(t))) => t.clone(),
        _ => String::new(),
    };
    match entity {
        Entity::Contacts => vec![("href", SqlValue::from(format!("{}.vcf", text("uid"))))],
        Entity::Activities => vec![
            ("href", SqlValue::from(format!("{}.ics", text("uid")))),
            ("range_end", range_end(present, values).unwrap_or(SqlValue::Time(None))),
        ],
        Entity::Notes => vec![("source", SqlValue::from("crm"))],
        Entity::Results => vec![("source", SqlValue::from("import"))],
        Entity::Clients | Entity::Objectives => Vec::new(),
    }
}

/// A one-off activity's time range ends with it (or starts and ends at its start).
fn range_end(present: &[&Column], values: &[SqlValue]) -> Option<SqlValue> {
    let end = value(present, values, "end").filter(|v| !matches!(v, SqlValue::Time(None)));
    end.or_else(|| value(present, values, "start")).cloned()
}

/// What an update sets besides the file's columns: `SET` fragments with `{}` for their value.
fn update_extras(entity: Entity, present: &[&Column], values: &[SqlValue]) -> Vec<(&'static str, SqlValue)> {
    let mut extras = Vec::new();
    if entity != Entity::Notes {
        extras.push(("updated_at = {}", SqlValue::from(Ts::now())));
    }
    if entity == Entity::Activities
        && let Some(end) = range_end(present, values)
    {
        // A recurring activity (written by a device) keeps the end of its last instance.
        extras.push(("range_end = CASE WHEN recurring THEN range_end ELSE {} END", end));
    }
    extras
}

/// Inserts and updates in one transaction.
async fn write(
    store: &Store,
    entity: Entity,
    present: &[&Column],
    inserts: &[ValidRow],
    updates: &[(i64, ValidRow)],
    progress: &dyn Progress,
) -> Result<(), ImportError> {
    let mut insert_columns: Vec<&str> = present.iter().map(|c| c.db).collect();
    if let Some(first) = inserts.first() {
        insert_columns.extend(insert_extras(entity, present, &first.values).into_iter().map(|(name, _)| name));
    }
    let per_statement = rows_per_statement(insert_columns.len());
    crate::on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        for chunk in inserts.chunks(per_statement) {
            let sql = insert_sql(entity.table(), &insert_columns, chunk.len());
            let extras: Vec<Vec<(&str, SqlValue)>> =
                chunk.iter().map(|row| insert_extras(entity, present, &row.values)).collect();
            let mut query = sqlx::query(&sql);
            for (row, extra) in chunk.iter().zip(&extras) {
                for value in &row.values {
                    query = bind_value!(query, value);
                }
                for (_, value) in extra {
                    query = bind_value!(query, value);
                }
            }
            query.execute(&mut *tx).await.map_err(|e| write_error(entity, chunk, e))?;
            progress.advance(chunk.len() as u64);
        }
        for (id, row) in updates {
            let extras = update_extras(entity, present, &row.values);
            let mut set: Vec<String> =
                present.iter().enumerate().map(|(i, c)| format!("{} = ${}", c.db, i + 1)).collect();
            set.extend(
                extras
                    .iter()
                    .enumerate()
                    .map(|(i, (fragment, _))| fragment.replace("{}", &format!("${}", present.len() + i + 1))),
            );
            let sql = format!(
                "UPDATE {} SET {} WHERE id = ${}",
                entity.table(),
                set.join(", "),
                present.len() + extras.len() + 1
            );
            let mut query = sqlx::query(&sql);
            for value in &row.values {
                query = bind_value!(query, value);
            }
            for (_, value) in &extras {
                query = bind_value!(query, value);
            }
            query.bind(*id).execute(&mut *tx).await.map_err(|e| write_error(entity, std::slice::from_ref(row), e))?;
            progress.advance(1);
        }
        tx.commit().await?;
    });
    Ok(())
}

/// A write the database refused (a name taken by another row, say): the import is refused whole,
/// naming the lines of the statement that failed.
fn write_error(entity: Entity, rows: &[ValidRow], e: sqlx::Error) -> ImportError {
    let lines = match rows {
        [one] => format!("line {}", one.line),
        [first, .., last] => format!("lines {} to {}", first.line, last.line),
        [] => String::new(),
    };
    match &e {
        sqlx::Error::Database(db) => ImportError::Refused(format!(
            "the database refused the {} of {lines}, nothing was written: {}",
            entity.name(),
            db.message()
        )),
        _ => ImportError::Storage(e.into()),
    }
}
