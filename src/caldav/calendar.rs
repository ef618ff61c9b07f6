//! CalDAV (RFC 4791) collections of one rep: `activities` (VEVENT) and `follow-ups` (VTODO).

use calcard::icalendar::ICalendar;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::crm::activities::{self, ActivityInput, ActivityView, Calendar, Saved};
use crate::crm::{CrmError, Session};
use crate::dav::error::{Precondition, Refusal};
use crate::dav::filter::TimeRange;
use crate::dav::multistatus::{Multistatus, PropStat, PropValue, error_body};
use crate::dav::names::PropName;
use crate::dav::path::member_name;
use crate::dav::reply::{self, Depth, Reply};
use crate::dav::request::{CalendarDataRequest, PropfindRequest, ReportRequest};
use crate::mapping::ical::{self, ComponentKind, IcalError, ParseOptions, RenderContext};
use crate::mapping::vcard::etag as strong_etag;
use crate::store::sync::{self, Entries, Member};

use super::{CalendarQueryError, Limits, busy_periods, expand, limit_recurrence_set, matches, merge_periods};

pub fn calendar_href(login: &str, calendar: Calendar) -> String {
    format!("/dav/calendars/{login}/{}/", calendar.name())
}

fn collection_key(rep_id: i64, calendar: Calendar) -> String {
    format!("{}:{rep_id}", calendar.name())
}

fn component(calendar: Calendar) -> ComponentKind {
    match calendar {
        Calendar::Activities => ComponentKind::Event,
        Calendar::FollowUps => ComponentKind::Todo,
    }
}

/// The version of the texts the calendar's members are rendered with (see `ical::render`).
fn render_version(calendar: Calendar) -> i32 {
    match calendar {
        Calendar::Activities => ical::EVENT_RENDER_VERSION,
        Calendar::FollowUps => ical::TODO_RENDER_VERSION,
    }
}

fn limits(s: &Session<'_>) -> Limits {
    Limits::new(s.config.calendar.max_instances)
}

fn internal(e: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %e, "CalDAV request failed");
    reply::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was changed")
}

/// The calendar object of an activity as the device sees it.
pub fn render(s: &Session<'_>, view: &ActivityView) -> String {
    ical::render(&view.activity, &render_context(s, view))
}

/// [`render`] as a parsed object, for queries: evaluated as is and written out only if answered.
fn render_object(s: &Session<'_>, view: &ActivityView) -> ICalendar {
    ical::render_calendar(&view.activity, &render_context(s, view))
}

fn render_context(s: &Session<'_>, view: &ActivityView) -> RenderContext {
    RenderContext {
        client: view.client_code.clone().zip(view.client_name.clone()),
        // None keeps the device's own DESCRIPTION when the activity has no note.
        note: view.note.clone(),
        stamp: None,
        done_category: s.config.calendar.done_category.clone(),
    }
}

async fn refresh(s: &Session<'_>, calendar: Calendar) -> anyhow::Result<i64> {
    sync::refresh(s.store, &collection_key(s.rep.id, calendar), render_version(calendar), || async {
        let views = activities::list(s.store, s.rep.id, calendar, None).await?;
        // Each view is dropped once rendered: the rows and the texts are never all held at once.
        Ok(views
            .into_iter()
            .map(|v| {
                let body = render(s, &v);
                Member { href: v.activity.href, etag: strong_etag(&body), body }
            })
            .collect())
    })
    .await
}

