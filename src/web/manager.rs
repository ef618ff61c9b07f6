//! Figures and reports: "My figures" for every rep, and for managers and admins the dashboard of
//! every report kind (with its chart, filters and CSV download) and the team's untouched clients.
//! The figures are those of src/reports; nothing is computed twice.

use chrono::{Datelike, NaiveDate};
use http::{HeaderValue, StatusCode, header};
use maud::html;

use super::Ctx;
use super::layout::{self, Notice};
use crate::crm::CrmError;
use crate::crm::teams;
use crate::http::response::{self, Reply};
use crate::reports::{self, Compare, Kind, Params, Report, Value};

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

fn column(report: &Report, name: &str) -> Option<usize> {
    report.columns.iter().position(|c| c == name)
}

fn sum(report: &Report, name: &str) -> i64 {
    let Some(i) = column(report, name) else { return 0 };
    report.rows.iter().filter_map(|row| if let Value::Int(n) = row[i] { Some(n) } else { None }).sum()
}

fn cell(value: &Value) -> String {
    match value {
        Value::Int(n) => n.to_string(),
        Value::Float(f) => format!("{f:.2}"),
        Value::Text(t) => t.clone(),
        Value::Date(d) => d.to_string(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Null => String::new(),
    }
}

async fn run(ctx: &Ctx<'_>, params: Params) -> Result<Report, CrmError> {
    reports::run(&ctx.state.store, &params).await
}

pub async fn figures(ctx: &Ctx<'_>) -> Reply {
    let login = ctx.session().rep.login.clone();
    let today = today();
    let month_start = today.with_day(1).unwrap_or(today);
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    let params = |kind, from| Params::new(kind, Some(login.clone()), Some(from), Some(today), None, today);
    let (seen, results, untouched) = match (
        params(Kind::ClientsSeenMonthly, month_start),
        params(Kind::ActivityResults, year_start),
        params(Kind::UntouchedClients, year_start),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        _ => return super::internal("figures: invalid report parameters"),
    };
    let (seen, results, untouched) = match (run(ctx, seen).await, run(ctx, results).await, run(ctx, untouched).await) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return super::internal(e),
    };
    let code = column(&untouched, "client_code");
    let name = column(&untouched, "client_name");
    let content = html! {
        div.cards #figures {
            section.card {
                h2 { "Clients seen this month" }
                p.figure #seen-this-month { (sum(&seen, "clients_seen")) }
                p.muted { "Distinct clients with an activity completed since " (month_start) "." }
            }
            section.card {
                h2 { "Activities without a report" }
                p.figure #without-report { (sum(&results, "planned")) }
                p.muted { "Planned this year up to today and not yet closed with a report." }
            }
            section.card {
                h2 { "Clients not touched this year" }
                p.figure #untouched { (untouched.rows.len()) }
                p.muted { "Clients you see with no completed activity since " (year_start) "." }
            }
        }
        @if !untouched.rows.is_empty() {
            h2 { "Not touched this year" }
            div.table { table {
                thead { tr { th { "Code" } th { "Client" } } }
                tbody { @for row in untouched.rows.iter().take(50) {
                    tr { td { (code.map(|i| cell(&row[i])).unwrap_or_default()) } td { (name.map(|i| cell(&row[i])).unwrap_or_default()) } }
                } }
            } }
        }
    };
    super::html(StatusCode::OK, layout::page(ctx, "My figures", None, content))
}

/// The filters of the dashboard, as typed.
struct Filters {
    rep: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    compare: Option<Compare>,
}

impl Filters {
    fn read(ctx: &Ctx<'_>) -> Result<Filters, String> {
        let date = |name: &str| {
            ctx.param(name).map(|v| reports::parse_date(v).map_err(|e| format!("{name}: {e}"))).transpose()
        };
        let compare =
            ctx.param("compare").map(|v| v.parse::<Compare>().map_err(|e| format!("compare: {e}"))).transpose()?;
        Ok(Filters { rep: ctx.param("rep").map(str::to_string), from: date("from")?, to: date("to")?, compare })
    }

