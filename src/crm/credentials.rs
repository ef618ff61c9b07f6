//! Credentials: passwords (argon2id), per-device app tokens and feed tokens (random 256-bit
//! secrets stored as SHA-256, found by index), revocation.

use anyhow::{Result, anyhow, bail};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::reps::{self, Rep};
use crate::on_db;
use crate::store::{Store, Ts};

/// Every token starts with this, so that a token given as a Basic-auth password is recognised
/// without trying it as a password.
pub const TOKEN_PREFIX: &str = "crmdav_";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    App,
    Feed,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::App => "app-token",
            TokenKind::Feed => "feed-token",
        }
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct CredentialInfo {
    pub id: i64,
    pub login: String,
    pub kind: String,
    pub label: String,
    pub created_at: Ts,
    pub last_used_at: Option<Ts>,
    pub revoked_at: Option<Ts>,
}

impl Serialize for Ts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }
}

/// Who a request is from: the rep and the credential that proved it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Authenticated {
    #[sqlx(flatten)]
    pub rep: Rep,
    pub credential_id: i64,
    /// The change_log's newest sequence, read in the same statement that re-checked the credential
    /// (None when the check did not read it): a read request whose collections were brought up to
    /// date at or after it has nothing more to check (see `sync::refresh`).
    #[sqlx(default)]
    pub change_seq: Option<i64>,
}

pub fn check_password_strength(password: &str) -> Result<()> {
    if password.chars().count() < 4 {
        bail!("password too short: use at least 4 characters");
    }
    if password.starts_with(TOKEN_PREFIX) {
        bail!("a password may not start with {TOKEN_PREFIX:?} (reserved for app tokens)");
    }
    Ok(())
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow!("cannot hash password: {e}"))
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_token() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret))
}

/// Checks an app token given as the password of `login`: one indexed query, whatever the login's
/// state (unknown, disabled or active), and never an argon2 check, so that neither the answer nor its
/// time tells which logins exist.
pub async fn verify_token(store: &Store, login: &str, token: &str) -> Result<Option<Authenticated>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT c.id AS credential_id, r.id, r.login, r.display_name, r.email, r.role, r.active, \
             (SELECT MAX(seq) FROM change_log) AS change_seq FROM credentials c \
             JOIN reps r ON r.id = c.rep_id WHERE c.kind = 'app-token' AND c.secret_hash = $1 \
             AND c.revoked_at IS NULL AND r.active AND r.login = $2",
        )
        .bind(token_hash(token))
        .bind(login)
        .fetch_optional(pool)
        .await?
    }))
}

/// A rep's current password hash, if the login exists and is active.
#[derive(sqlx::FromRow)]
pub struct PasswordRecord {
    #[sqlx(flatten)]
    pub rep: Rep,
    pub credential_id: i64,
    pub phc: String,
}

/// The one password hash a password check of `login` runs against (`None`: unknown or disabled
/// login, see `check_password`).
pub async fn password_record(store: &Store, login: &str) -> Result<Option<PasswordRecord>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT c.id AS credential_id, c.secret_hash AS phc, r.id, r.login, r.display_name, r.email, r.role, r.active \
             FROM credentials c JOIN reps r ON r.id = c.rep_id WHERE r.login = $1 AND r.active \
             AND c.kind = 'password' AND c.revoked_at IS NULL ORDER BY c.id DESC LIMIT 1",
        )
        .bind(login)
        .fetch_optional(pool)
        .await?
    }))
}

/// Runs exactly one argon2 verification: against the rep's hash, or against a dummy hash of the
/// same cost when there is none, so that a password check costs the same for every login.
/// CPU- and memory-heavy (19 MiB): callers bound how many run at once.
pub fn check_password(password: &str, record: Option<&PasswordRecord>) -> bool {
    match record {
        Some(record) => verify_password(password, &record.phc),
        None => {
            verify_password(password, DUMMY_HASH);
            false
        }
    }
}

