//! The admin JSON API under `/admin/api/`: reps, their tokens, the visibility rules, the preview
//! of what a rep sees and the reassignment of a client. Admins only. Errors are `{"error": "..."}` with the status that fits; every
//! write, done or refused, is recorded in the audit log.

use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::AppState;
use super::response::{self, Reply};
use super::routes::Request;
use crate::crm::CrmError;
use crate::crm::audit::{self, AuditEntry};
use crate::crm::credentials::{self, CredentialInfo, TokenKind};
use crate::crm::reassign::{self, OpenActivities};
use crate::crm::reps::{self, Rep};
use crate::crm::rules::{self, Actor, Effect, NewRule};
use crate::crm::teams::{self, Assignment};
use crate::store::Store;

pub const PREFIX: &str = "/admin/api/";

/// A label is shown in lists and the audit log: keep it a label.
const MAX_LABEL_CHARS: usize = 200;

/// Answers every request under [`PREFIX`]; the caller has authenticated the sender.
pub async fn handle(state: &AppState, request: &Request) -> Reply {
    let endpoint = Endpoint::parse(&request.method, &request.path);
    // Everyone may manage their own tokens (`/admin/api/me/`); the rest is for admins.
    let own = matches!(endpoint, Ok(Endpoint::MyTokens | Endpoint::CreateMyToken | Endpoint::RevokeMyToken { .. }));
    if !own && !request.user.rep.is_admin() {
        return error_reply(StatusCode::FORBIDDEN, "the admin API needs an admin account");
    }
    let endpoint = match endpoint {
        Ok(endpoint) => endpoint,
        Err(e) => return e.into_reply(),
    };
    let ctx = Ctx {
        store: &state.store,
        admin: &request.user.rep,
        device: request.user_agent(),
        feed_base: crate::feeds::request_base(&state.config, &request.headers),
    };
    match endpoint.run(&ctx, request).await {
        Ok(reply) => reply,
        Err(e) => {
            if let Some(action) = endpoint.action() {
                let outcome = if e.status.is_server_error() { "error" } else { "refused" };
                ctx.audit(action, &endpoint.target(), outcome, None, Some(json!({ "error": e.message }))).await;
            }
            e.into_reply()
        }
    }
}

/// An answer other than success: its status and the sentence for the `error` field.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), allow: None }
    }

    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "admin request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; the request was not applied")
    }

    fn into_reply(self) -> Reply {
        let mut reply = error_reply(self.status, &self.message);
        if let Some(allow) = self.allow {
            reply.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        reply
    }
}

