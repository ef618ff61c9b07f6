//! Reps (sales people, managers, admins) and their accounts.

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::credentials;
use crate::on_db;
use crate::store::Store;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Rep {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub role: String,
    pub active: bool,
}

pub const ROLES: [&str; 3] = ["rep", "manager", "admin"];

impl Rep {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

const REP_COLUMNS: &str = "id, login, display_name, email, role, active";

/// A login is part of every DAV URL: keep it to characters that need no escaping.
pub fn validate_login(login: &str) -> Result<()> {
    let ok = !login.is_empty()
        && login.len() <= 64
        && login.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !login.starts_with('.');
    if !ok {
        bail!("invalid login {login:?}: use 1 to 64 letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

/// Creates a rep with a password, in one transaction.
pub async fn add(
    store: &Store,
    login: &str,
    display_name: &str,
    email: &str,
    role: &str,
    password: &str,
) -> Result<Rep> {
    validate_login(login)?;
    if !ROLES.contains(&role) {
        bail!("invalid role {role:?}: use one of {}", ROLES.join(", "));
    }
    credentials::check_password_strength(password)?;
    if find(store, login).await?.is_some() {
        bail!("a rep with login {login:?} already exists");
    }
    let hash = credentials::hash_password(password)?;
    let rep: Rep = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let rep: Rep = sqlx::query_as(&format!(
            "INSERT INTO reps (login, display_name, email, role) VALUES ($1, $2, $3, $4) RETURNING {REP_COLUMNS}"
        ))
        .bind(login)
        .bind(display_name)
        .bind(email)
        .bind(role)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO credentials (rep_id, kind, label, secret_hash) VALUES ($1, 'password', 'password', $2)",
        )
        .bind(rep.id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        rep
    });
    Ok(rep)
}

pub async fn find(store: &Store, login: &str) -> Result<Option<Rep>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&format!("SELECT {REP_COLUMNS} FROM reps WHERE login = $1"))
            .bind(login)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn get(store: &Store, login: &str) -> Result<Rep> {
    find(store, login).await?.with_context(|| format!("no rep with login {login:?}"))
}

pub async fn list(store: &Store) -> Result<Vec<Rep>> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(&format!("SELECT {REP_COLUMNS} FROM reps ORDER BY login")).fetch_all(pool).await?
    }))
}

/// Replaces the rep's password; other credentials (app tokens) stay valid.
pub async fn set_password(store: &Store, login: &str, password: &str) -> Result<()> {
    credentials::check_password_strength(password)?;
    let rep = get(store, login).await?;
    let hash = credentials::hash_password(password)?;
    on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "UPDATE credentials SET revoked_at = $2 WHERE rep_id = $1 AND kind = 'password' AND revoked_at IS NULL",
        )
        .bind(rep.id)
        .bind(crate::store::Ts::now())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO credentials (rep_id, kind, label, secret_hash) VALUES ($1, 'password', 'password', $2)",
        )
        .bind(rep.id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Disables (or re-enables) a rep: a disabled rep's every credential stops working at once.
pub async fn set_active(store: &Store, login: &str, active: bool) -> Result<()> {
    let done = on_db!(store, write, |pool| {
        sqlx::query("UPDATE reps SET active = $2 WHERE login = $1")
            .bind(login)
            .bind(active)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if done == 0 {
        bail!("no rep with login {login:?}");
    }
    Ok(())
}
