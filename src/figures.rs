//! The figures people run the plant by, assembled once for every place that shows them (`mes kpi`,
//! the `/api/v1` endpoints, later the dashboards and reports): read from the store, computed by
//! the pure functions of [`crate::domain::kpi`] and [`crate::domain::oee`], returned as typed,
//! serialisable documents, per period or per shift, day or hour.
//!
//! Must never: compute a figure itself (the formulas live in the domain), or format for a
//! particular output (tables belong to the CLI, HTML to the web).

use chrono::{DateTime, Utc};
use plc_contract::profile::{FailDisposition, fail_disposition};
use serde::Serialize;

use crate::domain::counter::{CounterKind, DeltaRules, counted_between};
use crate::domain::equipment::{Station, StationKind};
use crate::domain::kpi::{
    Bucket, Grain, LineYield, ParetoBar, StationDowntime, StationRetest, StationYield, Visit, buckets, defect_pareto,
    line_yield, retest_yields, rolled_throughput_yield, station_downtime, station_yields,
};
use crate::domain::oee::{LineInputs, LineOee, StationInputs, StationOee, line_oee, station_oee};
use crate::domain::shift::ShiftCalendar;
use crate::domain::{LineId, StationId};
use crate::store::{Store, StoreError};

pub mod kept;

/// Why a figure could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum FiguresError {
    /// The store failed or the line is not registered ([`StoreError::UnknownLine`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The computation was abandoned or failed on its thread.
    #[error(transparent)]
    Work(#[from] crate::work::WorkError),
    /// The station asked for is not one of the line's.
    #[error("line {line} has no station {station}")]
    UnknownStation {
        /// Line.
        line: String,
        /// Station asked for.
        station: String,
    },
}

/// What a figure covers: a line (optionally one station), a period, and how to slice it.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Line.
    pub line: LineId,
    /// Only this station (the Pareto and OEE honour it; yield always shows the whole route, as
    /// RTY needs every step).
    pub station: Option<StationId>,
    /// Start (inclusive).
    pub from: DateTime<Utc>,
    /// End (exclusive).
    pub to: DateTime<Utc>,
    /// Slices, or `None` for one figure over the whole period.
    pub by: Option<Grain>,
}

/// A scope parameter a person got wrong: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScopeError {
    /// `line`, `station`, `from`, `to` or `by`.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// A scope as people write it (command-line options, API query parameters).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScopeText {
    /// Line code.
    pub line: Option<String>,
    /// Station code.
    pub station: Option<String>,
    /// Start (inclusive): RFC 3339 or plant-local `YYYY-MM-DD[THH:MM]`; default 24 h before `to`.
    pub from: Option<String>,
    /// End (exclusive); default now.
    pub to: Option<String>,
    /// `shift`, `day` or `hour`: figures per plant shift, local day or local hour.
    pub by: Option<String>,
}

/// What one request or command may ask of the figures, so that no request (a typo'd year, a
/// script asking for every day since 1970) can exhaust the machine: the work and the answer of
/// a report grow with its slices and with the rows its period holds, and both are bounded here
/// and in the store ([`crate::store::MAX_READ_ROWS`]). The API answers a scope beyond them with
/// a 400 naming the limit; the CLI refuses it the same way.
pub mod limits {
    /// The longest period one report covers: a year and a month, so a yearly report fits.
    pub const MAX_PERIOD_DAYS: i64 = 400;
    /// The most slices one report has (`by`): 100 days of hours, a year of shifts or days.
    /// Each slice is a pass over the period's visits and a few kilobytes of answer.
    pub const MAX_SLICES: usize = 2_500;
}

impl Scope {
    /// Validates a scope: a line is required, times are RFC 3339 or plant-local in the
    /// calendar's zone, the period defaults to the 24 hours before now, must not be empty and
    /// stays within [`limits`] (its length, and its slices in the calendar's shifts, days or hours).
    pub fn parse(text: &ScopeText, calendar: &ShiftCalendar, now: DateTime<Utc>) -> Result<Self, ScopeError> {
        use crate::domain::shift::parse_instant;
        let zone = calendar.time_zone;
        let bad = |field, message: String| ScopeError { field, message };
        let line = text.line.clone().ok_or_else(|| bad("line", "is required".into()))?;
        let line = LineId::parse(line).map_err(|e| bad("line", e.to_string()))?;
        let station =
            text.station.clone().map(StationId::parse).transpose().map_err(|e| bad("station", e.to_string()))?;
        let to =
            text.to.as_deref().map(|t| parse_instant(t, zone)).transpose().map_err(|e| bad("to", e))?.unwrap_or(now);
        let from = match text.from.as_deref() {
            Some(t) => parse_instant(t, zone).map_err(|e| bad("from", e))?,
            None => to - chrono::Duration::hours(24),
        };
        if from >= to {
            return Err(bad("from", format!("{from} is not before to ({to})")));
        }
        let by = match text.by.as_deref() {
            None => None,
            Some("shift") => Some(Grain::Shift),
            Some("day") => Some(Grain::Day),
            Some("hour") => Some(Grain::Hour),
            Some(other) => return Err(bad("by", format!("{other:?} is not one of shift, day, hour"))),
        };
        if to - from > chrono::Duration::days(limits::MAX_PERIOD_DAYS) {
            return Err(bad(
                "from",
                format!(
                    "the period {from} .. {to} is {} days long; one report covers at most {} days",
                    (to - from).num_days(),
                    limits::MAX_PERIOD_DAYS
                ),
            ));
        }
        if let Some(grain) = by {
            // Within the period limit this is at most a few thousand buckets: cheap to count.
            let n = buckets(calendar, from, to, grain).len();
            if n > limits::MAX_SLICES {
                return Err(bad(
                    "by",
                    format!(
                        "{} slices over {from} .. {to} would be {n}; one report has at most {} \
                         (shorten the period or slice coarser)",
                        grain.as_str(),
                        limits::MAX_SLICES
                    ),
                ));
            }
        }
        Ok(Self { line, station, from, to, by })
    }
}

