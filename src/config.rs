//! One configuration struct, read from a TOML file and then from `CRMDAV_*` environment variables
//! (environment wins), then from command-line flags (flags win).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`.
    pub database: String,
    /// Allow HTTP Basic credentials over plain HTTP on a non-loopback address (behind a TLS proxy).
    pub allow_insecure_auth: bool,
    /// Largest request body accepted, in bytes (413 above).
    pub max_body_bytes: usize,
    /// `text` or `json` request logs.
    pub log_format: String,
    pub tls: Option<TlsConfig>,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client.
    #[serde(deserialize_with = "deserialize_proxies")]
    pub trusted_proxies: Vec<IpNet>,
    pub auth: AuthConfig,
    pub calendar: CalendarConfig,
    pub carddav: CardDavConfig,
    pub feeds: FeedConfig,
    pub connections: ConnectionConfig,
    pub push: PushConfig,
    pub web: WebConfig,
    /// The day cards' figures count from ("this year to date"); `None`: today (UTC). Not read from
    /// the file or the environment: tests fix it so that their answers do not change with the year.
    #[serde(skip)]
    pub today: Option<chrono::NaiveDate>,
}

impl Config {
    /// The day cards' figures count from: [`Config::today`], else today (UTC).
    pub fn today(&self) -> chrono::NaiveDate {
        self.today.unwrap_or_else(|| chrono::Utc::now().date_naive())
    }
}

/// WebDAV-Push (src/push): what is advertised, who may subscribe, how pushes are sent.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Advertise WebDAV-Push on the collections, take registrations and send pushes.
    pub enabled: bool,
    /// The URL devices reach the server at (`https://crm.example.com`), under which registration
    /// URLs are given out; by default the scheme of the listener and the request's `Host`.
    pub public_url: Option<String>,
    /// The contact given to push services in the VAPID token (`mailto:` or `https:`); by default
    /// `public_url`, else `mailto:postmaster@localhost` (some push services want a real one).
    pub contact: Option<String>,
    /// Subscriptions one rep may hold at once (each device subscribes to each collection).
    pub max_subscriptions_per_rep: usize,
    /// Expiry of a registration that asks for none, and the longest one granted (days).
    pub default_expiry_days: u64,
    pub max_expiry_days: u64,
    /// How long a push service keeps a message for an unreachable device (the `TTL` header).
    pub ttl_secs: u64,
    /// Changes this close together are notified in one push per collection (milliseconds).
    pub coalesce_ms: u64,
    /// How often the change log is polled for changes made by other programs (milliseconds; on
    /// PostgreSQL, LISTEN brings them at once and this is the fallback).
    pub poll_ms: u64,
    /// Accept `http://` push resources on loopback addresses (tests and local push services
    /// only): otherwise a push resource must be `https://` on a public address.
    pub allow_insecure_loopback: bool,
}

/// What one client may hold of the server: connections, and how long it may take to send a request.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Seconds a connection may take to send a request's headers, counted from when it opens or
    /// its previous answer was sent: so also how long an idle keep-alive connection is kept.
    pub header_timeout_secs: u64,
    /// Seconds a request's body may take to arrive, once the server starts reading it (408 after).
    pub body_timeout_secs: u64,
    /// Connections open at once; beyond it a new connection gets 503 and is closed.
    pub max_connections: usize,
    /// Connections open at once from one client address (the same 503 beyond it).
    pub max_connections_per_address: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Failed password checks per login before each further one must wait (1 s, doubling).
    pub max_failures: u32,
    /// The same per client address (password spraying): higher, since a whole office may share one.
    pub max_failures_per_address: u32,
    /// Failures are forgotten after this long without a new attempt.
    pub throttle_window_secs: u64,
    /// Longest wait imposed between two password checks of one login or address.
    pub max_backoff_secs: u64,
    /// argon2 checks run at once (0: one per CPU core).
    pub max_parallel_checks: usize,
    /// argon2 checks waiting for a core; beyond them a new login gets 503 with Retry-After.
    pub max_queued_checks: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarConfig {
    /// A VEVENT carrying this category completes its activity.
    pub done_category: String,
    /// Shortest note (in characters, trimmed) that may complete an activity.
    pub min_note_chars: usize,
    /// Fewest words of new text (see `crm::closing_note`) that may complete an activity.
    pub min_note_words: usize,
    /// How often the server looks for planned activities whose end has passed, to give their rep a
    /// report task (and once at start); 0: never (another instance or a job does it).
    pub report_check_secs: u64,
    /// Activities that ended longer ago than this get no report task (an upgrade does not flood
    /// phones with tasks for years-old activities nobody closed).
    pub report_days_back: i64,
    /// Most recurrence instances expanded for one object before the server refuses the query.
    pub max_instances: usize,
    /// Largest note (an object's DESCRIPTION, in UTF-8 bytes, trimmed) a device may write: notes are
    /// copied into the cards of their client in every address book.
    pub max_note_bytes: usize,
    /// The notes collection holds the client notes of the last this many days.
    pub notes_days_back: i64,
    /// Largest voice note (decoded audio bytes) a device may attach (413 above).
    pub max_voice_note_bytes: usize,
    /// A voice note attached to a report task counts as its closing note (the activity is closed).
    pub voice_note_closes: bool,
}

