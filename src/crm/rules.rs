//! The visibility rules as admins manage them: list, create, delete, reorder, and the preview of
//! what one rep sees with the rule that let each client in.
//!
//! Every change is one transaction that also writes its audit row, so a rule change and its record
//! stand or fall together. The matching itself lives in [`super::visibility`]; the preview reuses
//! its condition so that it lists exactly what the rep's address book holds.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::CrmError;
use super::audit::{AuditEntry, insert_audit};
use super::visibility::visible_condition;
use crate::on_db;
use crate::store::Store;

/// The client statuses a rule may match, in their lifecycle order (also the stored order).
pub const STATUSES: [&str; 4] = ["prospect", "active", "inactive", "closed"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

impl FromStr for Effect {
    type Err = CrmError;

    fn from_str(s: &str) -> Result<Effect, CrmError> {
        match s.trim() {
            "allow" => Ok(Effect::Allow),
            "deny" => Ok(Effect::Deny),
            other => Err(CrmError::Invalid(format!("effect: {other:?} is not an effect; use allow or deny"))),
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored rule. `rep` and `client` are the login and the client code (what admins type), not
/// row ids; a `None` condition does not constrain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: i64,
    pub position: i64,
    /// The rep the rule applies to; `None`: everyone.
    pub rep: Option<String>,
    pub effect: Effect,
    /// Matches the clients whose account manager is the rep the rule is evaluated for.
    pub match_account_manager: bool,
    pub territory: Option<String>,
    pub statuses: Option<Vec<String>>,
    pub category: Option<String>,
    /// Code of the one client the rule matches.
    pub client: Option<String>,
}

impl fmt::Display for Rule {
    /// One line for the CLI: `#3 [1] deny for alice: client C0007`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self.rep.as_deref().unwrap_or("everyone");
        let mut conditions = Vec::new();
        if self.match_account_manager {
            conditions.push("account manager is the rep".to_string());
        }
        if let Some(territory) = &self.territory {
            conditions.push(format!("territory {territory}"));
        }
        if let Some(statuses) = &self.statuses {
            conditions.push(format!("status in ({})", statuses.join(", ")));
        }
        if let Some(category) = &self.category {
            conditions.push(format!("category {category}"));
        }
        if let Some(client) = &self.client {
            conditions.push(format!("client {client}"));
        }
        write!(f, "#{} [{}] {} for {who}: {}", self.id, self.position, self.effect, conditions.join(" and "))
    }
}

/// A rule to create. It goes after every existing rule (position only orders the preview's
/// "which allow rule let it in"; deny wins whatever the order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    #[serde(default)]
    pub rep: Option<String>,
    pub effect: Option<Effect>,
    #[serde(default)]
    pub match_account_manager: bool,
    #[serde(default)]
    pub territory: Option<String>,
    #[serde(default)]
    pub statuses: Option<Vec<String>>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
}

/// One client of a rep's view, and the first allow rule (by position) that matches it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct VisibleClient {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub category: String,
    pub status: String,
    pub territory: String,
    /// Login of the client's account manager, if any.
    pub account_manager: Option<String>,
    pub rule_id: i64,
}

/// Who changes the rules, for the audit log: an admin through the API, or the command line.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub rep_id: Option<i64>,
    /// The User-Agent of an API call, or `cli`.
    pub device: &'a str,
}

impl Actor<'static> {
    pub const CLI: Actor<'static> = Actor { rep_id: None, device: "cli" };
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: i64,
    position: i64,
    rep_login: Option<String>,
    effect: String,
    match_account_manager: bool,
    territory: Option<String>,
    statuses: Option<String>,
    category: Option<String>,
    client_code: Option<String>,
}

impl TryFrom<RuleRow> for Rule {
    type Error = CrmError;

    fn try_from(row: RuleRow) -> Result<Rule, CrmError> {
        let effect = row.effect.parse().map_err(|_| {
            CrmError::Internal(anyhow::anyhow!("visibility rule {} has an unknown effect {:?}", row.id, row.effect))
        })?;
        Ok(Rule {
            id: row.id,
            position: row.position,
            rep: row.rep_login,
            effect,
            match_account_manager: row.match_account_manager,
            territory: row.territory,
            // Stored comma-separated, the form the SQL match in `visibility` reads.
            statuses: row
                .statuses
                .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()),
            category: row.category,
            client: row.client_code,
        })
    }
}

