//! The delivery task: learns that the CRM changed, brings every subscribed collection up to date
//! (the same refresh a device's sync runs), and pushes to the subscriptions of each collection
//! whose content changed: one push per collection for a burst of changes.
//!
//! It learns of changes three ways: this server's own writes (`Push::changed`, at once), LISTEN on
//! the `crmdav_changes` channel the change_log triggers notify on PostgreSQL (any program, any
//! instance, at once), and polling the change log's newest sequence (SQLite, where other programs
//! cannot notify; and PostgreSQL, as a fallback). A change wakes it; it then waits `coalesce_ms`
//! for the rest of a burst, and handles everything up to then in one round.
//!
//! Several instances on one PostgreSQL all run this: each refreshes the collections, and raising a
//! subscription's `notified_seq` is a claim that only one of them wins, so each change is pushed
//! once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::subscriptions::{self, Due};
use super::webpush::{self, Outcome, UserAgentKeys};
use super::{Push, Watched};
use crate::caldav::calendar::CalendarCollection;
use crate::carddav::AddressBook;
use crate::config::Config;
use crate::crm::Session;
use crate::crm::reps::Rep;
use crate::dav::collection::Collection;
use crate::dav::multistatus::PropValue;
use crate::dav::names::NS_DAV;
use crate::on_db;
use crate::store::{Db, Store};

/// Collections brought up to date at once by one round.
const PARALLEL_REFRESHES: usize = 4;
/// Pushes in flight at once.
const PARALLEL_SENDS: usize = 32;
/// After a push that failed for now, the next try (if nothing else happens before).
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Expired subscriptions are deleted at least this often, changes or not.
const HOUSEKEEPING: Duration = Duration::from_secs(60);
/// While a burst goes on, how often it is looked at, and the longest a push waits for its end.
const SETTLE_STEP: Duration = Duration::from_millis(50);
const MAX_SETTLE: Duration = Duration::from_millis(500);
/// On PostgreSQL, LISTEN brings changes; the change log is polled this many times less often.
const POSTGRES_POLL_FACTOR: u32 = 5;

/// What a round and its pushes share.
#[derive(Clone)]
struct Context {
    store: Store,
    config: Arc<Config>,
    push: Arc<Push>,
    sends: Arc<Semaphore>,
    /// Set by a push that failed for now: a round is to run again later.
    retry: Arc<AtomicBool>,
}

/// Starts delivery (if push is enabled); it ends when `stop` turns true.
pub fn start(store: Store, config: Config, push: Arc<Push>, stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    if !push.enabled() {
        return None;
    }
    let context = Context {
        store,
        config: Arc::new(config),
        push,
        sends: Arc::new(Semaphore::new(PARALLEL_SENDS)),
        retry: Arc::default(),
    };
    Some(tokio::spawn(run(context, stop)))
}

async fn run(context: Context, mut stop: watch::Receiver<bool>) {
    let listener = match context.store.db() {
        Db::Postgres(pool) => Some(tokio::spawn(listen(pool.clone(), context.push.clone()))),
        Db::Sqlite { .. } => None,
    };
    let push_config = context.push.config();
    let mut poll = Duration::from_millis(push_config.poll_ms.max(10));
    if listener.is_some() {
        poll *= POSTGRES_POLL_FACTOR;
    }
    let coalesce = Duration::from_millis(push_config.coalesce_ms);
    // None: a first round runs at start, for what changed while the server was down.
    let mut seen: Option<i64> = None;
    let mut retry_at: Option<Instant> = None;
    let mut housekeeping = Instant::now();
    let mut sends = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = context.push.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
        while sends.try_join_next().is_some() {}
        if context.retry.swap(false, Ordering::AcqRel) {
            retry_at.get_or_insert(Instant::now() + RETRY_AFTER);
        }
        let current = match context.store.current_seq().await {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "push delivery cannot read the change log");
                continue;
            }
        };
        let retry_due = retry_at.is_some_and(|at| Instant::now() >= at);
        if seen == Some(current) && !retry_due {
            if housekeeping.elapsed() >= HOUSEKEEPING {
                housekeeping = Instant::now();
                if let Err(e) = subscriptions::delete_expired(&context.store).await {
                    tracing::warn!(error = %format!("{e:#}"), "cannot delete expired push subscriptions");
                }
            }
            continue;
        }
        // Let a burst of changes finish: it is then notified in one push per collection.
        let Some(settled) = settle(&context.store, current, coalesce, &mut stop).await else { break };
        // Read before the refreshes: each refresh brings its collection at least up to here.
        seen = Some(settled);
        retry_at = None;
        housekeeping = Instant::now();
        let started = Instant::now();
        match round(&context, &mut sends).await {
            Ok(0) => {}
            Ok(pushes) => tracing::debug!(pushes, ms = started.elapsed().as_millis() as u64, "push round"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "push delivery round failed"),
        }
    }
    if let Some(listener) = listener {
        listener.abort();
    }
    sends.abort_all();
}

