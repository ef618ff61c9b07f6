//! Writing the CRM's values into an object: into the device's own object when there is one
//! (only what differs), or into a skeleton generated from the activity row.

use std::str::FromStr;

use calcard::common::timezone::Tz;
use calcard::icalendar::timezone::TzResolver;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarDuration, ICalendarEntry, ICalendarParameter,
    ICalendarParameterName, ICalendarProperty, ICalendarStatus, ICalendarValue,
};
use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};

use super::read::{Modeled, is_calendar_component, percent_complete, zone_name};
use super::value::{self, DateValue, ZoneName, date_value, other, same_property};
use super::{ComponentKind, PRODID, RenderContext, X_CRM_CLIENT, X_CRM_KIND, X_CRM_NAME, X_CRM_STATUS, shown};
use crate::crm::activities::Activity;

/// A VCALENDAR with one component holding UID and DTSTAMP, for an activity without device data.
pub(super) fn skeleton(activity: &Activity, ctx: &RenderContext, kind: ComponentKind) -> (ICalendar, usize) {
    let stamp = ctx.stamp.or(activity.start_at.map(|at| at.0)).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut root = ICalendarComponent::new(ICalendarComponentType::VCalendar);
    root.add_property(ICalendarProperty::Version, "2.0".to_owned());
    root.add_property(ICalendarProperty::Prodid, PRODID.to_owned());
    root.component_ids.push(1);
    let mut component = ICalendarComponent::new(kind.component_type());
    component.add_uid(&activity.uid);
    component.add_dtstamp(value::partial_utc(stamp));
    (ICalendar { components: vec![root, component] }, 1)
}

/// How the CRM's times are written: as DATEs, local times with a TZID, or UTC.
#[derive(Debug, Clone)]
enum TimeForm {
    Date,
    Zoned { tzid: String, zone: Tz },
    Utc,
}

impl TimeForm {
    fn tzid(&self) -> Option<&str> {
        match self {
            TimeForm::Zoned { tzid, .. } => Some(tzid),
            _ => None,
        }
    }

    fn entry(&self, property: ICalendarProperty, at: DateTime<Utc>) -> ICalendarEntry {
        match self {
            TimeForm::Date => value::date_entry(property, value::partial_date(at.date_naive()), true, None),
            TimeForm::Zoned { tzid, zone } => value::date_entry(
                property,
                value::partial_local(at.with_timezone(zone).naive_local()),
                false,
                Some(tzid),
            ),
            TimeForm::Utc => value::date_entry(property, value::partial_utc(at), false, None),
        }
    }

    /// Whether an existing value is written in this form.
    fn describes(&self, value: &DateValue, entry: &ICalendarEntry) -> bool {
        match self {
            TimeForm::Date => value.is_date,
            TimeForm::Zoned { tzid, .. } => !value.is_date && entry.tz_id() == Some(tzid.as_str()),
            TimeForm::Utc => !value.is_date && value.zone.is_utc() && entry.tz_id().is_none(),
        }
    }
}

/// Writes the CRM's values into the master component. With `generated`, every modeled property is
/// written; otherwise only those whose value differs from what the object says.
pub(super) struct Merge<'a> {
    pub(super) calendar: &'a mut ICalendar,
    pub(super) master: usize,
    pub(super) kind: ComponentKind,
    pub(super) activity: &'a Activity,
    pub(super) ctx: &'a RenderContext,
    pub(super) generated: bool,
    /// A TZID this merge wrote, which may need a VTIMEZONE.
    pub(super) written_tzid: Option<String>,
}

