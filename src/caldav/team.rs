//! A manager's team calendar, `/dav/calendars/LOGIN/team/`: the events (meetings, calls, visits)
//! of the reps of the teams the manager leads, each as the rep's own calendar shows it (client,
//! address, contact), titled with the rep's name. Read-only: the manager's devices are told so
//! (`current-user-privilege-set`), and a write is refused with `DAV:need-privileges`.
//!
//! Only a rep whose role is manager has it; for anyone else the URL does not exist (404). It is a
//! view like the others (`store::incremental`): a change to a team rep's activity recomputes that
//! member alone; a change to a team (its manager) or to a rep (their team, role, name, or
//! disabling) recomputes the whole calendar.

use std::collections::BTreeSet;

use calcard::icalendar::ICalendar;
use http::HeaderMap;

use super::calendar::{
    calendar_data_name, internal, limits, render_object as rep_render_object, shape_calendar_data, shape_object,
    too_many,
};
use super::{CalendarQueryError, matches};
use crate::crm::Session;
use crate::crm::activities::{self, LinkColumn, TeamActivity};
use crate::crm::audit::{self, AuditEntry};
use crate::crm::reps::Rep;
use crate::crm::teams;
use crate::dav::collection::{Collection, Display, MemberShape, Tagged, Write, Written};
use crate::dav::error::{DavError, Precondition, Refusal};
use crate::dav::multistatus::{Multistatus, PropValue};
use crate::dav::names::PropName;
use crate::dav::reply::{self, Reply};
use crate::dav::request::{CalendarDataRequest, ReportRequest};
use crate::mapping::ical::{self, team::mark_team_event};
use crate::mapping::vcard::etag as strong_etag;
use crate::store::incremental::{LoggedChange, View};
use crate::store::sync::{self, Entries, Member, Page, Stored};

/// The collection's name under the manager's calendar home.
pub const TEAM: &str = "team";

/// The version of the texts: the events' own, and this module's marking of them.
const RENDER_VERSION: i32 = ical::EVENT_RENDER_VERSION * 100 + 1;

/// Whether `rep` has a team calendar: managers do (empty while they lead no team).
pub fn has_team_calendar(rep: &Rep) -> bool {
    rep.role == "manager"
}

pub fn team_href(login: &str) -> String {
    format!("/dav/calendars/{login}/{TEAM}/")
}

/// The store's key of the manager's team calendar (its sync state, members, push subscriptions).
pub fn collection_key(manager_id: i64) -> String {
    format!("{TEAM}:{manager_id}")
}

/// A member's name: by activity id, as two reps' activities may share an href.
fn member_name(member: &TeamActivity) -> String {
    format!("activity-{}.ics", member.view.activity.id)
}

fn activity_of_name(name: &str) -> Option<i64> {
    name.strip_prefix("activity-")?.strip_suffix(".ics")?.parse().ok().filter(|id| *id > 0)
}

fn render_object(s: &Session<'_>, member: &TeamActivity) -> ICalendar {
    let mut object = rep_render_object(s, &member.view);
    mark_team_event(&mut object, &member.rep_login, &member.rep_name);
    object
}

fn render(s: &Session<'_>, member: &TeamActivity) -> String {
    render_object(s, member).to_string()
}

async fn refresh(s: &Session<'_>) -> anyhow::Result<i64> {
    sync::refresh(s.store, &collection_key(s.rep.id), RENDER_VERSION, &TeamView { s }, s.change_seq).await
}

/// The manager's team calendar as a view of the CRM (what `refresh` maintains; tests compute it
/// in full to compare).
pub fn view<'a>(s: &'a Session<'a>) -> impl View + 'a {
    TeamView { s }
}

/// The team calendar as a view: an event's source is its activity.
struct TeamView<'a> {
    s: &'a Session<'a>,
}

impl View for TeamView<'_> {
    async fn affected(&self, changes: &[LoggedChange]) -> anyhow::Result<Option<Vec<i64>>> {
        let (store, manager) = (self.s.store, self.s.rep.id);
        let team: BTreeSet<i64> = activities::team_rep_ids(store, manager).await?.into_iter().collect();
        let (mut ids, mut clients, mut contacts) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for change in changes {
            match change.entity.as_str() {
                // Logged with its rep before and after a move: only a team rep's concerns the team.
                "activities" if change.rep_id.is_some_and(|rep| team.contains(&rep)) => ids.extend(change.activity_id),
                "activities" => {}
                "notes" => ids.extend(change.activity_id),
                "clients" => clients.extend(change.client_id),
                "contacts" => {
                    contacts.insert(change.entity_id);
                }
                // A team this manager leads or led (its manager changed, it was made or removed).
                "teams" if change.rep_id == Some(manager) => return Ok(None),
                "collection_render" | "visibility_rules" | "results" | "objectives" | "teams" => {}
                // Teams and reps (who is in which team, who leads it, names), anything else: the
                // whole calendar.
                _ => return Ok(None),
            }
        }
        for (column, linked) in [(LinkColumn::Client, clients), (LinkColumn::Contact, contacts)] {
            if !linked.is_empty() {
                let linked: Vec<i64> = linked.into_iter().collect();
                ids.extend(activities::team_ids_linked_to(store, manager, column, &linked).await?);
            }
        }
        Ok(Some(ids.into_iter().collect()))
    }

    async fn compute(&self, sources: Option<&[i64]>) -> anyhow::Result<Vec<Member>> {
        let (store, manager) = (self.s.store, self.s.rep.id);
        let members = match sources {
            None => activities::list_team(store, manager, None).await?,
            Some(ids) => activities::list_team_ids(store, manager, ids).await?,
        };
        Ok(members
            .into_iter()
            .map(|m| {
                let body = render(self.s, &m);
                Member { source: m.view.activity.id, href: member_name(&m), etag: strong_etag(&body), body }
            })
            .collect())
    }
}