pub async fn collection_props(s: &Session<'_>, calendar: Calendar) -> Result<Vec<(PropName, PropValue)>, Reply> {
    let seq = refresh(s, calendar).await.map_err(internal)?;
    let token = sync::token(&collection_key(s.rep.id, calendar), seq);
    let (displayname, color) = sync::display(s.store, &collection_key(s.rep.id, calendar)).await.map_err(internal)?;
    let (default_name, default_color, comp) = match calendar {
        Calendar::Activities => ("CRM activities", "#1E88E5FF", "VEVENT"),
        Calendar::FollowUps => ("CRM follow-ups", "#F4511EFF", "VTODO"),
    };
    let mut reports = vec![
        PropName::caldav("calendar-multiget"),
        PropName::caldav("calendar-query"),
        PropName::dav("sync-collection"),
    ];
    if calendar == Calendar::Activities {
        reports.push(PropName::caldav("free-busy-query"));
    }
    Ok(vec![
        (
            PropName::dav("resourcetype"),
            PropValue::ResourceType(vec![PropName::dav("collection"), PropName::caldav("calendar")]),
        ),
        (
            PropName::dav("displayname"),
            PropValue::Text(displayname.filter(|d| !d.is_empty()).unwrap_or_else(|| default_name.into())),
        ),
        (
            PropName::apple_ical("calendar-color"),
            PropValue::Text(color.filter(|c| !c.is_empty()).unwrap_or_else(|| default_color.into())),
        ),
        (PropName::caldav("supported-calendar-component-set"), PropValue::Comps(vec![comp.into()])),
        (
            PropName::caldav("supported-calendar-data"),
            PropValue::Raw(r#"<cal:calendar-data content-type="text/calendar" version="2.0"/>"#.into()),
        ),
        (PropName::caldav("max-resource-size"), PropValue::Text(s.config.max_body_bytes.to_string())),
        (PropName::calendarserver("getctag"), PropValue::Text(token.clone())),
        (PropName::dav("sync-token"), PropValue::Text(token)),
        (PropName::dav("getetag"), PropValue::Text(format!("\"{seq}\""))),
        (PropName::dav("supported-report-set"), PropValue::SupportedReports(reports)),
        (
            PropName::dav("current-user-privilege-set"),
            PropValue::Privileges(vec![
                PropName::dav("read"),
                PropName::dav("write"),
                PropName::dav("write-content"),
                PropName::dav("write-properties"),
                PropName::dav("bind"),
                PropName::dav("unbind"),
                PropName::dav("read-current-user-privilege-set"),
                PropName::caldav("read-free-busy"),
            ]),
        ),
        (PropName::dav("owner"), PropValue::Href(format!("/dav/principals/{}/", s.rep.login))),
    ])
}

fn calendar_data_name() -> PropName {
    PropName::caldav("calendar-data")
}

fn object_props(etag: &str, data: Option<String>) -> Vec<(PropName, PropValue)> {
    let mut props = vec![
        (PropName::dav("getetag"), PropValue::Text(etag.to_string())),
        (PropName::dav("getcontenttype"), PropValue::Text("text/calendar; charset=utf-8; component=vevent".into())),
        (PropName::dav("resourcetype"), PropValue::ResourceType(vec![])),
    ];
    if let Some(data) = data {
        props.push((calendar_data_name(), PropValue::Text(data)));
    }
    props
}

/// Propstats of one object, with calendar-data shaped as the request asks (expand, limit).
fn object_propstats(
    s: &Session<'_>,
    object: &ICalendar,
    props: &PropfindRequest,
    data: Option<&CalendarDataRequest>,
) -> Result<Vec<PropStat>, Reply> {
    let text = object.to_string();
    let etag = strong_etag(&text);
    let data =
        if reply::wants(props, &calendar_data_name()) { Some(shape_object(s, object, text, data)?) } else { None };
    Ok(reply::select_props(props, object_props(&etag, data), &[calendar_data_name()]))
}

fn shape_calendar_data(s: &Session<'_>, text: String, request: Option<&CalendarDataRequest>) -> Result<String, Reply> {
    let Some(request) = request else { return Ok(text) };
    if request.expand.is_none() && request.limit_recurrence_set.is_none() {
        return Ok(text);
    }
    let parsed = ICalendar::parse(&text).map_err(|_| internal("stored calendar object does not parse"))?;
    shape_object(s, &parsed, text, Some(request))
}

/// The calendar-data of `object` (written out as `text`) as the request asks: expanded, limited
/// or as it is.
fn shape_object(
    s: &Session<'_>,
    object: &ICalendar,
    text: String,
    request: Option<&CalendarDataRequest>,
) -> Result<String, Reply> {
    let Some(request) = request else { return Ok(text) };
    if let Some(range) = &request.expand {
        return expand(object, range, &limits(s)).map_err(too_many);
    }
    if let Some(range) = &request.limit_recurrence_set {
        return limit_recurrence_set(object, range, &limits(s)).map_err(too_many);
    }
    Ok(text)
}

/// The ETag and text of each of `names` in the calendar, by name: the text stored with the members
/// when the calendar is up to date (a client fetching what its sync just listed), else rendered
/// from the CRM rows.
async fn multiget_entries(
    s: &Session<'_>,
    calendar: Calendar,
    names: &[String],
    with_data: bool,
) -> anyhow::Result<Entries> {
    let key = collection_key(s.rep.id, calendar);
    if let Some(fresh) = sync::fresh_members(s.store, &key, render_version(calendar), names, with_data).await? {
        return Ok(fresh);
    }
    let views = activities::find_many(s.store, s.rep.id, calendar, names).await?;
    Ok(Entries::Owned(
        views
            .iter()
            .map(|view| {
                let text = render(s, view);
                (view.activity.href.clone(), (strong_etag(&text), with_data.then_some(text)))
            })
            .collect(),
    ))
}

fn too_many(e: impl std::fmt::Display) -> Reply {
    reply::refusal(&Refusal::new(Precondition::MaxInstances, e.to_string()))
}

pub async fn propfind(s: &Session<'_>, calendar: Calendar, depth: Depth, request: &PropfindRequest) -> Reply {
    let href = calendar_href(&s.rep.login, calendar);
    let props = match collection_props(s, calendar).await {
        Ok(props) => props,
        Err(reply) => return reply,
    };
    let mut body = Multistatus::new();
    body.add_response(&href, &reply::select_props(request, props, &[]));
    if depth == Depth::Zero {
        return reply::multistatus(body);
    }
    // collection_props just brought the members up to date: their stored text is current.
    let with_data = reply::wants(request, &calendar_data_name());
    let members = match sync::stored(s.store, &collection_key(s.rep.id, calendar), None, with_data).await {
        Ok(members) => members,
        Err(e) => return internal(e),
    };
    reply::members(body, href, members, request, calendar_data_name(), object_props)
}

pub async fn propfind_object(s: &Session<'_>, calendar: Calendar, name: &str, request: &PropfindRequest) -> Reply {
    match activities::find(s.store, s.rep.id, calendar, name).await {
        Ok(Some(view)) => match object_propstats(s, &render_object(s, &view), request, None) {
            Ok(propstats) => {
                let mut body = Multistatus::new();
                body.add_response(&format!("{}{name}", calendar_href(&s.rep.login, calendar)), &propstats);
                reply::multistatus(body)
            }
            Err(reply) => reply,
        },
        Ok(None) => reply::not_found(&format!("{}{name}", calendar_href(&s.rep.login, calendar))),
        Err(e) => internal(e),
    }
}

/// Whether the calendar holds an object named `name`.
pub async fn object_exists(s: &Session<'_>, calendar: Calendar, name: &str) -> anyhow::Result<bool> {
    Ok(activities::find(s.store, s.rep.id, calendar, name).await?.is_some())
}

pub async fn get(s: &Session<'_>, calendar: Calendar, name: &str, headers: &HeaderMap, head: bool) -> Reply {
    let view = match activities::find(s.store, s.rep.id, calendar, name).await {
        Ok(Some(view)) => view,
        Ok(None) => return reply::not_found(&format!("{}{name}", calendar_href(&s.rep.login, calendar))),
        Err(e) => return internal(e),
    };
    let text = render(s, &view);
    let etag = strong_etag(&text);
    reply::representation(headers, &etag, "text/calendar; charset=utf-8", text, head)
}

fn is_calendar_type(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(ct) => ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/calendar"),
    }
}