impl Merge<'_> {
    pub(super) fn apply(mut self) {
        let zones = self.calendar.build_owned_tz_resolver().with_default(Tz::UTC);
        let current = Modeled::read(self.calendar, self.master, self.kind, &zones, &self.ctx.done_category);
        let activity = self.activity;

        if !activity.uid.is_empty() && current.uid.as_deref() != Some(activity.uid.as_str()) {
            self.set_uid(&activity.uid);
        }
        // What an app shows names the client (see `shown`).
        let client = self.ctx.client.as_ref();
        let summary = shown::summary(&activity.subject, client);
        if self.generated || current.summary.trim() != summary {
            self.set_text(ICalendarProperty::Summary, &summary);
        }
        let location = shown::location(&activity.location, &activity.kind, client);
        if self.generated || current.location.trim() != location {
            self.set_text(ICalendarProperty::Location, &location);
        }
        // The activity's text: its note, unless the device's own description (without the
        // block) holds it (a prep note and the report written after it stay as the device wrote
        // them); else the device's own description.
        let own = shown::strip_description(&current.description);
        let text = match &self.ctx.note {
            Some(note) if !own.contains(note.trim()) => note.trim().to_owned(),
            _ => own,
        };
        let description = shown::description(&text, client);
        if self.generated || current.description.trim() != description {
            // Rich-text copies of the old description would be shown instead of the new one.
            self.remove(&other("X-ALT-DESC"));
            self.remove(&ICalendarProperty::StyledDescription);
            self.set_text(ICalendarProperty::Description, &description);
        }
        let contact = client.and_then(|c| c.contact.as_ref()).map(shown::contact_line).unwrap_or_default();
        if self.generated || current.contact != contact {
            self.set_text(ICalendarProperty::Contact, &contact);
        }
        let website = client.map(|c| c.website.trim().to_owned()).unwrap_or_default();
        if self.generated || current.url != website {
            self.set_text(ICalendarProperty::Url, &website);
        }
        self.write_times(&current, &zones);
        match self.kind {
            ComponentKind::Event => self.write_event_status(&current),
            ComponentKind::Todo => self.write_todo_status(&current),
        }
        self.write_client(&current);
        let object_kind = current
            .x_crm_kind
            .as_deref()
            .filter(|kind| self.kind.fits_activity_kind(kind))
            .unwrap_or(self.kind.default_activity_kind());
        if self.generated || object_kind != activity.kind {
            self.set_text(other(X_CRM_KIND), &activity.kind);
        }
        if let Some(tzid) = self.written_tzid.take() {
            self.add_timezone(&tzid);
        }
    }

    fn component(&mut self) -> &mut ICalendarComponent {
        &mut self.calendar.components[self.master]
    }

    // -- times

    /// Rewrites DTSTART and the end when they differ.
    fn write_times<Z: ZoneName>(&mut self, current: &Modeled, zones: &TzResolver<Z>) {
        let activity = self.activity;
        let form = self.time_form(zones);
        let zone_name_wanted = if activity.all_day {
            String::new()
        } else {
            form.tzid().map(|_| activity_zone_name(activity)).unwrap_or_default()
        };
        let start_wanted = activity.start_at.map(|at| at.0);
        let start_same = current.start.map(|start| start.utc) == start_wanted
            && current.all_day == activity.all_day
            && (activity.all_day || current.timezone == zone_name_wanted);

        let mut start_rewritten = false;
        if self.generated || !start_same {
            match start_wanted {
                Some(start) => {
                    self.set_time(&form, ICalendarProperty::Dtstart, start);
                    start_rewritten = true;
                }
                // A VEVENT cannot lose its DTSTART: the object's start stays.
                None if self.kind == ComponentKind::Todo => {
                    self.remove(&ICalendarProperty::Dtstart);
                    start_rewritten = true;
                }
                None => {}
            }
        }

        match self.kind {
            ComponentKind::Event => self.write_event_end(&form, zones, start_rewritten),
            ComponentKind::Todo => self.write_due(&form, zones, start_rewritten),
        }
    }

    fn set_time(&mut self, form: &TimeForm, property: ICalendarProperty, at: DateTime<Utc>) {
        if let Some(tzid) = form.tzid() {
            self.written_tzid = Some(tzid.to_owned());
        }
        self.set_entry(form.entry(property, at));
    }

    /// The form for new time values: DATE for all-day; the activity's zone with the TZID the
    /// object already uses for it (e.g. a Windows name), or its IANA name; UTC otherwise.
    fn time_form<Z: ZoneName>(&self, zones: &TzResolver<Z>) -> TimeForm {
        let activity = self.activity;
        if activity.all_day {
            return TimeForm::Date;
        }
        let Ok(zone) = Tz::from_str(activity.timezone.trim()) else {
            return TimeForm::Utc;
        };
        if zone.is_utc() || zone.is_floating() {
            return TimeForm::Utc;
        }
        let existing_tzid = self.calendar.components[self.master]
            .property(&ICalendarProperty::Dtstart)
            .and_then(ICalendarEntry::tz_id)
            .filter(|tzid| zones.resolve(tzid).and_then(|tz| tz.name()) == zone.name());
        TimeForm::Zoned {
            tzid: existing_tzid
                .map(str::to_owned)
                .or_else(|| zone.name().map(|name| name.into_owned()))
                .unwrap_or_else(|| activity.timezone.trim().to_owned()),
            zone,
        }
    }

    fn write_event_end<Z: ZoneName>(&mut self, form: &TimeForm, zones: &TzResolver<Z>, start_rewritten: bool) {
        let activity = self.activity;
        let Some(start) = activity.start_at.map(|at| at.0) else {
            return;
        };
        let wanted = match activity.end_at {
            Some(end) => end.0.max(start),
            None if activity.all_day => start + TimeDelta::days(1),
            None => start,
        };
        let implied = self.implied_end(zones);
        let dtend = self.component().property(&ICalendarProperty::Dtend).cloned();
        let form_fits = !start_rewritten
            || dtend
                .as_ref()
                .is_none_or(|entry| date_value(entry, zones).is_some_and(|value| form.describes(&value, entry)));
        if !self.generated && implied == Some(wanted) && form_fits {
            return;
        }
        if self.component().has_property(&ICalendarProperty::Duration) {
            self.set_entry(ICalendarEntry::new(ICalendarProperty::Duration).with_value(duration_between(
                start,
                wanted,
                activity.all_day,
            )));
        } else if activity.all_day {
            let last_day = last_day(wanted).max(start.date_naive());
            self.set_time(form, ICalendarProperty::Dtend, midnight(next_day(last_day)));
        } else if wanted == start && dtend.is_none() {
            // An instant: no end property says it best.
        } else {
            self.set_time(form, ICalendarProperty::Dtend, wanted);
        }
    }

    fn write_due<Z: ZoneName>(&mut self, form: &TimeForm, zones: &TzResolver<Z>, start_rewritten: bool) {
        let activity = self.activity;
        let Some(wanted) = activity.end_at.map(|at| at.0) else {
            self.remove(&ICalendarProperty::Due);
            self.remove(&ICalendarProperty::Duration);
            return;
        };
        let implied = self.implied_end(zones);
        let due = self.component().property(&ICalendarProperty::Due).cloned();
        let has_start = self.component().has_property(&ICalendarProperty::Dtstart);
        let has_duration = self.component().has_property(&ICalendarProperty::Duration);
        let form_fits = (!start_rewritten
            || due
                .as_ref()
                .is_none_or(|entry| date_value(entry, zones).is_some_and(|value| form.describes(&value, entry))))
            && (has_start || !has_duration);
        if !self.generated && implied == Some(wanted) && form_fits {
            return;
        }
        match (has_duration && has_start, activity.start_at) {
            (true, Some(start)) => {
                self.set_entry(ICalendarEntry::new(ICalendarProperty::Duration).with_value(duration_between(
                    start.0,
                    wanted.max(start.0),
                    activity.all_day,
                )))
            }
            _ => {
                self.remove(&ICalendarProperty::Duration);
                let due_at = if activity.all_day { midnight(last_day(wanted)) } else { wanted };
                self.set_time(form, ICalendarProperty::Due, due_at);
            }
        }
    }

    /// The end the master component says now (after DTSTART may have changed).
    fn implied_end<Z: ZoneName>(&self, zones: &TzResolver<Z>) -> Option<DateTime<Utc>> {
        Modeled::read(self.calendar, self.master, self.kind, zones, "").end
    }

    fn add_timezone(&mut self, tzid: &str) {
        let defined = self.calendar.timezones().any(|timezone| {
            timezone
                .property(&ICalendarProperty::Tzid)
                .and_then(|entry| entry.values.first())
                .and_then(ICalendarValue::as_text)
                == Some(tzid)
        });
        if defined {
            return;
        }
        let activity = self.activity;
        let Some(start) = activity.start_at.map(|at| at.0) else {
            return;
        };
        let last =
            [activity.end_at, activity.range_end].into_iter().flatten().map(|at| at.0).fold(start, DateTime::max);
        // The observances the object's dates need, with a margin; an open series gets ten years.
        let years = if activity.recurring && activity.range_end.is_none() { 10 } else { 1 };
        let from = (start - TimeDelta::days(366)).timestamp();
        let to = (last + TimeDelta::days(366 * years)).timestamp();
        self.calendar.add_timezone(tzid, from, to);
    }

    // -- status

    fn write_event_status(&mut self, current: &Modeled) {
        let ctx = self.ctx;
        let status = self.activity.status.as_str();
        let cancelled = status == "cancelled";
        if self.generated || current.is_cancelled() != cancelled {
            let value = if cancelled { ICalendarStatus::Cancelled } else { ICalendarStatus::Confirmed };
            self.set_entry(ICalendarEntry::new(ICalendarProperty::Status).with_value(value));
        }
        let completed = status == "completed";
        if completed && (self.generated || !current.completes) {
            self.set_text(other(X_CRM_STATUS), "COMPLETED");
        } else if !completed && current.completes {
            // Neither marker may stay, or the next upload would complete the activity again.
            self.remove(&other(X_CRM_STATUS));
            self.remove_category(&ctx.done_category);
        }
    }

    fn write_todo_status(&mut self, current: &Modeled) {
        let activity = self.activity;
        let status = activity.status.as_str();
        let completed = status == "completed";
        if completed {
            if self.generated || !current.completes {
                self.set_entry(ICalendarEntry::new(ICalendarProperty::Status).with_value(ICalendarStatus::Completed));
                self.set_entry(ICalendarEntry::new(ICalendarProperty::PercentComplete).with_value(100i64));
            }
            if let Some(at) = activity.completed_at.map(|at| at.0)
                && (self.generated || current.completed_at != Some(at))
            {
                self.set_entry(ICalendarEntry::new(ICalendarProperty::Completed).with_value(value::partial_utc(at)));
            }
            return;
        }
        let cancelled = status == "cancelled";
        if current.completes {
            self.remove(&ICalendarProperty::Completed);
            if percent_complete(&self.calendar.components[self.master]) == Some(100) {
                self.remove(&ICalendarProperty::PercentComplete);
            }
        }
        let status_wrong = current.completes || current.is_cancelled() != cancelled;
        if self.generated || status_wrong {
            let value = if cancelled { ICalendarStatus::Cancelled } else { ICalendarStatus::NeedsAction };
            self.set_entry(ICalendarEntry::new(ICalendarProperty::Status).with_value(value));
        }
    }

    fn write_client(&mut self, current: &Modeled) {
        let ctx = self.ctx;
        let code = ctx.client.as_ref().map(|client| client.code.trim());
        let name = ctx.client.as_ref().map(|client| client.name.trim()).filter(|name| !name.is_empty());
        if !self.generated && current.x_crm_client.as_deref() == code && current.x_crm_client_name.as_deref() == name {
            return;
        }
        match (code, name) {
            (Some(code), name) => {
                let mut entry = ICalendarEntry::new(other(X_CRM_CLIENT)).with_value(code.to_owned());
                if let Some(name) = name {
                    entry.add_param(ICalendarParameter::new(
                        ICalendarParameterName::Other(X_CRM_NAME.into()),
                        name.to_owned(),
                    ));
                }
                self.set_entry(entry);
            }
            (None, _) => self.remove(&other(X_CRM_CLIENT)),
        }
    }

    // -- property edits

    fn set_uid(&mut self, uid: &str) {
        let calendar = &mut *self.calendar;
        for component in calendar.components.iter_mut() {
            if is_calendar_component(&component.component_type) {
                for entry in component.properties_mut(&ICalendarProperty::Uid) {
                    entry.values = vec![ICalendarValue::Text(uid.to_owned())];
                }
            }
        }
    }

    /// Replaces the text of `property`, keeping its parameters (LANGUAGE...) and place; an empty
    /// text removes it.
    fn set_text(&mut self, property: ICalendarProperty, text: &str) {
        if text.is_empty() {
            self.remove(&property);
            return;
        }
        let value = ICalendarValue::Text(text.to_owned());
        let component = self.component();
        match component.entries.iter().position(|entry| same_property(&entry.name, &property)) {
            Some(index) => {
                component.entries[index].values = vec![value];
                let mut seen = 0;
                component.entries.retain(|entry| {
                    if !same_property(&entry.name, &property) {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => component.entries.push(ICalendarEntry::new(property).with_values(vec![value])),
        }
    }

    /// Puts `entry` in place of the first property of its name (dropping any others) or at the
    /// end.
    fn set_entry(&mut self, entry: ICalendarEntry) {
        let component = self.component();
        match component.entries.iter().position(|existing| same_property(&existing.name, &entry.name)) {
            Some(index) => {
                let name = entry.name.clone();
                component.entries[index] = entry;
                let mut seen = 0;
                component.entries.retain(|existing| {
                    if !same_property(&existing.name, &name) {
                        return true;
                    }
                    seen += 1;
                    seen == 1
                });
            }
            None => component.entries.push(entry),
        }
    }

    fn remove(&mut self, property: &ICalendarProperty) {
        self.component().entries.retain(|entry| !same_property(&entry.name, property));
    }

    fn remove_category(&mut self, category: &str) {
        let category = category.trim();
        let component = self.component();
        for entry in component.properties_mut(&ICalendarProperty::Categories) {
            entry.values.retain(|value| value.as_text().is_none_or(|text| !text.trim().eq_ignore_ascii_case(category)));
        }
        component.entries.retain(|entry| entry.name != ICalendarProperty::Categories || !entry.values.is_empty());
    }
}

/// The activity's zone as [`Modeled::timezone`] would name it.
fn activity_zone_name(activity: &Activity) -> String {
    Tz::from_str(activity.timezone.trim()).map(zone_name).unwrap_or_default()
}

/// The last day an interval ending (exclusively) at `end` touches.
fn last_day(end: DateTime<Utc>) -> NaiveDate {
    (end - TimeDelta::seconds(1)).date_naive()
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn duration_between(start: DateTime<Utc>, end: DateTime<Utc>, all_day: bool) -> ICalendarDuration {
    if all_day {
        let days = (last_day(end.max(start + TimeDelta::days(1))).num_days_from_ce()
            - start.date_naive().num_days_from_ce()
            + 1)
        .max(1);
        ICalendarDuration::from_days(i64::from(days))
    } else {
        ICalendarDuration::from_seconds((end - start).num_seconds())
    }
}