impl From<CrmError> for ApiError {
    fn from(e: CrmError) -> ApiError {
        match e {
            CrmError::Invalid(m) | CrmError::NoteRequired(m) | CrmError::NoteTooLong(m) => ApiError::invalid(m),
            CrmError::NotFound(m) => ApiError::not_found(m),
            CrmError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            CrmError::Internal(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(format!("{e:#}"))
    }
}

fn error_reply(status: StatusCode, message: &str) -> Reply {
    response::json(status, &json!({ "error": message }))
}

fn ok(status: StatusCode, value: &impl Serialize) -> Result<Reply, ApiError> {
    Ok(response::json(status, value))
}

enum Endpoint {
    ListReps,
    CreateRep,
    SetActive { login: String, active: bool },
    SetPassword { login: String },
    ListTokens { login: String },
    CreateToken { login: String },
    RevokeToken { id: String },
    ListRules,
    CreateRule,
    DeleteRule { id: String },
    ReorderRules,
    Preview { login: String },
    PreviewRule,
    Reassign { code: String },
    SetRole { login: String },
    SetTeam { login: String },
    ListTeams,
    CreateTeam,
    ListAudit,
    MyTokens,
    CreateMyToken,
    RevokeMyToken { id: String },
}

impl Endpoint {
    fn parse(method: &Method, path: &str) -> Result<Endpoint, ApiError> {
        let unknown = || ApiError::not_found(format!("no admin API resource at {path}"));
        let rest =
            if path == PREFIX.trim_end_matches('/') { "" } else { path.strip_prefix(PREFIX).ok_or_else(unknown)? };
        // Logins are plain ASCII, but a client may still percent-encode them.
        let segments: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8().map(|s| s.into_owned()))
            .collect::<Result<_, _>>()
            .map_err(|_| unknown())?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let m = method.clone();
        let (allow, endpoint) = match segments.as_slice() {
            ["reps"] => (
                "GET, POST",
                match m {
                    Method::GET => Some(Endpoint::ListReps),
                    Method::POST => Some(Endpoint::CreateRep),
                    _ => None,
                },
            ),
            ["reps", login, action @ ("disable" | "enable")] => (
                "POST",
                (m == Method::POST)
                    .then(|| Endpoint::SetActive { login: login.to_string(), active: *action == "enable" }),
            ),
            ["reps", login, "password"] => {
                ("POST", (m == Method::POST).then(|| Endpoint::SetPassword { login: login.to_string() }))
            }
            ["reps", login, "tokens"] => (
                "GET, POST",
                match m {
                    Method::GET => Some(Endpoint::ListTokens { login: login.to_string() }),
                    Method::POST => Some(Endpoint::CreateToken { login: login.to_string() }),
                    _ => None,
                },
            ),
            ["reps", login, "visible-clients"] => {
                ("GET", (m == Method::GET).then(|| Endpoint::Preview { login: login.to_string() }))
            }
            ["clients", code, "reassign"] => {
                ("POST", (m == Method::POST).then(|| Endpoint::Reassign { code: code.to_string() }))
            }
            ["tokens", id] => ("DELETE", (m == Method::DELETE).then(|| Endpoint::RevokeToken { id: id.to_string() })),
            ["rules"] => (
                "GET, POST",
                match m {
                    Method::GET => Some(Endpoint::ListRules),
                    Method::POST => Some(Endpoint::CreateRule),
                    _ => None,
                },
            ),
            ["rules", "order"] => ("PUT", (m == Method::PUT).then_some(Endpoint::ReorderRules)),
            ["rules", "preview"] => ("POST", (m == Method::POST).then_some(Endpoint::PreviewRule)),
            ["reps", login, "role"] => {
                ("POST", (m == Method::POST).then(|| Endpoint::SetRole { login: login.to_string() }))
            }
            ["reps", login, "team"] => {
                ("POST", (m == Method::POST).then(|| Endpoint::SetTeam { login: login.to_string() }))
            }
            ["teams"] => (
                "GET, POST",
                match m {
                    Method::GET => Some(Endpoint::ListTeams),
                    Method::POST => Some(Endpoint::CreateTeam),
                    _ => None,
                },
            ),
            ["audit"] => ("GET", (m == Method::GET).then_some(Endpoint::ListAudit)),
            ["me", "tokens"] => (
                "GET, POST",
                match m {
                    Method::GET => Some(Endpoint::MyTokens),
                    Method::POST => Some(Endpoint::CreateMyToken),
                    _ => None,
                },
            ),
            ["me", "tokens", id] => {
                ("DELETE", (m == Method::DELETE).then(|| Endpoint::RevokeMyToken { id: id.to_string() }))
            }
            ["rules", id] => ("DELETE", (m == Method::DELETE).then(|| Endpoint::DeleteRule { id: id.to_string() })),
            _ => return Err(unknown()),
        };
        endpoint.ok_or_else(|| ApiError {
            allow: Some(allow),
            ..ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {path}; use {allow}"))
        })
    }

    /// The audit action of a write; `None` for reads.
    fn action(&self) -> Option<&'static str> {
        Some(match self {
            Endpoint::CreateRep => "rep.create",
            Endpoint::SetActive { active: true, .. } => "rep.enable",
            Endpoint::SetActive { active: false, .. } => "rep.disable",
            Endpoint::SetPassword { .. } => "rep.password",
            Endpoint::CreateToken { .. } => "token.create",
            Endpoint::RevokeToken { .. } => "token.revoke",
            Endpoint::CreateRule => "rule.create",
            Endpoint::DeleteRule { .. } => "rule.delete",
            Endpoint::ReorderRules => "rule.reorder",
            Endpoint::Reassign { .. } => "client.reassign",
            Endpoint::SetRole { .. } => "rep.role",
            Endpoint::SetTeam { .. } => "rep.team",
            Endpoint::CreateTeam => "team.create",
            Endpoint::CreateMyToken => "token.create",
            Endpoint::RevokeMyToken { .. } => "token.revoke",
            Endpoint::ListReps
            | Endpoint::ListTokens { .. }
            | Endpoint::ListRules
            | Endpoint::Preview { .. }
            | Endpoint::PreviewRule
            | Endpoint::ListTeams
            | Endpoint::ListAudit
            | Endpoint::MyTokens => {
                return None;
            }
        })
    }