/// The precondition an object the parser refused violates (RFC 4791 5.3.2).
fn precondition_of(error: &IcalError) -> Precondition {
    match error {
        IcalError::WrongComponent { .. } => Precondition::SupportedCalendarComponent,
        IcalError::TooManyInstances(_) => Precondition::MaxInstances,
        _ => Precondition::ValidCalendarData,
    }
}

/// PUT of a calendar object: creates or updates a CRM activity; refuses a completion without note.
pub async fn put(s: &Session<'_>, calendar: Calendar, name: &str, headers: &HeaderMap, body: &[u8]) -> Reply {
    let target = format!("{}{name}", calendar_href(&s.rep.login, calendar));
    let refuse = async |refusal: Refusal| {
        let entry = crate::crm::audit::AuditEntry {
            rep_id: Some(s.rep.id),
            device: s.device,
            action: "activity.put",
            target: name,
            outcome: "refused",
            before: None,
            after: Some(format!("{}: {}", refusal.precondition.name().name, refusal.message)),
        };
        if let Err(e) = crate::crm::audit::record(s.store, entry).await {
            return internal(e);
        }
        reply::refusal(&refusal)
    };
    if !is_calendar_type(headers) {
        return refuse(Refusal::new(
            Precondition::SupportedCalendarData,
            "calendar objects must be sent as text/calendar",
        ))
        .await;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return refuse(Refusal::new(Precondition::ValidCalendarData, "the calendar object is not UTF-8 text")).await;
    };
    let options = ParseOptions {
        done_category: s.config.calendar.done_category.clone(),
        max_instances: s.config.calendar.max_instances,
    };
    let parsed = match ical::parse(text, component(calendar), &options) {
        Ok(parsed) => parsed,
        Err(e) => return refuse(Refusal::new(precondition_of(&e), e.to_string())).await,
    };
    let existing = match activities::find(s.store, s.rep.id, calendar, name).await {
        Ok(view) => view,
        Err(e) => return internal(e),
    };
    let current_etag = existing.as_ref().map(|v| strong_etag(&render(s, v)));
    if let Err(reply) = reply::check_conditions(headers, current_etag.as_deref()) {
        return reply;
    }
    match &existing {
        Some(view) if view.activity.uid != parsed.uid => {
            let message = format!(
                "the object at {target} has UID {}; a calendar object cannot change its UID",
                view.activity.uid
            );
            return refuse(Refusal::new(Precondition::CalendarNoUidConflict, message).with_href(target)).await;
        }
        Some(_) => {}
        // Activities are unique per rep: the object holding the UID is always one the rep sees.
        None => match activities::href_of_uid(s.store, s.rep.id, &parsed.uid).await {
            // Created at this very href by a concurrent request since it was looked up: the
            // device's view is stale (e.g. two PUTs with If-None-Match: *), not a UID conflict.
            Ok(Some((href, _, status))) if href == name && status != "cancelled" => {
                return reply::text(
                    StatusCode::PRECONDITION_FAILED,
                    "the activity was created by another request while this one was applied; fetch it again",
                );
            }
            Ok(Some((href, kind, status))) if status != "cancelled" => {
                let other = if kind == "task" { Calendar::FollowUps } else { Calendar::Activities };
                let existing_href = format!("{}{href}", calendar_href(&s.rep.login, other));
                let message = format!("UID {} is already used by {existing_href}", parsed.uid);
                return refuse(Refusal::new(Precondition::CalendarNoUidConflict, message).with_href(existing_href))
                    .await;
            }
            // A deleted (cancelled) activity with this UID comes back at this name (`activities::save`).
            Ok(_) => {}
            Err(e) => return internal(e),
        },
    }
    let input = ActivityInput {
        uid: parsed.uid.clone(),
        kind: parsed.activity_kind(existing.as_ref().map(|e| e.activity.kind.as_str())).to_string(),
        subject: parsed.summary.clone(),
        location: parsed.location.clone(),
        start_at: parsed.start,
        end_at: parsed.end,
        all_day: parsed.all_day,
        timezone: parsed.timezone.clone(),
        recurring: parsed.recurring,
        range_end: parsed.range_end,
        description: parsed.description.clone(),
        completes: parsed.completes,
        completed_at: parsed.completed_at,
        cancelled: parsed.activity_status() == "cancelled",
        x_crm_client: parsed.x_crm_client.clone(),
        attendee_emails: parsed.attendees.clone(),
        categories: parsed.categories.clone(),
        ical: text.to_string(),
    };
    let saved = match activities::save(s, calendar, name, existing.as_ref(), &input).await {
        Ok(Some(saved)) => saved,
        Ok(None) => {
            return reply::text(
                StatusCode::PRECONDITION_FAILED,
                "the activity changed while this edit was applied; fetch it again",
            );
        }
        Err(CrmError::NoteRequired(message)) => return refuse(Refusal::new(Precondition::NoteRequired, message)).await,
        Err(CrmError::NoteTooLong(message)) => return refuse(Refusal::new(Precondition::NoteTooLong, message)).await,
        Err(CrmError::Internal(e)) => return internal(e),
        Err(other) => return refuse(Refusal::new(Precondition::Refused, other.to_string())).await,
    };
    let status = match saved {
        Saved::Created => StatusCode::CREATED,
        Saved::Updated => StatusCode::NO_CONTENT,
    };
    let mut response = reply::text(status, "");
    // The ETag only when the stored object is exactly what was sent (RFC 4791 5.3.4).
    if let Ok(Some(view)) = activities::find(s.store, s.rep.id, calendar, name).await {
        let stored = render(s, &view);
        if stored == text {
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_str(&strong_etag(&stored)).expect("hex etag"));
        }
    }
    response
}

