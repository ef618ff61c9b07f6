//! The page shell: head, navigation by role, notices. Every page is built from this.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Ctx;

/// A message at the top of a page after a form was sent.
pub enum Notice {
    Done(String),
    Refused(String),
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · crmdav" }
            link rel="stylesheet" href=(super::assets::CSS_PATH);
            script src=(super::assets::JS_PATH) defer {}
        }
    }
}

/// A page of the logged-in console.
pub fn page(ctx: &Ctx<'_>, title: &str, notice: Option<&Notice>, content: Markup) -> Markup {
    let session = ctx.session();
    let role = session.rep.role.as_str();
    let mut links = vec![("/ui/devices", "My devices"), ("/ui/figures", "My figures")];
    if role == "manager" || role == "admin" {
        links.push(("/ui/dashboard", "Dashboard"));
        links.push(("/ui/team", "Team"));
    }
    if role == "admin" {
        links.extend([
            ("/ui/admin/reps", "Reps"),
            ("/ui/admin/rules", "Visibility"),
            ("/ui/admin/reassign", "Reassign"),
            ("/ui/admin/audit", "Audit"),
        ]);
    }
    let current = if ctx.path == "/ui/" { "/ui/devices" } else { ctx.path.as_str() };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body data-csrf=(session.csrf_token) {
                header.top {
                    a.brand href="/ui/" { "crmdav" }
                    nav {
                        @for (href, label) in &links {
                            a href=(href) aria-current=[current.starts_with(href).then_some("page")] { (label) }
                        }
                    }
                    form.logout method="post" action="/ui/logout" {
                        (csrf_field(ctx))
                        span.who { (session.rep.display_name) " · " (role) }
                        button.link type="submit" { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    @match notice {
                        Some(Notice::Done(text)) => p.notice.done role="status" { (text) },
                        Some(Notice::Refused(text)) => p.notice.refused role="alert" { (text) },
                        None => {},
                    }
                    (content)
                }
            }
        }
    }
}

/// A page outside the session (login, errors).
pub fn bare(title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                main.narrow {
                    h1 { (title) }
                    p.notice.refused role="alert" { (message) }
                    p { a href="/ui/" { "Back to the console" } }
                }
            }
        }
    }
}

pub fn login_page(content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body { main.narrow { (content) } }
        }
    }
}

/// The hidden field every form of a session carries.
pub fn csrf_field(ctx: &Ctx<'_>) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.session().csrf_token); }
}

/// Text shown as is inside a `<pre>` or SVG already escaped by its producer.
pub fn trusted_svg(svg: &str) -> Markup {
    PreEscaped(svg.to_string())
}

/// A timestamp for people: `2026-03-02 14:05 UTC`.
pub fn when(ts: Option<&crate::store::Ts>) -> String {
    ts.map_or_else(|| "never".to_string(), |ts| ts.0.format("%Y-%m-%d %H:%M UTC").to_string())
}