    /// What a write is about, for the audit log.
    fn target(&self) -> String {
        match self {
            Endpoint::SetActive { login, .. }
            | Endpoint::SetPassword { login }
            | Endpoint::ListTokens { login }
            | Endpoint::CreateToken { login }
            | Endpoint::Preview { login }
            | Endpoint::SetRole { login }
            | Endpoint::SetTeam { login } => format!("rep:{login}"),
            Endpoint::ListTeams | Endpoint::CreateTeam => "teams".into(),
            Endpoint::ListAudit => "audit".into(),
            Endpoint::RevokeToken { id } | Endpoint::RevokeMyToken { id } => format!("token:{id}"),
            Endpoint::MyTokens | Endpoint::CreateMyToken => "tokens".into(),
            Endpoint::DeleteRule { id } => format!("rule:{id}"),
            Endpoint::Reassign { code } => format!("client:{code}"),
            Endpoint::CreateRep | Endpoint::ListReps => "reps".into(),
            Endpoint::CreateRule | Endpoint::ReorderRules | Endpoint::ListRules | Endpoint::PreviewRule => {
                "rules".into()
            }
        }
    }

    async fn run(&self, ctx: &Ctx<'_>, request: &Request) -> Result<Reply, ApiError> {
        match self {
            Endpoint::ListReps => ok(StatusCode::OK, &teams::members(ctx.store).await?),
            Endpoint::CreateRep => create_rep(ctx, &Body::parse(request, CREATE_REP_FIELDS)?).await,
            Endpoint::SetActive { login, active } => set_active(ctx, login, *active).await,
            Endpoint::SetPassword { login } => set_password(ctx, login, &Body::parse(request, &["password"])?).await,
            Endpoint::ListTokens { login } => {
                existing_rep(ctx.store, login).await?;
                ok(StatusCode::OK, &credentials::list_tokens(ctx.store, Some(login)).await?)
            }
            Endpoint::CreateToken { login } => {
                create_token(ctx, login, &Body::parse_optional(request, &["kind", "label"])?).await
            }
            Endpoint::RevokeToken { id } => revoke_token(ctx, id).await,
            Endpoint::ListRules => ok(StatusCode::OK, &rules::list(ctx.store).await?),
            Endpoint::CreateRule => {
                let new = new_rule(&Body::parse(request, RULE_FIELDS)?)?;
                ok(StatusCode::CREATED, &rules::create(ctx.store, ctx.actor(), &new).await?)
            }
            Endpoint::DeleteRule { id } => {
                let id = id.parse::<i64>().map_err(|_| ApiError::not_found(format!("no rule with id {id}")))?;
                ok(StatusCode::OK, &rules::delete(ctx.store, ctx.actor(), id).await?)
            }
            Endpoint::ReorderRules => {
                let order: Vec<i64> = Body::parse(request, &["order"])?.required("order")?;
                ok(StatusCode::OK, &rules::reorder(ctx.store, ctx.actor(), &order).await?)
            }
            Endpoint::Preview { login } => ok(StatusCode::OK, &rules::visible_clients(ctx.store, login).await?),
            Endpoint::PreviewRule => {
                let new = new_rule(&Body::parse(request, RULE_FIELDS)?)?;
                ok(StatusCode::OK, &rules::preview(ctx.store, &new).await?)
            }
            Endpoint::SetRole { login } => set_role(ctx, login, &Body::parse(request, &["role"])?).await,
            Endpoint::SetTeam { login } => set_team(ctx, login, &Body::parse(request, &["team"])?).await,
            Endpoint::ListTeams => ok(StatusCode::OK, &teams::list(ctx.store).await?),
            Endpoint::CreateTeam => {
                let body = Body::parse(request, &["name", "manager"])?;
                let name: String = body.required("name")?;
                let manager: Option<String> = body.optional("manager")?;
                let team = teams::create(ctx.store, &name, manager.as_deref()).await?;
                ctx.audit("team.create", &format!("team:{}", team.name), "ok", None, Some(json!(team))).await;
                ok(StatusCode::CREATED, &team)
            }
            Endpoint::ListAudit => list_audit(ctx, request.query.as_deref()).await,
            Endpoint::MyTokens => {
                ok(StatusCode::OK, &credentials::list_tokens(ctx.store, Some(&ctx.admin.login)).await?)
            }
            Endpoint::CreateMyToken => {
                create_token(ctx, &ctx.admin.login, &Body::parse_optional(request, &["kind", "label"])?).await
            }
            Endpoint::RevokeMyToken { id } => {
                // Another rep's token is "not found", as in the DAV tree.
                let mine = credentials::list_tokens(ctx.store, Some(&ctx.admin.login)).await?;
                if !id.parse::<i64>().is_ok_and(|id| mine.iter().any(|t| t.id == id)) {
                    return Err(ApiError::not_found(format!("you have no token with id {id}")));
                }
                revoke_token(ctx, id).await
            }
            Endpoint::Reassign { code } => {
                reassign_client(ctx, code, &Body::parse(request, &["to", "open_activities"])?).await
            }
        }
    }
}

