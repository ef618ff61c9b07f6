//! HTTP Basic authentication: credential checks, a short-lived cache of proven credentials (an
//! argon2 check costs tens of milliseconds, far too much to pay on every DAV request), throttling of
//! password guesses, and a bound on how many argon2 checks run at once.
//!
//! Policy:
//! - An app token (`crmdav_...`, 256 bits) is checked by one indexed lookup, never by argon2, and is
//!   never throttled: guessing one is hopeless, and a rep's tokens keep working while someone guesses
//!   that rep's password.
//! - A password check always runs exactly one argon2 (against a dummy hash for unknown or disabled
//!   logins), so its time does not tell which logins exist.
//! - Password guesses back off per login and per client address (see `throttle`); a login that has
//!   succeeded from an address before is throttled on that (login, address) pair alone, so that
//!   neither an attacker elsewhere nor one sharing the office's address locks its owner out.
//! - A cached (already proven) credential is never throttled: it cannot be a guess.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

use super::password_checks::PasswordChecks;
use super::throttle::Throttle;
use crate::config::AuthConfig;
use crate::crm::credentials::{self, Authenticated, TOKEN_PREFIX};
use crate::store::Store;

/// How long a proven password is trusted without a new argon2 check. Revocation and disabling are
/// still seen at once: every request re-checks the credential row (see `credentials::still_valid`).
const CACHE_TTL: Duration = Duration::from_secs(300);
/// `last_used_at` is written at most this often per credential, not on every request.
const TOUCH_INTERVAL: Duration = Duration::from_secs(600);
/// How long a successful login from an address makes that (login, address) pair known.
const KNOWN_ADDRESS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Known (login, address) pairs kept at most (memory bound; the oldest go first).
const KNOWN_ADDRESS_MAX: usize = 100_000;
/// Failures older than this are dropped from the memo that waiting requests share (`failed_since`).
const FAILURE_MEMO: Duration = Duration::from_secs(60);

pub enum AuthOutcome {
    Ok(Authenticated),
    /// No or wrong credentials: 401 with a challenge.
    Denied,
    /// Too many failures: 429 with Retry-After (seconds).
    Throttled(u64),
    /// Too many password checks already running or waiting: 503 with Retry-After.
    Busy,
}

struct CachedLogin {
    credential_id: i64,
    proven_at: Instant,
}

enum PasswordCheck {
    Done(Option<Authenticated>),
    Throttled(Duration),
    Busy,
}

pub struct Authenticator {
    config: AuthConfig,
    cache: Mutex<HashMap<[u8; 32], CachedLogin>>,
    touched: Mutex<HashMap<i64, Instant>>,
    throttle: Throttle,
    password_checks: PasswordChecks,
    /// (login, address) pairs with a recent successful password login, and when.
    known_addresses: Mutex<HashMap<(String, IpAddr), Instant>>,
    /// One lock per password being checked, so that requests with the same one take turns.
    gates: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    /// When each password last failed (see `failed_since`).
    recent_failures: Mutex<HashMap<[u8; 32], Instant>>,
}

/// `Authorization: Basic base64(login:secret)` → (login, secret).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (login, secret) = text.split_once(':')?;
    Some((login.to_string(), secret.to_string()))
}

impl Authenticator {
    pub fn new(config: AuthConfig) -> Authenticator {
        Authenticator {
            throttle: Throttle::new(
                Duration::from_secs(config.max_backoff_secs.max(1)),
                Duration::from_secs(config.throttle_window_secs),
            ),
            password_checks: PasswordChecks::new(config.max_parallel_checks, config.max_queued_checks),
            config,
            cache: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            known_addresses: Mutex::new(HashMap::new()),
            gates: Mutex::new(HashMap::new()),
            recent_failures: Mutex::new(HashMap::new()),
        }
    }

    /// `client` is the client's address (see `client_addr`), used to throttle password guesses.
    pub async fn authenticate(
        &self,
        store: &Store,
        header: Option<&str>,
        client: IpAddr,
    ) -> anyhow::Result<AuthOutcome> {
        let Some((login, secret)) = header.and_then(parse_basic) else {
            return Ok(AuthOutcome::Denied);
        };
        let cache_key: [u8; 32] = Sha256::new()
            .chain_update(login.as_bytes())
            .chain_update([0])
            .chain_update(secret.as_bytes())
            .finalize()
            .into();
        // Requests with one password (a device's parallel first sync) wait for one check, then
        // share its result: the cache after a success, the memo of a failure otherwise.
        let arrived = Instant::now();
        // Only a password that is not proven yet takes the gate: a proven one (every request of a
        // synced device) must not queue behind the other requests that carry it.
        let turn = match secret.starts_with(TOKEN_PREFIX) || self.cached(&cache_key).is_some() {
            true => None,
            false => Some(self.gate(cache_key).lock_owned().await),
        };
        let outcome = self.check(store, login, secret, client, cache_key, turn.is_some().then_some(arrived)).await;
        drop(turn);
        self.release_gate(&cache_key);
        outcome
    }

