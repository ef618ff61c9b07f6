//! Admin pages: reps (create, disable, password, role, team) and teams, visibility rules with a
//! live preview, client reassignment, and the audit log. Every write is a call of the admin API.

use http::{Method, StatusCode};
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::api::{self, Refused};
use super::layout::{self, Notice, csrf_field};
use crate::crm::rules::{self, Rule, RulePreview};
use crate::crm::teams::{self, Member, Team};
use crate::http::response::{self, Reply};

pub async fn handle(ctx: &Ctx<'_>, segments: &[&str]) -> Reply {
    let post = ctx.method == Method::POST;
    match (segments, post) {
        (["reps"], false) => reps_page(ctx, None).await,
        (["reps"], true) => {
            let body = json!({
                "login": ctx.text("login"),
                "display_name": ctx.text("display_name"),
                "email": ctx.text("email"),
                "role": ctx.text("role"),
                "password": ctx.field("password").unwrap_or(""),
            });
            let done = api::call(ctx, Method::POST, "/admin/api/reps", Some(body)).await;
            let notice = outcome(done, |_| format!("Rep {} created.", ctx.text("login").unwrap_or_default()));
            reps_page(ctx, Some(notice)).await
        }
        (["reps", login, action @ ("disable" | "enable" | "password" | "role" | "team")], true) => {
            let body = match *action {
                "password" => Some(json!({ "password": ctx.field("password").unwrap_or("") })),
                "role" => Some(json!({ "role": ctx.text("role") })),
                "team" => Some(json!({ "team": ctx.text("team") })),
                _ => None,
            };
            let path = format!("/admin/api/reps/{}/{action}", api::segment(login));
            let done = api::call(ctx, Method::POST, &path, body).await;
            let notice = outcome(done, |_| match *action {
                "disable" => format!("{login} is disabled: every device and session of theirs is cut off."),
                "enable" => format!("{login} is enabled again."),
                "password" => format!("The password of {login} is changed."),
                "role" => format!("{login} now has the role {}.", ctx.text("role").unwrap_or_default()),
                _ => format!("The team of {login} is changed."),
            });
            reps_page(ctx, Some(notice)).await
        }
        (["reps", login, kind @ ("profile" | "qr")], true) => hand_over(ctx, login, kind).await,
        (["teams"], true) => {
            let body = json!({ "name": ctx.text("name"), "manager": ctx.text("manager") });
            let done = api::call(ctx, Method::POST, "/admin/api/teams", Some(body)).await;
            let notice = outcome(done, |_| format!("Team {} created.", ctx.text("name").unwrap_or_default()));
            reps_page(ctx, Some(notice)).await
        }
        (["rules"], false) => rules_page(ctx, None, None).await,
        (["rules"], true) if ctx.field("action") == Some("preview") => {
            match api::call(ctx, Method::POST, "/admin/api/rules/preview", Some(rule_body(ctx))).await {
                Ok(value) => match serde_json::from_value::<RulePreview>(value) {
                    Ok(preview) => rules_page(ctx, None, Some(preview)).await,
                    Err(e) => super::internal(e),
                },
                Err(refused) => rules_page(ctx, Some(Notice::Refused(refused.message)), None).await,
            }
        }
        (["rules"], true) => {
            let done = api::call(ctx, Method::POST, "/admin/api/rules", Some(rule_body(ctx))).await;
            let notice = outcome(done, |v| format!("Rule #{} created.", v.get("id").unwrap_or(&Value::Null)));
            rules_page(ctx, Some(notice), None).await
        }
        (["rules", "preview.json"], true) => {
            match api::call(ctx, Method::POST, "/admin/api/rules/preview", Some(rule_body(ctx))).await {
                Ok(value) => response::json(StatusCode::OK, &value),
                Err(Refused { status, message }) => response::json(status, &json!({ "error": message })),
            }
        }
        (["rules", id, "delete"], true) => {
            let done = api::call(ctx, Method::DELETE, &format!("/admin/api/rules/{}", api::segment(id)), None).await;
            let notice = outcome(done, |_| format!("Rule #{id} deleted."));
            rules_page(ctx, Some(notice), None).await
        }
        (["reassign"], false) => reassign_page(ctx, None).await,
        (["reassign"], true) => {
            let code = ctx.text("client").unwrap_or_default();
            let body = json!({ "to": ctx.text("to"), "open_activities": ctx.text("open_activities") });
            let path = format!("/admin/api/clients/{}/reassign", api::segment(&code));
            let done = api::call(ctx, Method::POST, &path, Some(body)).await;
            let notice = outcome(done, |v| {
                format!(
                    "{} ({}) now belongs to {}.",
                    v.get("client_name").and_then(Value::as_str).unwrap_or(""),
                    code,
                    v.get("to").and_then(Value::as_str).unwrap_or("")
                )
            });
            reassign_page(ctx, Some(notice)).await
        }
        (["audit"], false) => audit_page(ctx).await,
        _ => super::page_error(StatusCode::NOT_FOUND, &format!("no console page at {}", ctx.path)),
    }
}