/// The admin at work (or, under `/admin/api/me/`, any rep).
struct Ctx<'a> {
    store: &'a Store,
    admin: &'a Rep,
    device: &'a str,
    /// `scheme://host` of this server as the request reached it, for the links of feed tokens.
    feed_base: String,
}

impl Ctx<'_> {
    fn actor(&self) -> Actor<'_> {
        Actor { rep_id: Some(self.admin.id), device: self.device }
    }

    /// Records a write. The change itself is already made (or refused): a failure to record it is
    /// logged, not turned into an error that would suggest the change did not happen.
    async fn audit(&self, action: &str, target: &str, outcome: &str, before: Option<Value>, after: Option<Value>) {
        let entry = AuditEntry {
            rep_id: Some(self.admin.id),
            device: self.device,
            action,
            target,
            outcome,
            before: before.map(|v| v.to_string()),
            after: after.map(|v| v.to_string()),
        };
        if let Err(e) = audit::record(self.store, entry).await {
            tracing::error!(error = %format!("{e:#}"), action, target, "cannot write audit row");
        }
    }
}

/// A JSON object body, read field by field so that every error names its field.
struct Body(Map<String, Value>);

impl Body {
    fn parse(request: &Request, fields: &[&str]) -> Result<Body, ApiError> {
        let content_type = request.header(header::CONTENT_TYPE).unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media != "application/json" && !media.ends_with("+json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON (Content-Type: application/json)",
            ));
        }
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid("a JSON object body is required"));
        }
        let value: Value =
            serde_json::from_slice(&request.body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ApiError::invalid("the body must be a JSON object"));
        };
        // A misspelt condition ("teritory") silently dropped would widen a rule: refuse it.
        if let Some(field) = map.keys().find(|k| !fields.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!("{field}: unknown field; expected {}", fields.join(", "))));
        }
        Ok(Body(map))
    }

    /// Like [`Body::parse`], but an empty body stands for `{}`.
    fn parse_optional(request: &Request, fields: &[&str]) -> Result<Body, ApiError> {
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        Body::parse(request, fields)
    }

    /// The field's value; absent and `null` are `None`.
    fn optional<T: DeserializeOwned>(&self, field: &str) -> Result<Option<T>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => {
                serde_json::from_value(value.clone()).map(Some).map_err(|e| ApiError::invalid(format!("{field}: {e}")))
            }
        }
    }

    fn required<T: DeserializeOwned>(&self, field: &str) -> Result<T, ApiError> {
        self.optional(field)?.ok_or_else(|| ApiError::invalid(format!("{field}: required")))
    }
}

