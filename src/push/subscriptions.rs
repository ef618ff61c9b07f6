//! The `push_subscriptions` table: registrations of devices on a rep's collections.

use anyhow::Result;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use crate::on_db;
use crate::store::{Store, Ts};

/// A registration as a device sends it, checked.
pub struct NewSubscription<'a> {
    pub rep_id: i64,
    pub collection: &'a str,
    pub push_resource: &'a str,
    pub public_key: &'a str,
    pub auth_secret: &'a str,
    pub expires_at: Ts,
    /// The collection's newest member sequence now: changes after it are notified.
    pub baseline_seq: i64,
}

/// What a registration did.
#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    /// A new subscription, under this registration id.
    Created(String),
    /// The push resource was registered on the collection already: its keys and expiry were updated.
    Updated(String),
    /// The rep holds as many subscriptions as allowed.
    LimitReached,
}

/// Registers `new`, or updates the registration of its push resource on its collection (the draft:
/// one registration per push resource and collection).
pub async fn register(store: &Store, new: &NewSubscription<'_>, limit: usize) -> Result<Registered> {
    let update = "UPDATE push_subscriptions SET public_key = $3, auth_secret = $4, expires_at = $5 \
                  WHERE collection = $1 AND push_resource = $2 RETURNING registration";
    let existing: Option<String> = on_db!(store, write, |pool| {
        sqlx::query_scalar(update)
            .bind(new.collection)
            .bind(new.push_resource)
            .bind(new.public_key)
            .bind(new.auth_secret)
            .bind(new.expires_at)
            .fetch_optional(pool)
            .await?
    });
    if let Some(registration) = existing {
        return Ok(Registered::Updated(registration));
    }
    let held: i64 = on_db!(store, read, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM push_subscriptions WHERE rep_id = $1 AND expires_at > $2")
            .bind(new.rep_id)
            .bind(Ts::now())
            .fetch_one(pool)
            .await?
    });
    if held >= limit as i64 {
        return Ok(Registered::LimitReached);
    }
    let registration = registration_id();
    let inserted: Option<String> = on_db!(store, write, |pool| {
        sqlx::query_scalar(
            "INSERT INTO push_subscriptions \
             (registration, rep_id, collection, push_resource, public_key, auth_secret, expires_at, notified_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (collection, push_resource) DO NOTHING RETURNING registration",
        )
        .bind(&registration)
        .bind(new.rep_id)
        .bind(new.collection)
        .bind(new.push_resource)
        .bind(new.public_key)
        .bind(new.auth_secret)
        .bind(new.expires_at)
        .bind(new.baseline_seq)
        .fetch_optional(pool)
        .await?
    });
    match inserted {
        Some(registration) => Ok(Registered::Created(registration)),
        // The same device registered at the same moment in another request: update that one.
        None => Box::pin(register(store, new, limit)).await,
    }
}

/// A random, unguessable registration id (128 bits, base64url).
fn registration_id() -> String {
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    URL_SAFE_NO_PAD.encode(id)
}

/// Deletes the registration `id` of `rep_id`; false when the rep has no such registration.
pub async fn unregister(store: &Store, rep_id: i64, id: &str) -> Result<bool> {
    let deleted = on_db!(store, write, |pool| {
        sqlx::query("DELETE FROM push_subscriptions WHERE registration = $1 AND rep_id = $2")
            .bind(id)
            .bind(rep_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(deleted > 0)
}

/// The collections that have live subscriptions, with their rep.
pub async fn watched_collections(store: &Store) -> Result<Vec<(i64, String)>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT DISTINCT rep_id, collection FROM push_subscriptions WHERE expires_at > $1 ORDER BY rep_id, collection",
        )
        .bind(Ts::now())
        .fetch_all(pool)
        .await?
    }))
}

/// Deletes the subscriptions that have expired (the draft: never notified after expiry; the other
/// queries here skip them meanwhile). Looked for first, so that a round with none writes nothing
/// (SQLite has one writer).
pub async fn delete_expired(store: &Store) -> Result<u64> {
    let expired: i64 = on_db!(store, read, |pool| {
        sqlx::query_scalar("SELECT COUNT(*) FROM push_subscriptions WHERE expires_at <= $1")
            .bind(Ts::now())
            .fetch_one(pool)
            .await?
    });
    if expired == 0 {
        return Ok(0);
    }
    Ok(on_db!(store, write, |pool| {
        sqlx::query("DELETE FROM push_subscriptions WHERE expires_at <= $1")
            .bind(Ts::now())
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

/// A subscription a push is due to.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct Due {
    pub id: i64,
    pub push_resource: String,
    pub public_key: String,
    pub auth_secret: String,
    pub notified_seq: i64,
}

/// The live subscriptions of `collection` not yet notified of its member sequence `seq`.
pub async fn due(store: &Store, collection: &str, seq: i64) -> Result<Vec<Due>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT id, push_resource, public_key, auth_secret, notified_seq FROM push_subscriptions \
             WHERE collection = $1 AND notified_seq < $2 AND expires_at > $3 ORDER BY id",
        )
        .bind(collection)
        .bind(seq)
        .bind(Ts::now())
        .fetch_all(pool)
        .await?
    }))
}

/// Claims the push of `seq` to subscription `id`: true for the one caller (of every instance on the
/// database) that moved it from below `seq`, which then sends it.
pub async fn claim(store: &Store, id: i64, seq: i64) -> Result<bool> {
    let claimed = on_db!(store, write, |pool| {
        sqlx::query(
            "UPDATE push_subscriptions SET notified_seq = $2, last_push_at = $3 WHERE id = $1 AND notified_seq < $2",
        )
        .bind(id)
        .bind(seq)
        .bind(Ts::now())
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(claimed == 1)
}

/// Gives a claim back after a push that failed for now, so that a later round sends it again
/// (unless a newer push was claimed meanwhile).
pub async fn release(store: &Store, id: i64, seq: i64, previous: i64) -> Result<()> {
    on_db!(store, write, |pool| {
        sqlx::query("UPDATE push_subscriptions SET notified_seq = $3 WHERE id = $1 AND notified_seq = $2")
            .bind(id)
            .bind(seq)
            .bind(previous)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Deletes a subscription the push service says is gone.
pub async fn delete(store: &Store, id: i64) -> Result<()> {
    on_db!(store, write, |pool| {
        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1").bind(id).execute(pool).await?;
    });
    Ok(())
}

/// The newest member sequence of `collection` (0 when it has none): it moves exactly when a
/// member is added, changed or removed, which is what a content-update push reports.
pub async fn content_seq(store: &Store, collection: &str) -> Result<i64> {
    let seq: Option<i64> = on_db!(store, read, |pool| {
        sqlx::query_scalar("SELECT MAX(seq) FROM collection_members WHERE collection = $1")
            .bind(collection)
            .fetch_one(pool)
            .await?
    });
    Ok(seq.unwrap_or(0))
}
