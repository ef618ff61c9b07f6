//! Password-guessing throttle: exponential backoff per key (a login, a client address), counted
//! *before* a check runs so that parallel guesses cannot all slip in under the limit.
//!
//! A key has some free failures; after them each further attempt must wait 1 s, 2 s, 4 s, ... (up to a
//! maximum) after the previous one. This slows a guesser to a trickle without banning the owner:
//! the right password still gets in at the next open slot, and a success clears the key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

struct Entry {
    failures: u32,
    next_allowed: Instant,
    last_attempt: Instant,
}

/// Keys are hashed: attackers choose logins, and a key must stay small whatever they send.
type Key = [u8; 32];

pub struct Throttle {
    max_delay: Duration,
    forget_after: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
}

fn key(name: &str) -> Key {
    Sha256::digest(name.as_bytes()).into()
}

impl Throttle {
    pub fn new(max_delay: Duration, forget_after: Duration) -> Throttle {
        Throttle { max_delay, forget_after, entries: Mutex::new(HashMap::new()) }
    }

    /// The wait imposed after the `failures`-th failure when `free` are allowed: 0 within the free
    /// failures, then 1 s doubling up to the maximum.
    fn delay(&self, failures: u32, free: u32) -> Duration {
        match failures.checked_sub(free) {
            None => Duration::ZERO,
            Some(beyond) => Duration::from_secs(1u64 << beyond.min(20)).min(self.max_delay),
        }
    }

    /// Admits one attempt against every `(key, free_failures)` or none: `Err(wait)` if any key must
    /// still wait. An admitted attempt counts as a failure until `succeeded` says otherwise.
    pub fn begin(&self, keys: &[(&str, u32)], now: Instant) -> Result<(), Duration> {
        let mut entries = self.entries.lock().expect("throttle lock");
        let wait = keys
            .iter()
            .filter_map(|&(name, free)| entries.get(&key(name)).filter(|entry| entry.failures >= free))
            .filter(|entry| now.saturating_duration_since(entry.last_attempt) < self.forget_after)
            .map(|entry| entry.next_allowed.saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Err(wait);
        }
        if entries.len() > 1024 {
            let forget_after = self.forget_after;
            entries.retain(|_, entry| now.saturating_duration_since(entry.last_attempt) < forget_after);
        }
        for &(name, free) in keys {
            let entry = entries.entry(key(name)).or_insert(Entry { failures: 0, next_allowed: now, last_attempt: now });
            if now.saturating_duration_since(entry.last_attempt) >= self.forget_after {
                entry.failures = 0;
            }
            entry.failures += 1;
            entry.last_attempt = now;
            // Only a real delay moves `next_allowed`: `now` was read before the lock, and an attempt
            // with an earlier `now` must not see a zero delay of a later one as a wait.
            let delay = self.delay(entry.failures, free);
            if !delay.is_zero() {
                entry.next_allowed = entry.next_allowed.max(now + delay);
            }
        }
        Ok(())
    }

    /// The attempt failed: the wait runs from now (the check itself took time).
    pub fn failed(&self, keys: &[(&str, u32)], now: Instant) {
        let mut entries = self.entries.lock().expect("throttle lock");
        for &(name, free) in keys {
            if let Some(entry) = entries.get_mut(&key(name)) {
                let delay = self.delay(entry.failures, free);
                if !delay.is_zero() {
                    entry.next_allowed = entry.next_allowed.max(now + delay);
                }
            }
        }
    }

    /// The attempt succeeded: the `reset` keys (the login's) start afresh; the `uncount` keys (a
    /// shared address) only lose this attempt, so that a valid login does not wipe others' failures.
    pub fn succeeded(&self, reset: &[(&str, u32)], uncount: &[(&str, u32)], now: Instant) {
        let mut entries = self.entries.lock().expect("throttle lock");
        for (name, _) in reset {
            entries.remove(&key(name));
        }
        for &(name, free) in uncount {
            if let Some(entry) = entries.get_mut(&key(name)) {
                entry.failures = entry.failures.saturating_sub(1);
                if self.delay(entry.failures, free).is_zero() {
                    entry.next_allowed = entry.next_allowed.min(now);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(Duration::from_secs(8), Duration::from_secs(300))
    }

    #[test]
    fn counts_attempts_before_they_are_checked() {
        let throttle = throttle();
        let now = Instant::now();
        let keys = [("login:x", 3)];
        // Three attempts in flight at once: all admitted, the third starts the backoff.
        for _ in 0..3 {
            assert!(throttle.begin(&keys, now).is_ok());
        }
        assert_eq!(throttle.begin(&keys, now), Err(Duration::from_secs(1)));
        assert!(throttle.begin(&[("login:y", 3)], now).is_ok(), "other keys are not affected");
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_success_clears_it() {
        let throttle = throttle();
        let mut now = Instant::now();
        let keys = [("login:x", 1)];
        let mut waits = Vec::new();
        for _ in 0..6 {
            throttle.begin(&keys, now).unwrap();
            throttle.failed(&keys, now);
            let wait = throttle.begin(&keys, now).unwrap_err();
            waits.push(wait.as_secs());
            now += wait;
        }
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
        throttle.begin(&keys, now).unwrap();
        throttle.succeeded(&keys, &[], now);
        assert!(throttle.begin(&keys, now).is_ok());
    }

    #[test]
    fn throttled_attempts_do_not_extend_the_wait() {
        let throttle = throttle();
        let now = Instant::now();
        let keys = [("login:x", 1)];
        throttle.begin(&keys, now).unwrap();
        throttle.failed(&keys, now);
        for _ in 0..100 {
            assert!(throttle.begin(&keys, now).is_err());
        }
        assert!(throttle.begin(&keys, now + Duration::from_secs(1)).is_ok(), "the owner gets the next slot");
    }

    #[test]
    fn a_success_does_not_wipe_the_failures_of_a_shared_address() {
        let throttle = throttle();
        let now = Instant::now();
        for _ in 0..2 {
            throttle.begin(&[("ip:office", 3)], now).unwrap();
            throttle.failed(&[("ip:office", 3)], now);
        }
        let keys = [("login:alice", 3), ("ip:office", 3)];
        throttle.begin(&keys, now).unwrap();
        throttle.succeeded(&keys[..1], &keys[1..], now);
        throttle.begin(&[("ip:office", 3)], now).unwrap();
        assert!(throttle.begin(&[("ip:office", 3)], now).is_err(), "two failures and this one: the limit");
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_period() {
        let throttle = throttle();
        let now = Instant::now();
        let keys = [("ip:x", 2)];
        for _ in 0..2 {
            throttle.begin(&keys, now).unwrap();
            throttle.failed(&keys, now);
        }
        assert!(throttle.begin(&keys, now).is_err());
        assert!(throttle.begin(&keys, now + Duration::from_secs(300)).is_ok());
    }
}
