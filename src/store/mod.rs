//! Storage: SQLite (embedded default) or PostgreSQL, behind one `Store`.
//!
//! Queries are written once, with `$1`-style placeholders that both sqlx drivers accept, and run on
//! whichever pool the store holds through the [`on_db!`] macro (each arm is monomorphised for its
//! driver). SQLite gets one writer connection and several readers: SQLite allows one writer at a
//! time anyway, and a single writer pool turns lock contention into a queue instead of BUSY errors.

mod diff;
pub mod incremental;
mod member_cache;
pub mod rows;
pub mod sync;
mod timestamp;

pub use timestamp::Ts;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use log::LevelFilter;
use member_cache::MemberCache;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

/// Statements slower than this are logged (at debug level: bulk loads are slow by design).
const SLOW: Duration = Duration::from_secs(1);
/// How long one write probe of `/healthz` answers for.
const WRITE_PROBE_REUSE: Duration = Duration::from_secs(1);
/// What the probe writes: as much as a large PUT, so that "healthy" means such a write commits.
const WRITE_PROBE_BYTES: usize = 64 * 1024;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("schema/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("schema/postgres");

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Runs `$body` with `$pool` bound to the reading (`read`) or writing (`write`) pool of the store.
#[macro_export]
macro_rules! on_db {
    ($store:expr, read, |$pool:ident| $body:expr) => {
        match $store.db() {
            $crate::store::Db::Sqlite { read: $pool, .. } => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
    ($store:expr, write, |$pool:ident| $body:expr) => {
        match $store.db() {
            $crate::store::Db::Sqlite { write: $pool, .. } => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

/// Reads the rows of `$sql` (a statement whose first parameter is `$first` and that ends in a
/// column name) whose column is in `$list`: the whole list is one bound value (a JSON array on
/// SQLite, an array on PostgreSQL), so a list of thousands is one statement and one index walk
/// instead of a statement per few hundred values with a parameter for each.
#[macro_export]
macro_rules! rows_where_in {
    ($store:expr, $sql:expr, $first:expr, $list:expr) => {
        match $store.db() {
            $crate::store::Db::Sqlite { read, .. } => {
                sqlx::query_as(&format!("{} IN (SELECT value FROM json_each($2))", $sql))
                    .bind($first)
                    .bind(serde_json::to_string($list)?)
                    .fetch_all(read)
                    .await?
            }
            $crate::store::Db::Postgres(pool) => {
                sqlx::query_as(&format!("{} = ANY($2)", $sql)).bind($first).bind($list).fetch_all(pool).await?
            }
        }
    };
}

/// [`rows_where_in!`] for a statement whose only parameter is the list (`$1`).
#[macro_export]
macro_rules! rows_where_in_only {
    ($store:expr, $sql:expr, $list:expr) => {
        match $store.db() {
            $crate::store::Db::Sqlite { read, .. } => {
                sqlx::query_as(&format!("{} IN (SELECT value FROM json_each($1))", $sql))
                    .bind(serde_json::to_string($list)?)
                    .fetch_all(read)
                    .await?
            }
            $crate::store::Db::Postgres(pool) => {
                sqlx::query_as(&format!("{} = ANY($1)", $sql)).bind($list).fetch_all(pool).await?
            }
        }
    };
}

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    member_cache: Arc<MemberCache>,
    refresh_slots: Arc<tokio::sync::Semaphore>,
    /// What this process knows of each collection's state (`incremental::Known`).
    known_states: Arc<incremental::KnownStates>,
    /// The newest change_log entries, read once for all collections (`incremental`).
    log_tail: Arc<incremental::LogTail>,
    /// When `check_writable` last committed its probe.
    write_probe: Arc<tokio::sync::Mutex<Option<std::time::Instant>>>,
    /// Set when a write failed in a way that broke its transaction (SQLite): the next
    /// `check_writable` probes again instead of trusting its last success.
    write_fault: Arc<AtomicBool>,
}

impl Store {
    /// Opens (creating a SQLite file and its folder if needed) and migrates the database at `url`:
    /// `sqlite://path`, `sqlite::memory:` is not supported (readers and writer must share a file),
    /// or `postgres://...`.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .context("invalid PostgreSQL URL")?
                .log_slow_statements(LevelFilter::Debug, SLOW);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .with_context(|| format!("cannot connect to PostgreSQL at {}", redact(url)))?;
            return Ok(Store::with_db(Db::Postgres(pool)));
        }
        let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
            bail!("unsupported database URL {url:?}: use sqlite://PATH or postgres://...");
        };
        if path.is_empty() || path.starts_with(":memory:") {
            bail!("database URL {url:?} names no file: use sqlite://PATH");
        }
        if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .log_slow_statements(LevelFilter::Debug, SLOW);
        let write_fault = Arc::new(AtomicBool::new(false));
        let fault = write_fault.clone();
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .after_release(move |connection, _| {
                let fault = fault.clone();
                Box::pin(async move {
                    let clean = sqlite_connection_is_clean(connection).await?;
                    if !clean {
                        fault.store(true, Ordering::Release);
                    }
                    Ok(clean)
                })
            })
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open SQLite database {path}"))?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .after_release(|connection, _| Box::pin(sqlite_connection_is_clean(connection)))
            .connect_with(options.row_buffer_size(1024))
            .await
            .with_context(|| format!("cannot open SQLite database {path}"))?;
        let mut store = Store::with_db(Db::Sqlite { read, write });
        store.write_fault = write_fault;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite { write, .. } => SQLITE_MIGRATIONS.run(write).await,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
        }
        .context("database migration failed")
    }

    fn with_db(db: Db) -> Store {
        // As many collection refreshes at once as there are cores (they are CPU-bound), at least 2.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        Store {
            db,
            member_cache: Arc::new(MemberCache::new(member_cache::BUDGET_BYTES)),
            refresh_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            known_states: Arc::default(),
            log_tail: Arc::default(),
            write_probe: Arc::default(),
            write_fault: Arc::default(),
        }
    }

    /// Waits for one of the slots that bound how many collection views are computed at once.
    pub(crate) async fn refresh_slot(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.refresh_slots.acquire().await.expect("the refresh semaphore is never closed")
    }

    pub(crate) fn known_states(&self) -> &incremental::KnownStates {
        &self.known_states
    }

    pub(crate) fn log_tail(&self) -> &incremental::LogTail {
        &self.log_tail
    }

    pub(crate) fn member_cache(&self) -> &MemberCache {
        &self.member_cache
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn dialect(&self) -> Dialect {
        match self.db {
            Db::Sqlite { .. } => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The newest change_log sequence number: every change up to it is visible to readers.
    pub async fn current_seq(&self) -> Result<i64> {
        let seq: Option<i64> =
            on_db!(self, read, |pool| { sqlx::query_scalar("SELECT MAX(seq) FROM change_log").fetch_one(pool).await? });
        Ok(seq.unwrap_or(0))
    }

    /// Commits one small write: `Ok` only if the storage can take writes now (a full disk, a failing
    /// device or a lost connection shows here). What `/healthz` answers; anyone may ask it, so a
    /// success is reused for a second rather than written again on every call (one probe at a time).
    pub async fn check_writable(&self) -> Result<(), String> {
        let mut last_success = self.write_probe.lock().await;
        let fault = self.write_fault.swap(false, Ordering::AcqRel);
        if !fault && last_success.is_some_and(|at| at.elapsed() < WRITE_PROBE_REUSE) {
            return Ok(());
        }
        // Random bytes in a new row: SQLite may commit a rewrite of the same pages on a full disk.
        let mut padding = vec![0u8; WRITE_PROBE_BYTES];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut padding);
        let probe = on_db!(self, write, |pool| {
            async {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM storage_probe").execute(&mut *tx).await?;
                sqlx::query("INSERT INTO storage_probe (id, checked_at, padding) VALUES (1, $1, $2)")
                    .bind(Ts::now())
                    .bind(&padding)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await
        });
        probe.map_err(|e| e.to_string())?;
        *last_success = Some(std::time::Instant::now());
        Ok(())
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Whether a SQLite connection going back to its pool may be used again: it must be outside any
/// transaction, both as sqlx counts it and as SQLite knows it. After an I/O error or a full disk,
/// SQLite may roll a transaction back by itself (then sqlx's ROLLBACK fails and its count stays
/// at 1, so that its next `begin` would only open a savepoint and its "commit" would release it
/// inside a transaction that is never committed), or keep it open. Either way the connection is
/// closed, which ends whatever SQLite still holds, and the pool opens a fresh one: the next write
/// starts clean, and nothing is acknowledged that was not committed.
async fn sqlite_connection_is_clean(connection: &mut sqlx::SqliteConnection) -> sqlx::Result<bool> {
    use sqlx::Connection;
    // sqlx counts a transaction only once its BEGIN succeeded and uncounts it only once its COMMIT
    // or ROLLBACK did: a connection it counts outside any transaction is outside one, with no
    // ROLLBACK pending. That is nearly every release, and it costs no trip to the connection's
    // thread (the deep check below, on every release, took a third of the token-sync throughput).
    if !connection.is_in_transaction() {
        return Ok(true);
    }
    // The handle is lent only once the worker has run every queued command (a pending ROLLBACK).
    let mut handle = connection.lock_handle().await?;
    // SAFETY: the locked handle guarantees no other thread uses the connection during the call.
    let autocommit = unsafe { libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) } != 0;
    drop(handle);
    let clean = autocommit && !connection.is_in_transaction();
    if !clean {
        tracing::warn!("a SQLite connection was left inside a transaction by an error: closing it");
    }
    Ok(clean)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}