/// A device set up by the admin for a rep: a fresh app token of the rep's, as an Apple profile to
/// send them or a QR code for their phone to scan (DAVx5).
async fn hand_over(ctx: &Ctx<'_>, login: &str, kind: &str) -> Reply {
    let label = format!("set up by {}", ctx.session().rep.login);
    let path = format!("/admin/api/reps/{}/tokens", api::segment(login));
    let token = match api::call(ctx, Method::POST, &path, Some(json!({ "kind": "app", "label": label }))).await {
        Ok(value) => value.get("token").and_then(Value::as_str).unwrap_or_default().to_string(),
        Err(refused) => return reps_page(ctx, Some(Notice::Refused(refused.message))).await,
    };
    if kind == "profile" {
        return super::devices::profile_download(&ctx.base, login, &token, &label);
    }
    let url = super::devices::davx5_url(&ctx.base, login, &token);
    let qr = match super::devices::qr_svg(&url) {
        Ok(qr) => qr,
        Err(e) => return super::internal(e),
    };
    let content = html! {
        section.card #fresh {
            h2 { "DAVx5 for " (login) }
            div.qr { (layout::trusted_svg(&qr)) }
            p { "Let " (login) " scan this code with DAVx5 (" b { "+" } " → scan). It holds a new token of theirs, listed as " i { (label) } "." }
            p.muted { "Link: " code { (url) } }
        }
    };
    super::html(StatusCode::OK, layout::page(ctx, "Set up a phone", None, content))
}

fn outcome(done: Result<Value, Refused>, message: impl FnOnce(&Value) -> String) -> Notice {
    match done {
        Ok(value) => Notice::Done(message(&value)),
        Err(refused) => Notice::Refused(refused.message),
    }
}

/// The rule in the form, as the API takes it (empty fields left out).
fn rule_body(ctx: &Ctx<'_>) -> Value {
    let mut rule = Map::new();
    for field in ["rep", "effect", "territory", "category", "client"] {
        if let Some(value) = ctx.text(field) {
            rule.insert(field.into(), Value::String(value));
        }
    }
    if ctx.field("match_account_manager").is_some() {
        rule.insert("match_account_manager".into(), Value::Bool(true));
    }
    let statuses = ctx.all("statuses");
    if !statuses.is_empty() {
        rule.insert("statuses".into(), json!(statuses));
    }
    Value::Object(rule)
}

