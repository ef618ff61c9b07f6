//! Console sessions: a random cookie whose SHA-256 names a row of `web_sessions`, with the CSRF
//! token every form of that session must carry. A session ends at logout, at its expiry, or as
//! soon as its rep is disabled (the lookup joins `reps.active`).

use anyhow::Result;
use base64::Engine;
use rand::RngCore;

use crate::crm::credentials::token_hash;
use crate::crm::reps::Rep;
use crate::on_db;
use crate::store::{Store, Ts};

/// The session cookie's name.
pub const COOKIE: &str = "crmdav_session";

/// A logged-in console user.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: i64,
    pub rep: Rep,
    pub csrf_token: String,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: i64,
    csrf_token: String,
    #[sqlx(flatten)]
    rep: Rep,
}

/// 256 random bits, URL-safe: session secrets and CSRF tokens.
pub fn random_secret() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
}

/// Opens a session for `rep` lasting `lifetime` (`web.session_hours`); returns the cookie value
/// (shown once, stored only as its hash).
pub async fn open(store: &Store, rep: &Rep, lifetime: chrono::Duration) -> Result<String> {
    let secret = random_secret();
    let expires = Ts(chrono::Utc::now() + lifetime);
    on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        // Expired sessions are swept here, the only place sessions are made.
        sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1").bind(Ts::now()).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO web_sessions (secret_hash, rep_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash(&secret))
            .bind(rep.id)
            .bind(random_secret())
            .bind(expires)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(secret)
}

/// The session a cookie names, if it is unexpired and its rep active.
pub async fn find(store: &Store, secret: &str) -> Result<Option<Session>> {
    let row: Option<SessionRow> = on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT s.id AS session_id, s.csrf_token, r.id, r.login, r.display_name, r.email, r.role, r.active \
             FROM web_sessions s JOIN reps r ON r.id = s.rep_id \
             WHERE s.secret_hash = $1 AND s.expires_at > $2 AND r.active",
        )
        .bind(token_hash(secret))
        .bind(Ts::now())
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(|row| Session { id: row.session_id, rep: row.rep, csrf_token: row.csrf_token }))
}

pub async fn close(store: &Store, id: i64) -> Result<()> {
    on_db!(store, write, |pool| {
        sqlx::query("DELETE FROM web_sessions WHERE id = $1").bind(id).execute(pool).await?;
    });
    Ok(())
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Set-Cookie` for a session (`None`: remove it). `secure` when the console is reached over TLS.
pub fn set_cookie(value: Option<&str>, lifetime: chrono::Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(value) => format!(
            "{COOKIE}={value}; Path=/ui/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            lifetime.num_seconds()
        ),
        None => format!("{COOKIE}=; Path=/ui/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|pair| pair.trim().split_once('=')).find(|(n, _)| *n == name).map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_strict_and_http_only() {
        let cookie = set_cookie(Some("abc"), chrono::Duration::hours(12), true);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.ends_with("; Secure"));
        assert!(!set_cookie(Some("abc"), chrono::Duration::hours(12), false).contains("Secure"));
        assert!(set_cookie(None, chrono::Duration::hours(12), false).contains("Max-Age=0"));
        // web.session_hours sets how long the browser keeps the cookie.
        assert!(set_cookie(Some("abc"), chrono::Duration::hours(8), false).contains("Max-Age=28800"));
    }

    #[test]
    fn reads_cookie_headers() {
        assert_eq!(cookie("a=1; crmdav_session=xyz; b=2", COOKIE), Some("xyz"));
        assert_eq!(cookie("crmdav_sessionx=1", COOKIE), None);
    }

    #[test]
    fn compares_secrets() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd") && !same_secret("abc", "ab"));
    }
}