/// A report: its scope and one set of figures per slice (one slice without `by`).
#[derive(Debug, Clone, Serialize)]
pub struct Report<T> {
    /// Line.
    pub line: LineId,
    /// Station filter, if any.
    pub station: Option<StationId>,
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
    /// Slicing.
    pub by: Option<Grain>,
    /// Figures per slice, in order.
    pub slices: Vec<Slice<T>>,
}

/// The figures of one slice.
#[derive(Debug, Clone, Serialize)]
pub struct Slice<T> {
    /// The slice.
    pub bucket: Bucket,
    /// Its figures.
    pub figures: T,
}

impl<T: Serialize> Report<T> {
    /// The JSON document of `mes kpi … --json` and of the API: scope keys, then the figures at
    /// the top level for a whole period, or under `buckets` (each with `label`, `from`, `to`)
    /// when sliced. Serialised straight from the report (no intermediate tree: a year of hours
    /// would hold the answer several times over in memory).
    pub fn document(&self) -> ReportDocument<'_, T> {
        ReportDocument(self)
    }

    /// [`Report::document`] as a JSON value.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.document()).unwrap_or(serde_json::Value::Null)
    }
}

/// A report as its JSON document (see [`Report::document`]).
pub struct ReportDocument<'a, T>(&'a Report<T>);

impl<T: Serialize> Serialize for ReportDocument<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// One slice: its figures with the slice's label and bounds beside them.
        #[derive(Serialize)]
        struct Entry<'a, T> {
            #[serde(flatten)]
            figures: &'a T,
            label: &'a str,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        }
        #[derive(Serialize)]
        struct Doc<'a, T> {
            line: &'a LineId,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
            #[serde(skip_serializing_if = "Option::is_none")]
            station: Option<&'a StationId>,
            #[serde(skip_serializing_if = "Option::is_none")]
            by: Option<Grain>,
            #[serde(skip_serializing_if = "Option::is_none")]
            buckets: Option<Vec<Entry<'a, T>>>,
            #[serde(flatten, skip_serializing_if = "Option::is_none")]
            figures: Option<&'a T>,
        }
        let r = self.0;
        let sliced = r.by.is_some();
        Doc {
            line: &r.line,
            from: r.from,
            to: r.to,
            station: r.station.as_ref(),
            by: r.by,
            buckets: sliced.then(|| {
                r.slices
                    .iter()
                    .map(|s| Entry {
                        figures: &s.figures,
                        label: &s.bucket.label,
                        from: s.bucket.start,
                        to: s.bucket.end,
                    })
                    .collect()
            }),
            figures: if sliced { None } else { r.slices.first().map(|s| &s.figures) },
        }
        .serialize(serializer)
    }
}

/// Yield figures of a slice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct YieldFigures {
    /// Per station of the route.
    pub stations: Vec<StationYield>,
    /// Rolled throughput yield.
    pub rty: Option<f64>,
    /// Scrap rate and DPMO of the line.
    pub line_yield: LineYield,
    /// What each station's "in" counter counted beside its records.
    pub counters: Vec<CountedBeside>,
    /// Retest yield per station. Not part of a ledger entry (entry schema 1 predates it), so
    /// empty there and left out of the JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retest: Vec<StationRetest>,
}

/// A station's records beside its PLC counter.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CountedBeside {
    /// Station.
    pub station: StationId,
    /// Station results recorded.
    pub records: u64,
    /// Units the "in" counter counted (deltas whose later sample is in the slice).
    pub counted_in: u64,
    /// `records − counted_in`.
    pub difference: i64,
}

/// Pareto figures of a slice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParetoFigures {
    /// Bars, most frequent first.
    pub defects: Vec<ParetoBar>,
}

/// Downtime figures of a slice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DowntimeFigures {
    /// Per station.
    pub stations: Vec<StationDowntime>,
}

/// OEE figures of a slice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OeeFigures {
    /// Per station.
    pub stations: Vec<StationOee>,
    /// The line as one work unit: its constraint's time, its output (see `domain::oee`).
    pub line_oee: LineOee,
}

impl OeeFigures {
    /// Units the line should have made in the slice: its planned busy time elapsed ÷ its
    /// constraint's ideal cycle time (the slowest step's); `None` unless every step has one.
    pub fn planned_output(&self) -> Option<u64> {
        // The line's OEE leaves its ideal output empty unless every step has an ideal cycle time.
        self.line_oee.figures.ideal_output_ms?;
        let constraint = self.line_oee.constraint.as_ref()?;
        let ideal = self.stations.iter().find(|s| &s.station == constraint)?.ideal_cycle_ms?;
        Some((self.line_oee.figures.time.pbt_ms / i64::from(ideal.max(1))).max(0) as u64)
    }
}

fn slices(calendar: &ShiftCalendar, scope: &Scope) -> Vec<Bucket> {
    match scope.by {
        Some(by) => buckets(calendar, scope.from, scope.to, by),
        None => vec![Bucket { label: "period".into(), start: scope.from, end: scope.to }],
    }
}

