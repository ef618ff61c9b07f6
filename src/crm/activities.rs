//! Activities (meetings, calls, visits, tasks) of a rep, and the rules for writing them.

use serde::Serialize;

use crate::store::Ts;

/// One CRM activity row.
#[derive(Clone, Debug, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct Activity {
    pub id: i64,
    pub uid: String,
    pub href: String,
    pub rep_id: i64,
    pub client_id: Option<i64>,
    pub contact_id: Option<i64>,
    /// meeting | call | visit | task
    pub kind: String,
    pub subject: String,
    pub location: String,
    pub start_at: Option<Ts>,
    pub end_at: Option<Ts>,
    pub all_day: bool,
    /// IANA zone name of the start, or "" for UTC / floating / all-day.
    pub timezone: String,
    pub recurring: bool,
    /// End of the last instance (None: unbounded recurrence).
    pub range_end: Option<Ts>,
    /// planned | completed | cancelled
    pub status: String,
    pub completed_at: Option<Ts>,
    /// The last iCalendar object a device wrote, kept for the round trip.
    pub ical: Option<String>,
}
