//! CalDAV (RFC 4791) collections of one rep: `activities` (VEVENT) and `follow-ups` (VTODO).

use std::collections::BTreeSet;

use calcard::icalendar::ICalendar;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::crm::activities::{self, ActivityInput, ActivityView, Calendar, LinkColumn, Saved};
use crate::crm::audit::{self, AuditEntry};
use crate::crm::report_tasks;
use crate::crm::voice_notes::{self, NewVoiceNote};
use crate::crm::{CrmError, Session};
use crate::dav::collection::{Collection, Display, MemberShape, Tagged, Write, Written};
use crate::dav::error::{DavError, Precondition, Refusal};
use crate::dav::filter::TimeRange;
use crate::dav::multistatus::{Multistatus, PropStat, PropValue};
use crate::dav::names::PropName;
use crate::dav::reply::{self, Reply};
use crate::dav::request::{CalendarDataRequest, PropfindRequest, ReportRequest};
use crate::mapping::ical::shown::{self, ClientShown, ContactShown};
use crate::mapping::ical::{self, ComponentKind, IcalError, ParseOptions, RenderContext};
use crate::mapping::vcard::etag as strong_etag;
use crate::store::incremental::{LoggedChange, View};
use crate::store::sync::{self, Entries, Member, Page, Stored};

use super::report_task;
use super::{CalendarQueryError, Limits, busy_periods, expand, limit_recurrence_set, matches, merge_periods};

pub fn calendar_href(login: &str, calendar: Calendar) -> String {
    format!("/dav/calendars/{login}/{}/", calendar.name())
}

/// The store's key of one of the rep's calendars (its sync state, members and push subscriptions).
pub fn collection_key(rep_id: i64, calendar: Calendar) -> String {
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

pub(super) fn limits(s: &Session<'_>) -> Limits {
    Limits::new(s.config.calendar.max_instances)
}

pub(super) fn internal(e: impl std::fmt::Display) -> Reply {
    tracing::error!(error = %e, "CalDAV request failed");
    reply::text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error; nothing was changed")
}

/// The calendar object of an activity as the device sees it.
pub fn render(s: &Session<'_>, view: &ActivityView) -> String {
    render_object(s, view).to_string()
}

/// [`render`] as a parsed object, for queries: evaluated as is and written out only if answered.
pub(super) fn render_object(s: &Session<'_>, view: &ActivityView) -> ICalendar {
    if view.as_report_task {
        return report_task::render_object(s, view);
    }
    ical::render_calendar(&view.activity, &render_context(s, view))
}

/// The linked client as the activity's object shows it.
fn client_shown(view: &ActivityView) -> Option<ClientShown> {
    let (code, name) = (view.client_code.clone()?, view.client_name.clone()?);
    let c = &view.shown;
    let text = |value: &Option<String>| value.as_deref().unwrap_or("").trim().to_owned();
    let contact_name = format!("{} {}", text(&c.contact_first_name), text(&c.contact_last_name)).trim().to_owned();
    let contact = (!contact_name.is_empty()).then(|| ContactShown {
        name: contact_name,
        title: text(&c.contact_title),
        phone: [text(&c.contact_mobile), text(&c.contact_phone)]
            .into_iter()
            .find(|p| !p.is_empty())
            .unwrap_or_default(),
        email: text(&c.contact_email),
    });
    Some(ClientShown {
        code,
        name,
        address: shown::address_line(
            &text(&c.client_street),
            &text(&c.client_postal_code),
            &text(&c.client_city),
            &text(&c.client_country),
        ),
        phone: text(&c.client_phone),
        website: text(&c.client_website),
        contact,
    })
}

/// The activities of the calendar (`list`'s arguments), with the follow-ups' report tasks.
async fn list_members(
    s: &Session<'_>,
    calendar: Calendar,
    range: Option<activities::TimeBounds>,
) -> anyhow::Result<Vec<ActivityView>> {
    let mut views = activities::list(s.store, s.rep.id, calendar, range).await?;
    if calendar == Calendar::FollowUps {
        // Few per rep: the query's filter checks their DUE.
        views.extend(report_tasks::list(s.store, s.rep.id).await?);
    }
    with_voice_notes(s, views).await
}

/// `views` with their voice notes, which their objects link. A report task shows none: a voice
/// note on it closes its activity or is refused (`report_task::save`).
async fn with_voice_notes(s: &Session<'_>, mut views: Vec<ActivityView>) -> anyhow::Result<Vec<ActivityView>> {
    let ids: Vec<i64> = views.iter().filter(|v| !v.as_report_task).map(|v| v.activity.id).collect();
    let mut audio = voice_notes::of_activities(s.store, &ids).await?;
    for view in views.iter_mut().filter(|v| !v.as_report_task) {
        view.voice_notes = audio.remove(&view.activity.id).unwrap_or_default();
    }
    Ok(views)
}

fn render_context(s: &Session<'_>, view: &ActivityView) -> RenderContext {
    RenderContext {
        client: client_shown(view),
        // Only a closed activity shows its report (or an activity the CRM made, which has no object
        // of its own); a planned one shows the description the device wrote (None keeps it).
        note: view.note.clone().filter(|_| view.activity.status == "completed" || view.activity.ical.is_none()),
        stamp: None,
        done_category: s.config.calendar.done_category.clone(),
        audio: view.voice_notes.iter().map(|voice| super::notes::attached(s, voice)).collect(),
    }
}

async fn refresh(s: &Session<'_>, calendar: Calendar) -> anyhow::Result<i64> {
    let view = CalendarView { s, calendar };
    sync::refresh(s.store, &collection_key(s.rep.id, calendar), render_version(calendar), &view, s.change_seq).await
}

/// One of the rep's calendars as a view of the CRM (what `refresh` maintains; tests compute it in
/// full to compare).
pub fn view<'a>(s: &'a Session<'a>, calendar: Calendar) -> impl View + 'a {
    CalendarView { s, calendar }
}

/// A calendar as a view of the CRM: an object's source is its activity.
struct CalendarView<'a> {
    s: &'a Session<'a>,
    calendar: Calendar,
}