fn report<T>(scope: &Scope, slices: Vec<Slice<T>>) -> Report<T> {
    Report {
        line: scope.line.clone(),
        station: scope.station.clone(),
        from: scope.from,
        to: scope.to,
        by: scope.by,
        slices,
    }
}

/// The line's production steps (repair excluded), checked against the station filter.
async fn steps(store: &Store, scope: &Scope) -> Result<(Vec<Station>, bool), FiguresError> {
    let stations = store.line_stations(scope.line.as_str()).await?;
    let has_repair = stations.iter().any(|s| s.kind == StationKind::Repair);
    if let Some(wanted) = &scope.station
        && !stations.iter().any(|s| &s.id == wanted)
    {
        return Err(FiguresError::UnknownStation { line: scope.line.to_string(), station: wanted.to_string() });
    }
    Ok((stations.into_iter().filter(|s| s.kind != StationKind::Repair).collect(), has_repair))
}

/// Stations, their state intervals (in the same order), and whether the line has a repair station.
type Watched = (Vec<Station>, Vec<Vec<crate::domain::state::StateInterval>>, bool);

/// The production steps the scope asks for, each with its state intervals in the period, and
/// whether the line has a repair station.
async fn watched(store: &Store, scope: &Scope) -> Result<Watched, FiguresError> {
    let (stations, has_repair) = steps(store, scope).await?;
    let stations: Vec<Station> =
        stations.into_iter().filter(|s| scope.station.as_ref().is_none_or(|w| w == &s.id)).collect();
    let mut intervals = Vec::new();
    for s in &stations {
        intervals.push(store.state_intervals_in(&scope.line, &s.id, Some((scope.from, scope.to))).await?);
    }
    Ok((stations, intervals, has_repair))
}

/// Where a failure at `station` goes on a line with (or without) a repair station.
fn disposition(station: &Station, has_repair: bool) -> FailDisposition {
    fail_disposition(station.kind.as_str(), has_repair)
}

/// First-pass, final and rolled throughput yield, scrap rate, DPMO and counters beside records.
pub async fn yields(
    store: &Store,
    calendar: &ShiftCalendar,
    scope: &Scope,
) -> Result<Report<YieldFigures>, FiguresError> {
    let slices = slices(calendar, scope);
    let (stations, has_repair) = steps(store, scope).await?;
    let visits = store.yield_visits(scope.line.as_str(), scope.from, scope.to).await?;
    let opportunities = store.line_opportunities(scope.line.as_str()).await?;
    let mut samples = Vec::new();
    for station in &stations {
        samples.push(store.counter_samples_in(&scope.line, &station.id, CounterKind::In, scope.from, scope.to).await?);
    }
    let data = LineData { stations, has_repair, visits, intervals: Vec::new() };
    let out = crate::work::run("yield figures", move |stop| {
        crate::work::map_until_stopped(stop, slices, |bucket| {
            let figures = yield_figures(&data, opportunities, &samples, &bucket);
            Slice { bucket, figures }
        })
    })
    .await?;
    Ok(report(scope, out))
}

/// What a line's yield and OEE figures are computed from, read once.
struct LineData {
    /// Production steps in route order (repair excluded).
    stations: Vec<Station>,
    /// Whether the line has a repair station (the fail disposition).
    has_repair: bool,
    /// Visits of the units seen in the period (see [`Store::yield_visits`]).
    visits: Vec<Visit>,
    /// State intervals per station, in `stations` order (empty when only yields are wanted).
    intervals: Vec<Vec<crate::domain::state::StateInterval>>,
}

impl LineData {
    /// Whether a failure at `station` scraps the unit, by the line's fail disposition; a
    /// station that is not a step (repair) scraps what fails there.
    fn scraps(&self, station: &StationId) -> bool {
        match self.stations.iter().find(|s| &s.id == station) {
            Some(s) => disposition(s, self.has_repair) == FailDisposition::Scrap,
            None => true,
        }
    }
}

/// The yield figures of one slice; `samples` are the "in" counter samples per step (none: no
/// counter comparison).
fn yield_figures(
    data: &LineData,
    opportunities: Option<u32>,
    samples: &[Vec<crate::domain::counter::CounterSample>],
    bucket: &Bucket,
) -> YieldFigures {
    let route: Vec<StationId> = data.stations.iter().map(|s| s.id.clone()).collect();
    // A repair station's own failures scrap too; it is not a step but its visits count.
    let scraps = |id: &StationId| data.scraps(id);
    let rules = DeltaRules::default();
    let per_station = station_yields(&data.visits, &route, bucket.start, bucket.end);
    let counters = per_station
        .iter()
        .zip(samples)
        .map(|(s, samples)| {
            let counted_in = counted_between(samples, &rules, bucket.start, bucket.end);
            CountedBeside {
                station: s.station.clone(),
                records: s.visits,
                counted_in,
                difference: s.visits as i64 - counted_in as i64,
            }
        })
        .collect();
    YieldFigures {
        rty: rolled_throughput_yield(&per_station),
        line_yield: line_yield(&data.visits, scraps, opportunities, bucket.start, bucket.end),
        retest: retest_yields(&data.visits, &route, bucket.start, bucket.end),
        stations: per_station,
        counters,
    }
}

/// The OEE figures of one slice against the calendar's planned time; `now` ends what is open.
fn oee_figures(data: &LineData, calendar: &ShiftCalendar, bucket: &Bucket, now: DateTime<Utc>) -> OeeFigures {
    oee_figures_planned(data, &calendar.planned_windows(bucket.start, bucket.end), bucket, now)
}