    /// The report's parameters; `scope`: the reps a manager's reports cover (None: an admin's).
    fn params(&self, kind: Kind, scope: Option<&[String]>) -> Result<Params, CrmError> {
        let params = Params::new(kind, self.rep.clone(), self.from, self.to, self.compare, today())?;
        Ok(match scope {
            Some(logins) => params.within(logins.to_vec()),
            None => params,
        })
    }

    fn query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(rep) = &self.rep {
            query.append_pair("rep", rep);
        }
        if let Some(from) = self.from {
            query.append_pair("from", &from.to_string());
        }
        if let Some(to) = self.to {
            query.append_pair("to", &to.to_string());
        }
        if let Some(compare) = self.compare {
            query.append_pair("compare", compare.name());
        }
        query.finish()
    }
}

/// A manager may filter on the reps of their own teams only, and "all reps" are those reps
/// (`Params::within`); admins see anyone.
async fn check_rep(ctx: &Ctx<'_>, filters: &Filters) -> Result<Vec<String>, Reply> {
    let me = &ctx.session().rep;
    let team = match teams::team_logins(&ctx.state.store, &me.login).await {
        Ok(team) => team,
        Err(e) => return Err(super::internal(e)),
    };
    if me.role == "manager"
        && let Some(rep) = &filters.rep
        && !team.contains(rep)
    {
        return Err(super::page_error(StatusCode::FORBIDDEN, &format!("{rep} is not in a team you manage")));
    }
    Ok(team)
}

pub async fn dashboard(ctx: &Ctx<'_>) -> Reply {
    let filters = match Filters::read(ctx) {
        Ok(filters) => filters,
        Err(message) => return super::page_error(StatusCode::BAD_REQUEST, &message),
    };
    let team = match check_rep(ctx, &filters).await {
        Ok(team) => team,
        Err(reply) => return reply,
    };
    let admin = ctx.session().rep.role == "admin";
    let logins: Vec<String> = if admin {
        teams::members(&ctx.state.store).await.unwrap_or_default().into_iter().map(|m| m.rep.login).collect()
    } else {
        team
    };
    let scope = (!admin).then_some(logins.as_slice());
    let mut notice = None;
    let mut sections = Vec::new();
    // Every report kind, so that one added later appears here too.
    for kind in Kind::ALL {
        let report = match filters.params(kind, scope) {
            Ok(params) => run(ctx, params).await,
            Err(e) => Err(e),
        };
        match report {
            Ok(report) => {
                let svg = match reports::chart::render_svg(&report.chart) {
                    Ok(svg) => svg,
                    Err(e) => return super::internal(e),
                };
                // Inline in the page: without the XML declaration of a standalone file.
                let svg = match svg.find("<svg") {
                    Some(start) => svg[start..].to_string(),
                    None => svg,
                };
                sections.push((kind, report.description, svg));
            }
            Err(CrmError::Invalid(message)) => {
                notice = Some(Notice::Refused(message));
                break;
            }
            Err(e) => return super::internal(e),
        }
    }
    let query = filters.query();
    let content = html! {
        form.card method="get" action="/ui/dashboard" {
            div.row {
                label { "Rep" select name="rep" {
                    option value="" { "all reps" }
                    @for login in &logins { option value=(login) selected[filters.rep.as_deref() == Some(login.as_str())] { (login) } }
                } }
                label { "From" input type="date" name="from" value=[filters.from.map(|d| d.to_string())]; }
                label { "To" input type="date" name="to" value=[filters.to.map(|d| d.to_string())]; }
                label { "Compare" select name="compare" {
                    option value="" { "no comparison" }
                    option value="reps" selected[filters.compare == Some(Compare::Reps)] { "reps side by side" }
                    option value="years" selected[filters.compare == Some(Compare::Years)] { "against a year earlier" }
                } }
            }
            button type="submit" { "Show" }
        }
        @for (kind, description, svg) in &sections {
            section.card.report data-report=(kind.name()) {
                h2 { (kind.title()) }
                p.muted { (description) " · " a href=(format!("/ui/reports/{}.csv?{query}", kind.name())) { "Download CSV" } }
                div.chart { (layout::trusted_svg(svg)) }
            }
        }
    };
    super::html(StatusCode::OK, layout::page(ctx, "Dashboard", notice.as_ref(), content))
}

