//! "Set up my devices": an Apple profile, a QR code for DAVx5, the steps for Thunderbird and
//! Outlook, and the rep's own tokens with their last use and a revoke button. Each device gets an
//! app token of its own, labelled with the device's name, so that one lost phone is revoked alone.

use http::{HeaderValue, Method, StatusCode, header};
use maud::{Markup, html};
use qrcode::QrCode;
use qrcode::render::svg;
use serde_json::json;

use super::layout::{self, Notice, csrf_field};
use super::{Ctx, api, profile};
use crate::crm::credentials::{self, CredentialInfo, TokenKind};
use crate::http::response::{self, Reply};

/// A device name is a token label: shown in lists and the audit log.
const MAX_DEVICE_CHARS: usize = 80;

pub async fn handle(ctx: &Ctx<'_>, segments: &[&str]) -> Reply {
    let post = ctx.method == http::Method::POST;
    match (segments, post) {
        ([] | ["devices"], false) => page(ctx, None, None).await,
        (["devices", "profile"], true) => apple_profile(ctx).await,
        (["devices", kind @ ("davx5" | "token" | "feed")], true) => new_device(ctx, kind).await,
        (["tokens", id, "revoke"], true) => revoke(ctx, id).await,
        _ => super::page_error(StatusCode::NOT_FOUND, &format!("no console page at {}", ctx.path)),
    }
}

/// What a page shows once after a token was made: its secret and how to use it.
enum Fresh {
    Davx5 { token: String, url: String, qr: String },
    Token { token: String, label: String },
    Feed { links: crate::feeds::FeedLinks },
}

fn device_name(ctx: &Ctx<'_>, default: &str) -> Result<String, String> {
    let name = ctx.text("device").unwrap_or_else(|| default.to_string());
    if name.chars().count() > MAX_DEVICE_CHARS {
        return Err(format!("device name: at most {MAX_DEVICE_CHARS} characters"));
    }
    Ok(name)
}

/// A new token of the session's rep, through the API (`/admin/api/me/tokens`: rights and audit).
async fn create_token(ctx: &Ctx<'_>, kind: TokenKind, label: &str) -> Result<String, Reply> {
    let kind = if kind == TokenKind::Feed { "feed" } else { "app" };
    match api::call(ctx, Method::POST, "/admin/api/me/tokens", Some(json!({ "kind": kind, "label": label }))).await {
        Ok(value) => match value.get("token").and_then(|t| t.as_str()) {
            Some(token) => Ok(token.to_string()),
            None => Err(super::internal("the token API answered without a token")),
        },
        Err(refused) => Err(super::page_error(refused.status, &refused.message)),
    }
}

async fn apple_profile(ctx: &Ctx<'_>) -> Reply {
    let device = match device_name(ctx, "iPhone") {
        Ok(device) => device,
        Err(message) => return page(ctx, Some(Notice::Refused(message)), None).await,
    };
    let token = match create_token(ctx, TokenKind::App, &device).await {
        Ok(token) => token,
        Err(reply) => return reply,
    };
    profile_download(&ctx.base, &ctx.session().rep.login, &token, &device)
}

/// The `.mobileconfig` download of `login`'s accounts with `token`.
pub(super) fn profile_download(base: &str, login: &str, token: &str, device: &str) -> Reply {
    let account = profile::Account { base, login, token, device };
    let bytes = match profile::mobileconfig(&account) {
        Ok(bytes) => bytes,
        Err(e) => return super::internal(e),
    };
    let mut reply = response::reply(StatusCode::OK, "application/x-apple-aspen-config", bytes);
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"crmdav-{login}.mobileconfig\"")) {
        reply.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    reply
}

/// The URL DAVx5 opens from a QR code: its own scheme, with the login and the token.
pub(super) fn davx5_url(base: &str, login: &str, token: &str) -> String {
    let (scheme, host) = match base.split_once("://") {
        Some(("https", host)) => ("davx5s", host),
        Some((_, host)) => ("davx5", host),
        None => ("davx5", base),
    };
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    format!("{scheme}://{}:{}@{}/dav/", enc(login), enc(token), host.trim_end_matches('/'))
}

pub(super) fn qr_svg(text: &str) -> anyhow::Result<String> {
    let code = QrCode::new(text.as_bytes())?;
    Ok(code.render::<svg::Color>().min_dimensions(240, 240).quiet_zone(true).build())
}

async fn new_device(ctx: &Ctx<'_>, kind: &str) -> Reply {
    let (token_kind, default) = match kind {
        "davx5" => (TokenKind::App, "Android"),
        "feed" => (TokenKind::Feed, "Outlook feed"),
        _ => (TokenKind::App, "Thunderbird"),
    };
    let device = match device_name(ctx, default) {
        Ok(device) => device,
        Err(message) => return page(ctx, Some(Notice::Refused(message)), None).await,
    };
    let token = match create_token(ctx, token_kind, &device).await {
        Ok(token) => token,
        Err(reply) => return reply,
    };
    let fresh = match kind {
        "davx5" => {
            let url = davx5_url(&ctx.base, &ctx.session().rep.login, &token);
            match qr_svg(&url) {
                Ok(qr) => Fresh::Davx5 { token, url, qr },
                Err(e) => return super::internal(e),
            }
        }
        "feed" => Fresh::Feed { links: crate::feeds::links(&ctx.base, &token) },
        _ => Fresh::Token { token, label: device.clone() },
    };
    let notice = Notice::Done(format!("A new token for {device:?} was made: it is shown once, below."));
    page(ctx, Some(notice), Some(fresh)).await
}