/// [`oee_figures`] against given planned windows.
fn oee_figures_planned(
    data: &LineData,
    planned: &[(DateTime<Utc>, DateTime<Utc>)],
    bucket: &Bucket,
    now: DateTime<Utc>,
) -> OeeFigures {
    let per_station: Vec<StationOee> = data
        .stations
        .iter()
        .zip(&data.intervals)
        .map(|(s, iv)| {
            let inputs = StationInputs {
                station: &s.id,
                ideal_cycle_ms: s.ideal_cycle_ms,
                disposition: disposition(s, data.has_repair),
                intervals: iv,
                visits: &data.visits,
            };
            station_oee(inputs, planned, bucket.start, bucket.end, now)
        })
        .collect();
    let scraps = |id: &StationId| data.scraps(id);
    let inputs = LineInputs { steps: &per_station, visits: &data.visits, scraps: &scraps };
    let line_oee = line_oee(inputs, planned, bucket.start, bucket.end, now);
    OeeFigures { stations: per_station, line_oee }
}

/// Defects by code, most frequent first.
pub async fn pareto(
    store: &Store,
    calendar: &ShiftCalendar,
    scope: &Scope,
) -> Result<Report<ParetoFigures>, FiguresError> {
    steps(store, scope).await?;
    let mut visits: Vec<Visit> = store.yield_visits(scope.line.as_str(), scope.from, scope.to).await?;
    if let Some(station) = &scope.station {
        visits.retain(|v| &v.station == station);
    }
    let slices = slices(calendar, scope);
    let out = crate::work::run("defect pareto", move |stop| {
        crate::work::map_until_stopped(stop, slices, |bucket| {
            let defects = defect_pareto(&visits, bucket.start, bucket.end);
            Slice { bucket, figures: ParetoFigures { defects } }
        })
    })
    .await?;
    Ok(report(scope, out))
}

/// Time by machine state, breakdowns, MTBF, MTTR and downtime by reason per station; `now`
/// ends the intervals still open.
pub async fn downtime(
    store: &Store,
    calendar: &ShiftCalendar,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Report<DowntimeFigures>, FiguresError> {
    let (stations, intervals, _) = watched(store, scope).await?;
    let slices = slices(calendar, scope);
    let out = crate::work::run("downtime figures", move |stop| {
        crate::work::map_until_stopped(stop, slices, |bucket| {
            let per_station = stations
                .iter()
                .zip(&intervals)
                .map(|(s, iv)| station_downtime(&s.id, iv, bucket.start, bucket.end, now))
                .collect();
            Slice { bucket, figures: DowntimeFigures { stations: per_station } }
        })
    })
    .await?;
    Ok(report(scope, out))
}

/// OEE per station and for the line, against the calendar's planned busy time; `now` ends the
/// intervals still open and the planned time that has elapsed.
pub async fn oee(
    store: &Store,
    calendar: &ShiftCalendar,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Report<OeeFigures>, FiguresError> {
    let (stations, intervals, has_repair) = watched(store, scope).await?;
    let visits = store.yield_visits(scope.line.as_str(), scope.from, scope.to).await?;
    let data = LineData { stations, has_repair, visits, intervals };
    let (slices, calendar) = (slices(calendar, scope), calendar.clone());
    let out = crate::work::run("OEE figures", move |stop| {
        crate::work::map_until_stopped(stop, slices, |bucket| {
            let figures = oee_figures(&data, &calendar, &bucket, now);
            Slice { bucket, figures }
        })
    })
    .await?;
    Ok(report(scope, out))
}

/// A station as it is now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StationNow {
    /// Station.
    pub station: StationId,
    /// Its current state (`None`: nothing recorded, or collection stopped).
    #[schema(value_type = Option<String>)]
    pub state: Option<crate::domain::state::MachineState>,
    /// Since when.
    pub since: Option<DateTime<Utc>>,
    /// Downtime reason of a fault.
    pub reason: Option<String>,
    /// The same reason on Vietnamese pages (the live script picks it by the page's language).
    pub reason_vi: Option<String>,
}

impl LineStatus {
    /// Its name as serialised (`running`, `down`, `idle`, `no_data`): the pages' CSS class.
    pub fn as_str(self) -> &'static str {
        match self {
            LineStatus::Running => "running",
            LineStatus::Down => "down",
            LineStatus::Idle => "idle",
            LineStatus::NoData => "no_data",
        }
    }
}

/// Whether a line is producing, at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// A station is running and none is in fault.
    Running,
    /// A station is in fault.
    Down,
    /// Nothing runs, nothing is in fault (idle, starved, blocked, off).
    Idle,
    /// No state recorded now (no collector watching).
    NoData,
}