/// What a device may do in the address book beyond editing contacts.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CardDavConfig {
    /// A new card whose ORG names no client the rep sees creates a prospect client managed by the
    /// rep (off: such a card is refused with `crm:client-required`).
    pub create_prospects: bool,
}

impl Default for CardDavConfig {
    fn default() -> CardDavConfig {
        CardDavConfig { create_prospects: true }
    }
}

/// The web console (src/web).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// How long a console login lasts, in hours (1 to 720): then the console asks for the password
    /// again. Also the session cookie's Max-Age.
    pub session_hours: u32,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig { session_hours: 12 }
    }
}

impl WebConfig {
    /// The longest session: a month.
    pub const MAX_SESSION_HOURS: u32 = 720;

    pub fn session_lifetime(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.session_hours))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedConfig {
    pub days_back: i64,
    pub days_ahead: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:5232".parse().expect("valid default address"),
            database: "sqlite://data/crmdav.sqlite3".into(),
            allow_insecure_auth: false,
            max_body_bytes: 4 * 1024 * 1024,
            log_format: "text".into(),
            tls: None,
            trusted_proxies: Vec::new(),
            auth: AuthConfig::default(),
            calendar: CalendarConfig::default(),
            carddav: CardDavConfig::default(),
            feeds: FeedConfig::default(),
            connections: ConnectionConfig::default(),
            push: PushConfig::default(),
            web: WebConfig::default(),
            today: None,
        }
    }
}

impl Default for PushConfig {
    fn default() -> PushConfig {
        PushConfig {
            enabled: true,
            public_url: None,
            contact: None,
            max_subscriptions_per_rep: 50,
            default_expiry_days: 3,
            max_expiry_days: 7,
            ttl_secs: 24 * 3600,
            coalesce_ms: 150,
            poll_ms: 200,
            allow_insecure_loopback: false,
        }
    }
}

impl Default for ConnectionConfig {
    fn default() -> ConnectionConfig {
        ConnectionConfig {
            header_timeout_secs: 30,
            body_timeout_secs: 60,
            max_connections: 1024,
            max_connections_per_address: 256,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            max_failures: 5,
            max_failures_per_address: 30,
            throttle_window_secs: 300,
            max_backoff_secs: 60,
            max_parallel_checks: 0,
            max_queued_checks: 32,
        }
    }
}

impl Default for CalendarConfig {
    fn default() -> CalendarConfig {
        CalendarConfig {
            done_category: "Completed".into(),
            min_note_chars: 3,
            min_note_words: 3,
            report_check_secs: 60,
            report_days_back: 30,
            max_instances: 3000,
            max_note_bytes: 16 * 1024,
            notes_days_back: 365,
            max_voice_note_bytes: 2 * 1024 * 1024,
            voice_note_closes: true,
        }
    }
}

impl Default for FeedConfig {
    fn default() -> FeedConfig {
        FeedConfig { days_back: 90, days_ahead: 365 }
    }
}