/// `/ui/reports/{kind}.csv?...`: the report's table as CSV.
pub async fn download(ctx: &Ctx<'_>, segments: &[&str]) -> Reply {
    let Some(kind) = segments.first().and_then(|s| s.strip_suffix(".csv")).and_then(|k| k.parse::<Kind>().ok()) else {
        return super::page_error(StatusCode::NOT_FOUND, &format!("no report at {}", ctx.path));
    };
    let filters = match Filters::read(ctx) {
        Ok(filters) => filters,
        Err(message) => return super::page_error(StatusCode::BAD_REQUEST, &message),
    };
    let team = match check_rep(ctx, &filters).await {
        Ok(team) => team,
        Err(reply) => return reply,
    };
    let scope = (ctx.session().rep.role != "admin").then_some(team.as_slice());
    let report = match filters.params(kind, scope) {
        Ok(params) => run(ctx, params).await,
        Err(e) => Err(e),
    };
    let report = match report {
        Ok(report) => report,
        Err(CrmError::Invalid(message)) => return super::page_error(StatusCode::BAD_REQUEST, &message),
        Err(e) => return super::internal(e),
    };
    let mut reply =
        response::reply(StatusCode::OK, reports::Format::Csv.content_type(), reports::output::to_csv(&report, false));
    let file = format!("{}_{}_{}.csv", kind.name(), report.period.from, report.period.to);
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        reply.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    reply
}

/// The team's reps and the clients none of them touched this year. A manager sees the teams they
/// manage (another team is refused); an admin any team.
pub async fn team(ctx: &Ctx<'_>) -> Reply {
    let me = &ctx.session().rep;
    let store = &ctx.state.store;
    let teams =
        match if me.role == "admin" { teams::list(store).await } else { teams::managed_by(store, &me.login).await } {
            Ok(teams) => teams,
            Err(e) => return super::internal(e),
        };
    let chosen = match ctx.param("team") {
        Some(name) => match teams.iter().find(|t| t.name == name) {
            Some(team) => Some(team),
            None => {
                return super::page_error(StatusCode::FORBIDDEN, &format!("you do not manage a team named {name:?}"));
            }
        },
        None => teams.first(),
    };
    let members: Vec<String> = match chosen {
        Some(team) => match teams::members(store).await {
            Ok(all) => {
                all.into_iter().filter(|m| m.team.as_deref() == Some(team.name.as_str())).map(|m| m.rep.login).collect()
            }
            Err(e) => return super::internal(e),
        },
        None => Vec::new(),
    };
    let today = today();
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    let untouched = match Params::new(Kind::UntouchedClients, None, Some(year_start), Some(today), None, today) {
        Ok(params) => match run(ctx, params).await {
            Ok(report) => report,
            Err(e) => return super::internal(e),
        },
        Err(e) => return super::internal(e),
    };
    let rep_col = column(&untouched, "rep");
    let rows: Vec<&Vec<Value>> = untouched
        .rows
        .iter()
        .filter(|row| rep_col.is_some_and(|i| matches!(&row[i], Value::Text(login) if members.contains(login))))
        .collect();
    let content = html! {
        @if teams.is_empty() {
            p.muted { "You manage no team yet: an admin makes teams on the Reps page." }
        } @else {
            form.card method="get" action="/ui/team" {
                label { "Team" select name="team" {
                    @for t in &teams { option value=(t.name) selected[chosen.is_some_and(|c| c.id == t.id)] { (t.name) } }
                } }
                button type="submit" { "Show" }
            }
            p { "Reps: " @for (i, login) in members.iter().enumerate() { @if i > 0 { ", " } a href=(format!("/ui/dashboard?rep={login}")) { (login) } } }
            h2 { "Clients not touched since " (year_start) }
            div.table { table #team-untouched {
                thead { tr { @for c in &untouched.columns { th { (c) } } } }
                tbody {
                    @for row in &rows { tr { @for value in row.iter() { td { (cell(value)) } } } }
                    @if rows.is_empty() { tr { td colspan=(untouched.columns.len()) .muted { "Every client of the team was touched this year." } } }
                }
            } }
        }
    };
    super::html(StatusCode::OK, layout::page(ctx, "My team", None, content))
}