/// Read, never write (RFC 3744): devices then offer no edits that would be refused.
fn privileges() -> PropValue {
    PropValue::Privileges(vec![PropName::dav("read"), PropName::dav("read-current-user-privilege-set")])
}

fn read_only_refusal() -> Refusal {
    Refusal::new(
        Precondition::NeedPrivileges,
        "the team calendar is read-only: its events are your team's reps' own; they change them on their devices",
    )
}

pub async fn collection_props(s: &Session<'_>) -> anyhow::Result<Vec<(PropName, PropValue)>> {
    let seq = refresh(s).await?;
    let key = collection_key(s.rep.id);
    let token = sync::token(&key, seq);
    let teams: Vec<String> = teams::managed_by(s.store, &s.rep.login).await?.into_iter().map(|t| t.name).collect();
    let description = match teams.is_empty() {
        true => "The activities of your team's reps (read-only): you lead no team yet".to_string(),
        false => format!("The activities of the reps of {} (read-only)", teams.join(", ")),
    };
    Ok(vec![
        (
            PropName::dav("resourcetype"),
            PropValue::ResourceType(vec![PropName::dav("collection"), PropName::caldav("calendar")]),
        ),
        (PropName::dav("displayname"), PropValue::Text("Team activities".into())),
        (PropName::apple_ical("calendar-color"), PropValue::Text("#8E24AAFF".into())),
        (PropName::caldav("calendar-description"), PropValue::Text(description)),
        (PropName::caldav("supported-calendar-component-set"), PropValue::Comps(vec!["VEVENT".into()])),
        (
            PropName::caldav("supported-calendar-data"),
            PropValue::Raw(r#"<cal:calendar-data content-type="text/calendar" version="2.0"/>"#.into()),
        ),
        (PropName::calendarserver("getctag"), PropValue::Text(token.clone())),
        (PropName::dav("sync-token"), PropValue::Text(token)),
        (PropName::dav("getetag"), PropValue::Text(format!("\"{seq}\""))),
        (
            PropName::dav("supported-report-set"),
            PropValue::SupportedReports(vec![
                PropName::caldav("calendar-multiget"),
                PropName::caldav("calendar-query"),
                PropName::dav("sync-collection"),
            ]),
        ),
        (PropName::dav("current-user-privilege-set"), privileges()),
        (PropName::dav("owner"), PropValue::Href(format!("/dav/principals/{}/", s.rep.login))),
    ])
}

fn shape() -> MemberShape {
    MemberShape { content_type: "text/calendar; charset=utf-8; component=vevent", data: calendar_data_name() }
}

/// calendar-query on the team calendar (multiget and sync-collection are the generic ones).
pub async fn report(s: &Session<'_>, report: ReportRequest) -> Reply {
    let href = team_href(&s.rep.login);
    let ReportRequest::CalendarQuery { props, calendar_data, filter, .. } = report else {
        return reply::refusal(&Refusal::new(
            Precondition::SupportedReport,
            "the team calendar answers calendar-query, calendar-multiget and sync-collection",
        ));
    };
    // Narrowed in SQL by the top-level time range; recurrence instances are checked below.
    let range = filter.comp_filters.first().and_then(|f| f.time_range.as_ref()).map(|r| (r.start, r.end));
    let members = match activities::list_team(s.store, s.rep.id, range).await {
        Ok(members) => members,
        Err(e) => return internal(e),
    };
    let mut body = Multistatus::new();
    for member in &members {
        let object = render_object(s, member);
        match matches(&object, &filter, &limits(s)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(CalendarQueryError::InvalidObject(message)) => {
                tracing::warn!(activity = member.view.activity.id, %message, "team event skipped by calendar-query");
                continue;
            }
            Err(e) => return too_many(e),
        }
        let text = object.to_string();
        let etag = strong_etag(&text);
        let data = match reply::wants(&props, &calendar_data_name()) {
            true => match shape_object(s, &object, text, calendar_data.as_ref()) {
                Ok(data) => Some(data),
                Err(e) => return reply::error(e),
            },
            false => None,
        };
        body.add_response(&format!("{href}{}", member_name(member)), &shape().propstats(&props, &etag, data));
    }
    reply::multistatus(body)
}

/// The team calendar of a manager as a DAV collection.
pub struct TeamCalendar<'a> {
    s: &'a Session<'a>,
}