/// DELETE: the activity is cancelled in the CRM (kept for reporting) and leaves the calendar.
pub async fn delete(s: &Session<'_>, calendar: Calendar, name: &str, headers: &HeaderMap) -> Reply {
    let view = match activities::find(s.store, s.rep.id, calendar, name).await {
        Ok(Some(view)) => view,
        Ok(None) => return reply::not_found(&format!("{}{name}", calendar_href(&s.rep.login, calendar))),
        Err(e) => return internal(e),
    };
    if let Err(reply) = reply::check_conditions(headers, Some(&strong_etag(&render(s, &view)))) {
        return reply;
    }
    match activities::cancel(s, &view).await {
        Ok(()) => reply::text(StatusCode::NO_CONTENT, ""),
        Err(e) => internal(e),
    }
}

pub async fn report(s: &Session<'_>, calendar: Calendar, report: ReportRequest) -> Reply {
    let href = calendar_href(&s.rep.login, calendar);
    match report {
        ReportRequest::CalendarMultiget { props, calendar_data, hrefs } => {
            let names: Vec<Option<String>> = hrefs.iter().map(|h| member_name(h, &href)).collect();
            let wanted: Vec<String> = names.iter().flatten().cloned().collect();
            let with_data = reply::wants(&props, &calendar_data_name());
            let found = match multiget_entries(s, calendar, &wanted, with_data).await {
                Ok(found) => found,
                Err(e) => return internal(e),
            };
            // One member's response: (name, ETag, text as it is to be served), or 404 for its href.
            let write =
                move |body: &mut Multistatus, raw: &str, member: Option<(&str, &str, Option<String>)>| match member {
                    Some((name, etag, data)) => body.add_response(
                        &format!("{href}{name}"),
                        &reply::select_props(&props, object_props(etag, data), &[calendar_data_name()]),
                    ),
                    None => body.add_status(&percent_encoding::percent_decode_str(raw).decode_utf8_lossy(), 404),
                };
            let shaped = calendar_data.as_ref().is_some_and(|r| r.expand.is_some() || r.limit_recurrence_set.is_some());
            if !shaped {
                // Written while it is sent: thousands of events are never held as one answer.
                return reply::multistatus_streamed(Multistatus::new().stream(
                    hrefs.into_iter().zip(names),
                    move |body, (raw, name)| {
                        let member =
                            name.as_deref().and_then(|name| found.get(name).map(|(etag, text)| (name, etag, text)));
                        write(body, &raw, member.map(|(name, etag, text)| (name, etag, text.map(str::to_owned))))
                    },
                ));
            }
            // Expanding can fail on a bound (max-instances): known before anything is sent.
            let mut body = Multistatus::new();
            for (raw, name) in hrefs.iter().zip(names) {
                let member = name.as_deref().and_then(|name| found.get(name).map(|(etag, text)| (name, etag, text)));
                let member = match member {
                    Some((name, etag, text)) => {
                        match text.map(|t| shape_calendar_data(s, t.to_owned(), calendar_data.as_ref())).transpose() {
                            Ok(data) => Some((name, etag, data)),
                            Err(reply) => return reply,
                        }
                    }
                    None => None,
                };
                write(&mut body, raw, member);
            }
            reply::multistatus(body)
        }
        ReportRequest::CalendarQuery { props, calendar_data, filter, .. } => {
            // Narrow candidates in SQL by the top-level time range; recurrence instances are checked below.
            let range = filter.comp_filters.first().and_then(|f| f.time_range.as_ref()).map(|r| (r.start, r.end));
            let views = match activities::list(s.store, s.rep.id, calendar, range).await {
                Ok(views) => views,
                Err(e) => return internal(e),
            };
            let mut body = Multistatus::new();
            for view in &views {
                let object = render_object(s, view);
                match matches(&object, &filter, &limits(s)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(CalendarQueryError::InvalidObject(message)) => {
                        // Written by another program and unreadable: leave it out, say so in the log.
                        tracing::warn!(href = %view.activity.href, %message, "calendar object skipped by calendar-query");
                        continue;
                    }
                    Err(e) => return too_many(e),
                }
                match object_propstats(s, &object, &props, calendar_data.as_ref()) {
                    Ok(propstats) => body.add_response(&format!("{href}{}", view.activity.href), &propstats),
                    Err(reply) => return reply,
                }
            }
            reply::multistatus(body)
        }
        ReportRequest::FreeBusyQuery { range } if calendar == Calendar::Activities => free_busy(s, &range).await,
        ReportRequest::SyncCollection { sync_token, sync_level, limit, props } => {
            sync_collection(s, calendar, &sync_token, &sync_level, limit, &props).await
        }
        _ => reply::precondition_failed(
            StatusCode::FORBIDDEN,
            PropName::dav("supported-report"),
            "this report is not supported on this calendar",
        ),
    }
}