async fn existing_rep(store: &Store, login: &str) -> Result<Rep, ApiError> {
    reps::find(store, login).await?.ok_or_else(|| ApiError::not_found(format!("no rep with login {login:?}")))
}

const CREATE_REP_FIELDS: &[&str] = &["login", "display_name", "email", "role", "password"];

async fn create_rep(ctx: &Ctx<'_>, body: &Body) -> Result<Reply, ApiError> {
    let login: String = body.required("login")?;
    let password: String = body.required("password")?;
    let display_name: String = body.optional("display_name")?.unwrap_or_else(|| login.clone());
    let email: String = body.optional("email")?.unwrap_or_default();
    let role: String = body.optional("role")?.unwrap_or_else(|| "rep".into());
    reps::validate_login(&login).map_err(|e| ApiError::invalid(format!("login: {e}")))?;
    if !reps::ROLES.contains(&role.as_str()) {
        return Err(ApiError::invalid(format!("role: {role:?} is not a role; use {}", reps::ROLES.join(", "))));
    }
    credentials::check_password_strength(&password).map_err(|e| ApiError::invalid(format!("password: {e}")))?;
    let duplicate = || ApiError::new(StatusCode::CONFLICT, format!("login: a rep with login {login:?} already exists"));
    if reps::find(ctx.store, &login).await?.is_some() {
        return Err(duplicate());
    }
    let rep = match reps::add(ctx.store, &login, &display_name, &email, &role, &password).await {
        Ok(rep) => rep,
        // Created by a concurrent request between the check and the insert.
        Err(_) if reps::find(ctx.store, &login).await?.is_some() => return Err(duplicate()),
        Err(e) => return Err(e.into()),
    };
    ctx.audit("rep.create", &format!("rep:{login}"), "ok", None, Some(json!(rep))).await;
    ok(StatusCode::CREATED, &rep)
}

async fn set_active(ctx: &Ctx<'_>, login: &str, active: bool) -> Result<Reply, ApiError> {
    let before = existing_rep(ctx.store, login).await?;
    // The last admin locking themselves out cannot be undone from the API.
    if !active && before.id == ctx.admin.id {
        return Err(ApiError::new(StatusCode::CONFLICT, "you cannot disable your own account"));
    }
    reps::set_active(ctx.store, login, active).await?;
    let after = existing_rep(ctx.store, login).await?;
    ctx.audit(
        if active { "rep.enable" } else { "rep.disable" },
        &format!("rep:{login}"),
        "ok",
        Some(json!({ "active": before.active })),
        Some(json!({ "active": after.active })),
    )
    .await;
    ok(StatusCode::OK, &after)
}

async fn set_password(ctx: &Ctx<'_>, login: &str, body: &Body) -> Result<Reply, ApiError> {
    let password: String = body.required("password")?;
    let rep = existing_rep(ctx.store, login).await?;
    credentials::check_password_strength(&password).map_err(|e| ApiError::invalid(format!("password: {e}")))?;
    reps::set_password(ctx.store, login, &password).await?;
    // Never the password or its hash: only that it changed.
    ctx.audit("rep.password", &format!("rep:{login}"), "ok", None, Some(json!({ "password": "changed" }))).await;
    ok(StatusCode::OK, &rep)
}

