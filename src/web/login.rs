//! Login and logout. A login is checked by the same authenticator as HTTP Basic (src/http/auth.rs):
//! the same argon2 rationing and the same failed-login throttling, per login and per address.
//! The login form has its own CSRF check (a cookie and a field that must match), so no other site
//! can log a browser into an account of its choosing.

use base64::Engine;
use http::{HeaderValue, StatusCode, header};
use maud::html;

use super::{Ctx, layout, session};
use crate::crm::credentials::TOKEN_PREFIX;
use crate::http::auth::AuthOutcome;
use crate::http::response::{self, Reply};

const LOGIN_COOKIE: &str = "crmdav_login";

pub fn form(ctx: &Ctx<'_>, error: Option<&str>, status: StatusCode) -> Reply {
    let token = session::random_secret();
    let markup = layout::login_page(html! {
        h1 { "crmdav console" }
        p.muted { "Log in with your crmdav login and password." }
        @if let Some(error) = error { p.notice.refused role="alert" { (error) } }
        form.card method="post" action="/ui/login" {
            input type="hidden" name="csrf" value=(token);
            label for="login" { "Login" }
            input #login type="text" name="login" autocomplete="username" autocapitalize="none" required
                value=[ctx.text("login")];
            label for="password" { "Password" }
            input #password type="password" name="password" autocomplete="current-password" required;
            button type="submit" { "Log in" }
        }
    });
    let mut reply = super::html(status, markup);
    let secure = if ctx.secure { "; Secure" } else { "" };
    if let Ok(cookie) =
        HeaderValue::from_str(&format!("{LOGIN_COOKIE}={token}; Path=/ui/login; HttpOnly; SameSite=Strict{secure}"))
    {
        reply.headers_mut().append(header::SET_COOKIE, cookie);
    }
    reply
}

pub async fn submit(ctx: &Ctx<'_>) -> Reply {
    let cookie =
        ctx.headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).and_then(|c| session::cookie(c, LOGIN_COOKIE));
    let fresh = match (cookie, ctx.field("csrf")) {
        (Some(cookie), Some(field)) => session::same_secret(cookie, field),
        _ => false,
    };
    if !fresh {
        return form(
            ctx,
            Some("the login form expired or did not come from this console (CSRF check failed): try again"),
            StatusCode::FORBIDDEN,
        );
    }
    let (Some(login), Some(password)) = (ctx.text("login"), ctx.field("password").filter(|p| !p.is_empty())) else {
        return form(ctx, Some("enter your login and your password"), StatusCode::BAD_REQUEST);
    };
    if password.starts_with(TOKEN_PREFIX) {
        return form(
            ctx,
            Some("app tokens are for devices: log in to the console with your password"),
            StatusCode::UNAUTHORIZED,
        );
    }
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}")));
    let state = ctx.state;
    let user = match state.auth.authenticate(&state.store, Some(&basic), ctx.client).await {
        Ok(AuthOutcome::Ok(user)) => user,
        Ok(AuthOutcome::Denied) => {
            return form(ctx, Some("wrong login or password"), StatusCode::UNAUTHORIZED);
        }
        Ok(AuthOutcome::Throttled(wait)) => {
            let mut reply = form(
                ctx,
                Some(&format!("too many failed logins for this login or address: try again in {wait} s")),
                StatusCode::TOO_MANY_REQUESTS,
            );
            reply.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return reply;
        }
        Ok(AuthOutcome::Busy) => {
            return form(
                ctx,
                Some("too many logins are being checked at once: try again in a second"),
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
        Err(e) => return super::internal(e),
    };
    let secret = match session::open(&state.store, &user.rep, state.config.web.session_lifetime()).await {
        Ok(secret) => secret,
        Err(e) => return super::internal(e),
    };
    let mut reply = response::redirect(StatusCode::SEE_OTHER, "/ui/");
    let headers = reply.headers_mut();
    if let Ok(cookie) =
        HeaderValue::from_str(&session::set_cookie(Some(&secret), state.config.web.session_lifetime(), ctx.secure))
    {
        headers.append(header::SET_COOKIE, cookie);
    }
    if let Ok(cookie) = HeaderValue::from_str(&format!("{LOGIN_COOKIE}=; Path=/ui/login; Max-Age=0")) {
        headers.append(header::SET_COOKIE, cookie);
    }
    reply
}

pub async fn logout(ctx: &Ctx<'_>) -> Reply {
    if let Err(e) = session::close(&ctx.state.store, ctx.session().id).await {
        return super::internal(e);
    }
    let mut reply = response::redirect(StatusCode::SEE_OTHER, "/ui/login");
    if let Ok(cookie) =
        HeaderValue::from_str(&session::set_cookie(None, ctx.state.config.web.session_lifetime(), ctx.secure))
    {
        reply.headers_mut().append(header::SET_COOKIE, cookie);
    }
    reply
}