    async fn check(
        &self,
        store: &Store,
        login: String,
        secret: String,
        client: IpAddr,
        cache_key: [u8; 32],
        gated_since: Option<Instant>,
    ) -> anyhow::Result<AuthOutcome> {
        let authenticated = match self.cached(&cache_key) {
            Some(credential_id) => {
                credentials::still_valid(store, credential_id).await?.filter(|auth| auth.rep.login == login)
            }
            None if secret.starts_with(TOKEN_PREFIX) => credentials::verify_token(store, &login, &secret).await?,
            None if gated_since.is_some_and(|arrived| self.failed_since(&cache_key, arrived)) => None,
            None => match self.check_password(store, &login, secret, client).await? {
                PasswordCheck::Done(authenticated) => authenticated,
                PasswordCheck::Throttled(wait) => return Ok(AuthOutcome::Throttled(wait.as_secs_f64().ceil() as u64)),
                PasswordCheck::Busy => return Ok(AuthOutcome::Busy),
            },
        };
        Ok(match authenticated {
            Some(auth) => {
                self.cache
                    .lock()
                    .expect("auth lock")
                    .insert(cache_key, CachedLogin { credential_id: auth.credential_id, proven_at: Instant::now() });
                self.remember_address(&login, client);
                self.touch(store, auth.credential_id);
                AuthOutcome::Ok(auth)
            }
            None => {
                self.cache.lock().expect("auth lock").remove(&cache_key);
                if gated_since.is_some() {
                    self.remember_failure(cache_key);
                }
                AuthOutcome::Denied
            }
        })
    }

    fn cached(&self, cache_key: &[u8; 32]) -> Option<i64> {
        let cache = self.cache.lock().expect("auth lock");
        cache.get(cache_key).filter(|c| c.proven_at.elapsed() < CACHE_TTL).map(|c| c.credential_id)
    }

    /// The lock that requests with this credential take turns on.
    fn gate(&self, cache_key: [u8; 32]) -> Arc<tokio::sync::Mutex<()>> {
        self.gates.lock().expect("auth lock").entry(cache_key).or_default().clone()
    }

    /// Forgets the gate once no request holds or waits for it.
    fn release_gate(&self, cache_key: &[u8; 32]) {
        let mut gates = self.gates.lock().expect("auth lock");
        if gates.get(cache_key).is_some_and(|gate| Arc::strong_count(gate) == 1) {
            gates.remove(cache_key);
        }
    }

    /// Whether this very credential failed in a check that ended after `arrived`, one this request
    /// waited for: it shares that answer (401) rather than being checked and counted again. A
    /// request that arrives later is checked anew (the rep may have been enabled since).
    fn failed_since(&self, cache_key: &[u8; 32], arrived: Instant) -> bool {
        let failures = self.recent_failures.lock().expect("auth lock");
        failures.get(cache_key).is_some_and(|at| *at >= arrived)
    }

    fn remember_failure(&self, cache_key: [u8; 32]) {
        let mut failures = self.recent_failures.lock().expect("auth lock");
        if failures.len() >= 4096 {
            failures.retain(|_, at| at.elapsed() < FAILURE_MEMO);
        }
        failures.insert(cache_key, Instant::now());
    }

    async fn check_password(
        &self,
        store: &Store,
        login: &str,
        password: String,
        client: IpAddr,
    ) -> anyhow::Result<PasswordCheck> {
        let known = self.is_known_address(login, client);
        let (pair_key, login_key, address_key) =
            (format!("pair:{client} {login}"), format!("login:{login}"), format!("ip:{client}"));
        let keys: Vec<(&str, u32)> = match known {
            true => vec![(&pair_key, self.config.max_failures)],
            false => vec![(&login_key, self.config.max_failures), (&address_key, self.config.max_failures_per_address)],
        };
        let Ok(admission) = self.password_checks.admit(known) else {
            return Ok(PasswordCheck::Busy);
        };
        if let Err(wait) = self.throttle.begin(&keys, Instant::now()) {
            return Ok(PasswordCheck::Throttled(wait));
        }
        let record = credentials::password_record(store, login).await?;
        let record = admission
            .run(move || {
                let ok = credentials::check_password(&password, record.as_ref());
                record.filter(|_| ok)
            })
            .await?;
        match record {
            Some(record) => {
                // The login's own keys start afresh; the address keeps its other failures.
                let (reset, uncount) = keys.split_at(1);
                self.throttle.succeeded(reset, uncount, Instant::now());
                Ok(PasswordCheck::Done(Some(Authenticated {
                    rep: record.rep,
                    credential_id: record.credential_id,
                    change_seq: None,
                })))
            }
            None => {
                self.throttle.failed(&keys, Instant::now());
                Ok(PasswordCheck::Done(None))
            }
        }
    }

    fn is_known_address(&self, login: &str, client: IpAddr) -> bool {
        let known = self.known_addresses.lock().expect("auth lock");
        known.get(&(login.to_string(), client)).is_some_and(|at| at.elapsed() < KNOWN_ADDRESS_TTL)
    }

    /// Any successful login (password, token or cached) makes its (login, address) pair known.
    fn remember_address(&self, login: &str, client: IpAddr) {
        let mut known = self.known_addresses.lock().expect("auth lock");
        if known.len() >= KNOWN_ADDRESS_MAX {
            known.retain(|_, at| at.elapsed() < KNOWN_ADDRESS_TTL);
            if known.len() >= KNOWN_ADDRESS_MAX
                && let Some(oldest) = known.iter().min_by_key(|(_, at)| **at).map(|(key, _)| key.clone())
            {
                known.remove(&oldest);
            }
        }
        known.insert((login.to_string(), client), Instant::now());
    }

    fn touch(&self, store: &Store, credential_id: i64) {
        let mut touched = self.touched.lock().expect("auth lock");
        if touched.get(&credential_id).is_some_and(|at| at.elapsed() < TOUCH_INTERVAL) {
            return;
        }
        touched.insert(credential_id, Instant::now());
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = credentials::touch(&store, credential_id).await {
                tracing::warn!(error = %e, "cannot record credential use");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_headers() {
        assert_eq!(parse_basic("Basic YWxpY2U6ZGVtbw=="), Some(("alice".into(), "demo".into())));
        assert_eq!(parse_basic("basic YWxpY2U6ZDplbW8="), Some(("alice".into(), "d:emo".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