/// What a line's tile shows: state, this shift's output against plan, yield, OEE, downtime,
/// holds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineSummary {
    /// Line.
    pub line: LineId,
    /// Display name.
    pub name: String,
    /// Display name on Vietnamese pages, if the profile gives one.
    pub name_vi: Option<String>,
    /// At a glance.
    pub status: LineStatus,
    /// Stations in route order, now.
    pub stations: Vec<StationNow>,
    /// The current shift ("2026-11-23 B"), if the plant is on shift.
    pub shift: Option<String>,
    /// Units that passed the line's last production step this shift.
    pub output: u64,
    /// Units the line should have made so far this shift: the shift's planned time elapsed
    /// (from `watched_from` when set) ÷ the slowest station's ideal cycle time (`None` without
    /// ideal cycle times).
    pub plan: Option<u64>,
    /// When the MES began watching the line, if after the shift's start: plan and OEE are
    /// counted from then (see [`crate::domain::oee::watched_from`]); output and yield count every
    /// record of the shift.
    pub watched_from: Option<DateTime<Utc>>,
    /// Rolled throughput yield this shift (the line's first-pass yield).
    pub fpy: Option<f64>,
    /// OEE of the line this shift (from `watched_from` when set).
    pub oee: Option<f64>,
    /// Share of the planned time since watching began (all steps together) with no recorded
    /// state: a gap in watching (the MES or its collector stopped, a station unread). OEE counts
    /// its constraint's share as lost, not running.
    pub unrecorded: Option<f64>,
    /// Stations in fault now, with their reasons.
    pub down: Vec<StationNow>,
    /// Units on hold that went through the line.
    pub held_units: u64,
}

/// The summary of every line now: what the overview page and `/api/v1/summary` show. `held`
/// is [`Store::held_units_by_line`], which the caller may keep between calls (it changes only
/// with holds and new consumptions of held items, and costs a forward trace per hold).
///
/// One read per line: its stations come with the line, its state intervals over the shift
/// give both the current states and OEE, its visits both yield and OEE.
pub async fn line_summaries(
    store: &Store,
    calendar: &ShiftCalendar,
    now: DateTime<Utc>,
    held: &std::collections::BTreeMap<String, u64>,
) -> Result<Vec<LineSummary>, FiguresError> {
    summaries_at(store, &SummaryAt::new(store, calendar, now).await?, held).await
}

/// [`line_summaries`] at `at`, from a fresh read of every line.
async fn summaries_at(
    store: &Store,
    at: &SummaryAt<'_>,
    held: &std::collections::BTreeMap<String, u64>,
) -> Result<Vec<LineSummary>, FiguresError> {
    let mut out = Vec::new();
    for line in store.lines().await? {
        let steps = production_steps(&line);
        let mut intervals = Vec::new();
        for s in &steps {
            intervals.push(store.state_intervals_in(&line.id, &s.id, Some((at.from, at.to))).await?);
        }
        let visits = match at.shift {
            Some(_) => store.yield_visits(line.id.as_str(), at.from, at.to).await?,
            None => Vec::new(),
        };
        out.push(at.summary(line, intervals, visits, held));
    }
    Ok(out)
}

/// A line's production steps in route order (repair excluded).
fn production_steps(line: &crate::domain::equipment::Line) -> Vec<Station> {
    line.stations.iter().filter(|s| s.kind != StationKind::Repair).cloned().collect()
}

/// What every line's summary at one instant is computed against: the shift, the window its
/// figures cover (the shift so far; the last second off shift, so that what is open now is the
/// current state), the reason names.
struct SummaryAt<'a> {
    calendar: &'a ShiftCalendar,
    now: DateTime<Utc>,
    shift: Option<crate::domain::shift::ShiftInstance>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    reasons: crate::domain::plant::ReasonNames,
}

impl<'a> SummaryAt<'a> {
    async fn new(store: &Store, calendar: &'a ShiftCalendar, now: DateTime<Utc>) -> Result<Self, FiguresError> {
        let shift = calendar.locate(now);
        let from = shift.as_ref().map_or(now - chrono::Duration::seconds(1), |s| s.start);
        let to = now.max(from + chrono::Duration::milliseconds(1));
        Ok(Self { calendar, now, shift, from, to, reasons: store.reason_names().await? })
    }

    /// One line's summary from its state intervals over the window (per production step, in
    /// route order) and the visits of the units seen in it (none off shift).
    fn summary(
        &self,
        line: crate::domain::equipment::Line,
        intervals: Vec<Vec<crate::domain::state::StateInterval>>,
        visits: Vec<Visit>,
        held: &std::collections::BTreeMap<String, u64>,
    ) -> LineSummary {
        use crate::domain::state::MachineState;
        let has_repair = line.stations.iter().any(|s| s.kind == StationKind::Repair);
        let steps = production_steps(&line);
        let stations: Vec<StationNow> = steps
            .iter()
            .zip(&intervals)
            .map(|(s, iv)| {
                let current = iv.iter().rev().find(|i| i.ended_at.is_none());
                let why = current.filter(|i| i.reason.is_some() || i.fault_code.is_some()).map(|i| i.down_reason());
                let reason = why.as_ref().map(ToString::to_string);
                StationNow {
                    station: s.id.clone(),
                    state: current.map(|i| i.state),
                    since: current.map(|i| i.started_at),
                    reason_vi: why.as_ref().map(|r| crate::present::i18n::Lang::Vi.reason(&self.reasons, r)),
                    reason,
                }
            })
            .collect();
        let any = |state: MachineState| stations.iter().any(|s| s.state == Some(state));
        let status = if any(MachineState::Fault) {
            LineStatus::Down
        } else if any(MachineState::Running) {
            LineStatus::Running
        } else if stations.iter().any(|s| s.state.is_some()) {
            LineStatus::Idle
        } else {
            LineStatus::NoData
        };
        let (mut output, mut plan, mut fpy, mut oee_now, mut unrecorded) = (0, None, None, None, None);
        let mut watched = None;
        if self.shift.is_some() {
            let (from, to) = (self.from, self.to);
            watched = crate::domain::oee::watched_from(intervals.iter().flatten(), from).filter(|w| *w < to);
            let data = LineData { stations: steps, has_repair, visits, intervals };
            let bucket = Bucket { label: "shift".into(), start: from, end: to };
            let y = yield_figures(&data, None, &[], &bucket);
            output = y.stations.last().map_or(0, |s| s.final_pass);
            fpy = y.rty;
            let watched_bucket = Bucket { start: watched.unwrap_or(from), ..bucket };
            let o = oee_figures(&data, self.calendar, &watched_bucket, self.now);
            oee_now = o.line_oee.figures.oee;
            // Every step's planned time together: a station nobody watched counts, whichever
            // step times the line's OEE.
            let (gap, planned) = o
                .stations
                .iter()
                .fold((0, 0), |(g, p), s| (g + s.figures.time.unrecorded_ms, p + s.figures.time.pbt_ms));
            unrecorded = (planned > 0).then(|| gap as f64 / planned as f64);
            plan = o.planned_output();
        }
        LineSummary {
            down: stations.iter().filter(|s| s.state == Some(MachineState::Fault)).cloned().collect(),
            held_units: held.get(line.id.as_str()).copied().unwrap_or(0),
            line: line.id,
            name: line.name,
            name_vi: line.name_vi,
            status,
            stations,
            shift: self.shift.as_ref().map(|s| format!("{} {}", s.date, s.name)),
            output,
            plan,
            watched_from: watched,
            fpy,
            oee: oee_now,
            unrecorded,
        }
    }
}