async fn revoke(ctx: &Ctx<'_>, id: &str) -> Reply {
    let path = format!("/admin/api/me/tokens/{}", api::segment(id));
    match api::call(ctx, Method::DELETE, &path, None).await {
        Ok(token) => {
            let label = token.get("label").and_then(|l| l.as_str()).unwrap_or("");
            let notice = Notice::Done(format!("The token {label:?} is revoked: that device can no longer connect."));
            page(ctx, Some(notice), None).await
        }
        Err(refused) if refused.status == StatusCode::CONFLICT => {
            with_status(StatusCode::CONFLICT, page(ctx, Some(Notice::Refused(refused.message)), None).await)
        }
        Err(refused) => super::page_error(refused.status, &refused.message),
    }
}

fn with_status(status: StatusCode, mut reply: Reply) -> Reply {
    *reply.status_mut() = status;
    reply
}

fn device_form(ctx: &Ctx<'_>, action: &str, default: &str, button: &str) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf_field(ctx))
            label { "Device name" input type="text" name="device" value=(default) maxlength="80"; }
            button type="submit" { (button) }
        }
    }
}

async fn page(ctx: &Ctx<'_>, notice: Option<Notice>, fresh: Option<Fresh>) -> Reply {
    let rep = &ctx.session().rep;
    let tokens: Vec<CredentialInfo> = match credentials::list_tokens(&ctx.state.store, Some(&rep.login)).await {
        Ok(tokens) => tokens,
        Err(e) => return super::internal(e),
    };
    let dav_url = format!("{}/dav/", ctx.base);
    let content = html! {
        @if let Some(fresh) = &fresh {
            section.card #fresh {
                @match fresh {
                    Fresh::Davx5 { token, url, qr } => {
                        h2 { "Scan with DAVx5" }
                        div.qr { (layout::trusted_svg(qr)) }
                        p { "In DAVx5: " b { "+" } " → " b { "Login with URL and user name" } ", or scan this code with the phone's camera." }
                        p.muted { "Or type: server " code { (dav_url) } ", user " code { (rep.login) } ", password " code.secret { (token) } }
                        p.muted { "Link: " code { (url) } }
                    }
                    Fresh::Token { token, label } => {
                        h2 { "Token for " (label) }
                        p { "Use it as the password of your account on that device:" }
                        p { code.secret #token { (token) } }
                    }
                    Fresh::Feed { links } => {
                        h2 { "Read-only calendar feed" }
                        p { "In Outlook: " b { "Add calendar → From Internet" } ", and paste:" }
                        p { code.secret { (links.activities) } }
                        p.muted { "Apple Calendar and others: " code { (links.webcal) } }
                    }
                }
            }
        }
        div.cards {
            section.card {
                h2 { "iPhone, iPad, Mac" }
                p { "Download the profile on the device, then open " b { "Settings → Profile Downloaded" } " and tap Install. Contacts and calendars appear, no URL to type." }
                (device_form(ctx, "/ui/devices/profile", "iPhone", "Download the profile"))
            }
            section.card {
                h2 { "Android (DAVx5)" }
                p { "Install DAVx5, then scan the code shown after you press the button." }
                (device_form(ctx, "/ui/devices/davx5", "Android", "Show the QR code"))
            }
            section.card {
                h2 { "Thunderbird" }
                ol {
                    li { "Make a token for this computer (below)." }
                    li { "Calendar → New Calendar → On the Network; Address Books → New → CardDAV." }
                    li { "Username " code { (rep.login) } ", location " code { (dav_url) } ", password: the token." }
                }
                (device_form(ctx, "/ui/devices/token", "Thunderbird", "Make a token"))
            }
            section.card {
                h2 { "Outlook" }
                p { b { "Two-way:" } " install the CalDav Synchronizer add-in, add a profile of type " i { "Generic CalDAV/CardDAV" } " with DAV URL " code { (dav_url) } ", username " code { (rep.login) } " and a token as the password." }
                (device_form(ctx, "/ui/devices/token", "Outlook", "Make a token"))
                p { b { "Read-only:" } " subscribe to a feed link instead." }
                (device_form(ctx, "/ui/devices/feed", "Outlook feed", "Make a feed link"))
            }
        }
        h2 { "My device tokens" }
        div.table {
            table #tokens {
                thead { tr { th { "Device" } th { "Kind" } th { "Created" } th { "Last used" } th { "" } } }
                tbody {
                    @for token in &tokens {
                        tr data-token-id=(token.id) {
                            td { (token.label) }
                            td { (if token.kind == "feed-token" { "feed" } else { "app" }) }
                            td { (layout::when(Some(&token.created_at))) }
                            td { (layout::when(token.last_used_at.as_ref())) }
                            td {
                                @if token.revoked_at.is_some() {
                                    span.muted { "revoked " (layout::when(token.revoked_at.as_ref())) }
                                } @else {
                                    form method="post" action=(format!("/ui/tokens/{}/revoke", token.id)) {
                                        (csrf_field(ctx))
                                        button.danger type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                    @if tokens.is_empty() { tr { td colspan="5" .muted { "No device token yet." } } }
                }
            }
        }
    };
    super::html(StatusCode::OK, layout::page(ctx, "Set up my devices", notice.as_ref(), content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn davx5_links_carry_login_and_token() {
        assert_eq!(
            davx5_url("https://crm.example.com", "alice", "crmdav_a-b"),
            "davx5s://alice:crmdav%5Fa%2Db@crm.example.com/dav/"
        );
        assert!(davx5_url("http://127.0.0.1:8080", "bob", "t").starts_with("davx5://bob:t@127.0.0.1:8080/"));
        assert!(qr_svg("davx5s://a:b@h/dav/").unwrap().contains("<svg"));
    }
}