/// Waits for a burst of changes that reached `current` to end: `coalesce`, then as long as changes
/// keep coming (looking every `SETTLE_STEP`), up to `MAX_SETTLE` in all, so that a push still goes out
/// well within a second of the first change, and a steady stream of changes is pushed at most every
/// `MAX_SETTLE`. Returns the change log's newest sequence then; None when asked to stop.
async fn settle(store: &Store, mut current: i64, coalesce: Duration, stop: &mut watch::Receiver<bool>) -> Option<i64> {
    let started = Instant::now();
    let mut wait = coalesce;
    loop {
        tokio::select! {
            _ = stop.changed() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
        let now = store.current_seq().await.unwrap_or(current);
        if now == current || started.elapsed() >= MAX_SETTLE {
            return Some(now);
        }
        current = now;
        wait = SETTLE_STEP.min(MAX_SETTLE.saturating_sub(started.elapsed()));
    }
}

/// Wakes delivery on each notification of the change_log triggers (any program, any instance).
async fn listen(pool: sqlx::PgPool, push: Arc<Push>) {
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "push delivery cannot LISTEN; polling meanwhile");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen("crmdav_changes").await {
            tracing::warn!(error = %e, "push delivery cannot LISTEN; polling meanwhile");
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        }
        loop {
            match listener.recv().await {
                Ok(_) => push.wake.notify_one(),
                Err(e) => {
                    tracing::warn!(error = %e, "push delivery lost its LISTEN connection; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
    }
}

/// Brings every subscribed collection up to date and starts the pushes that are due; returns how
/// many were started.
async fn round(context: &Context, sends: &mut JoinSet<()>) -> Result<usize> {
    subscriptions::delete_expired(&context.store).await?;
    let watched = subscriptions::watched_collections(&context.store).await?;
    let mut refreshes = JoinSet::new();
    let mut pending = watched.into_iter();
    let mut started = 0;
    loop {
        while refreshes.len() < PARALLEL_REFRESHES {
            let Some((rep_id, key)) = pending.next() else { break };
            let context = context.clone();
            refreshes.spawn(async move {
                let result = due_pushes(&context, rep_id, &key).await;
                (key, result)
            });
        }
        let Some(done) = refreshes.join_next().await else { break };
        let (key, result) = done?;
        match result {
            Ok(Some(ready)) => {
                let seq = ready.seq;
                for due in ready.due {
                    started += 1;
                    let context = context.clone();
                    let (key, topic, body) = (key.clone(), ready.topic.clone(), ready.body.clone());
                    sends.spawn(async move { send(&context, &key, &topic, &body, due, seq).await });
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(collection = %key, error = %format!("{e:#}"), "cannot bring a subscribed collection up to date")
            }
        }
    }
    Ok(started)
}

/// The pushes due for one collection, once it is up to date, each claimed by this instance.
struct Ready {
    seq: i64,
    topic: String,
    body: String,
    due: Vec<Due>,
}

async fn due_pushes(context: &Context, rep_id: i64, key: &str) -> Result<Option<Ready>> {
    let Some((watched, _)) = Watched::parse(key) else {
        return Ok(None);
    };
    let Some(sync_token) = refresh(&context.store, &context.config, rep_id, watched).await? else {
        return Ok(None);
    };
    let seq = subscriptions::content_seq(&context.store, key).await?;
    let waiting = subscriptions::due(&context.store, key, seq).await?;
    if waiting.is_empty() {
        return Ok(None);
    }
    // Everything a push needs is ready before it is claimed: a claim is a promise to send.
    let topic = context.push.keys(&context.store).await?.topic(key);
    let body = crate::dav::push::content_update_message(&topic, &sync_token);
    let mut due = Vec::new();
    for subscription in waiting {
        if subscriptions::claim(&context.store, subscription.id, seq).await? {
            due.push(subscription);
        }
    }
    Ok((!due.is_empty()).then_some(Ready { seq, topic, body, due }))
}

/// Brings the collection of `rep_id` up to date as a sync would; returns its sync-token, or None
/// when the rep is gone or disabled (no push then).
pub async fn refresh(store: &Store, config: &Config, rep_id: i64, watched: Watched) -> Result<Option<String>> {
    let rep: Option<Rep> = on_db!(store, read, |pool| {
        sqlx::query_as("SELECT id, login, display_name, email, role, active FROM reps WHERE id = $1")
            .bind(rep_id)
            .fetch_optional(pool)
            .await?
    });
    let Some(rep) = rep.filter(|rep| rep.active) else {
        return Ok(None);
    };
    let session = Session { store, config, rep: &rep, device: "push", change_seq: None };
    let properties = match watched {
        Watched::Book => AddressBook::new(&session).properties().await?,
        Watched::Calendar(calendar) => CalendarCollection::new(&session, calendar).properties().await?,
        // A rep who is no longer a manager has no team calendar: nothing to push.
        Watched::Team if !crate::caldav::team::has_team_calendar(&rep) => return Ok(None),
        Watched::Team => crate::caldav::team::TeamCalendar::new(&session).properties().await?,
    };
    Ok(properties.into_iter().find_map(|(name, value)| match value {
        PropValue::Text(token) if name.is(NS_DAV, "sync-token") => Some(token),
        _ => None,
    }))
}

/// Sends one claimed push and acts on the push service's answer.
async fn send(context: &Context, key: &str, topic: &str, body: &str, due: Due, seq: i64) {
    let Ok(_permit) = context.sends.acquire().await else { return };
    let store = &context.store;
    let keys = match UserAgentKeys::decode(&due.public_key, &due.auth_secret) {
        Ok(keys) => keys,
        Err(reason) => {
            tracing::warn!(collection = key, subscription = due.id, %reason, "deleting an unusable push subscription");
            let _ = subscriptions::delete(store, due.id).await;
            return;
        }
    };
    let server = match context.push.keys(store).await {
        Ok(server) => server,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot read the push keys");
            return;
        }
    };
    let config = context.push.config();
    let message =
        webpush::Message { push_resource: &due.push_resource, keys: &keys, body, topic, ttl_secs: config.ttl_secs };
    let contact = context.push.contact();
    let outcome = webpush::send(&context.push.client, server, &contact, config.allow_insecure_loopback, message).await;
    match outcome {
        Outcome::Delivered => tracing::debug!(collection = key, subscription = due.id, seq, "push delivered"),
        Outcome::Gone(status) => {
            tracing::info!(collection = key, subscription = due.id, %status, "push subscription gone: deleted");
            if let Err(e) = subscriptions::delete(store, due.id).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot delete a gone push subscription");
            }
        }
        Outcome::Refused(reason) => {
            tracing::warn!(collection = key, subscription = due.id, %reason, "push refused");
        }
        Outcome::Failed(reason) => {
            tracing::info!(collection = key, subscription = due.id, %reason, "push failed; it will be tried again");
            let _ = subscriptions::release(store, due.id, seq, due.notified_seq).await;
            context.retry.store(true, Ordering::Release);
        }
    }
}