impl View for CalendarView<'_> {
    async fn affected(&self, changes: &[LoggedChange]) -> anyhow::Result<Option<Vec<i64>>> {
        let rep = self.s.rep.id;
        let (mut activities, mut clients, mut contacts) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for change in changes {
            match change.entity.as_str() {
                // Logged with its rep before and after a move: another rep's activity is not ours.
                "activities" if change.rep_id == Some(rep) => activities.extend(change.activity_id),
                "activities" => {}
                // An object shows its activity's last note, and links its voice notes.
                "notes" | "voice_notes" => activities.extend(change.activity_id),
                // ... its client (an own activity stays in the calendar whatever the client's
                // visibility, but still shows it: name, address, phone) and its contact person.
                "clients" => clients.extend(change.client_id),
                "contacts" => {
                    contacts.insert(change.entity_id);
                }
                // Visibility decides nothing in a rep's calendars, nor do results, objectives and
                // teams (a manager's team calendar is `team`).
                "collection_render" | "visibility_rules" | "results" | "objectives" | "teams" => {}
                _ => return Ok(None),
            }
        }
        for (column, ids) in [(LinkColumn::Client, clients), (LinkColumn::Contact, contacts)] {
            if !ids.is_empty() {
                let ids: Vec<i64> = ids.into_iter().collect();
                activities.extend(activities::ids_linked_to(self.s.store, rep, column, &ids).await?);
            }
        }
        Ok(Some(activities.into_iter().collect()))
    }

    async fn compute(&self, sources: Option<&[i64]>) -> anyhow::Result<Vec<Member>> {
        let (store, rep) = (self.s.store, self.s.rep.id);
        let mut views = match sources {
            None => activities::list(store, rep, self.calendar, None).await?,
            Some(ids) => activities::list_ids(store, rep, self.calendar, ids).await?,
        };
        // A report task's source is its activity, as the activity's own (a meeting, call or visit
        // is never in the follow-ups itself).
        if self.calendar == Calendar::FollowUps {
            views.extend(match sources {
                None => report_tasks::list(store, rep).await?,
                Some(ids) => report_tasks::list_ids(store, rep, ids).await?,
            });
        }
        let views = with_voice_notes(self.s, views).await?;
        // Each view is dropped once rendered: the rows and the texts are never all held at once.
        Ok(views
            .into_iter()
            .map(|v| {
                let body = render(self.s, &v);
                Member { source: v.activity.id, href: member_name(&v), etag: strong_etag(&body), body }
            })
            .collect())
    }
}