/// A token as listed, plus its secret: the only time the secret is shown.
#[derive(Serialize)]
struct NewToken {
    #[serde(flatten)]
    info: CredentialInfo,
    token: String,
    /// The subscription links of a feed token (they hold the secret, so they too are shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    feed: Option<crate::feeds::FeedLinks>,
}

async fn create_token(ctx: &Ctx<'_>, login: &str, body: &Body) -> Result<Reply, ApiError> {
    let kind = match body.optional::<String>("kind")?.as_deref() {
        None | Some("app" | "app-token") => TokenKind::App,
        Some("feed" | "feed-token") => TokenKind::Feed,
        Some(other) => {
            return Err(ApiError::invalid(format!("kind: {other:?} is not a token kind; use app or feed")));
        }
    };
    let label: String = body.optional("label")?.unwrap_or_default();
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiError::invalid(format!("label: at most {MAX_LABEL_CHARS} characters")));
    }
    existing_rep(ctx.store, login).await?;
    let (id, token) = credentials::create_token(ctx.store, login, kind, label.trim()).await?;
    let info = token_info(ctx.store, id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("token {id} vanished after its creation")))?;
    ctx.audit("token.create", &format!("token:{id}"), "ok", None, Some(json!(info))).await;
    let feed = (kind == TokenKind::Feed).then(|| crate::feeds::links(&ctx.feed_base, &token));
    ok(StatusCode::CREATED, &NewToken { info, token, feed })
}

async fn token_info(store: &Store, id: i64) -> Result<Option<CredentialInfo>, ApiError> {
    // Tokens number a few per rep: listing them is cheap, and keeps SQL in the crm layer.
    Ok(credentials::list_tokens(store, None).await?.into_iter().find(|t| t.id == id))
}

async fn revoke_token(ctx: &Ctx<'_>, id: &str) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found(format!("no token with id {id}"));
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let before = token_info(ctx.store, id).await?.ok_or_else(not_found)?;
    if before.revoked_at.is_some() {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("token {id} is already revoked")));
    }
    credentials::revoke_token(ctx.store, id).await?;
    let after = token_info(ctx.store, id).await?.ok_or_else(not_found)?;
    ctx.audit("token.revoke", &format!("token:{id}"), "ok", Some(json!(before)), Some(json!(after))).await;
    ok(StatusCode::OK, &after)
}

async fn reassign_client(ctx: &Ctx<'_>, code: &str, body: &Body) -> Result<Reply, ApiError> {
    let to: String = body.required("to")?;
    let open = match body.optional::<String>("open_activities")? {
        Some(open) => open.parse::<OpenActivities>()?,
        None => OpenActivities::default(),
    };
    match reassign::reassign(ctx.store, ctx.actor(), code, &to, open).await {
        Ok(done) => ok(StatusCode::OK, &done),
        // The body is well formed, but its rep cannot take the client.
        Err(CrmError::Invalid(message)) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
        Err(e) => Err(e.into()),
    }
}

const RULE_FIELDS: &[&str] = &["rep", "effect", "match_account_manager", "territory", "statuses", "category", "client"];

fn new_rule(body: &Body) -> Result<NewRule, ApiError> {
    let effect = match body.optional::<String>("effect")? {
        Some(effect) => Some(effect.parse::<Effect>()?),
        None => None,
    };
    Ok(NewRule {
        rep: body.optional("rep")?,
        effect,
        match_account_manager: body.optional("match_account_manager")?.unwrap_or(false),
        territory: body.optional("territory")?,
        statuses: body.optional("statuses")?,
        category: body.optional("category")?,
        client: body.optional("client")?,
    })
}

