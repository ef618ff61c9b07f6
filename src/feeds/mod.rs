//! Read-only subscription feeds of one rep, behind a revocable feed token:
//! `/feeds/{token}/activities.ics` (the rep's activities and follow-ups in a window around today,
//! for "subscribe to calendar" apps) and `/feeds/{token}/clients.vcf` (the rep's address book).
//!
//! The token is the credential: it is checked against the database on every request (no cache), so
//! a revoked token, or a disabled rep, gets 404 on the very next request. The content is the same as
//! the rep's DAV collections: the same visibility rules, and each activity rendered by the CalDAV
//! code, so a feed never shows what the rep's calendar would not.

pub mod http;

use std::borrow::Cow;
use std::collections::HashSet;
use std::str::FromStr;

use anyhow::Result;
use calcard::common::timezone::Tz;
use calcard::icalendar::{ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarProperty, ICalendarValue};
use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc};

use crate::caldav::calendar as caldav;
use crate::config::Config;
use crate::crm::Session;
use crate::crm::activities::{self, Calendar};
use crate::crm::addressbook;
use crate::crm::reps::Rep;
use crate::mapping::vcard::{self, Version};
use crate::on_db;
use crate::store::{Store, Ts};

/// The first path segment of every feed URL.
pub const PREFIX: &str = "/feeds/";

/// The two feeds of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedKind {
    Activities,
    Clients,
}

impl FeedKind {
    pub fn from_file_name(name: &str) -> Option<FeedKind> {
        match name {
            "activities.ics" => Some(FeedKind::Activities),
            "clients.vcf" => Some(FeedKind::Clients),
            _ => None,
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            FeedKind::Activities => "activities.ics",
            FeedKind::Clients => "clients.vcf",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FeedKind::Activities => "text/calendar; charset=utf-8",
            FeedKind::Clients => "text/vcard; charset=utf-8",
        }
    }
}

/// The addresses of a feed token's feeds, shown once when the token is created.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FeedLinks {
    /// `webcal://host/feeds/TOKEN/activities.ics`: what calendar apps subscribe to.
    pub webcal: String,
    /// The same calendar over http(s), for apps that want a plain URL (Google Calendar, Outlook on the web).
    pub activities: String,
    /// The address book as one vCard file.
    pub clients: String,
}

/// The links of `token` on the server reached at `base` (`https://host[:port]`, no trailing slash).
pub fn links(base: &str, token: &str) -> FeedLinks {
    let base = base.trim_end_matches('/');
    let host = base.split_once("://").map_or(base, |(_, host)| host);
    FeedLinks {
        webcal: format!("webcal://{host}{PREFIX}{token}/activities.ics"),
        activities: format!("{base}{PREFIX}{token}/activities.ics"),
        clients: format!("{base}{PREFIX}{token}/clients.vcf"),
    }
}

/// The base URL a CLI user's devices reach the server at: `host` if given (a name, `name:port` or a
/// full `https://...` URL), else the configured listen address.
pub fn base_url(config: &Config, host: Option<&str>) -> String {
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(url) if url.contains("://") => url.trim_end_matches('/').to_string(),
        Some(host) => format!("{scheme}://{}", host.trim_end_matches('/')),
        None => format!("{scheme}://{}", config.listen),
    }
}

/// `scheme://host` of this server as a request reached it (through a proxy: `X-Forwarded-Proto` and
/// `X-Forwarded-Host`), for links shown in an API answer; the listen address when the request names
/// no host.
pub fn request_base(config: &Config, headers: &::http::HeaderMap) -> String {
    // The first value of a header, if it is a plain host or scheme (no path, user or query).
    let header = |name: &str| {
        let value = headers.get(name)?.to_str().ok()?.split(',').next()?.trim();
        let plain = value.chars().all(|c| c.is_ascii_graphic()) && !value.contains(['/', '@', '?', '#']);
        (plain && !value.is_empty()).then_some(value)
    };
    let host = header("x-forwarded-host").or_else(|| header("host"));
    let scheme = match header("x-forwarded-proto") {
        Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
        Some(proto) if proto.eq_ignore_ascii_case("http") => "http",
        _ if config.tls.is_some() => "https",
        _ => "http",
    };
    match host {
        Some(host) => format!("{scheme}://{host}"),
        None => base_url(config, None),
    }
}