async fn reps_page(ctx: &Ctx<'_>, notice: Option<Notice>) -> Reply {
    let store = &ctx.state.store;
    let (members, teams): (Vec<Member>, Vec<Team>) = match (teams::members(store).await, teams::list(store).await) {
        (Ok(m), Ok(t)) => (m, t),
        (Err(e), _) | (_, Err(e)) => return super::internal(e),
    };
    let managers: Vec<&Member> = members.iter().filter(|m| m.rep.role != "rep").collect();
    let content = html! {
        div.table {
            table #reps {
                thead { tr { th { "Login" } th { "Name" } th { "Role" } th { "Team" } th { "State" } th { "Password" } th { "Set up a device" } } }
                tbody {
                    @for m in &members {
                        @let login = &m.rep.login;
                        tr data-login=(login) {
                            td { (login) }
                            td { (m.rep.display_name) }
                            td {
                                form method="post" action=(format!("/ui/admin/reps/{login}/role")) {
                                    (csrf_field(ctx))
                                    select name="role" aria-label="role" {
                                        @for role in crate::crm::reps::ROLES {
                                            option value=(role) selected[role == m.rep.role] { (role) }
                                        }
                                    }
                                    button.secondary type="submit" { "Set" }
                                }
                            }
                            td {
                                form method="post" action=(format!("/ui/admin/reps/{login}/team")) {
                                    (csrf_field(ctx))
                                    select name="team" aria-label="team" {
                                        option value="" { "(none)" }
                                        @for team in &teams {
                                            option value=(team.name) selected[m.team.as_deref() == Some(team.name.as_str())] { (team.name) }
                                        }
                                    }
                                    button.secondary type="submit" { "Set" }
                                }
                            }
                            td {
                                form method="post" action=(format!("/ui/admin/reps/{login}/{}", if m.rep.active { "disable" } else { "enable" })) {
                                    (csrf_field(ctx))
                                    @if m.rep.active {
                                        "active " button.danger type="submit" { "Disable" }
                                    } @else {
                                        "disabled " button type="submit" { "Enable" }
                                    }
                                }
                            }
                            td {
                                form method="post" action=(format!("/ui/admin/reps/{login}/password")) {
                                    (csrf_field(ctx))
                                    input type="password" name="password" placeholder="new password" aria-label="new password" autocomplete="new-password";
                                    button.secondary type="submit" { "Reset" }
                                }
                            }
                            td {
                                form method="post" action=(format!("/ui/admin/reps/{login}/profile")) {
                                    (csrf_field(ctx))
                                    button.secondary type="submit" title="Apple profile with a new token" { "Profile" }
                                }
                                " "
                                form method="post" action=(format!("/ui/admin/reps/{login}/qr")) {
                                    (csrf_field(ctx))
                                    button.secondary type="submit" title="QR code for DAVx5 with a new token" { "QR" }
                                }
                            }
                        }
                    }
                }
            }
        }
        div.cards {
            form.card #new-rep method="post" action="/ui/admin/reps" {
                h2 { "Add a rep" }
                (csrf_field(ctx))
                label { "Login" input type="text" name="login" required autocapitalize="none"; }
                label { "Name" input type="text" name="display_name"; }
                label { "Email" input type="email" name="email"; }
                label { "Role" select name="role" { @for role in crate::crm::reps::ROLES { option value=(role) { (role) } } } }
                label { "Password" input type="password" name="password" required autocomplete="new-password"; }
                button type="submit" { "Add the rep" }
            }
            form.card #new-team method="post" action="/ui/admin/teams" {
                h2 { "Add a team" }
                (csrf_field(ctx))
                label { "Name" input type="text" name="name" required; }
                label { "Manager" select name="manager" {
                    option value="" { "(none)" }
                    @for m in &managers { option value=(m.rep.login) { (m.rep.login) " (" (m.rep.role) ")" } }
                } }
                button type="submit" { "Add the team" }
                @if !teams.is_empty() {
                    p.muted { "Teams: " @for (i, t) in teams.iter().enumerate() {
                        @if i > 0 { ", " } (t.name) " (" (t.manager.as_deref().unwrap_or("no manager")) ")"
                    } }
                }
            }
        }
    };
    super::html(StatusCode::OK, layout::page(ctx, "Reps and teams", notice.as_ref(), content))
}

fn describe(rule: &Rule) -> String {
    let text = rule.to_string();
    text.split_once("] ").map_or(text.clone(), |(_, rest)| rest.to_string())
}

/// How many clients a preview names per rep and direction; the rest are counted.
const SHOWN_CODES: usize = 12;