async fn set_role(ctx: &Ctx<'_>, login: &str, body: &Body) -> Result<Reply, ApiError> {
    let role: String = body.required("role")?;
    let before = existing_rep(ctx.store, login).await?;
    // An admin demoting themselves could leave no admin to undo it.
    if before.id == ctx.admin.id && role != "admin" {
        return Err(ApiError::new(StatusCode::CONFLICT, "you cannot take the admin role from your own account"));
    }
    // Changed and audited (old -> new) in one transaction.
    teams::assign(ctx.store, ctx.actor(), login, Assignment::Role(&role)).await?;
    ok(StatusCode::OK, &existing_rep(ctx.store, login).await?)
}

async fn set_team(ctx: &Ctx<'_>, login: &str, body: &Body) -> Result<Reply, ApiError> {
    let team: Option<String> = body.optional("team")?;
    let team = team.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    teams::assign(ctx.store, ctx.actor(), login, Assignment::Team(team.as_deref())).await?;
    let member = teams::members(ctx.store)
        .await?
        .into_iter()
        .find(|m| m.rep.login == login)
        .ok_or_else(|| ApiError::not_found(format!("no rep with login {login:?}")))?;
    ok(StatusCode::OK, &member)
}

/// `GET /admin/api/audit?rep=&outcome=&from=&to=&limit=`: the newest entries first.
async fn list_audit(ctx: &Ctx<'_>, query: Option<&str>) -> Result<Reply, ApiError> {
    let mut filter = audit::AuditFilter { limit: 200, ..Default::default() };
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let value = value.trim().to_string();
        if value.is_empty() {
            continue;
        }
        let date = |v: &str| crate::reports::parse_date(v).map_err(|e| ApiError::invalid(format!("{name}: {e}")));
        match name.as_ref() {
            "rep" => filter.rep = Some(value),
            "outcome" => filter.outcome = Some(value),
            "from" => filter.from = Some(date(&value)?),
            "to" => filter.to = Some(date(&value)?),
            "limit" => {
                filter.limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=1000).contains(l))
                    .ok_or_else(|| ApiError::invalid("limit: a number from 1 to 1000"))?
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "{other}: unknown parameter; expected rep, outcome, from, to, limit"
                )));
            }
        }
    }
    ok(StatusCode::OK, &audit::list(ctx.store, &filter).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: Method, path: &str) -> Result<Endpoint, ApiError> {
        Endpoint::parse(&method, path)
    }

    #[test]
    fn routes_paths_and_methods() {
        assert!(matches!(parse(Method::GET, "/admin/api/reps"), Ok(Endpoint::ListReps)));
        assert!(matches!(parse(Method::POST, "/admin/api/reps/"), Ok(Endpoint::CreateRep)));
        assert!(matches!(
            parse(Method::POST, "/admin/api/reps/al%69ce/disable"),
            Ok(Endpoint::SetActive { login, active: false }) if login == "alice"
        ));
        assert!(matches!(parse(Method::PUT, "/admin/api/rules/order"), Ok(Endpoint::ReorderRules)));
        assert!(matches!(
            parse(Method::POST, "/admin/api/clients/C%201/reassign"),
            Ok(Endpoint::Reassign { code }) if code == "C 1"
        ));
        assert!(matches!(parse(Method::DELETE, "/admin/api/rules/7"), Ok(Endpoint::DeleteRule { id }) if id == "7"));
        let wrong = parse(Method::DELETE, "/admin/api/rules/order").err().expect("405");
        assert_eq!((wrong.status, wrong.allow), (StatusCode::METHOD_NOT_ALLOWED, Some("PUT")));
        for path in ["/admin/api", "/admin/api/", "/admin/apireps", "/admin/api/reps/a/b/c", "/admin/api/%ff"] {
            let error = parse(Method::GET, path).err().expect("404");
            assert_eq!(error.status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn reads_are_not_audited_and_writes_name_their_target() {
        assert_eq!(Endpoint::ListRules.action(), None);
        assert_eq!(Endpoint::Preview { login: "bob".into() }.action(), None);
        let revoke = Endpoint::RevokeToken { id: "3".into() };
        assert_eq!((revoke.action(), revoke.target()), (Some("token.revoke"), "token:3".to_string()));
    }
}