const RULE_SELECT: &str = "SELECT r.id, r.position, p.login AS rep_login, r.effect, r.match_account_manager, \
    r.territory, r.statuses, r.category, c.code AS client_code \
    FROM visibility_rules r LEFT JOIN reps p ON p.id = r.rep_id LEFT JOIN clients c ON c.id = r.client_id";

/// Every rule, in evaluation order.
pub async fn list(store: &Store) -> Result<Vec<Rule>, CrmError> {
    let sql = format!("{RULE_SELECT} ORDER BY r.position, r.id");
    let rows: Vec<RuleRow> = on_db!(store, read, |pool| sqlx::query_as(&sql).fetch_all(pool).await?);
    rows.into_iter().map(Rule::try_from).collect()
}

/// A rule after validation: what is inserted.
struct ValidRule {
    rep: Option<String>,
    effect: Effect,
    match_account_manager: bool,
    territory: Option<String>,
    statuses: Option<String>,
    category: Option<String>,
    client: Option<String>,
}

/// A present text condition must say something: an empty territory would silently match only
/// the clients without one.
fn non_empty(field: &str, value: &Option<String>, hint: &str) -> Result<Option<String>, CrmError> {
    match value.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(CrmError::Invalid(format!("{field}: must not be empty ({hint})"))),
        Some(v) => Ok(Some(v.to_string())),
    }
}

fn validate(new: &NewRule) -> Result<ValidRule, CrmError> {
    let effect = new.effect.ok_or_else(|| CrmError::Invalid("effect: required; use allow or deny".into()))?;
    let rep = non_empty("rep", &new.rep, "omit it for a rule that applies to everyone")?;
    let territory = non_empty("territory", &new.territory, "omit it to match any territory")?;
    let category = non_empty("category", &new.category, "omit it to match any category")?;
    let client = non_empty("client", &new.client, "omit it to match any client")?;
    let statuses = match &new.statuses {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(CrmError::Invalid(
                "statuses: an empty list matches no client; omit it to match any status".into(),
            ));
        }
        Some(list) => {
            let mut set = BTreeSet::new();
            for status in list {
                let status = status.trim();
                let rank = STATUSES.iter().position(|s| *s == status).ok_or_else(|| {
                    CrmError::Invalid(format!(
                        "statuses: {status:?} is not a client status; use {}",
                        STATUSES.join(", ")
                    ))
                })?;
                set.insert(rank);
            }
            Some(set.into_iter().map(|i| STATUSES[i]).collect::<Vec<_>>().join(","))
        }
    };
    // A rule without conditions would allow or deny every client at once: far more likely a
    // mistake (an empty form, a misspelt field) than an intent.
    if !new.match_account_manager && territory.is_none() && statuses.is_none() && category.is_none() && client.is_none()
    {
        return Err(CrmError::Invalid(
            "a rule needs at least one condition: match_account_manager, territory, statuses, category or client"
                .into(),
        ));
    }
    Ok(ValidRule {
        rep,
        effect,
        match_account_manager: new.match_account_manager,
        territory,
        statuses,
        category,
        client,
    })
}

fn to_json(value: &impl Serialize) -> Option<String> {
    serde_json::to_string(value).ok()
}

/// Appends the validated rule `$valid` (after every existing one) in the transaction `$tx`:
/// `(id, position)`. A rep or client it names that does not exist is `CrmError::Invalid`. A macro,
/// not a function: each database's transaction is its own type (see `on_db!`).
macro_rules! insert_rule {
    ($tx:expr, $valid:expr) => {{
        let valid = $valid;
        let rep_id: Option<i64> = match &valid.rep {
            None => None,
            Some(login) => Some(
                sqlx::query_scalar("SELECT id FROM reps WHERE login = $1")
                    .bind(login)
                    .fetch_optional(&mut *$tx)
                    .await?
                    .ok_or_else(|| CrmError::Invalid(format!("rep: no rep with login {login:?}")))?,
            ),
        };
        let client_id: Option<i64> = match &valid.client {
            None => None,
            Some(code) => Some(
                sqlx::query_scalar("SELECT id FROM clients WHERE code = $1")
                    .bind(code)
                    .fetch_optional(&mut *$tx)
                    .await?
                    .ok_or_else(|| CrmError::Invalid(format!("client: no client with code {code:?}")))?,
            ),
        };
        let position: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) + 1 FROM visibility_rules")
            .fetch_one(&mut *$tx)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO visibility_rules (position, rep_id, effect, match_account_manager, territory, statuses, category, client_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(position)
        .bind(rep_id)
        .bind(valid.effect.as_str())
        .bind(valid.match_account_manager)
        .bind(&valid.territory)
        .bind(&valid.statuses)
        .bind(&valid.category)
        .bind(client_id)
        .fetch_one(&mut *$tx)
        .await?;
        (id, position)
    }};
}