/// One hour of a line's output against its plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HourOutput {
    /// Local hour ("14:00").
    pub label: String,
    /// Start.
    pub from: DateTime<Utc>,
    /// End.
    pub to: DateTime<Utc>,
    /// Units that passed the last step in the hour.
    pub output: u64,
    /// Units planned in the hour (its planned time ÷ the slowest ideal cycle).
    pub plan: Option<u64>,
}

/// A step of the route on the line page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StationDetail {
    /// Station.
    pub station: StationId,
    /// Display name.
    pub name: String,
    /// Display name on Vietnamese pages, if the profile gives one.
    pub name_vi: Option<String>,
    /// Units waiting for it (see [`crate::domain::kpi::line_wip`]).
    pub wip_before: u64,
    /// Its state intervals in the period, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub timeline: Vec<crate::domain::state::StateInterval>,
}

/// What the line page shows beside the live summary: route with WIP and state timeline,
/// hourly output against plan, top defects — over the current shift (the last 8 hours when
/// the plant is off shift).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineDetail {
    /// Line.
    pub line: LineId,
    /// Display name.
    pub name: String,
    /// Display name on Vietnamese pages, if the profile gives one.
    pub name_vi: Option<String>,
    /// Period start.
    pub from: DateTime<Utc>,
    /// Period end (now).
    pub to: DateTime<Utc>,
    /// Production steps in route order.
    pub stations: Vec<StationDetail>,
    /// Units failed into repair, not repaired yet.
    pub at_repair: u64,
    /// Output against plan per local hour.
    pub hourly: Vec<HourOutput>,
    /// The five most frequent defects of the period.
    pub top_defects: Vec<ParetoBar>,
}

/// How far back WIP looks for units still on the line.
const WIP_WINDOW_HOURS: i64 = 24;

/// The line page's figures for `line` at `now`.
pub async fn line_detail(
    store: &Store,
    calendar: &ShiftCalendar,
    line: &LineId,
    now: DateTime<Utc>,
) -> Result<LineDetail, FiguresError> {
    let from = calendar.locate(now).map_or(now - chrono::Duration::hours(8), |s| s.start);
    let to = now.max(from + chrono::Duration::milliseconds(1));
    line_detail_over(store, calendar, line, (from, to), now).await
}

/// The line page's figures for `line` over `[from, to)` (a shift report's hours, timeline and
/// top defects); `now` ends what is still open and sets the WIP window.
pub async fn line_detail_over(
    store: &Store,
    calendar: &ShiftCalendar,
    line: &LineId,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> Result<LineDetail, FiguresError> {
    let known = store.lines().await?.into_iter().find(|l| &l.id == line);
    let known = known.ok_or_else(|| StoreError::UnknownLine { line: line.to_string() })?;
    let (name, name_vi) = (known.name, known.name_vi);
    let whole = Scope { line: line.clone(), station: None, from, to, by: None };
    let (stations, intervals, has_repair) = watched(store, &whole).await?;
    // One read of visits serves every figure: units seen in the last day (WIP) or this shift.
    let since = from.min(now - chrono::Duration::hours(WIP_WINDOW_HOURS));
    let visits = store.yield_visits(line.as_str(), since, to).await?;
    let route: Vec<StationId> = stations.iter().map(|s| s.id.clone()).collect();
    let wip = crate::domain::kpi::line_wip(&visits, &route, |id| {
        stations.iter().find(|s| &s.id == id).is_some_and(|s| disposition(s, has_repair) == FailDisposition::Repair)
    });
    let mut top_defects = defect_pareto(&visits, from, to);
    top_defects.truncate(5);
    let data = LineData { stations, has_repair, visits, intervals };
    let hourly = buckets(calendar, from, to, Grain::Hour)
        .into_iter()
        .map(|bucket| {
            let y = yield_figures(&data, None, &[], &bucket);
            let o = oee_figures(&data, calendar, &bucket, now);
            HourOutput {
                output: y.stations.last().map_or(0, |s| s.final_pass),
                plan: o.planned_output(),
                label: bucket.label,
                from: bucket.start,
                to: bucket.end,
            }
        })
        .collect();
    let stations = data
        .stations
        .into_iter()
        .zip(data.intervals)
        .zip(wip.before)
        .map(|((s, timeline), wip_before)| StationDetail {
            station: s.id,
            name: s.name,
            name_vi: s.name_vi,
            wip_before,
            timeline,
        })
        .collect();
    Ok(LineDetail {
        line: line.clone(),
        name,
        name_vi,
        from,
        to,
        stations,
        at_repair: wip.at_repair,
        hourly,
        top_defects,
    })
}

/// The master data a closed period's figures are computed with, recorded in its ledger entry
/// so that recomputing them later uses the same: a changed ideal cycle time, product or shift
/// calendar does not rewrite a closed period.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PeriodBasis {
    /// The line's stations in route order (repair included), with kind and ideal cycle time.
    pub stations: Vec<BasisStation>,
    /// Defect opportunities per unit of what the line makes.
    pub opportunities_per_unit: Option<u32>,
    /// The period's planned busy windows (shifts minus planned breaks).
    pub planned: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A station as a [`PeriodBasis`] records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BasisStation {
    /// Station code.
    pub code: StationId,
    /// Kind (`test`, `repair`, …).
    pub kind: String,
    /// Ideal cycle time.
    pub ideal_cycle_ms: Option<u32>,
}

/// What an investor reads first about a closed period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputSummary {
    /// Units that entered the line's first step (their first visit there) in the period.
    pub units_started: u64,
    /// Units that passed the line's last step in the period.
    pub units_out: u64,
    /// Units scrapped.
    pub scrapped: u64,
    /// Failures sent to repair (ISO 22400 RQ, all steps).
    pub reworked: u64,
    /// Rolled throughput yield (first pass through every step).
    pub first_pass_yield: Option<f64>,
    /// Final yield of the last step.
    pub final_yield: Option<f64>,
}

