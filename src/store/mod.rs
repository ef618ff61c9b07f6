//! Storage: SQLite (embedded default) or PostgreSQL, behind one `Store`.
//!
//! Queries are written once, with `$1`-style placeholders that both sqlx drivers accept, and run on
//! whichever pool the store holds through the [`on_db!`] macro (each arm is monomorphised for its
//! driver). SQLite gets one writer connection and several readers: SQLite allows one writer at a
//! time anyway, and a single writer pool turns lock contention into a queue instead of BUSY errors.

mod member_cache;
pub mod rows;
pub mod sync;
mod timestamp;

pub use timestamp::Ts;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use log::LevelFilter;
use member_cache::MemberCache;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

/// Statements slower than this are logged (at debug level: bulk loads are slow by design).
const SLOW: Duration = Duration::from_secs(1);

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

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    member_cache: Arc<MemberCache>,
    refresh_slots: Arc<tokio::sync::Semaphore>,
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
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open SQLite database {path}"))?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.row_buffer_size(1024))
            .await
            .with_context(|| format!("cannot open SQLite database {path}"))?;
        Ok(Store::with_db(Db::Sqlite { read, write }))
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
        }
    }

    /// Waits for one of the slots that bound how many collection views are computed at once.
    pub(crate) async fn refresh_slot(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.refresh_slots.acquire().await.expect("the refresh semaphore is never closed")
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