impl Config {
    /// Reads `file` (if given), then applies the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.check()?;
        Ok(config)
    }

    /// Applies `CRMDAV_*` overrides read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e| anyhow::anyhow!("invalid {name}={value:?}: {e}"))
        }
        if let Some(v) = var("CRMDAV_LISTEN") {
            self.listen = parse("CRMDAV_LISTEN", &v)?;
        }
        if let Some(v) = var("CRMDAV_DATABASE") {
            self.database = v;
        }
        if let Some(v) = var("CRMDAV_ALLOW_INSECURE_AUTH") {
            self.allow_insecure_auth = parse("CRMDAV_ALLOW_INSECURE_AUTH", &v)?;
        }
        if let Some(v) = var("CRMDAV_MAX_BODY_BYTES") {
            self.max_body_bytes = parse("CRMDAV_MAX_BODY_BYTES", &v)?;
        }
        if let Some(v) = var("CRMDAV_LOG_FORMAT") {
            self.log_format = v;
        }
        match (var("CRMDAV_TLS_CERT"), var("CRMDAV_TLS_KEY")) {
            (Some(cert), Some(key)) => self.tls = Some(TlsConfig { cert: cert.into(), key: key.into() }),
            (None, None) => {}
            _ => bail!("CRMDAV_TLS_CERT and CRMDAV_TLS_KEY must be set together"),
        }
        if let Some(v) = var("CRMDAV_AUTH_MAX_FAILURES") {
            self.auth.max_failures = parse("CRMDAV_AUTH_MAX_FAILURES", &v)?;
        }
        if let Some(v) = var("CRMDAV_HEADER_TIMEOUT_SECS") {
            self.connections.header_timeout_secs = parse("CRMDAV_HEADER_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = var("CRMDAV_BODY_TIMEOUT_SECS") {
            self.connections.body_timeout_secs = parse("CRMDAV_BODY_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = var("CRMDAV_MAX_CONNECTIONS") {
            self.connections.max_connections = parse("CRMDAV_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = var("CRMDAV_MAX_CONNECTIONS_PER_ADDRESS") {
            self.connections.max_connections_per_address = parse("CRMDAV_MAX_CONNECTIONS_PER_ADDRESS", &v)?;
        }
        if let Some(v) = var("CRMDAV_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(parse_proxy)
                .collect::<Result<_>>()
                .context("invalid CRMDAV_TRUSTED_PROXIES")?;
        }
        if let Some(v) = var("CRMDAV_DONE_CATEGORY") {
            self.calendar.done_category = v;
        }
        if let Some(v) = var("CRMDAV_MIN_NOTE_CHARS") {
            self.calendar.min_note_chars = parse("CRMDAV_MIN_NOTE_CHARS", &v)?;
        }
        if let Some(v) = var("CRMDAV_MIN_NOTE_WORDS") {
            self.calendar.min_note_words = parse("CRMDAV_MIN_NOTE_WORDS", &v)?;
        }
        if let Some(v) = var("CRMDAV_MAX_NOTE_BYTES") {
            self.calendar.max_note_bytes = parse("CRMDAV_MAX_NOTE_BYTES", &v)?;
        }
        if let Some(v) = var("CRMDAV_NOTES_DAYS_BACK") {
            self.calendar.notes_days_back = parse("CRMDAV_NOTES_DAYS_BACK", &v)?;
        }
        if let Some(v) = var("CRMDAV_MAX_VOICE_NOTE_BYTES") {
            self.calendar.max_voice_note_bytes = parse("CRMDAV_MAX_VOICE_NOTE_BYTES", &v)?;
        }
        if let Some(v) = var("CRMDAV_VOICE_NOTE_CLOSES") {
            self.calendar.voice_note_closes = parse("CRMDAV_VOICE_NOTE_CLOSES", &v)?;
        }
        if let Some(v) = var("CRMDAV_CREATE_PROSPECTS") {
            self.carddav.create_prospects = parse("CRMDAV_CREATE_PROSPECTS", &v)?;
        }
        if let Some(v) = var("CRMDAV_PUSH_ENABLED") {
            self.push.enabled = parse("CRMDAV_PUSH_ENABLED", &v)?;
        }
        if let Some(v) = var("CRMDAV_PUSH_PUBLIC_URL") {
            self.push.public_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("CRMDAV_PUSH_CONTACT") {
            self.push.contact = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = var("CRMDAV_WEB_SESSION_HOURS") {
            self.web.session_hours = parse("CRMDAV_WEB_SESSION_HOURS", &v)?;
        }
        Ok(())
    }

    /// Values a type alone does not bound.
    pub fn check(&self) -> Result<()> {
        let hours = self.web.session_hours;
        if !(1..=WebConfig::MAX_SESSION_HOURS).contains(&hours) {
            bail!(
                "web.session_hours = {hours}: a console session lasts from 1 to {} hours",
                WebConfig::MAX_SESSION_HOURS
            );
        }
        Ok(())
    }

    /// Basic auth sends the password in clear: refuse it on a public plain-HTTP listener.
    pub fn check_transport_security(&self) -> Result<()> {
        if self.tls.is_none() && !self.listen.ip().is_loopback() && !self.allow_insecure_auth {
            bail!(
                "refusing to serve HTTP Basic auth in clear text on {}: set tls.cert and tls.key, \
                 listen on a loopback address, or set allow_insecure_auth = true behind a TLS proxy",
                self.listen
            );
        }
        Ok(())
    }
}

/// A proxy is an address (`10.0.0.2`) or a range (`10.0.0.0/24`).
fn parse_proxy(text: &str) -> Result<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| anyhow::anyhow!("{text:?} is neither an IP address nor a CIDR range"))
}

fn deserialize_proxies<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(deserializer)?.iter().map(|s| parse_proxy(s).map_err(serde::de::Error::custom)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_values() {
        let mut config: Config =
            toml::from_str("listen = \"127.0.0.1:9000\"\n[calendar]\ndone_category = \"Done\"\n").unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.calendar.done_category, "Done");
        config
            .apply_env(|name| match name {
                "CRMDAV_LISTEN" => Some("127.0.0.1:9100".into()),
                "CRMDAV_DATABASE" => Some("postgres://postgres@127.0.0.1/x".into()),
                "CRMDAV_MAX_CONNECTIONS_PER_ADDRESS" => Some("8".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.listen.port(), 9100);
        assert!(config.database.starts_with("postgres://"));
        assert_eq!(config.connections.max_connections_per_address, 8);
        assert_eq!(config.connections.header_timeout_secs, 30);
    }

    #[test]
    fn trusted_proxies_take_addresses_and_ranges() {
        let mut config: Config = toml::from_str("trusted_proxies = [\"172.28.0.2\", \"10.0.0.0/8\"]").unwrap();
        assert_eq!(config.trusted_proxies.len(), 2);
        assert!(config.trusted_proxies[0].contains(&"172.28.0.2".parse::<std::net::IpAddr>().unwrap()));
        assert!(toml::from_str::<Config>("trusted_proxies = [\"proxy\"]").is_err());
        config.apply_env(|name| (name == "CRMDAV_TRUSTED_PROXIES").then(|| "::1, 192.168.0.0/16".into())).unwrap();
        assert_eq!(config.trusted_proxies.len(), 2);
    }

    #[test]
    fn session_hours_default_to_twelve_and_are_bounded() {
        assert_eq!(Config::default().web.session_hours, 12);
        let mut config: Config = toml::from_str("[web]\nsession_hours = 8\n").unwrap();
        assert_eq!(config.web.session_lifetime(), chrono::Duration::hours(8));
        config.apply_env(|name| (name == "CRMDAV_WEB_SESSION_HOURS").then(|| "0".into())).unwrap();
        assert!(config.check().unwrap_err().to_string().contains("web.session_hours = 0"));
        config.web.session_hours = 721;
        assert!(config.check().is_err());
    }

    #[test]
    fn rejects_unknown_keys_and_half_tls() {
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
        let mut config = Config::default();
        assert!(config.apply_env(|name| (name == "CRMDAV_TLS_CERT").then(|| "c.pem".into())).is_err());
    }

    #[test]
    fn clear_text_auth_only_on_loopback() {
        let mut config = Config::default();
        assert!(config.check_transport_security().is_ok());
        config.listen = "0.0.0.0:5232".parse().unwrap();
        assert!(config.check_transport_security().is_err());
        config.allow_insecure_auth = true;
        assert!(config.check_transport_security().is_ok());
    }
}
