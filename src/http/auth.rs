//! HTTP Basic authentication: credential checks, a short-lived cache of proven credentials (an
//! argon2 check costs tens of milliseconds, far too much to pay on every DAV request), and
//! failed-login throttling per login and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::config::AuthConfig;
use crate::crm::credentials::{self, Authenticated};
use crate::crm::reps::Rep;
use crate::store::Store;

/// How long a proven password is trusted without a new argon2 check. Revocation and disabling are
/// still seen at once: every request re-checks the credential row (see `credentials::still_valid`).
const CACHE_TTL: Duration = Duration::from_secs(300);
/// `last_used_at` is written at most this often per credential, not on every request.
const TOUCH_INTERVAL: Duration = Duration::from_secs(600);

pub enum AuthOutcome {
    Ok(Authenticated),
    /// No or wrong credentials: 401 with a challenge.
    Denied,
    /// Too many failures: 429 with Retry-After (seconds).
    Throttled(u64),
}

struct CachedLogin {
    credential_id: i64,
    proven_at: Instant,
}

#[derive(Default)]
struct Failures {
    by_key: HashMap<String, (u32, Instant)>,
}

pub struct Authenticator {
    config: AuthConfig,
    cache: Mutex<HashMap<[u8; 32], CachedLogin>>,
    touched: Mutex<HashMap<i64, Instant>>,
    failures: Mutex<Failures>,
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
            config,
            cache: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            failures: Mutex::new(Failures::default()),
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.config.throttle_window_secs)
    }

    /// Seconds to wait if `key` has failed `limit` times within the window.
    fn throttled(&self, key: &str, limit: u32) -> Option<u64> {
        let failures = self.failures.lock().expect("auth lock");
        let (count, since) = failures.by_key.get(key)?;
        let elapsed = since.elapsed();
        (*count >= limit && elapsed < self.window()).then(|| (self.window() - elapsed).as_secs().max(1))
    }

    fn record_failure(&self, key: String) {
        let mut failures = self.failures.lock().expect("auth lock");
        let window = self.window();
        failures.by_key.retain(|_, (_, since)| since.elapsed() < window);
        let entry = failures.by_key.entry(key).or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    fn clear_failures(&self, key: &str) {
        self.failures.lock().expect("auth lock").by_key.remove(key);
    }

    pub async fn authenticate(&self, store: &Store, header: Option<&str>, peer: IpAddr) -> anyhow::Result<AuthOutcome> {
        let ip_key = format!("ip:{peer}");
        let Some((login, secret)) = header.and_then(parse_basic) else {
            return Ok(AuthOutcome::Denied);
        };
        let login_key = format!("login:{login}");
        if let Some(wait) = self
            .throttled(&login_key, self.config.max_failures)
            .or_else(|| self.throttled(&ip_key, self.config.max_failures_per_address))
        {
            return Ok(AuthOutcome::Throttled(wait));
        }
        let cache_key: [u8; 32] = Sha256::new()
            .chain_update(login.as_bytes())
            .chain_update([0])
            .chain_update(secret.as_bytes())
            .finalize()
            .into();
        let cached = self
            .cache
            .lock()
            .expect("auth lock")
            .get(&cache_key)
            .filter(|c| c.proven_at.elapsed() < CACHE_TTL)
            .map(|c| c.credential_id);
        let authenticated = match cached {
            Some(credential_id) => credentials::still_valid(store, credential_id)
                .await?
                .filter(|rep: &Rep| rep.login == login)
                .map(|rep| Authenticated { rep, credential_id }),
            None => credentials::verify(store, &login, &secret).await?,
        };
        match authenticated {
            Some(auth) => {
                self.clear_failures(&login_key);
                self.cache
                    .lock()
                    .expect("auth lock")
                    .insert(cache_key, CachedLogin { credential_id: auth.credential_id, proven_at: Instant::now() });
                self.touch(store, auth.credential_id);
                Ok(AuthOutcome::Ok(auth))
            }
            None => {
                self.cache.lock().expect("auth lock").remove(&cache_key);
                self.record_failure(login_key);
                self.record_failure(ip_key);
                Ok(AuthOutcome::Denied)
            }
        }
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

    #[test]
    fn throttles_after_max_failures_within_window() {
        let auth =
            Authenticator::new(AuthConfig { max_failures: 3, max_failures_per_address: 5, throttle_window_secs: 60 });
        for _ in 0..2 {
            auth.record_failure("login:x".into());
        }
        assert!(auth.throttled("login:x", 3).is_none());
        auth.record_failure("login:x".into());
        assert!(auth.throttled("login:x", 3).is_some_and(|wait| wait <= 60));
        assert!(auth.throttled("login:y", 3).is_none());
        auth.clear_failures("login:x");
        assert!(auth.throttled("login:x", 3).is_none());
    }
}