/// `C1 C2 … and 40 more`.
fn codes(clients: &[rules::ClientRef]) -> String {
    let mut text: Vec<&str> = clients.iter().take(SHOWN_CODES).map(|c| c.code.as_str()).collect();
    let more = clients.len().saturating_sub(SHOWN_CODES);
    let more = format!("… and {more} more");
    if clients.len() > SHOWN_CODES {
        text.push(&more);
    }
    text.join(" ")
}

fn preview_markup(preview: &RulePreview) -> Markup {
    html! {
        @if let Some(warning) = &preview.warning { p.warning role="alert" { (warning) } }
        p { "The rule matches " b #matched { (preview.matched_clients) } " client(s)." }
        div.table {
            table {
                thead { tr { th { "Rep" } th { "Sees now" } th { "With the rule" } th { "Added" } th { "Removed" } } }
                tbody {
                    @for rep in &preview.reps {
                        tr data-login=(rep.login) {
                            td { (rep.login) }
                            td { (rep.before) }
                            td.after { (rep.after) }
                            td.added { (codes(&rep.added)) }
                            td.removed { (codes(&rep.removed)) }
                        }
                    }
                }
            }
        }
    }
}

async fn rules_page(ctx: &Ctx<'_>, notice: Option<Notice>, preview: Option<RulePreview>) -> Reply {
    let store = &ctx.state.store;
    let (rules, members) = match (rules::list(store).await, teams::members(store).await) {
        (Ok(r), Ok(m)) => (r, m),
        (Err(e), _) => return super::internal(e),
        (_, Err(e)) => return super::internal(e),
    };
    // After a preview the form keeps what was typed; after a creation it starts empty.
    let keep = preview.is_some();
    let kept = |name: &str| if keep { ctx.text(name) } else { None };
    let statuses = if keep { ctx.all("statuses") } else { Vec::new() };
    let content = html! {
        div.table {
            table #rules {
                thead { tr { th { "#" } th { "Effect" } th { "For" } th { "Matches" } th { "" } } }
                tbody {
                    @for rule in &rules {
                        tr {
                            td { (rule.id) }
                            td { (rule.effect) }
                            td { (rule.rep.as_deref().unwrap_or("everyone")) }
                            td { (describe(rule)) }
                            td {
                                form method="post" action=(format!("/ui/admin/rules/{}/delete", rule.id)) {
                                    (csrf_field(ctx))
                                    button.danger type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.card #rule-form method="post" action="/ui/admin/rules" data-preview="/ui/admin/rules/preview.json" {
            h2 { "New rule" }
            (csrf_field(ctx))
            div.row {
                label { "Effect" select name="effect" {
                    option value="allow" selected[kept("effect").as_deref() != Some("deny")] { "allow" }
                    option value="deny" selected[kept("effect").as_deref() == Some("deny")] { "deny" }
                } }
                label { "For" select name="rep" {
                    option value="" { "everyone" }
                    @for m in &members { option value=(m.rep.login) selected[kept("rep").as_deref() == Some(m.rep.login.as_str())] { (m.rep.login) } }
                } }
            }
            div.row {
                label { "Territory" input type="text" name="territory" value=[kept("territory")]; }
                label { "Category" input type="text" name="category" value=[kept("category")]; }
                label { "Client code" input type="text" name="client" value=[kept("client")]; }
            }
            div {
                label.inline { input type="checkbox" name="match_account_manager" checked[keep && ctx.field("match_account_manager").is_some()]; "the rep is the account manager" }
            }
            div {
                @for status in rules::STATUSES {
                    label.inline { input type="checkbox" name="statuses" value=(status) checked[statuses.iter().any(|s| s == status)]; (status) }
                }
            }
            button.secondary type="submit" name="action" value="preview" { "Preview" }
            " "
            button type="submit" name="action" value="create" { "Create the rule" }
        }
        section.card #preview aria-live="polite" {
            h2 { "Preview" }
            @match &preview {
                Some(preview) => (preview_markup(preview)),
                None => p.muted { "Fill in the rule: who sees what with it shows here." },
            }
        }
    };
    super::html(StatusCode::OK, layout::page(ctx, "Visibility rules", notice.as_ref(), content))
}

async fn reassign_page(ctx: &Ctx<'_>, notice: Option<Notice>) -> Reply {
    let members = match teams::members(&ctx.state.store).await {
        Ok(m) => m,
        Err(e) => return super::internal(e),
    };
    let content = html! {
        form.card method="post" action="/ui/admin/reassign" {
            (csrf_field(ctx))
            p { "Give a client to another account manager. Their planned activities can move along or stay with the previous rep." }
            label { "Client code" input type="text" name="client" required; }
            label { "New account manager" select name="to" {
                @for m in members.iter().filter(|m| m.rep.active) { option value=(m.rep.login) { (m.rep.login) } }
            } }
            label { "Planned activities" select name="open_activities" {
                option value="move" { "move to the new account manager" }
                option value="keep" { "stay with the previous one" }
            } }
            button type="submit" { "Reassign" }
        }
    };
    super::html(StatusCode::OK, layout::page(ctx, "Reassign a client", notice.as_ref(), content))
}

async fn audit_page(ctx: &Ctx<'_>) -> Reply {
    let query = {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for name in ["rep", "outcome", "from", "to"] {
            if let Some(value) = ctx.param(name) {
                query.append_pair(name, value);
            }
        }
        query.finish()
    };
    let (rows, notice) = match api::call(ctx, Method::GET, &format!("/admin/api/audit?{query}"), None).await {
        Ok(value) => match serde_json::from_value::<Vec<AuditRowView>>(value) {
            Ok(rows) => (rows, None),
            Err(e) => return super::internal(e),
        },
        Err(refused) => (Vec::new(), Some(Notice::Refused(refused.message))),
    };
    let members = teams::members(&ctx.state.store).await.unwrap_or_default();
    let content = html! {
        form.card method="get" action="/ui/admin/audit" {
            div.row {
                label { "Rep" select name="rep" {
                    option value="" { "anyone" }
                    @for m in &members { option value=(m.rep.login) selected[ctx.param("rep") == Some(m.rep.login.as_str())] { (m.rep.login) } }
                } }
                label { "Outcome" select name="outcome" {
                    option value="" { "any" }
                    @for o in ["ok", "refused", "error"] { option value=(o) selected[ctx.param("outcome") == Some(o)] { (o) } }
                } }
                label { "From" input type="date" name="from" value=[ctx.param("from")]; }
                label { "To" input type="date" name="to" value=[ctx.param("to")]; }
            }
            button type="submit" { "Filter" }
        }
        div.table {
            table #audit {
                thead { tr { th { "When" } th { "Who" } th { "Device" } th { "Action" } th { "Target" } th { "Outcome" } th { "Detail" } } }
                tbody {
                    @for row in &rows {
                        @let detail = row.detail();
                        tr {
                            td { (row.at.replacen('T', " ", 1).trim_end_matches('Z')) }
                            td { (row.login.as_deref().unwrap_or("cli")) }
                            td.device title=(row.device) { (shorten(&row.device, 32)) }
                            td { (row.action) }
                            td { (row.target) }
                            td { (row.outcome) }
                            td.detail title=(detail) { (shorten(&detail, 160)) }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="7" .muted { "Nothing recorded matches." } } }
                }
            }
        }
    };
    super::html(StatusCode::OK, layout::page(ctx, "Audit log", notice.as_ref(), content))
}

/// At most `chars` characters of `text`, with an ellipsis when cut (the whole is in a tooltip).
fn shorten(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// An audit row (`crm::audit::AuditRow`) as the API sends it (timestamps as text).
#[derive(serde::Deserialize)]
struct AuditRowView {
    at: String,
    login: Option<String>,
    device: String,
    action: String,
    target: String,
    outcome: String,
    before_data: Option<String>,
    after_data: Option<String>,
}

impl AuditRowView {
    /// What changed: `old → new` when the row has both (a role, a team, a rule), else the one it has.
    fn detail(&self) -> String {
        match (self.before_data.as_deref(), self.after_data.as_deref()) {
            (Some(before), Some(after)) => format!("{before} → {after}"),
            (before, after) => after.or(before).unwrap_or("").to_string(),
        }
    }
}
