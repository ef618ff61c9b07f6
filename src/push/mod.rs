//! WebDAV-Push (the draft DAVx5 4.4.10+ speaks): devices subscribe to a rep's collections with a
//! Web Push subscription, and get a push within a second of a change that affects the collection.
//!
//! - `keys`: the VAPID key pair and the topic secret, generated at first use, kept in the database.
//! - `http`: registration (`POST` of `push-register` on a collection) and unregistration (`DELETE`
//!   of the registration URL, `/dav/push/ID`).
//! - `subscriptions`: the `push_subscriptions` table.
//! - `delivery`: the background task that learns of changes (LISTEN on PostgreSQL, polling the
//!   change log, and the server's own writes), brings the subscribed collections up to date and
//!   pushes to the subscriptions of those whose content changed.
//! - `webpush` and `target`: one encrypted, VAPID-signed Web Push message, and where it may go.
//!
//! The protocol's XML (properties, `push-register`, `push-message`) is in `dav::push`.

pub mod delivery;
pub mod http;
mod keys;
pub mod subscriptions;
pub mod target;
pub mod webpush;

use anyhow::Result;
use tokio::sync::{Notify, OnceCell};

use crate::caldav::calendar as caldav;
use crate::carddav;
use crate::config::PushConfig;
use crate::crm::activities::Calendar;
use crate::dav::multistatus::PropValue;
use crate::dav::names::PropName;
use crate::store::Store;

pub use keys::Keys;

/// The path under which registrations live: `/dav/push/ID`.
pub const REGISTRATIONS: &str = "/dav/push/";

/// A collection devices may subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watched {
    Book,
    Calendar(Calendar),
    /// A manager's team calendar (`caldav::team`).
    Team,
}

impl Watched {
    /// The store's key of this collection of `rep_id`.
    pub fn key(self, rep_id: i64) -> String {
        match self {
            Watched::Book => carddav::collection_key(rep_id),
            Watched::Calendar(calendar) => caldav::collection_key(rep_id, calendar),
            Watched::Team => crate::caldav::team::collection_key(rep_id),
        }
    }

    /// The collection and rep a key names.
    pub fn parse(key: &str) -> Option<(Watched, i64)> {
        let (_, id) = key.rsplit_once(':')?;
        let rep_id: i64 = id.parse().ok()?;
        let watched = [
            Watched::Book,
            Watched::Calendar(Calendar::Activities),
            Watched::Calendar(Calendar::FollowUps),
            Watched::Team,
        ]
        .into_iter()
        .find(|w| w.key(rep_id) == key)?;
        Some((watched, rep_id))
    }
}

/// What the server holds for push: its settings, keys (loaded at first use), the client pushes
/// are sent with, and the signal of its own writes.
pub struct Push {
    config: PushConfig,
    keys: OnceCell<Keys>,
    /// Poked after a write of this server commits, so that delivery looks at once.
    wake: Notify,
    client: reqwest::Client,
}

impl Push {
    pub fn new(config: &PushConfig) -> Push {
        Push {
            config: config.clone(),
            keys: OnceCell::new(),
            wake: Notify::new(),
            client: webpush::client(config.allow_insecure_loopback),
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn config(&self) -> &PushConfig {
        &self.config
    }

    /// The server's keys, read (or generated) at first use.
    pub async fn keys(&self, store: &Store) -> Result<&Keys> {
        self.keys.get_or_try_init(|| Keys::load(store)).await
    }

    /// The WebDAV-Push properties of a collection (none when push is off).
    pub async fn properties(&self, store: &Store, collection: &str) -> Result<Vec<(PropName, PropValue)>> {
        if !self.enabled() {
            return Ok(Vec::new());
        }
        let keys = self.keys(store).await?;
        Ok(crate::dav::push::properties(keys.vapid_public_key(), &keys.topic(collection)))
    }

    /// Says that this server just committed a write: delivery looks for changes now rather than
    /// at its next poll.
    pub fn changed(&self) {
        if self.enabled() {
            self.wake.notify_one();
        }
    }

    /// The contact named in VAPID tokens.
    fn contact(&self) -> String {
        self.config
            .contact
            .clone()
            .or_else(|| self.config.public_url.clone())
            .unwrap_or_else(|| "mailto:postmaster@localhost".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_keys_round_trip() {
        for watched in [
            Watched::Book,
            Watched::Calendar(Calendar::Activities),
            Watched::Calendar(Calendar::FollowUps),
            Watched::Team,
        ] {
            assert_eq!(Watched::parse(&watched.key(42)), Some((watched, 42)));
        }
        assert_eq!(Watched::parse("notes:1"), None);
        assert_eq!(Watched::parse("cards:x"), None);
        assert_eq!(Watched::parse("cards"), None);
    }
}
