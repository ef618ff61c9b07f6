//! Teams: a manager and the reps they lead (migration 0012). A rep is in at most one team; a
//! manager sees their team's reports, untouched clients and activities.

use serde::Serialize;

use super::CrmError;
use super::reps::Rep;
use crate::on_db;
use crate::store::Store;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Team {
    pub id: i64,
    pub name: String,
    /// Login of the team's manager, if one is named.
    pub manager: Option<String>,
}

/// A rep with the team they are in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Member {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub rep: Rep,
    pub team: Option<String>,
}

const TEAM_SELECT: &str =
    "SELECT t.id, t.name, m.login AS manager FROM teams t LEFT JOIN reps m ON m.id = t.manager_id";

pub async fn list(store: &Store) -> Result<Vec<Team>, CrmError> {
    let sql = format!("{TEAM_SELECT} ORDER BY t.name");
    Ok(on_db!(store, read, |pool| sqlx::query_as(&sql).fetch_all(pool).await?))
}

pub async fn find(store: &Store, name: &str) -> Result<Option<Team>, CrmError> {
    let sql = format!("{TEAM_SELECT} WHERE t.name = $1");
    Ok(on_db!(store, read, |pool| sqlx::query_as(&sql).bind(name).fetch_optional(pool).await?))
}

/// The teams `login` manages.
pub async fn managed_by(store: &Store, login: &str) -> Result<Vec<Team>, CrmError> {
    let sql = format!("{TEAM_SELECT} WHERE m.login = $1 ORDER BY t.name");
    Ok(on_db!(store, read, |pool| sqlx::query_as(&sql).bind(login).fetch_all(pool).await?))
}

/// Every rep with their team.
pub async fn members(store: &Store) -> Result<Vec<Member>, CrmError> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT r.id, r.login, r.display_name, r.email, r.role, r.active, t.name AS team \
             FROM reps r LEFT JOIN teams t ON t.id = r.team_id ORDER BY r.login",
        )
        .fetch_all(pool)
        .await?
    }))
}

/// Creates a team led by `manager` (a login whose role is manager or admin).
pub async fn create(store: &Store, name: &str, manager: Option<&str>) -> Result<Team, CrmError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(CrmError::Invalid("name: 1 to 80 characters".into()));
    }
    if find(store, name).await?.is_some() {
        return Err(CrmError::Conflict(format!("name: a team named {name:?} already exists")));
    }
    let manager_id = match manager {
        None => None,
        Some(login) => Some(manager_id(store, login).await?),
    };
    on_db!(store, write, |pool| {
        sqlx::query("INSERT INTO teams (name, manager_id) VALUES ($1, $2)")
            .bind(name)
            .bind(manager_id)
            .execute(pool)
            .await?;
    });
    find(store, name).await?.ok_or_else(|| CrmError::Internal(anyhow::anyhow!("team {name:?} vanished")))
}

async fn manager_id(store: &Store, login: &str) -> Result<i64, CrmError> {
    let rep = super::reps::find(store, login)
        .await?
        .ok_or_else(|| CrmError::Invalid(format!("manager: no rep with login {login:?}")))?;
    if rep.role != "manager" && rep.role != "admin" {
        return Err(CrmError::Invalid(format!(
            "manager: {login:?} has the role {:?}; give them the role manager first",
            rep.role
        )));
    }
    Ok(rep.id)
}

/// Puts `login` in team `team` (`None`: in no team).
pub async fn set_team(store: &Store, login: &str, team: Option<&str>) -> Result<(), CrmError> {
    let team_id = match team {
        None => None,
        Some(name) => {
            Some(find(store, name).await?.ok_or_else(|| CrmError::Invalid(format!("team: no team named {name:?}")))?.id)
        }
    };
    let changed = on_db!(store, write, |pool| {
        sqlx::query("UPDATE reps SET team_id = $2 WHERE login = $1")
            .bind(login)
            .bind(team_id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if changed == 0 {
        return Err(CrmError::NotFound(format!("no rep with login {login:?}")));
    }
    Ok(())
}

/// Changes a rep's role.
pub async fn set_role(store: &Store, login: &str, role: &str) -> Result<(), CrmError> {
    if !super::reps::ROLES.contains(&role) {
        return Err(CrmError::Invalid(format!("role: {role:?} is not a role; use {}", super::reps::ROLES.join(", "))));
    }
    let changed = on_db!(store, write, |pool| {
        sqlx::query("UPDATE reps SET role = $2 WHERE login = $1")
            .bind(login)
            .bind(role)
            .execute(pool)
            .await?
            .rows_affected()
    });
    if changed == 0 {
        return Err(CrmError::NotFound(format!("no rep with login {login:?}")));
    }
    Ok(())
}

/// The logins of the reps in the teams `manager` leads.
pub async fn team_logins(store: &Store, manager: &str) -> Result<Vec<String>, CrmError> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_scalar(
            "SELECT r.login FROM reps r JOIN teams t ON t.id = r.team_id JOIN reps m ON m.id = t.manager_id \
             WHERE m.login = $1 ORDER BY r.login",
        )
        .bind(manager)
        .fetch_all(pool)
        .await?
    }))
}

/// The active reps of the teams `manager_id` leads (the manager themselves left out).
pub async fn team_reps(store: &Store, manager_id: i64) -> Result<Vec<Rep>, CrmError> {
    Ok(on_db!(store, read, |pool| {
        sqlx::query_as(
            "SELECT r.id, r.login, r.display_name, r.email, r.role, r.active FROM reps r \
             JOIN teams t ON t.id = r.team_id WHERE t.manager_id = $1 AND r.id <> $1 AND r.active ORDER BY r.login",
        )
        .bind(manager_id)
        .fetch_all(pool)
        .await?
    }))
}
