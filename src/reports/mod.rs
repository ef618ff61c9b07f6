//! Management reports on the activity data: clients seen per week or month, activities per client
//! per year, what became of activities (completed / cancelled / still planned), and the clients
//! nobody touched, each per rep, and compared rep against rep or this year against last year.
//! And on results (orders, won deals): activities per result, results against objectives, new
//! business, prospects converted. Each report states its period; a period or bucket not over yet
//! (it ends today or later) is marked `partial`, in its rows and on its chart, so that figures so
//! far do not read as a collapse.
//!
//! What is asked for is checked in `params` ([`Params`]). Each report kind has its own module,
//! which holds its SQL and arranges the aggregated rows into a `table::Table`: the figures are
//! computed by the database (GROUP BY, COUNT DISTINCT, FILTER, EXISTS), with the same SQL on
//! SQLite and PostgreSQL except the calendar bucketing of `query::bucket`. [`run`] makes the table
//! a [`Report`], shown as CSV/JSON ([`output`]) or a chart (SVG, [`chart`]).
//!
//! Dates: a period is a range of whole days (UTC), both ends included. Weeks are ISO weeks
//! (Monday to Sunday) named by their Monday, months by their first day; the first and last bucket
//! of a period may be cut by its ends. "Clients seen" and "untouched" go by the time an activity
//! was completed; "activities per client" and "results" by the day the activity was planned for
//! (its start; an undated task by its creation).

mod activities_per_client;
mod activities_per_result;
mod activity_results;
pub mod chart;
mod clients_seen;
pub mod http;
mod new_business;
pub mod output;
mod params;
mod prospect_conversion;
mod query;
mod results_vs_objectives;
mod table;
mod untouched_clients;

use std::collections::BTreeSet;

use serde::{Serialize, Serializer};

use self::chart::Chart;
pub use self::params::{Compare, Format, Kind, Params, Period, parse_date};
use self::query::Unit;
pub use self::table::Value;
use crate::crm::CrmError;
use crate::crm::reps;
use crate::store::Store;

/// A computed report: a table and the chart that shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    #[serde(serialize_with = "serialize_kind")]
    pub report: Kind,
    pub title: String,
    pub description: &'static str,
    pub period: Period,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_period: Option<Period>,
    pub rep: Option<String>,
    #[serde(serialize_with = "serialize_compare")]
    pub compare: Option<Compare>,
    pub columns: Vec<String>,
    /// Each row has one value per column.
    #[serde(skip)]
    pub rows: Vec<Vec<Value>>,
    #[serde(skip)]
    pub chart: Chart,
}

fn serialize_kind<S: Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.name())
}

fn serialize_compare<S: Serializer>(compare: &Option<Compare>, s: S) -> Result<S::Ok, S::Error> {
    match compare {
        Some(c) => s.serialize_str(c.name()),
        None => s.serialize_none(),
    }
}

/// Computes a report.
pub async fn run(store: &Store, params: &Params) -> Result<Report, CrmError> {
    let rep_id = match &params.rep {
        Some(login) => Some(
            reps::find(store, login)
                .await?
                .ok_or_else(|| CrmError::Invalid(format!("no rep with login {login:?}")))?
                .id,
        ),
        None => None,
    };
    if let Some(login) = params.rep.as_deref().filter(|login| !params.covers(login)) {
        return Err(CrmError::Invalid(format!("{login} is not in a team you manage")));
    }
    let scope = match &params.scope {
        Some(logins) => Some(query::rep_ids(store, logins).await?),
        None => None,
    };
    let ctx = Ctx { store, params, reps: query::Reps { id: rep_id, scope } };
    let mut report = Report {
        report: params.kind,
        title: params.kind.title().to_string(),
        description: params.kind.description(),
        period: params.period,
        previous_period: (params.compare == Some(Compare::Years)).then(|| params.period.previous_year()),
        rep: params.rep.clone(),
        compare: params.compare,
        columns: Vec::new(),
        rows: Vec::new(),
        chart: Chart::default(),
    };
    let table = match params.kind {
        Kind::ClientsSeenWeekly => clients_seen::build(&ctx, Unit::Week).await?,
        Kind::ClientsSeenMonthly => clients_seen::build(&ctx, Unit::Month).await?,
        Kind::ActivitiesPerClient => activities_per_client::build(&ctx).await?,
        Kind::ActivityResults => activity_results::build(&ctx).await?,
        Kind::UntouchedClients => untouched_clients::build(&ctx).await?,
        Kind::ActivitiesPerResult => activities_per_result::build(&ctx).await?,
        Kind::ResultsVsObjectives => results_vs_objectives::build(&ctx).await?,
        Kind::NewBusiness => new_business::build(&ctx).await?,
        Kind::ProspectConversion => prospect_conversion::build(&ctx).await?,
    };
    report.columns = table.columns;
    report.rows = table.rows;
    report.chart = table.chart;
    report.chart.title = report.title.clone();
    // A table may have left a note on what its chart shows.
    let note = std::mem::take(&mut report.chart.subtitle);
    report.chart.subtitle = if note.is_empty() { ctx.subtitle() } else { format!("{} · {note}", ctx.subtitle()) };
    debug_assert!(report.rows.iter().all(|row| row.len() == report.columns.len()));
    Ok(report)
}

/// What every report kind needs while it computes its table.
struct Ctx<'a> {
    store: &'a Store,
    params: &'a Params,
    /// The rep asked for, within the reps the report may cover.
    reps: query::Reps,
}

impl Ctx<'_> {
    fn period(&self) -> &Period {
        &self.params.period
    }

    /// Whether figures up to `last_day` are not all in yet: it is today or later.
    fn partial(&self, last_day: chrono::NaiveDate) -> bool {
        last_day >= self.params.today
    }

    /// The chart's note for a report over the whole period, when that period is not over.
    fn partial_note(&self) -> String {
        match self.partial(self.period().to) {
            true => format!("partial: the period is not over, figures up to {}", self.params.today),
            false => String::new(),
        }
    }

    fn previous(&self) -> Period {
        self.params.period.previous_year()
    }

    fn subtitle(&self) -> String {
        let period = self.period();
        let mut parts = vec![format!("{} to {}", period.from, period.to)];
        if self.params.compare == Some(Compare::Years) {
            let previous = self.previous();
            parts.push(format!("against {} to {}", previous.from, previous.to));
        }
        parts.push(match (&self.params.rep, &self.params.scope) {
            (Some(rep), _) => format!("rep {rep}"),
            (None, Some(_)) => "the reps of your teams".into(),
            (None, None) => "all reps".into(),
        });
        parts.join(" · ")
    }

    /// The reps a report lists: the one asked for, or every active rep plus any other login that
    /// has data in the report.
    async fn logins<'s>(&self, with_data: impl IntoIterator<Item = &'s String>) -> Result<Vec<String>, CrmError> {
        if let Some(login) = &self.params.rep {
            return Ok(vec![login.clone()]);
        }
        let mut all: BTreeSet<String> = query::rep_logins(self.store).await?.into_iter().collect();
        all.extend(with_data.into_iter().cloned());
        // The data is already limited to the scope (in SQL); the list of reps is too.
        all.retain(|login| self.params.covers(login));
        Ok(all.into_iter().collect())
    }
}