/// How many of each counter data-quality event a station's counter met in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CounterEvents {
    /// Station.
    pub station: StationId,
    /// Event kind.
    pub kind: crate::domain::counter::CounterEventKind,
    /// How many.
    pub count: u64,
}

/// The figures of a closed period, as its ledger entry states them.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodFigures {
    /// Headline output.
    pub output: OutputSummary,
    /// Yield per station, RTY, scrap, DPMO, PLC counters beside records.
    #[serde(rename = "yield")]
    pub yields: YieldFigures,
    /// OEE per station and for the line, with the ISO 22400 elements.
    pub oee: OeeFigures,
    /// The "in" counters' data-quality events (wraps, resets, restarts, implausible jumps, gaps).
    pub counter_events: Vec<CounterEvents>,
}

/// The basis of `line`'s figures over `[from, to)` from the store's master data and `calendar`.
pub async fn period_basis(
    store: &Store,
    calendar: &ShiftCalendar,
    line: &LineId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<PeriodBasis, FiguresError> {
    let stations = store
        .line_stations(line.as_str())
        .await?
        .into_iter()
        .map(|s| BasisStation { code: s.id, kind: s.kind.as_str().to_owned(), ideal_cycle_ms: s.ideal_cycle_ms })
        .collect();
    Ok(PeriodBasis {
        stations,
        opportunities_per_unit: store.line_opportunities(line.as_str()).await?,
        planned: calendar.planned_windows(from, to),
    })
}

/// The rows a closed period's figures are computed from: the visits of the units seen in it,
/// each production step's state intervals and "in" counter samples, as the store held them at
/// a close's high-water marks. Serialisable, so an offline bundle carries them and its
/// verification needs no database.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PeriodRows {
    /// Visits (see [`Store::yield_visits`]).
    pub visits: Vec<Visit>,
    /// State intervals per production step, in the basis's order.
    pub intervals: Vec<Vec<crate::domain::state::StateInterval>>,
    /// "In" counter samples per production step (the one before the period first).
    pub samples: Vec<Vec<crate::domain::counter::CounterSample>>,
}

/// The production steps of a basis, in order, and whether the line has a repair station.
fn basis_steps(line: &LineId, basis: &PeriodBasis) -> Result<(Vec<Station>, bool), FiguresError> {
    let all: Vec<Station> = basis
        .stations
        .iter()
        .enumerate()
        .map(|(k, s)| {
            Ok(Station {
                id: s.code.clone(),
                name: s.code.to_string(),
                name_vi: None,
                position: u32::try_from(k + 1).unwrap_or(u32::MAX),
                kind: StationKind::parse(&s.kind).ok_or_else(|| FiguresError::UnknownStation {
                    line: line.to_string(),
                    station: format!("{} (kind {:?})", s.code, s.kind),
                })?,
                ideal_cycle_ms: s.ideal_cycle_ms,
            })
        })
        .collect::<Result<_, FiguresError>>()?;
    let has_repair = all.iter().any(|s| s.kind == StationKind::Repair);
    Ok((all.into_iter().filter(|s| s.kind != StationKind::Repair).collect(), has_repair))
}

/// The rows of `line`'s period `[from, to)` as the store held them at the marks `hw`.
pub async fn period_rows(
    store: &Store,
    line: &LineId,
    basis: &PeriodBasis,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    hw: crate::domain::ledger::HighWater,
) -> Result<PeriodRows, FiguresError> {
    let (stations, _) = basis_steps(line, basis)?;
    let mut visits = store.yield_visits_as_of(line.as_str(), from, to, hw.result_id).await?;
    // A unit's product, and with it its defect opportunities, may be learnt after the close (a
    // later record names it and the unit row is filled in), so a closed period counts DPMO
    // against the line's opportunities its basis recorded: the same rows at any later time.
    for v in &mut visits {
        v.opportunities_per_unit = None;
    }
    let mut intervals = Vec::new();
    let mut samples = Vec::new();
    for s in &stations {
        intervals.push(store.state_intervals_as_of(line, &s.id, Some((from, to)), hw.interval_id).await?);
        samples.push(store.counter_samples_as_of(line, &s.id, CounterKind::In, (from, to), hw.sample_id).await?);
    }
    Ok(PeriodRows { visits, intervals, samples })
}

