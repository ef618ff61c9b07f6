//! What a report is asked for: its kind, the period, the rep, the comparison and the output
//! format, each parsed from its name and checked before any query runs.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, Months, NaiveDate, NaiveTime};
use serde::Serialize;

use crate::crm::CrmError;
use crate::store::Ts;

/// The longest period a report covers (weekly buckets times reps stay a few thousand rows).
const MAX_PERIOD_DAYS: i64 = 20 * 366;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    ClientsSeenWeekly,
    ClientsSeenMonthly,
    ActivitiesPerClient,
    ActivityResults,
    UntouchedClients,
    ActivitiesPerResult,
    ResultsVsObjectives,
    NewBusiness,
    ProspectConversion,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::ClientsSeenWeekly,
        Kind::ClientsSeenMonthly,
        Kind::ActivitiesPerClient,
        Kind::ActivityResults,
        Kind::UntouchedClients,
        Kind::ActivitiesPerResult,
        Kind::ResultsVsObjectives,
        Kind::NewBusiness,
        Kind::ProspectConversion,
    ];

    /// Whether `compare` applies (the reports on results have their comparison built in: against
    /// objectives, against the team).
    pub fn compares(self) -> bool {
        !matches!(
            self,
            Kind::ActivitiesPerResult | Kind::ResultsVsObjectives | Kind::NewBusiness | Kind::ProspectConversion
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::ClientsSeenWeekly => "clients-seen-weekly",
            Kind::ClientsSeenMonthly => "clients-seen-monthly",
            Kind::ActivitiesPerClient => "activities-per-client",
            Kind::ActivityResults => "activity-results",
            Kind::UntouchedClients => "untouched-clients",
            Kind::ActivitiesPerResult => "activities-per-result",
            Kind::ResultsVsObjectives => "results-vs-objectives",
            Kind::NewBusiness => "new-business",
            Kind::ProspectConversion => "prospect-conversion",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::ClientsSeenWeekly => "Clients seen per week",
            Kind::ClientsSeenMonthly => "Clients seen per month",
            Kind::ActivitiesPerClient => "Activities per client",
            Kind::ActivityResults => "Activity results",
            Kind::UntouchedClients => "Clients not touched",
            Kind::ActivitiesPerResult => "Activities per result",
            Kind::ResultsVsObjectives => "Results against objectives",
            Kind::NewBusiness => "New business",
            Kind::ProspectConversion => "Prospects converted to clients",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Kind::ClientsSeenWeekly => {
                "distinct clients with an activity completed in each ISO week (named by its Monday), per rep"
            }
            Kind::ClientsSeenMonthly => "distinct clients with an activity completed in each month, per rep",
            Kind::ActivitiesPerClient => {
                "activities of each client per year (by the day they were planned for), by status"
            }
            Kind::ActivityResults => {
                "activities planned in the period per rep: completed, cancelled, still planned, and the completed share"
            }
            Kind::UntouchedClients => {
                "clients each rep sees (visibility rules) with no activity completed in the period, by anyone"
            }
            Kind::ActivitiesPerResult => {
                "visits, calls and meetings completed in the period per result (order or won deal) dated in it, per rep and overall"
            }
            Kind::ResultsVsObjectives => {
                "each objective meeting the period: results (in its currency), visits completed and new clients in the objective's period, against its targets"
            }
            Kind::NewBusiness => {
                "results per rep, month and currency: new business (and the new clients it came from) and repeat business"
            }
            Kind::ProspectConversion => {
                "clients of each account manager whose first result is dated in the period (prospects converted), against the prospects still without one"
            }
        }
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown report {s:?}: use one of {}", Kind::ALL.map(Kind::name).join(", ")))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a report is compared along.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compare {
    /// Reps side by side: one column per rep, or each rep against the whole team.
    Reps,
    /// The period against the same period one year earlier.
    Years,
}

impl Compare {
    pub fn name(self) -> &'static str {
        match self {
            Compare::Reps => "reps",
            Compare::Years => "years",
        }
    }
}

impl FromStr for Compare {
    type Err = String;
    fn from_str(s: &str) -> Result<Compare, String> {
        match s {
            "reps" => Ok(Compare::Reps),
            "years" => Ok(Compare::Years),
            _ => Err(format!("unknown comparison {s:?}: use reps or years")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Svg,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Svg => "svg",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Json => "application/json",
            Format::Svg => "image/svg+xml",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "svg" => Ok(Format::Svg),
            _ => Err(format!("unknown format {s:?}: use csv, json or svg")),
        }
    }
}

/// A range of whole days, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// The first instant of the period.
    pub fn start(&self) -> Ts {
        Ts(self.from.and_time(NaiveTime::MIN).and_utc())
    }