/// Validates and appends a rule (after every existing one), and audits it; one transaction.
pub async fn create(store: &Store, actor: Actor<'_>, new: &NewRule) -> Result<Rule, CrmError> {
    let valid = validate(new)?;
    let rule = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let (id, position) = insert_rule!(tx, &valid);
        let rule = Rule {
            id,
            position,
            rep: valid.rep,
            effect: valid.effect,
            match_account_manager: valid.match_account_manager,
            territory: valid.territory,
            statuses: valid.statuses.map(|s| s.split(',').map(str::to_string).collect()),
            category: valid.category,
            client: valid.client,
        };
        insert_audit!(
            &mut *tx,
            AuditEntry {
                rep_id: actor.rep_id,
                device: actor.device,
                action: "rule.create",
                target: &format!("rule:{id}"),
                outcome: "ok",
                before: None,
                after: to_json(&rule)
            }
        )?;
        tx.commit().await?;
        rule
    });
    Ok(rule)
}

/// Deletes a rule and audits it (with the rule as it was); one transaction.
pub async fn delete(store: &Store, actor: Actor<'_>, id: i64) -> Result<Rule, CrmError> {
    let sql = format!("{RULE_SELECT} WHERE r.id = $1");
    let rule = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let row: RuleRow = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| CrmError::NotFound(format!("no rule with id {id}")))?;
        let rule = Rule::try_from(row)?;
        sqlx::query("DELETE FROM visibility_rules WHERE id = $1").bind(id).execute(&mut *tx).await?;
        insert_audit!(
            &mut *tx,
            AuditEntry {
                rep_id: actor.rep_id,
                device: actor.device,
                action: "rule.delete",
                target: &format!("rule:{id}"),
                outcome: "ok",
                before: to_json(&rule),
                after: None
            }
        )?;
        tx.commit().await?;
        rule
    });
    Ok(rule)
}

/// Checks that `order` lists every rule id exactly once.
fn check_order(existing: &[i64], order: &[i64]) -> Result<(), CrmError> {
    let known: HashSet<i64> = existing.iter().copied().collect();
    let mut seen = HashSet::new();
    let repeated: BTreeSet<i64> = order.iter().copied().filter(|id| !seen.insert(*id)).collect();
    let unknown: BTreeSet<i64> = order.iter().copied().filter(|id| !known.contains(id)).collect();
    let missing: BTreeSet<i64> = existing.iter().copied().filter(|id| !seen.contains(id)).collect();
    if repeated.is_empty() && unknown.is_empty() && missing.is_empty() {
        return Ok(());
    }
    let show = |label: &str, ids: &BTreeSet<i64>| {
        (!ids.is_empty()).then(|| {
            let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!("{label} {}", ids.join(", "))
        })
    };
    let problems: Vec<String> = [show("missing", &missing), show("unknown", &unknown), show("repeated", &repeated)]
        .into_iter()
        .flatten()
        .collect();
    Err(CrmError::Invalid(format!("order: must list every rule id exactly once ({})", problems.join("; "))))
}

/// Sets the positions from `order` (every rule id, first first), audits it, and returns the
/// rules in their new order; one transaction.
pub async fn reorder(store: &Store, actor: Actor<'_>, order: &[i64]) -> Result<Vec<Rule>, CrmError> {
    let list_sql = format!("{RULE_SELECT} ORDER BY r.position, r.id");
    let rows: Vec<RuleRow> = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        // Checked inside the transaction, so a rule created meanwhile cannot be left unplaced.
        let before: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM visibility_rules ORDER BY position, id").fetch_all(&mut *tx).await?;
        check_order(&before, order)?;
        for (index, id) in order.iter().enumerate() {
            sqlx::query("UPDATE visibility_rules SET position = $2 WHERE id = $1 AND position <> $2")
                .bind(*id)
                .bind(index as i64 + 1)
                .execute(&mut *tx)
                .await?;
        }
        insert_audit!(
            &mut *tx,
            AuditEntry {
                rep_id: actor.rep_id,
                device: actor.device,
                action: "rule.reorder",
                target: "rules",
                outcome: "ok",
                before: to_json(&before),
                after: to_json(&order)
            }
        )?;
        let rows = sqlx::query_as(&list_sql).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows
    });
    rows.into_iter().map(Rule::try_from).collect()
}

