//! Teams: a manager and the reps they lead (migration 0012). A rep is in at most one team; a
//! manager sees their team's reports, untouched clients and activities.

use serde::Serialize;

use super::CrmError;
use super::audit::{AuditEntry, insert_audit};
use super::reps::Rep;
use super::rules::Actor;
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

/// What an admin changes about a rep's place in the company.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignment<'a> {
    /// The rep's role (one of `reps::ROLES`).
    Role(&'a str),
    /// The team the rep is in (`None`: in no team).
    Team(Option<&'a str>),
}

impl Assignment<'_> {
    /// The audit log's action and the field the change is recorded under.
    fn action(self) -> (&'static str, &'static str) {
        match self {
            Assignment::Role(_) => ("rep.role", "role"),
            Assignment::Team(_) => ("rep.team", "team"),
        }
    }
}

/// A recorded change: the value before and after (a team: its name, or None).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assigned {
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Changes a rep's role or team, and writes the audit row (who, what, old -> new) in the same
/// transaction: the one path for both, used by the JSON API and so by the console (which calls it).
pub async fn assign(
    store: &Store,
    actor: Actor<'_>,
    login: &str,
    assignment: Assignment<'_>,
) -> Result<Assigned, CrmError> {
    // The team's id, checked before the transaction (a name that names no team is refused).
    let team_id: Option<i64> = match assignment {
        Assignment::Role(role) if !super::reps::ROLES.contains(&role) => {
            return Err(CrmError::Invalid(format!(
                "role: {role:?} is not a role; use {}",
                super::reps::ROLES.join(", ")
            )));
        }
        Assignment::Role(_) | Assignment::Team(None) => None,
        Assignment::Team(Some(name)) => {
            Some(find(store, name).await?.ok_or_else(|| CrmError::Invalid(format!("team: no team named {name:?}")))?.id)
        }
    };
    let (action, field) = assignment.action();
    let current = "SELECT r.role, t.name FROM reps r LEFT JOIN teams t ON t.id = r.team_id WHERE r.login = $1";
    let shown = |row: (String, Option<String>)| match assignment {
        Assignment::Role(_) => Some(row.0),
        Assignment::Team(_) => row.1,
    };
    let record = |value: &Option<String>| Some(serde_json::json!({ field: value }).to_string());
    let target = format!("rep:{login}");
    let assigned = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let before: Option<(String, Option<String>)> =
            sqlx::query_as(current).bind(login).fetch_optional(&mut *tx).await?;
        let Some(before) = before.map(shown) else {
            return Err(CrmError::NotFound(format!("no rep with login {login:?}")));
        };
        match assignment {
            Assignment::Role(role) => {
                sqlx::query("UPDATE reps SET role = $2 WHERE login = $1")
                    .bind(login)
                    .bind(role)
                    .execute(&mut *tx)
                    .await?
            }
            Assignment::Team(_) => {
                sqlx::query("UPDATE reps SET team_id = $2 WHERE login = $1")
                    .bind(login)
                    .bind(team_id)
                    .execute(&mut *tx)
                    .await?
            }
        };
        let after: (String, Option<String>) = sqlx::query_as(current).bind(login).fetch_one(&mut *tx).await?;
        let after = shown(after);
        let entry = AuditEntry {
            rep_id: actor.rep_id,
            device: actor.device,
            action,
            target: &target,
            outcome: "ok",
            before: record(&before),
            after: record(&after),
        };
        insert_audit!(&mut *tx, entry)?;
        tx.commit().await?;
        Assigned { before, after }
    });
    Ok(assigned)
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