async fn free_busy(s: &Session<'_>, range: &TimeRange) -> Reply {
    let views = match activities::list(s.store, s.rep.id, Calendar::Activities, Some((range.start, range.end))).await {
        Ok(views) => views,
        Err(e) => return internal(e),
    };
    let mut periods = Vec::new();
    for view in &views {
        match busy_periods(&render_object(s, view), range, &limits(s)) {
            Ok(mut busy) => periods.append(&mut busy),
            Err(CalendarQueryError::InvalidObject(_)) => continue,
            Err(e) => return too_many(e),
        }
    }
    let periods = merge_periods(periods);
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let fmt = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let mut out = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav//free-busy//EN\r\nBEGIN:VFREEBUSY\r\nDTSTAMP:{stamp}\r\n"
    );
    if let (Some(start), Some(end)) = (range.start, range.end) {
        out.push_str(&format!("DTSTART:{}\r\nDTEND:{}\r\n", fmt(&start), fmt(&end)));
    }
    for (start, end) in periods {
        out.push_str(&format!("FREEBUSY;FBTYPE=BUSY:{}/{}\r\n", fmt(&start), fmt(&end)));
    }
    out.push_str("END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
    let mut response = reply::text(StatusCode::OK, "");
    *response.body_mut() = out.into();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    response
}