pub async fn collection_props(s: &Session<'_>, calendar: Calendar) -> anyhow::Result<Vec<(PropName, PropValue)>> {
    let seq = refresh(s, calendar).await?;
    let token = sync::token(&collection_key(s.rep.id, calendar), seq);
    let (displayname, color) = sync::display(s.store, &collection_key(s.rep.id, calendar)).await?;
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
    ]
    .into_iter()
    .chain(super::attachments::properties(s))
    .collect())
}

pub(super) fn calendar_data_name() -> PropName {
    PropName::caldav("calendar-data")
}

/// Propstats of one object, with calendar-data shaped as the request asks (expand, limit).
fn object_propstats(
    s: &Session<'_>,
    calendar: Calendar,
    object: &ICalendar,
    props: &PropfindRequest,
    data: Option<&CalendarDataRequest>,
) -> Result<Vec<PropStat>, Reply> {
    let text = object.to_string();
    let etag = strong_etag(&text);
    let data = if reply::wants(props, &calendar_data_name()) {
        Some(shape_object(s, object, text, data).map_err(reply::error)?)
    } else {
        None
    };
    Ok(shape(calendar).propstats(props, &etag, data))
}

pub(super) fn shape_calendar_data(
    s: &Session<'_>,
    text: String,
    request: Option<&CalendarDataRequest>,
) -> Result<String, DavError> {
    let Some(request) = request else { return Ok(text) };
    if request.expand.is_none() && request.limit_recurrence_set.is_none() {
        return Ok(text);
    }
    let parsed = ICalendar::parse(&text).map_err(|_| anyhow::anyhow!("stored calendar object does not parse"))?;
    shape_object(s, &parsed, text, Some(request))
}

/// The calendar-data of `object` (written out as `text`) as the request asks: expanded, limited
/// or as it is.
pub(super) fn shape_object(
    s: &Session<'_>,
    object: &ICalendar,
    text: String,
    request: Option<&CalendarDataRequest>,
) -> Result<String, DavError> {
    let Some(request) = request else { return Ok(text) };
    let too_many = |e: super::CalendarQueryError| Refusal::new(Precondition::MaxInstances, e.to_string()).into();
    if let Some(range) = &request.expand {
        return expand(object, range, &limits(s)).map_err(too_many);
    }
    if let Some(range) = &request.limit_recurrence_set {
        return limit_recurrence_set(object, range, &limits(s)).map_err(too_many);
    }
    Ok(text)
}

/// The ETag and text of each of `names` in the calendar, by name, as stored with its members once
/// it is brought up to date (a client fetching what its sync just listed: usually nothing changed).
async fn multiget_entries(
    s: &Session<'_>,
    calendar: Calendar,
    names: &[String],
    with_data: bool,
) -> anyhow::Result<Entries> {
    let synced = refresh(s, calendar).await?;
    sync::members_at(s.store, &collection_key(s.rep.id, calendar), synced, names, with_data).await
}

pub(super) fn too_many(e: impl std::fmt::Display) -> Reply {
    reply::refusal(&Refusal::new(Precondition::MaxInstances, e.to_string()))
}

/// The precondition an object the parser refused violates (RFC 4791 5.3.2).
fn precondition_of(error: &IcalError) -> Precondition {
    match error {
        IcalError::WrongComponent { .. } => Precondition::SupportedCalendarComponent,
        IcalError::TooManyInstances(_) => Precondition::MaxInstances,
        _ => Precondition::ValidCalendarData,
    }
}