impl<'a> TeamCalendar<'a> {
    pub fn new(s: &'a Session<'a>) -> Self {
        Self { s }
    }
}

impl Collection for TeamCalendar<'_> {
    type Member = TeamActivity;
    type Parsed = ();
    type DataRequest = CalendarDataRequest;
    type Entries = Entries;

    async fn entries(
        &self,
        names: &[String],
        with_data: bool,
        _: Option<&CalendarDataRequest>,
    ) -> Result<Entries, DavError> {
        let synced = refresh(self.s).await?;
        Ok(sync::members_at(self.s.store, &collection_key(self.s.rep.id), synced, names, with_data).await?)
    }

    fn reshapes(&self, request: Option<&CalendarDataRequest>) -> bool {
        request.is_some_and(|r| r.expand.is_some() || r.limit_recurrence_set.is_some())
    }

    fn reshape(&self, text: String, request: Option<&CalendarDataRequest>) -> Result<String, DavError> {
        shape_calendar_data(self.s, text, request)
    }

    fn href(&self) -> String {
        team_href(&self.s.rep.login)
    }

    fn shape(&self) -> MemberShape {
        shape()
    }

    fn noun(&self) -> &'static str {
        "the team event"
    }

    fn valid_data(&self) -> Precondition {
        Precondition::ValidCalendarData
    }

    fn media_type_refusal(&self, _: Option<&str>) -> Option<Refusal> {
        None
    }

    fn read_only(&self) -> Option<Refusal> {
        Some(read_only_refusal())
    }

    async fn properties(&self) -> anyhow::Result<Vec<(PropName, PropValue)>> {
        collection_props(self.s).await
    }

    async fn members(&self, with_data: bool) -> anyhow::Result<Vec<Stored>> {
        sync::stored(self.s.store, &collection_key(self.s.rep.id), None, with_data).await
    }

    async fn changes(&self, token: &str, limit: Option<usize>, with_data: bool) -> anyhow::Result<Option<Page>> {
        let seq = refresh(self.s).await?;
        sync::page(self.s.store, &collection_key(self.s.rep.id), seq, token, limit, with_data).await
    }

    async fn find(&self, name: &str) -> anyhow::Result<Option<TeamActivity>> {
        let Some(id) = activity_of_name(name) else { return Ok(None) };
        Ok(activities::list_team_ids(self.s.store, self.s.rep.id, &[id]).await?.into_iter().next())
    }

    fn tagged(&self, member: &TeamActivity) -> Tagged {
        let text = render(self.s, member);
        Tagged { etag: strong_etag(&text), text }
    }

    fn member_props(&self, _: &TeamActivity) -> Vec<(PropName, PropValue)> {
        vec![(PropName::dav("current-user-privilege-set"), privileges())]
    }

    fn representation(&self, _: &TeamActivity, tagged: Tagged, _: &HeaderMap) -> (&'static str, String) {
        ("text/calendar; charset=utf-8", tagged.text)
    }

    fn parse(&self, _: &str) -> Result<(), Refusal> {
        Err(read_only_refusal())
    }

    async fn save(&self, _: &str, _: Option<TeamActivity>, _: (), _: &str) -> Result<Written, DavError> {
        Err(read_only_refusal().into())
    }

    fn display_setting(&self, _: &PropName) -> Option<Display> {
        None
    }

    async fn set_display(&self, _: Option<&str>, _: Option<&str>) -> anyhow::Result<()> {
        Ok(())
    }

    async fn remove(&self, _: &str, _: TeamActivity) -> Result<(), DavError> {
        Err(read_only_refusal().into())
    }

    async fn audit_refusal(&self, write: Write, name: &str, refusal: &Refusal, _: Option<&str>) -> anyhow::Result<()> {
        let entry = AuditEntry {
            rep_id: Some(self.s.rep.id),
            device: self.s.device,
            action: if write == Write::Put { "team.put" } else { "team.delete" },
            target: name,
            outcome: "refused",
            before: None,
            after: Some(format!("{}: {}", refusal.precondition.name().name, refusal.message)),
        };
        audit::record(self.s.store, entry).await
    }
}

/// Answers 403 `need-privileges` for what the team calendar refuses outside the `Collection`
/// methods (PROPPATCH of one of its events).
pub fn refuse_write() -> Reply {
    reply::refusal(&read_only_refusal())
}