async fn sync_collection(
    s: &Session<'_>,
    calendar: Calendar,
    token: &str,
    level: &str,
    limit: Option<u32>,
    props: &PropfindRequest,
) -> Reply {
    if level != "1" {
        return reply::precondition_failed(
            StatusCode::FORBIDDEN,
            PropName::dav("supported-sync-level"),
            "calendars have no sub-collections: use sync-level 1",
        );
    }
    let seq = match refresh(s, calendar).await {
        Ok(seq) => seq,
        Err(e) => return internal(e),
    };
    let with_data = reply::wants(props, &calendar_data_name());
    let key = collection_key(s.rep.id, calendar);
    let page = match sync::page(s.store, &key, seq, token, limit.map(|l| l as usize), with_data).await {
        Ok(Some(page)) => page,
        Ok(None) => {
            return reply::xml(
                StatusCode::FORBIDDEN,
                error_body(
                    &PropName::dav("valid-sync-token"),
                    "unknown or expired sync-token: sync again from the start (empty token)",
                ),
            );
        }
        Err(e) => return internal(e),
    };
    reply::sync_collection(calendar_href(&s.rep.login, calendar), page, props, calendar_data_name(), object_props)
}

pub async fn set_display(
    s: &Session<'_>,
    calendar: Calendar,
    displayname: Option<&str>,
    color: Option<&str>,
) -> anyhow::Result<()> {
    sync::set_display(s.store, &collection_key(s.rep.id, calendar), displayname, color).await
}