pub async fn report(s: &Session<'_>, calendar: Calendar, report: ReportRequest) -> Reply {
    let href = calendar_href(&s.rep.login, calendar);
    match report {
        ReportRequest::CalendarQuery { props, calendar_data, filter, .. } => {
            // Narrow candidates in SQL by the top-level time range; recurrence instances are checked below.
            let range = filter.comp_filters.first().and_then(|f| f.time_range.as_ref()).map(|r| (r.start, r.end));
            let views = match list_members(s, calendar, range).await {
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
                match object_propstats(s, calendar, &object, &props, calendar_data.as_ref()) {
                    Ok(propstats) => body.add_response(&format!("{href}{}", member_name(view)), &propstats),
                    Err(reply) => return reply,
                }
            }
            reply::multistatus(body)
        }
        ReportRequest::FreeBusyQuery { range } if calendar == Calendar::Activities => free_busy(s, &range).await,
        _ => reply::refusal(&Refusal::new(
            Precondition::SupportedReport,
            "this report is not supported on this calendar",
        )),
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

/// A member's name in its calendar.
fn member_name(view: &ActivityView) -> String {
    match view.as_report_task {
        true => report_tasks::name_for(&view.activity.href),
        false => view.activity.href.clone(),
    }
}

/// How the calendar's objects are described: typed by the component the calendar takes.
fn shape(calendar: Calendar) -> MemberShape {
    let content_type = match calendar {
        Calendar::Activities => "text/calendar; charset=utf-8; component=vevent",
        Calendar::FollowUps => "text/calendar; charset=utf-8; component=vtodo",
    };
    MemberShape { content_type, data: calendar_data_name() }
}

/// One of a rep's calendars as a DAV collection: its objects are the rep's CRM activities.
pub struct CalendarCollection<'a> {
    s: &'a Session<'a>,
    calendar: Calendar,
}

impl<'a> CalendarCollection<'a> {
    pub fn new(s: &'a Session<'a>, calendar: Calendar) -> Self {
        Self { s, calendar }
    }

    pub fn calendar(&self) -> Calendar {
        self.calendar
    }
}

impl Collection for CalendarCollection<'_> {
    type Member = ActivityView;
    type Parsed = ical::ParsedObject;
    type DataRequest = CalendarDataRequest;
    type Entries = Entries;

    async fn entries(
        &self,
        names: &[String],
        with_data: bool,
        _: Option<&CalendarDataRequest>,
    ) -> Result<Entries, DavError> {
        Ok(multiget_entries(self.s, self.calendar, names, with_data).await?)
    }

    fn reshapes(&self, request: Option<&CalendarDataRequest>) -> bool {
        request.is_some_and(|r| r.expand.is_some() || r.limit_recurrence_set.is_some())
    }

    fn reshape(&self, text: String, request: Option<&CalendarDataRequest>) -> Result<String, DavError> {
        shape_calendar_data(self.s, text, request)
    }

    fn href(&self) -> String {
        calendar_href(&self.s.rep.login, self.calendar)
    }

    fn shape(&self) -> MemberShape {
        shape(self.calendar)
    }

    fn noun(&self) -> &'static str {
        "the calendar object"
    }

    fn valid_data(&self) -> Precondition {
        Precondition::ValidCalendarData
    }

    fn media_type_refusal(&self, content_type: Option<&str>) -> Option<Refusal> {
        let mime = content_type.map(|ct| ct.split(';').next().unwrap_or("").trim());
        (!mime.is_none_or(|mime| mime.eq_ignore_ascii_case("text/calendar"))).then(|| {
            Refusal::new(Precondition::SupportedCalendarData, "calendar objects must be sent as text/calendar")
        })
    }

    async fn properties(&self) -> anyhow::Result<Vec<(PropName, PropValue)>> {
        collection_props(self.s, self.calendar).await
    }

    async fn members(&self, with_data: bool) -> anyhow::Result<Vec<Stored>> {
        sync::stored(self.s.store, &collection_key(self.s.rep.id, self.calendar), None, with_data).await
    }

    async fn changes(&self, token: &str, limit: Option<usize>, with_data: bool) -> anyhow::Result<Option<Page>> {
        let seq = refresh(self.s, self.calendar).await?;
        sync::page(self.s.store, &collection_key(self.s.rep.id, self.calendar), seq, token, limit, with_data).await
    }

    async fn find(&self, name: &str) -> anyhow::Result<Option<ActivityView>> {
        if self.calendar == Calendar::FollowUps
            && let Some(task) = report_tasks::find(self.s.store, self.s.rep.id, name).await?
        {
            return Ok(Some(task));
        }
        match activities::find(self.s.store, self.s.rep.id, self.calendar, name).await? {
            Some(view) => Ok(with_voice_notes(self.s, vec![view]).await?.pop()),
            None => Ok(None),
        }
    }

    fn tagged(&self, view: &ActivityView) -> Tagged {
        let text = render(self.s, view);
        Tagged { etag: strong_etag(&text), text }
    }

    fn representation(&self, _: &ActivityView, tagged: Tagged, _: &HeaderMap) -> (&'static str, String) {
        ("text/calendar; charset=utf-8", tagged.text)
    }

    fn parse(&self, text: &str) -> Result<ical::ParsedObject, Refusal> {
        let options = ParseOptions {
            done_category: self.s.config.calendar.done_category.clone(),
            max_instances: self.s.config.calendar.max_instances,
        };
        ical::parse(text, component(self.calendar), &options)
            .map_err(|e| Refusal::new(precondition_of(&e), e.to_string()))
    }

    /// Creates or updates a CRM activity; the CRM refuses e.g. a completion without a note.
    async fn save(
        &self,
        name: &str,
        existing: Option<ActivityView>,
        parsed: ical::ParsedObject,
        text: &str,
    ) -> Result<Written, DavError> {
        let s = self.s;
        let target = self.member_href(name);
        // Inline recordings become voice notes of the activity, linked from its object.
        let (kept, audio) = super::attachments::inline_audio(s, text)?;
        let audio: Vec<NewVoiceNote<'_>> = super::attachments::measured(&audio);
        if let Some(task) = existing.as_ref().filter(|view| view.as_report_task) {
            return report_task::save(s, &target, task, &parsed, &audio).await;
        }
        let reserved_name = self.calendar == Calendar::FollowUps && name.starts_with(report_tasks::NAME_PREFIX);
        if existing.is_none() && (reserved_name || parsed.uid.starts_with(report_tasks::UID_PREFIX)) {
            return Err(report_task::reserved(name, &parsed.uid));
        }
        match &existing {
            Some(view) if view.activity.uid != parsed.uid => {
                let message = format!(
                    "the object at {target} has UID {}; a calendar object cannot change its UID",
                    view.activity.uid
                );
                return Err(Refusal::new(Precondition::CalendarNoUidConflict, message).with_href(target).into());
            }
            Some(_) => {}
            // Activities are unique per rep: the object holding the UID is always one the rep sees.
            None => match activities::href_of_uid(s.store, s.rep.id, &parsed.uid).await? {
                // Created at this very href by a concurrent request since it was looked up: the
                // device's view is stale (e.g. two PUTs with If-None-Match: *), not a UID conflict.
                Some((href, _, status)) if href == name && status != "cancelled" => {
                    return Err(DavError::Status(
                        StatusCode::PRECONDITION_FAILED,
                        "the activity was created by another request while this one was applied; fetch it again".into(),
                    ));
                }
                Some((href, kind, status)) if status != "cancelled" => {
                    let other = if kind == "task" { Calendar::FollowUps } else { Calendar::Activities };
                    let existing_href = format!("{}{href}", calendar_href(&s.rep.login, other));
                    let message = format!("UID {} is already used by {existing_href}", parsed.uid);
                    return Err(Refusal::new(Precondition::CalendarNoUidConflict, message)
                        .with_href(existing_href)
                        .into());
                }
                // A deleted (cancelled) activity with this UID comes back at this name (`activities::save`).
                _ => {}
            },
        }
        let shown = existing.as_ref().and_then(client_shown);
        let input = ActivityInput {
            uid: parsed.uid.clone(),
            kind: parsed.activity_kind(existing.as_ref().map(|e| e.activity.kind.as_str())).to_string(),
            // The device may send back what the server showed of the client as it is now.
            subject: shown::strip_summary(&parsed.summary, &[shown.as_ref().map_or("", |c| c.name.as_str())]),
            location: shown::strip_location(&parsed.location, shown.as_ref().map(|c| c.address.as_str())),
            start_at: parsed.start,
            end_at: parsed.end,
            all_day: parsed.all_day,
            timezone: parsed.timezone.clone(),
            recurring: parsed.recurring,
            range_end: parsed.range_end,
            description: parsed.description.clone(),
            description_before: existing
                .as_ref()
                .map(|view| ical::rendered_description(&view.activity, &render_context(s, view)))
                .unwrap_or_default(),
            completes: parsed.completes,
            completed_at: parsed.completed_at,
            cancelled: parsed.activity_status() == "cancelled",
            x_crm_client: parsed.x_crm_client.clone(),
            attendee_emails: parsed.attendees.clone(),
            categories: parsed.categories.clone(),
            ical: kept,
        };
        match activities::save(s, self.calendar, name, existing.as_ref(), &input, &audio).await {
            Ok(Some(Saved::Created)) => Ok(Written::Created),
            Ok(Some(Saved::Updated)) => Ok(Written::Updated),
            Ok(None) => Err(DavError::Status(
                StatusCode::PRECONDITION_FAILED,
                "the activity changed while this edit was applied; fetch it again".into(),
            )),
            Err(CrmError::NoteRequired(message)) => Err(Refusal::new(Precondition::NoteRequired, message).into()),
            Err(CrmError::NoteTooLong(message)) => Err(Refusal::new(Precondition::NoteTooLong, message).into()),
            Err(CrmError::Internal(e)) => Err(DavError::Internal(e)),
            Err(other) => Err(Refusal::new(Precondition::Refused, other.to_string()).into()),
        }
    }

    fn display_setting(&self, name: &PropName) -> Option<Display> {
        if *name == PropName::dav("displayname") {
            Some(Display::Name)
        } else if *name == PropName::apple_ical("calendar-color") {
            Some(Display::Color)
        } else {
            None
        }
    }

    async fn set_display(&self, displayname: Option<&str>, color: Option<&str>) -> anyhow::Result<()> {
        sync::set_display(self.s.store, &collection_key(self.s.rep.id, self.calendar), displayname, color).await
    }

    /// The activity is cancelled in the CRM (kept for reporting) and leaves the calendar.
    async fn remove(&self, _: &str, view: ActivityView) -> Result<(), DavError> {
        if view.as_report_task {
            return Err(report_task::refuse_delete(&view));
        }
        Ok(activities::cancel(self.s, &view).await?)
    }

    async fn audit_refusal(&self, write: Write, name: &str, refusal: &Refusal, _: Option<&str>) -> anyhow::Result<()> {
        let entry = AuditEntry {
            rep_id: Some(self.s.rep.id),
            device: self.s.device,
            action: if write == Write::Put { "activity.put" } else { "activity.delete" },
            target: name,
            outcome: "refused",
            before: None,
            after: Some(format!("{}: {}", refusal.precondition.name().name, refusal.message)),
        };
        audit::record(self.s.store, entry).await
    }
}

impl super::attachments::ManagedAttachments for CalendarCollection<'_> {
    fn session(&self) -> &Session<'_> {
        self.s
    }

    fn attachable(&self, view: &ActivityView) -> Result<super::attachments::Attachable, DavError> {
        use super::attachments::Attachable;
        Ok(match view.as_report_task {
            true => Attachable::ReportTask(Box::new(view.clone())),
            false => Attachable::Owner(voice_notes::Owner::Activity {
                activity_id: view.activity.id,
                client_id: view.activity.client_id,
            }),
        })
    }
}