/// The request path with the feed token masked, for logs: a token is a credential.
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    match path.strip_prefix(PREFIX) {
        Some(rest) => {
            let file = rest.split_once('/').map_or("", |(_, file)| file);
            Cow::Owned(format!("{PREFIX}***/{file}"))
        }
        None => Cow::Borrowed(path),
    }
}

/// The time window of the activities feed: from midnight UTC `days_back` days ago to the end of the
/// day `days_ahead` days ahead. Day-aligned, so that the feed only changes by itself at midnight.
pub fn window(config: &Config, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = now.date_naive().and_time(NaiveTime::MIN).and_utc();
    let back = config.feeds.days_back.max(0);
    let ahead = config.feeds.days_ahead.max(0);
    (today - Duration::days(back), today + Duration::days(ahead + 1))
}

/// When the feed last changed, at most: the newest change to any CRM table (the change log is
/// filled by triggers, whoever writes), and, for the activities feed, the last midnight (its window
/// moves then). A bound, not the exact time: a feed may be older than this, never newer.
///
/// `None` while that second is not over yet: HTTP dates have whole seconds, and a client holding
/// this date would miss a second change made later in the same second.
pub async fn last_modified(store: &Store, kind: FeedKind, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let last_change: Option<Ts> = on_db!(store, read, |pool| {
        sqlx::query_scalar("SELECT at FROM change_log ORDER BY seq DESC LIMIT 1").fetch_optional(pool).await?
    });
    let mut at = last_change.map(|t| t.0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    if kind == FeedKind::Activities {
        at = at.max(now.date_naive().and_time(NaiveTime::MIN).and_utc());
    } else if let Some(new_year) = now.date_naive().with_ordinal(1) {
        // The cards' figures are of this year to date: they move on 1 January.
        at = at.max(new_year.and_time(NaiveTime::MIN).and_utc());
    }
    let second = at.timestamp();
    Ok((second < now.timestamp()).then(|| DateTime::from_timestamp(second, 0)).flatten())
}

/// The body of a feed.
pub async fn render(store: &Store, config: &Config, rep: &Rep, kind: FeedKind, now: DateTime<Utc>) -> Result<String> {
    match kind {
        FeedKind::Activities => activities_calendar(store, config, rep, now).await,
        FeedKind::Clients => clients_vcf(store, rep.id, config.today()).await,
    }
}

/// Every card of the rep's address book (vCard 3.0, which every importer reads), one after another.
pub async fn clients_vcf(store: &Store, rep_id: i64, today: chrono::NaiveDate) -> Result<String> {
    let cards = addressbook::cards(store, rep_id, None, today).await?;
    let mut body = String::with_capacity(cards.len() * 700);
    for card in &cards {
        body.push_str(&vcard::render(card, Version::V3));
    }
    Ok(body)
}

/// One VCALENDAR with the rep's activities (VEVENT) and follow-ups (VTODO) that may fall in the
/// window, each exactly as the rep's CalDAV calendars serve it, and one VTIMEZONE per TZID used.
/// A manager's feed adds the activities (events) of their teams' reps.
pub async fn activities_calendar(store: &Store, config: &Config, rep: &Rep, now: DateTime<Utc>) -> Result<String> {
    let (start, end) = window(config, now);
    let session = Session { store, config, rep, device: "feed", change_seq: None };
    let mut objects = Vec::new();
    for calendar in [Calendar::Activities, Calendar::FollowUps] {
        // The window is applied in SQL; a recurring series is included when any part of it may fall
        // in the window (its instances are the subscribing app's to expand).
        for view in activities::list(store, rep.id, calendar, Some((Some(start), Some(end)))).await? {
            objects.push(caldav::render(&session, &view));
        }
    }
    // A manager's feed also shows the activities of the reps of their teams, as those reps'
    // calendars serve them; a feed is read-only by nature.
    if rep.role == "manager" {
        for member in crate::crm::teams::team_reps(store, rep.id).await? {
            let session = Session { store, config, rep: &member, device: "feed", change_seq: None };
            for view in activities::list(store, member.id, Calendar::Activities, Some((Some(start), Some(end)))).await?
            {
                objects.push(caldav::render(&session, &view));
            }
        }
    }
    let name = format!("CRM activities – {}", rep.display_name);
    Ok(merge_calendars(&name, objects).to_string())
}

/// RFC 5545 TEXT escaping.
fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn feed_root(name: &str) -> ICalendar {
    let name = escape_text(name);
    let text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav//CRM feed//EN\r\nCALSCALE:GREGORIAN\r\nMETHOD:PUBLISH\r\n\
         NAME:{name}\r\nX-WR-CALNAME:{name}\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\nX-PUBLISHED-TTL:PT1H\r\n\
         END:VCALENDAR\r\n"
    );
    let mut calendar = ICalendar::parse(&text).expect("the feed header is a valid calendar");
    calendar.components.truncate(1);
    calendar.components[0].component_ids.clear();
    calendar
}