/// SQL condition: rule `r` matches client `c` for the rep whose id is `rep_param`.
///
/// The same condition as the private one in `visibility` (a unit test below keeps them equal): the
/// preview needs it on its own, to name the allow rule that let each client in.
fn rule_matches(rep_param: &str) -> String {
    format!(
        "(r.rep_id IS NULL OR r.rep_id = {rep_param}) \
         AND (r.match_account_manager = FALSE OR c.account_manager_id = {rep_param}) \
         AND (r.territory IS NULL OR r.territory = c.territory) \
         AND (r.statuses IS NULL OR (',' || r.statuses || ',') LIKE ('%,' || c.status || ',%')) \
         AND (r.category IS NULL OR r.category = c.category) \
         AND (r.client_id IS NULL OR r.client_id = c.id)"
    )
}

/// The preview: exactly the clients in `login`'s address book, by name, each with the first
/// allow rule (by position) that matches it. One query; the view is never built in memory.
pub async fn visible_clients(store: &Store, login: &str) -> Result<Vec<VisibleClient>, CrmError> {
    let rep_id: i64 = on_db!(store, read, |pool| {
        sqlx::query_scalar("SELECT id FROM reps WHERE login = $1")
            .bind(login)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| CrmError::NotFound(format!("no rep with login {login:?}")))?
    });
    let sql = format!(
        "SELECT c.id, c.code, c.name, c.category, c.status, c.territory, m.login AS account_manager, \
         (SELECT r.id FROM visibility_rules r WHERE r.effect = 'allow' AND {matches} \
          ORDER BY r.position, r.id LIMIT 1) AS rule_id \
         FROM clients c LEFT JOIN reps m ON m.id = c.account_manager_id \
         WHERE {visible} ORDER BY c.name, c.id",
        matches = rule_matches("$1"),
        visible = visible_condition("$1"),
    );
    Ok(on_db!(store, read, |pool| sqlx::query_as(&sql).bind(rep_id).fetch_all(pool).await?))
}

/// A client a rule change adds to or removes from a rep's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRef {
    pub code: String,
    pub name: String,
}

/// What a rule would change for one rep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepPreview {
    pub login: String,
    /// Clients the rep sees now, and would see with the rule.
    pub before: usize,
    pub after: usize,
    pub added: Vec<ClientRef>,
    pub removed: Vec<ClientRef>,
}

/// The preview of a rule not created yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RulePreview {
    /// Clients the rule's conditions match, for at least one active rep.
    pub matched_clients: i64,
    /// Every active rep, with what the rule changes for them.
    pub reps: Vec<RepPreview>,
    /// Set when the rule would match no client (a misspelt territory, say).
    pub warning: Option<String>,
}