    /// The first instant after the period.
    pub fn end(&self) -> Ts {
        Ts((self.to + Days::new(1)).and_time(NaiveTime::MIN).and_utc())
    }

    /// The same days one year earlier (29 February becomes the 28th).
    pub fn previous_year(&self) -> Period {
        let back = |d: NaiveDate| d.checked_sub_months(Months::new(12)).unwrap_or(d);
        Period { from: back(self.from), to: back(self.to) }
    }

    /// `2026` for a period within one year, else `2025-07-01..2026-06-30`.
    pub fn label(&self) -> String {
        if self.from.year() == self.to.year() {
            self.from.year().to_string()
        } else {
            format!("{}..{}", self.from, self.to)
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", self.from, self.to)
    }
}

/// What to report on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub kind: Kind,
    /// Only this rep (login); `None`: every rep.
    pub rep: Option<String>,
    pub period: Period,
    pub compare: Option<Compare>,
    /// The day the report is made: a period (or bucket) that ends on it or later is partial.
    pub today: NaiveDate,
    /// The reps (logins) the report may cover, for a manager: the reps of their teams. `None`:
    /// any rep (an admin, the command line).
    pub scope: Option<Vec<String>>,
}

impl Params {
    /// Checks and completes what a user asked: the period defaults to this year up to `today`
    /// (a lone `from` runs to today, a lone `to` starts on 1 January of its year).
    pub fn new(
        kind: Kind,
        rep: Option<String>,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        compare: Option<Compare>,
        today: NaiveDate,
    ) -> Result<Params, CrmError> {
        let to = to.unwrap_or(today);
        let from = from.unwrap_or_else(|| NaiveDate::from_ymd_opt(to.year(), 1, 1).unwrap_or(to));
        if from > to {
            return Err(CrmError::Invalid(format!("the period is empty: from {from} is after to {to}")));
        }
        if (to - from).num_days() > MAX_PERIOD_DAYS {
            return Err(CrmError::Invalid(format!(
                "the period {from} to {to} is too long: at most {} years",
                MAX_PERIOD_DAYS / 366
            )));
        }
        let rep = rep.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        if compare == Some(Compare::Reps) && rep.is_some() {
            return Err(CrmError::Invalid(
                "a comparison of reps covers every rep: leave out the rep, or compare years".into(),
            ));
        }
        if compare.is_some() && !kind.compares() {
            return Err(CrmError::Invalid(format!(
                "the {} report does not compare reps or years: leave out compare",
                kind.name()
            )));
        }
        Ok(Params { kind, rep, period: Period { from, to }, compare, today, scope: None })
    }
}

impl Params {
    /// The report limited to the reps `logins` (a manager's teams).
    pub fn within(mut self, logins: Vec<String>) -> Params {
        self.scope = Some(logins);
        self
    }

    /// Whether the report may show `login`'s figures.
    pub fn covers(&self, login: &str) -> bool {
        self.scope.as_ref().is_none_or(|scope| scope.iter().any(|l| l == login))
    }
}

/// A date as `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, CrmError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| CrmError::Invalid(format!("{text:?} is not a date: use YYYY-MM-DD, e.g. 2026-01-31")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn periods_default_and_shift() {
        let today = day("2026-11-23");
        let p = Params::new(Kind::ActivityResults, None, None, None, None, today).unwrap();
        assert_eq!((p.period.from, p.period.to), (day("2026-01-01"), today));
        assert_eq!(p.period.label(), "2026");
        let leap = Period { from: day("2024-02-29"), to: day("2024-12-31") }.previous_year();
        assert_eq!((leap.from, leap.to), (day("2023-02-28"), day("2023-12-31")));
        assert_eq!(Period { from: day("2025-07-01"), to: day("2026-06-30") }.label(), "2025-07-01..2026-06-30");
        assert_eq!(p.period.end().0.to_rfc3339(), "2026-11-24T00:00:00+00:00");
        assert!(Params::new(Kind::ActivityResults, None, Some(today), Some(day("2026-01-01")), None, today).is_err());
        assert!(
            Params::new(Kind::ActivityResults, Some("alice".into()), None, None, Some(Compare::Reps), today).is_err()
        );
        assert!(parse_date("2026-13-01").is_err());
    }

    #[test]
    fn names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(kind.name().parse::<Kind>(), Ok(kind));
        }
        assert!("clients".parse::<Kind>().unwrap_err().contains("activity-results"));
    }
}