/// How many of each data-quality event the "in" counters of `stations` (their `samples`, in
/// the same order) met in `[from, to)`.
fn count_counter_events(
    stations: &[StationId],
    samples: &[Vec<crate::domain::counter::CounterSample>],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<CounterEvents> {
    use crate::domain::counter::deltas;
    let rules = DeltaRules::default();
    let mut events = Vec::new();
    for (station, samples) in stations.iter().zip(samples) {
        let mut counts: std::collections::BTreeMap<String, (crate::domain::counter::CounterEventKind, u64)> =
            std::collections::BTreeMap::new();
        for d in deltas(samples, &rules) {
            if let Some(kind) = d.event.filter(|_| (from..to).contains(&samples[d.to].sampled_at)) {
                counts.entry(format!("{kind:?}")).or_insert((kind, 0)).1 += 1;
            }
        }
        events.extend(counts.into_values().map(|(kind, count)| CounterEvents {
            station: station.clone(),
            kind,
            count,
        }));
    }
    events
}

/// The "in" counters' data-quality events over the scope's period, per production step.
pub async fn counter_events(store: &Store, scope: &Scope) -> Result<Vec<CounterEvents>, FiguresError> {
    let (stations, _) = steps(store, scope).await?;
    let mut ids = Vec::new();
    let mut samples = Vec::new();
    for station in &stations {
        samples.push(store.counter_samples_in(&scope.line, &station.id, CounterKind::In, scope.from, scope.to).await?);
        ids.push(station.id.clone());
    }
    Ok(count_counter_events(&ids, &samples, scope.from, scope.to))
}

/// The version of the rules [`period_figures`] computes by. A ledger entry seals it beside its
/// figures (`rules`), so a verification can tell a figure computed under earlier rules from one
/// that disagrees with its records. Entries sealed before it was recorded read as version 1.
/// A change to how a sealed figure is computed raises it and adds a [`RULE_CHANGES`] line (and
/// one in docs/kpi.md).
pub const FIGURE_RULES: u32 = 2;

/// What each version of the figure rules changed: the version, the figures it computes
/// differently (JSON pointers into an entry's figures; a pointer covers what is under it), and
/// the change in English and Vietnamese. Only those figures may differ from a recomputation of
/// an entry sealed under earlier rules; any other difference is a discrepancy.
pub const RULE_CHANGES: &[RuleChange] = &[RuleChange {
    version: 2,
    fields: &["/oee/line_oee"],
    en: "the line's OEE is the line's as one work unit (ISO 22400-2): its constraint's time and its output, \
         no longer its stations' times and quantities added up",
    vi: "OEE của dây chuyền tính cho cả dây chuyền như một đơn vị (ISO 22400-2): thời gian của trạm giới hạn \
         và sản lượng của dây chuyền, không còn cộng dồn thời gian và số lượng của các trạm",
}];

/// One change of the figure rules (see [`RULE_CHANGES`]).
#[derive(Debug, Clone, Copy)]
pub struct RuleChange {
    /// The rules version that made it.
    pub version: u32,
    /// The figures it computes differently, as JSON pointers (each covers what is under it).
    pub fields: &'static [&'static str],
    /// The change in English.
    pub en: &'static str,
    /// The change in Vietnamese.
    pub vi: &'static str,
}

/// The figures of `line` over `[from, to)` from `rows` and the master data in `basis`: the
/// same rows and basis always give the same figures, whatever arrived or changed since.
pub fn period_figures(
    line: &LineId,
    basis: &PeriodBasis,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    rows: PeriodRows,
) -> Result<PeriodFigures, FiguresError> {
    let (stations, has_repair) = basis_steps(line, basis)?;
    let PeriodRows { visits, intervals, samples } = rows;
    if intervals.len() != stations.len() || samples.len() != stations.len() {
        return Err(FiguresError::UnknownStation {
            line: line.to_string(),
            station: format!("rows for {} steps, the basis has {}", intervals.len(), stations.len()),
        });
    }
    let data = LineData { stations, has_repair, visits, intervals };
    let bucket = Bucket { label: "period".into(), start: from, end: to };
    let mut yields = yield_figures(&data, basis.opportunities_per_unit, &samples, &bucket);
    yields.retest.clear();
    // The period has ended: what was still open at its end ends there.
    let oee = oee_figures_planned(&data, &basis.planned, &bucket, to);
    let ids: Vec<StationId> = data.stations.iter().map(|s| s.id.clone()).collect();
    let counter_events = count_counter_events(&ids, &samples, from, to);
    let output = OutputSummary {
        units_started: yields.stations.first().map_or(0, |s| s.first_visits),
        units_out: yields.stations.last().map_or(0, |s| s.final_pass),
        scrapped: yields.line_yield.scrapped,
        reworked: oee.stations.iter().map(|s| s.figures.quantities.rq).sum(),
        first_pass_yield: yields.rty,
        final_yield: yields.stations.last().and_then(|s| s.final_yield),
    };
    Ok(PeriodFigures { output, yields, oee, counter_events })
}