/// What `new` would change, computed by the very SQL that builds address books: the rule is
/// inserted in a transaction that is rolled back, so nothing is ever stored.
pub async fn preview(store: &Store, new: &NewRule) -> Result<RulePreview, CrmError> {
    let valid = validate(new)?;
    let view_sql = format!(
        "SELECT p.login, c.code, c.name FROM reps p JOIN clients c ON {visible} WHERE p.active ORDER BY p.login, c.name",
        visible = super::visibility::visible_condition_on("c", "p.id"),
    );
    let matched_sql = format!(
        "SELECT COUNT(DISTINCT c.id) FROM visibility_rules r JOIN reps p ON p.active JOIN clients c ON {matches} \
         WHERE r.id = $1",
        matches = rule_matches("p.id"),
    );
    type View = Vec<(String, String, String)>;
    let (logins, before, after, matched): (Vec<String>, View, View, i64) = on_db!(store, write, |pool| {
        let mut tx = pool.begin().await?;
        let logins: Vec<String> =
            sqlx::query_scalar("SELECT login FROM reps WHERE active ORDER BY login").fetch_all(&mut *tx).await?;
        let before: View = sqlx::query_as(&view_sql).fetch_all(&mut *tx).await?;
        let (id, _) = insert_rule!(tx, &valid);
        let after: View = sqlx::query_as(&view_sql).fetch_all(&mut *tx).await?;
        let matched: i64 = sqlx::query_scalar(&matched_sql).bind(id).fetch_one(&mut *tx).await?;
        tx.rollback().await?;
        (logins, before, after, matched)
    });
    let group = |view: View| {
        let mut by_rep: std::collections::BTreeMap<String, BTreeSet<(String, String)>> = Default::default();
        for (login, code, name) in view {
            by_rep.entry(login).or_default().insert((code, name));
        }
        by_rep
    };
    let (before, after) = (group(before), group(after));
    let empty = BTreeSet::new();
    let refs = |set: Vec<&(String, String)>| {
        set.into_iter().map(|(code, name)| ClientRef { code: code.clone(), name: name.clone() }).collect::<Vec<_>>()
    };
    let reps = logins
        .into_iter()
        .map(|login| {
            let was = before.get(&login).unwrap_or(&empty);
            let will = after.get(&login).unwrap_or(&empty);
            RepPreview {
                before: was.len(),
                after: will.len(),
                added: refs(will.difference(was).collect()),
                removed: refs(was.difference(will).collect()),
                login,
            }
        })
        .collect();
    let warning = (matched == 0).then(|| {
        "this rule matches no client: check the territory, category, statuses or client code for a typo".to_string()
    });
    Ok(RulePreview { matched_clients: matched, reps, warning })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_matches_rules_exactly_as_visibility_does() {
        let visible = visible_condition("$1");
        let matches = rule_matches("$1");
        assert!(
            visible.contains(&format!("r.effect = 'allow' AND {matches}"))
                && visible.contains(&format!("r.effect = 'deny' AND {matches}")),
            "rules::rule_matches drifted from visibility.rs:\n{visible}"
        );
    }

    fn rule(f: impl FnOnce(&mut NewRule)) -> NewRule {
        let mut new = NewRule { effect: Some(Effect::Allow), ..NewRule::default() };
        f(&mut new);
        new
    }

    fn invalid(new: &NewRule) -> String {
        match validate(new) {
            Err(CrmError::Invalid(message)) => message,
            Err(other) => panic!("expected Invalid, got {other:?}"),
            Ok(_) => panic!("expected an error for {new:?}"),
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(invalid(&rule(|_| {})).contains("at least one condition"));
        assert!(invalid(&rule(|r| r.rep = Some("alice".into()))).contains("at least one condition"));
        assert!(
            invalid(&rule(|r| {
                r.effect = None;
                r.territory = Some("North".into());
            }))
            .starts_with("effect:")
        );
        assert!(invalid(&rule(|r| r.statuses = Some(vec!["open".into()]))).starts_with("statuses:"));
        assert!(invalid(&rule(|r| r.statuses = Some(vec![]))).starts_with("statuses:"));
        assert!(invalid(&rule(|r| r.territory = Some("  ".into()))).starts_with("territory:"));
        assert!(
            invalid(&rule(|r| {
                r.rep = Some(String::new());
                r.category = Some("Retail".into());
            }))
            .starts_with("rep:")
        );
        assert!(matches!("maybe".parse::<Effect>(), Err(CrmError::Invalid(m)) if m.starts_with("effect:")));
    }

    #[test]
    fn statuses_are_deduplicated_in_lifecycle_order() {
        let valid = validate(&rule(|r| r.statuses = Some(vec!["active".into(), " prospect".into(), "active".into()])))
            .expect("valid");
        assert_eq!(valid.statuses.as_deref(), Some("prospect,active"));
    }

    #[test]
    fn order_must_be_a_permutation() {
        assert!(check_order(&[1, 2, 3], &[3, 1, 2]).is_ok());
        let Err(CrmError::Invalid(message)) = check_order(&[1, 2, 3], &[3, 3, 9]) else {
            panic!("expected Invalid");
        };
        assert_eq!(message, "order: must list every rule id exactly once (missing 1, 2; unknown 9; repeated 3)");
    }
}