fn tzid_of(component: &ICalendarComponent) -> Option<&str> {
    component
        .property(&ICalendarProperty::Tzid)
        .and_then(|entry| entry.values.first())
        .and_then(ICalendarValue::as_text)
}

/// Whether calcard can generate the VTIMEZONE of this TZID itself (IANA, Windows and common
/// vendor names).
fn known_zone(tzid: &str) -> bool {
    Tz::from_str(tzid).is_ok_and(|tz| !matches!(tz, Tz::Floating))
}

/// Moves the component `id` of `source`, with its subcomponents, to the end of `target`.
fn move_subtree(source: &mut [ICalendarComponent], id: u32, target: &mut ICalendar) -> u32 {
    let Some(component) = source.get_mut(id as usize) else { return u32::MAX };
    let children = std::mem::take(&mut component.component_ids);
    let moved = ICalendarComponent {
        component_type: component.component_type.clone(),
        entries: std::mem::take(&mut component.entries),
        component_ids: Vec::new(),
    };
    let new_id = target.components.len() as u32;
    target.components.push(moved);
    let new_children: Vec<u32> =
        children.into_iter().map(|child| move_subtree(source, child, target)).filter(|&c| c != u32::MAX).collect();
    target.components[new_id as usize].component_ids = new_children;
    new_id
}