/// Re-checks a credential proven earlier (cached): still unrevoked and its rep still active.
/// This is what makes a revoked token or a disabled rep fail on the very next request. The same
/// statement reads the change_log's newest sequence: most requests of a synced device need nothing
/// else from the database.
pub async fn still_valid(store: &Store, credential_id: i64) -> Result<Option<Authenticated>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT c.id AS credential_id, r.id, r.login, r.display_name, r.email, r.role, r.active, \
             (SELECT MAX(seq) FROM change_log) AS change_seq FROM credentials c JOIN reps r ON r.id = c.rep_id \
             WHERE c.id = $1 AND c.revoked_at IS NULL AND r.active",
        )
        .bind(credential_id)
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn touch(store: &Store, credential_id: i64) -> Result<()> {
    on_db!(store, write, |pool| {
        sqlx::query("UPDATE credentials SET last_used_at = $2 WHERE id = $1")
            .bind(credential_id)
            .bind(Ts::now())
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Creates a token; the secret is returned once and never stored.
pub async fn create_token(store: &Store, login: &str, kind: TokenKind, label: &str) -> Result<(i64, String)> {
    let rep = reps::get(store, login).await?;
    let token = new_token();
    let id: i64 = on_db!(store, write, |pool| {
        sqlx::query_scalar(
            "INSERT INTO credentials (rep_id, kind, label, secret_hash) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(rep.id)
        .bind(kind.as_str())
        .bind(label)
        .bind(token_hash(&token))
        .fetch_one(pool)
        .await?
    });
    Ok((id, token))
}

/// The rep behind a feed token, if the token exists, is unrevoked and the rep active.
pub async fn feed_token_rep(store: &Store, token: &str) -> Result<Option<Rep>> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT r.id, r.login, r.display_name, r.email, r.role, r.active FROM credentials c JOIN reps r ON r.id = c.rep_id \
             WHERE c.kind = 'feed-token' AND c.secret_hash = $1 AND c.revoked_at IS NULL AND r.active",
        )
        .bind(token_hash(token))
        .fetch_optional(pool)
        .await?
    }))
}

/// Tokens (not passwords) of one rep, or of everyone.
pub async fn list_tokens(store: &Store, login: Option<&str>) -> Result<Vec<CredentialInfo>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT c.id, r.login, c.kind, c.label, c.created_at, c.last_used_at, c.revoked_at FROM credentials c \
             JOIN reps r ON r.id = c.rep_id WHERE c.kind <> 'password' AND ($1 IS NULL OR r.login = $1) ORDER BY c.id",
        )
        .bind(login)
        .fetch_all(pool)
        .await?
    }))
}

pub async fn revoke_token(store: &Store, id: i64) -> Result<()> {
    let changed = on_db!(store, write, |pool| {
        sqlx::query(
            "UPDATE credentials SET revoked_at = $2 WHERE id = $1 AND kind <> 'password' AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(Ts::now())
        .execute(pool)
        .await?
        .rows_affected()
    });
    if changed == 0 {
        bail!("no active token with id {id}");
    }
    Ok(())
}

/// An argon2 hash of a random password, verified against when the login is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8Sx3QYxP8aDqQmXtlK6W6mI8b5a7f7yq0y8u8n2QK7E";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_verify_and_differ() {
        let a = hash_password("demo").unwrap();
        let b = hash_password("demo").unwrap();
        assert_ne!(a, b, "salted");
        assert!(verify_password("demo", &a));
        assert!(!verify_password("Demo", &a));
        assert!(!verify_password("demo", "not a hash"));
    }

    #[test]
    fn unknown_login_costs_a_real_verification() {
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "the dummy hash must parse, or the unknown-login path returns early"
        );
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_costs() {
        let real = hash_password("demo").unwrap();
        let (real, dummy) = (PasswordHash::new(&real).unwrap(), PasswordHash::new(DUMMY_HASH).unwrap());
        assert_eq!(real.algorithm, dummy.algorithm);
        assert_eq!(real.version, dummy.version);
        assert_eq!(real.params, dummy.params, "same memory and time cost, or timing tells unknown logins apart");
        assert!(!check_password("demo", None), "no record: always refused, after one argon2 run");
    }

    #[test]
    fn tokens_are_prefixed_and_unique() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
    }
}