/// One calendar holding the components of every object. VTIMEZONEs of known zones are dropped and
/// generated again once per TZID, covering every date of the feed (two objects' copies of a zone
/// may cover different years); a device's custom zone is kept once, as first seen.
pub fn merge_calendars(name: &str, objects: impl IntoIterator<Item = String>) -> ICalendar {
    let mut merged = feed_root(name);
    let mut custom_zones: HashSet<String> = HashSet::new();
    let (mut zone_ids, mut item_ids) = (Vec::new(), Vec::new());
    for text in objects {
        let Ok(mut calendar) = ICalendar::parse(&text) else {
            tracing::warn!("a rendered calendar object does not parse; left out of the feed");
            continue;
        };
        if calendar.components.first().is_none_or(|root| root.component_type != ICalendarComponentType::VCalendar) {
            continue;
        }
        let top: Vec<u32> = std::mem::take(&mut calendar.components[0].component_ids);
        for id in top {
            let Some(component) = calendar.components.get(id as usize) else { continue };
            let is_zone = component.component_type == ICalendarComponentType::VTimezone;
            if is_zone {
                match tzid_of(component) {
                    Some(tzid) if !known_zone(tzid) && custom_zones.insert(tzid.to_string()) => {}
                    _ => continue,
                }
            }
            let new_id = move_subtree(&mut calendar.components, id, &mut merged);
            if is_zone { zone_ids.push(new_id) } else { item_ids.push(new_id) }
        }
    }
    zone_ids.extend(item_ids);
    merged.components[0].component_ids = zone_ids;
    merged.add_missing_timezones();
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN_A: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n\
        BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
        BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260310T090000\r\nSUMMARY:A\r\n\
        BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:A\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    const BERLIN_B: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n\
        BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20270310T090000\r\nSUMMARY:B\r\nEND:VEVENT\r\n\
        BEGIN:VTODO\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:not a real object, only parts\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    const CUSTOM: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Office time\r\n\
        BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
        BEGIN:VEVENT\r\nUID:c\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Office time:20260310T090000\r\nSUMMARY:C\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn one_vtimezone_per_tzid_and_every_component_kept() {
        let merged =
            merge_calendars("Feed, of Alice", [BERLIN_A, BERLIN_B, CUSTOM, CUSTOM].map(String::from)).to_string();
        assert_eq!(merged.matches("BEGIN:VCALENDAR").count(), 1, "{merged}");
        assert_eq!(merged.matches("TZID:Europe/Berlin\r\n").count(), 1, "{merged}");
        assert_eq!(merged.matches("TZID:Office time\r\n").count(), 1, "{merged}");
        assert_eq!(merged.matches("BEGIN:VEVENT").count(), 4);
        assert_eq!(merged.matches("BEGIN:VTODO").count(), 1);
        assert_eq!(merged.matches("BEGIN:VALARM").count(), 1, "subcomponents move with their parent");
        assert!(merged.contains("X-WR-CALNAME:Feed\\, of Alice\r\n"));
        assert!(merged.contains("METHOD:PUBLISH"));
        // The generated Berlin zone covers both years (the device's copy had one rule from 1970).
        let zone = &merged[merged.find("TZID:Europe/Berlin").unwrap()..];
        assert!(zone.contains("BEGIN:DAYLIGHT"), "{merged}");
        // Zones come first, then the items.
        assert!(merged.rfind("END:VTIMEZONE").unwrap() < merged.find("BEGIN:VEVENT").unwrap());
        let reparsed = ICalendar::parse(&merged).expect("the feed parses");
        assert_eq!(reparsed.components[0].component_type, ICalendarComponentType::VCalendar);
    }

    #[test]
    fn links_and_log_masking() {
        let links = links("https://crm.example.com/", "crmdav_abc");
        assert_eq!(links.webcal, "webcal://crm.example.com/feeds/crmdav_abc/activities.ics");
        assert_eq!(links.clients, "https://crm.example.com/feeds/crmdav_abc/clients.vcf");
        assert_eq!(loggable_path("/feeds/crmdav_abc/clients.vcf"), "/feeds/***/clients.vcf");
        assert_eq!(loggable_path("/feeds/crmdav_abc"), "/feeds/***/");
        assert_eq!(loggable_path("/dav/x"), "/dav/x");
        let config = Config::default();
        assert_eq!(base_url(&config, None), "http://127.0.0.1:5232");
        assert_eq!(base_url(&config, Some("crm.example.com")), "http://crm.example.com");
        assert_eq!(base_url(&config, Some("https://crm.example.com/")), "https://crm.example.com");
    }

    #[test]
    fn window_is_day_aligned() {
        let config = Config::default();
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:07:05Z").unwrap().with_timezone(&Utc);
        let (start, end) = window(&config, now);
        assert_eq!(start.to_rfc3339(), "2026-08-25T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2027-11-24T00:00:00+00:00");
    }
}
