//! Overall equipment effectiveness per ISO 22400-2, from a station's machine-state intervals,
//! its station visits, its ideal cycle time and the plant's planned busy time (shifts minus
//! planned breaks). Formulas, with a worked example, are also in `docs/kpi.md`:
//!
//! - Time elements, all inside planned busy time **PBT** (the shift calendar's windows):
//!   **APT** (actual production time) = running; **AUST** (setup) = changeover; **ADOT** (down)
//!   = fault and maintenance; **ADET** (delay) = idle, blocked, starved and off; time with no
//!   recorded state (no collector watching) is *unrecorded*, shown beside the figures, never
//!   taken as running. PBT = APT + AUST + ADOT + ADET + unrecorded.
//! - Quantities of the visits that ended inside PBT: **PQ** produced (every visit), **GQ** good
//!   (passed), **RQ** rework (failed, sent to repair) and **SQ** scrap (failed, out of the line),
//!   by the line's [`FailDisposition`]; PQ = GQ + RQ + SQ.
//! - **Availability** = APT / PBT; **effectiveness** = PRU × PQ / APT (PRU: the planned run time
//!   per unit, the station's ideal cycle time); **quality** = GQ / PQ; **OEE** = availability ×
//!   effectiveness × quality.
//! - A line is one work unit made of work units (its production steps). Its time elements are
//!   those of its constraint, the step with the longest ideal cycle time, which paces the line
//!   (ties: the later step); its PRU is that cycle time; its quantities are its output: **GQ**
//!   units that passed its last step, **SQ** units it scrapped (a failure at a step whose
//!   disposition is scrap, or a failed repair), **RQ** 0 (rework stays inside the line),
//!   PQ = GQ plus SQ. So a 12 h shift is 720 min of PBT for the line, not one per station, and PQ counts
//!   units, not station visits. The figures never average percentages.
//! - Effectiveness above 100 % means the ideal cycle time is wrong (master data): it is reported
//!   as a problem, with no OEE, never capped. A figure over nothing is `None` ("no data").

use chrono::{DateTime, Utc};
use plc_contract::profile::FailDisposition;
use serde::Serialize;

use super::ids::StationId;
use super::kpi::Visit;
use super::record::Verdict;
use super::state::{MachineState, StateInterval};

/// ISO 22400-2 time elements of a work unit over a period, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TimeElements {
    /// Planned busy time (PBT): the shifts minus planned breaks, up to now.
    pub pbt_ms: i64,
    /// Actual production time (APT): running, inside PBT.
    pub apt_ms: i64,
    /// Actual unit setup time (AUST): changeover, inside PBT.
    pub aust_ms: i64,
    /// Actual unit down time (ADOT): fault and maintenance, inside PBT.
    pub adot_ms: i64,
    /// Actual unit delay time (ADET): idle, blocked, starved and off, inside PBT.
    pub adet_ms: i64,
    /// Planned time with no recorded state (nobody watching): no data, not running.
    pub unrecorded_ms: i64,
    /// Running outside planned busy time (breaks, between shifts): not in APT.
    pub unplanned_running_ms: i64,
}

impl std::ops::AddAssign for TimeElements {
    fn add_assign(&mut self, o: Self) {
        self.pbt_ms += o.pbt_ms;
        self.apt_ms += o.apt_ms;
        self.aust_ms += o.aust_ms;
        self.adot_ms += o.adot_ms;
        self.adet_ms += o.adet_ms;
        self.unrecorded_ms += o.unrecorded_ms;
        self.unplanned_running_ms += o.unplanned_running_ms;
    }
}

/// ISO 22400-2 quantities of a work unit over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Quantities {
    /// Produced quantity (PQ): visits that ended inside planned busy time.
    pub pq: u64,
    /// Good quantity (GQ): of those, passed.
    pub gq: u64,
    /// Rework quantity (RQ): failed and sent to repair.
    pub rq: u64,
    /// Scrap quantity (SQ): failed and out of the line.
    pub sq: u64,
    /// Visits that ended outside planned busy time (not in PQ).
    pub unplanned: u64,
}

impl std::ops::AddAssign for Quantities {
    fn add_assign(&mut self, o: Self) {
        self.pq += o.pq;
        self.gq += o.gq;
        self.rq += o.rq;
        self.sq += o.sq;
        self.unplanned += o.unplanned;
    }
}

/// Something that makes a figure doubtful or absent, shown beside it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum OeeProblem {
    /// The station has no ideal cycle time in the master data: no effectiveness, no OEE.
    NoIdealCycleTime {
        /// Station.
        station: StationId,
    },
    /// Effectiveness above 100 %: the ideal cycle time is shorter than what the station does.
    EffectivenessAbove100 {
        /// Station, or none for the line.
        station: Option<StationId>,
        /// The uncapped effectiveness.
        effectiveness: f64,
    },
    /// Units were produced but no running time was recorded.
    ProductionWithoutRunningTime {
        /// Station.
        station: StationId,
    },
    /// Part of the planned time has no recorded state.
    UnrecordedTime {
        /// Station.
        station: StationId,
        /// How much.
        unrecorded_ms: i64,
    },
}

/// The problem in words, for the terminal and the pages.
impl std::fmt::Display for OeeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OeeProblem::NoIdealCycleTime { station } => {
                write!(f, "{station} has no ideal cycle time (ideal_cycle_ms in its profile): no effectiveness, no OEE")
            }
            OeeProblem::EffectivenessAbove100 { station, effectiveness } => write!(
                f,
                "{} effectiveness {:.1} % is above 100 %: its ideal cycle time is too short",
                station.as_ref().map_or("the line", StationId::as_str),
                effectiveness * 100.0
            ),
            OeeProblem::ProductionWithoutRunningTime { station } => {
                write!(f, "{station} produced units but no running time was recorded")
            }
            OeeProblem::UnrecordedTime { station, unrecorded_ms } => write!(
                f,
                "{station}: {:.1} min of planned time has no recorded state (no collector watching)",
                *unrecorded_ms as f64 / 60_000.0
            ),
        }
    }
}

/// OEE figures with the elements they were computed from.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Oee {
    /// Time elements.
    pub time: TimeElements,
    /// Quantities.
    pub quantities: Quantities,
    /// Σ PRU × PQ in milliseconds (the time the output needs at ideal speed); `None` without
    /// an ideal cycle time for every station.
    pub ideal_output_ms: Option<i64>,
    /// APT / PBT.
    pub availability: Option<f64>,
    /// PRU × PQ / APT (uncapped).
    pub effectiveness: Option<f64>,
    /// GQ / PQ.
    pub quality: Option<f64>,
    /// availability × effectiveness × quality; `None` if a factor is missing or effectiveness
    /// is above 100 %.
    pub oee: Option<f64>,
    /// What makes the figures doubtful or absent.
    pub problems: Vec<OeeProblem>,
}

/// The OEE of one station.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StationOee {
    /// Station.
    pub station: StationId,
    /// Its ideal cycle time (PRU), from master data.
    pub ideal_cycle_ms: Option<u32>,
    /// Figures.
    #[serde(flatten)]
    pub figures: Oee,
}

/// What one station's OEE is computed from.
#[derive(Debug, Clone, Copy)]
pub struct StationInputs<'a> {
    /// Station.
    pub station: &'a StationId,
    /// Ideal cycle time (PRU), if the master data has one.
    pub ideal_cycle_ms: Option<u32>,
    /// Where its failures go.
    pub disposition: FailDisposition,
    /// Its state intervals (any period; clipped here).
    pub intervals: &'a [StateInterval],
    /// Visits (any station and period; filtered here).
    pub visits: &'a [Visit],
}

/// When watching of a running period began, if after `from`: the earliest start of a recorded
/// state interval. A line whose collector started 43 minutes into a shift has no record of
/// those minutes; its figures for the shift so far (plan, OEE) are counted from this instant
/// and say so, rather than showing 43 minutes as lost. `None` when something was recorded from
/// `from` on (or nothing at all).
pub fn watched_from<'a>(
    intervals: impl IntoIterator<Item = &'a StateInterval>,
    from: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    intervals.into_iter().map(|i| i.started_at).min().filter(|first| *first > from)
}

/// The planned windows inside `[from, end)`.
fn clip(
    planned: &[(DateTime<Utc>, DateTime<Utc>)],
    from: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    planned.iter().map(|(s, e)| ((*s).max(from), (*e).min(end))).filter(|(s, e)| s < e).collect()
}

/// Whether `at` falls inside one of the windows.
fn inside(windows: &[(DateTime<Utc>, DateTime<Utc>)], at: DateTime<Utc>) -> bool {
    windows.iter().any(|(s, e)| at >= *s && at < *e)
}

/// Milliseconds of `[start, end)` inside the windows (sorted, disjoint).
fn overlap_ms(windows: &[(DateTime<Utc>, DateTime<Utc>)], start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    windows.iter().map(|(s, e)| (end.min(*e) - start.max(*s)).num_milliseconds().max(0)).sum()
}

fn ratio(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The OEE of a station over `[from, to)` with planned busy time `planned` (sorted, disjoint
/// windows inside the period, e.g. [`super::shift::ShiftCalendar::planned_windows`]). Time after
/// `now` has not happened: it is neither planned nor recorded; an open interval ends at `now`.
pub fn station_oee(
    inputs: StationInputs<'_>,
    planned: &[(DateTime<Utc>, DateTime<Utc>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StationOee {
    let end = to.min(now);
    let planned = clip(planned, from, end);
    // Summed before rounding to milliseconds, so a period cut at odd instants loses nothing.
    let pbt = planned.iter().fold(chrono::Duration::zero(), |sum, (s, e)| sum + (*e - *s));
    let mut time = TimeElements { pbt_ms: pbt.num_milliseconds(), ..Default::default() };
    for i in inputs.intervals.iter().filter(|i| &i.station == inputs.station) {
        let (s, e) = (i.started_at.max(from), i.ended_at.unwrap_or(now).min(end));
        if e <= s {
            continue;
        }
        let inside = overlap_ms(&planned, s, e);
        let element = match i.state {
            MachineState::Running => {
                time.unplanned_running_ms += (e - s).num_milliseconds() - inside;
                &mut time.apt_ms
            }
            MachineState::Changeover => &mut time.aust_ms,
            MachineState::Fault | MachineState::Maintenance => &mut time.adot_ms,
            MachineState::Idle | MachineState::Blocked | MachineState::Starved | MachineState::Off => &mut time.adet_ms,
        };
        *element += inside;
    }
    let recorded = time.apt_ms + time.aust_ms + time.adot_ms + time.adet_ms;
    time.unrecorded_ms = (time.pbt_ms - recorded).max(0);

    let mut q = Quantities::default();
    for v in inputs.visits.iter().filter(|v| &v.station == inputs.station && v.ended_at >= from && v.ended_at < end) {
        if !inside(&planned, v.ended_at) {
            q.unplanned += 1;
            continue;
        }
        q.pq += 1;
        match (v.verdict, inputs.disposition) {
            (Verdict::Pass, _) => q.gq += 1,
            (Verdict::Fail, FailDisposition::Repair) => q.rq += 1,
            (Verdict::Fail, FailDisposition::Scrap) => q.sq += 1,
        }
    }
    let ideal_output_ms = inputs.ideal_cycle_ms.map(|c| i64::from(c) * q.pq as i64);
    let mut problems = Vec::new();
    if inputs.ideal_cycle_ms.is_none() {
        problems.push(OeeProblem::NoIdealCycleTime { station: inputs.station.clone() });
    }
    if q.pq > 0 && time.apt_ms == 0 {
        problems.push(OeeProblem::ProductionWithoutRunningTime { station: inputs.station.clone() });
    }
    if time.unrecorded_ms > 0 {
        problems
            .push(OeeProblem::UnrecordedTime { station: inputs.station.clone(), unrecorded_ms: time.unrecorded_ms });
    }
    StationOee {
        station: inputs.station.clone(),
        ideal_cycle_ms: inputs.ideal_cycle_ms,
        figures: figures(time, q, ideal_output_ms, Some(inputs.station), problems),
    }
}

/// A line's OEE (ISO 22400-2, the line as one work unit made of its steps), with the step
/// whose time it is measured by.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LineOee {
    /// The constraint: the production step with the longest ideal cycle time (the later one on
    /// ties), whose time elements and PRU are the line's; `None` for a line without steps.
    pub constraint: Option<StationId>,
    /// Figures.
    #[serde(flatten)]
    pub figures: Oee,
}

/// What a line's OEE is computed from.
#[derive(Clone, Copy)]
pub struct LineInputs<'a> {
    /// The OEE of each production step, in route order (from [`station_oee`] over the same
    /// period and planned time).
    pub steps: &'a [StationOee],
    /// The line's visits (any station, including repair; filtered here).
    pub visits: &'a [Visit],
    /// Whether a failure at a station scraps the unit (true for stations that are not steps:
    /// a failed repair).
    pub scraps: &'a dyn Fn(&StationId) -> bool,
}

/// The OEE of a line over `[from, to)` with planned busy time `planned` (see the module doc):
/// the constraint's time elements, the line's output as quantities.
pub fn line_oee(
    inputs: LineInputs<'_>,
    planned: &[(DateTime<Utc>, DateTime<Utc>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> LineOee {
    let Some(last) = inputs.steps.last() else {
        return LineOee {
            constraint: None,
            figures: figures(TimeElements::default(), Quantities::default(), None, None, Vec::new()),
        };
    };
    // `max_by_key` keeps the last of equals: the later step on ties.
    let constraint = inputs.steps.iter().max_by_key(|s| s.ideal_cycle_ms).unwrap_or(last);
    let end = to.min(now);
    let planned = clip(planned, from, end);
    let mut q = Quantities::default();
    for v in inputs.visits.iter().filter(|v| v.ended_at >= from && v.ended_at < end) {
        let output = v.station == last.station && v.verdict == Verdict::Pass;
        let scrapped = v.verdict == Verdict::Fail && (inputs.scraps)(&v.station);
        if !output && !scrapped {
            continue;
        }
        if !inside(&planned, v.ended_at) {
            q.unplanned += 1;
        } else if output {
            q.gq += 1;
        } else {
            q.sq += 1;
        }
    }
    q.pq = q.gq + q.sq;
    let mut problems: Vec<OeeProblem> = inputs
        .steps
        .iter()
        .filter(|s| s.ideal_cycle_ms.is_none())
        .map(|s| OeeProblem::NoIdealCycleTime { station: s.station.clone() })
        .collect();
    problems.extend(
        constraint
            .figures
            .problems
            .iter()
            .filter(|p| !matches!(p, OeeProblem::NoIdealCycleTime { .. } | OeeProblem::EffectivenessAbove100 { .. }))
            .cloned(),
    );
    // Without every step's ideal cycle time the constraint is not known: no effectiveness.
    let ideal = if problems.iter().any(|p| matches!(p, OeeProblem::NoIdealCycleTime { .. })) {
        None
    } else {
        constraint.ideal_cycle_ms.map(|c| i64::from(c) * q.pq as i64)
    };
    LineOee {
        constraint: Some(constraint.station.clone()),
        figures: figures(constraint.figures.time, q, ideal, None, problems),
    }
}

/// The ratios of ISO 22400-2 from elements and quantities.
fn figures(
    time: TimeElements,
    quantities: Quantities,
    ideal_output_ms: Option<i64>,
    station: Option<&StationId>,
    mut problems: Vec<OeeProblem>,
) -> Oee {
    // All of the planned time unrecorded is no data, not 0 % available.
    let availability = if time.unrecorded_ms >= time.pbt_ms { None } else { ratio(time.apt_ms, time.pbt_ms) };
    let effectiveness = ideal_output_ms.and_then(|ideal| ratio(ideal, time.apt_ms));
    let quality = ratio(quantities.gq as i64, quantities.pq as i64);
    let mut oee = match (availability, effectiveness, quality) {
        (Some(a), Some(e), Some(q)) => Some(a * e * q),
        _ => None,
    };
    if let Some(e) = effectiveness.filter(|e| *e > 1.0) {
        problems.push(OeeProblem::EffectivenessAbove100 { station: station.cloned(), effectiveness: e });
        oee = None;
    }
    Oee { time, quantities, ideal_output_ms, availability, effectiveness, quality, oee, problems }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use plc_contract::profile::FailDisposition;

    use super::*;
    use crate::domain::LineId;

    fn at(minute: f64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
            + chrono::Duration::milliseconds((minute * 60_000.0) as i64)
    }

    fn ft() -> StationId {
        StationId::parse(FT).unwrap()
    }

    fn iv(s: f64, e: Option<f64>, state: MachineState) -> StateInterval {
        StateInterval {
            line: LineId::parse("phone-1").unwrap(),
            station: ft(),
            started_at: at(s),
            ended_at: e.map(at),
            plc_code: 0,
            state,
            fault_code: None,
            reason: None,
        }
    }

    fn visit(minute: f64, pass: bool) -> Visit {
        Visit {
            serial: format!("U{minute}"),
            station: ft(),
            verdict: if pass { Verdict::Pass } else { Verdict::Fail },
            ended_at: at(minute),
            defects: Vec::new(),
            opportunities_per_unit: None,
        }
    }

    /// FT over [00:00, 02:00) with a planned break 00:50–01:00: PBT = 110 min.
    ///
    /// States: running 0–40, fault 40–48, running 48–55 (50–55 is in the break), idle 55–65
    /// (60–65 planned), running 65–100, changeover 100–105, starved 105–110, nothing recorded
    /// 110–120. APT = 40 + 2 + 35 = 77 min; ADOT = 8; AUST = 5; ADET = 5 + 5 = 10; unrecorded
    /// = 10; 77 + 8 + 5 + 10 + 10 = 110 = PBT. Running in the break: 5 min.
    ///
    /// Visits: 33 in 0–48 (every 1.5 min) and 37 in 60–96 (every minute): PQ = 70, of which the
    /// 7 with index ≡ 3 (mod 10) failed and went to repair: GQ = 63, RQ = 7, SQ = 0. Two more
    /// visits in the break (52, 54) are outside PQ.
    ///
    /// Ideal cycle 60 s: availability = 77/110 = 0.7; effectiveness = 60 s × 70 / 77 min =
    /// 70/77 = 0.90909…; quality = 63/70 = 0.9; OEE = 0.7 × 70/77 × 0.9 = 0.572727…
    type Windows = Vec<(DateTime<Utc>, DateTime<Utc>)>;

    fn fixture() -> (Vec<StateInterval>, Vec<Visit>, Windows) {
        let intervals = vec![
            iv(0.0, Some(40.0), MachineState::Running),
            iv(40.0, Some(48.0), MachineState::Fault),
            iv(48.0, Some(55.0), MachineState::Running),
            iv(55.0, Some(65.0), MachineState::Idle),
            iv(65.0, Some(100.0), MachineState::Running),
            iv(100.0, Some(105.0), MachineState::Changeover),
            iv(105.0, Some(110.0), MachineState::Starved),
        ];
        let times: Vec<f64> = (0..33).map(|k| k as f64 * 1.5).chain((0..37).map(|k| 60.0 + k as f64)).collect();
        let mut visits: Vec<Visit> = times.iter().enumerate().map(|(j, m)| visit(*m, j % 10 != 3)).collect();
        visits.extend([visit(52.0, true), visit(54.0, true)]);
        let planned = vec![(at(0.0), at(50.0)), (at(60.0), at(120.0))];
        (intervals, visits, planned)
    }

    const FT: &str = "FT";

    fn inputs<'a>(
        station: &'a StationId,
        intervals: &'a [StateInterval],
        visits: &'a [Visit],
        ideal: Option<u32>,
    ) -> StationInputs<'a> {
        StationInputs { station, ideal_cycle_ms: ideal, disposition: FailDisposition::Repair, intervals, visits }
    }

    #[test]
    fn availability_effectiveness_quality_and_oee_of_a_hand_worked_shift() {
        let (intervals, visits, planned) = fixture();
        let s = station_oee(inputs(&ft(), &intervals, &visits, Some(60_000)), &planned, at(0.0), at(120.0), at(500.0));
        let min = 60_000;
        let t = s.figures.time;
        assert_eq!(
            (t.pbt_ms, t.apt_ms, t.adot_ms, t.aust_ms, t.adet_ms, t.unrecorded_ms, t.unplanned_running_ms),
            (110 * min, 77 * min, 8 * min, 5 * min, 10 * min, 10 * min, 5 * min)
        );
        let q = s.figures.quantities;
        assert_eq!((q.pq, q.gq, q.rq, q.sq, q.unplanned), (70, 63, 7, 0, 2));
        assert_eq!(s.figures.availability, Some(0.7));
        assert_eq!(s.figures.effectiveness, Some(70.0 / 77.0));
        assert_eq!(s.figures.quality, Some(0.9));
        let oee = s.figures.oee.unwrap();
        assert!((oee - 0.7 * 70.0 / 77.0 * 0.9).abs() < 1e-12, "{oee}");
        assert_eq!(s.figures.problems, vec![OeeProblem::UnrecordedTime { station: ft(), unrecorded_ms: 10 * min }]);
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        const STATES: [MachineState; 8] = [
            MachineState::Off,
            MachineState::Idle,
            MachineState::Running,
            MachineState::Blocked,
            MachineState::Starved,
            MachineState::Fault,
            MachineState::Changeover,
            MachineState::Maintenance,
        ];

        /// Back-to-back state intervals (with gaps where nothing was recorded) over up to 10 h,
        /// visits at any time, planned windows with breaks.
        fn scenario() -> impl Strategy<Value = (Vec<StateInterval>, Vec<Visit>, Windows)> {
            let intervals = prop::collection::vec((1u32..90, 0usize..8, any::<bool>()), 0..30);
            let visits = prop::collection::vec((0u32..600, any::<bool>()), 0..200);
            let breaks = prop::collection::vec((0u32..600, 1u32..60), 0..4);
            (intervals, visits, breaks).prop_map(|(raw, visits, breaks)| {
                let mut t = 0.0;
                let mut intervals = Vec::new();
                for (len, state, gap) in raw {
                    let end = t + f64::from(len);
                    if !gap {
                        intervals.push(iv(t, Some(end), STATES[state]));
                    }
                    t = end;
                }
                let visits = visits.into_iter().map(|(m, pass)| visit(f64::from(m), pass)).collect();
                // Planned: [0, 600) minus the breaks, as sorted disjoint windows.
                let mut planned = vec![(at(0.0), at(600.0))];
                for (start, len) in breaks {
                    let (bs, be) = (at(f64::from(start)), at(f64::from(start + len)));
                    planned = planned
                        .into_iter()
                        .flat_map(|(s, e)| [(s, e.min(bs)), (s.max(be), e)])
                        .filter(|(s, e)| s < e)
                        .collect();
                }
                (intervals, visits, planned)
            })
        }

        proptest! {
            #[test]
            fn oee_never_exceeds_any_of_its_factors((intervals, visits, planned) in scenario(), ideal in 1u32..120_000) {
                let station = ft();
                let s = station_oee(inputs(&station, &intervals, &visits, Some(ideal)), &planned, at(0.0), at(600.0), at(900.0));
                let f = &s.figures;
                let t = f.time;
                prop_assert_eq!(t.pbt_ms, t.apt_ms + t.aust_ms + t.adot_ms + t.adet_ms + t.unrecorded_ms);
                let q = f.quantities;
                prop_assert_eq!(q.pq, q.gq + q.rq + q.sq);
                prop_assert_eq!(q.pq + q.unplanned, visits.len() as u64);
                for factor in [f.availability, f.quality].into_iter().flatten() {
                    prop_assert!((0.0..=1.0).contains(&factor));
                }
                if let Some(oee) = f.oee {
                    for factor in [f.availability, f.effectiveness, f.quality] {
                        prop_assert!(oee <= factor.unwrap() + 1e-12, "{oee} > {factor:?}");
                    }
                }
                let steps = [s.clone()];
                let line = line_oee(LineInputs { steps: &steps, visits: &visits, scraps: &|_| false }, &planned, at(0.0), at(600.0), at(900.0)).figures;
                prop_assert_eq!(line.availability, f.availability);
                prop_assert_eq!(line.quantities.pq, line.quantities.gq + line.quantities.sq);
                if let Some(oee) = line.oee {
                    prop_assert!(oee <= line.availability.unwrap() && oee <= line.quality.unwrap() && oee <= line.effectiveness.unwrap() + 1e-12);
                }
            }
        }
    }

    #[test]
    fn figures_start_when_watching_began() {
        let late = [iv(43.0, Some(50.0), MachineState::Running), iv(50.0, None, MachineState::Idle)];
        assert_eq!(watched_from(&late, at(0.0)), Some(at(43.0)));
        // An interval open since before the shift: watched all along.
        let early = [iv(-5.0, Some(50.0), MachineState::Running)];
        assert_eq!(watched_from(&early, at(0.0)), None);
        assert_eq!(watched_from(&[], at(0.0)), None);
    }

    #[test]
    fn an_ideal_cycle_time_that_is_too_short_is_reported_not_capped() {
        let (intervals, visits, planned) = fixture();
        // 70 s ideal: 70 × 70 s / 77 min = 4900/4620 = 1.0606…
        let s = station_oee(inputs(&ft(), &intervals, &visits, Some(70_000)), &planned, at(0.0), at(120.0), at(500.0));
        assert_eq!(s.figures.effectiveness, Some(4900.0 / 4620.0));
        assert_eq!(s.figures.oee, None);
        assert!(s.figures.problems.iter().any(|p| matches!(p, OeeProblem::EffectivenessAbove100 { .. })));
        let none = station_oee(inputs(&ft(), &intervals, &visits, None), &planned, at(0.0), at(120.0), at(500.0));
        assert_eq!((none.figures.effectiveness, none.figures.oee), (None, None));
        assert_eq!(none.figures.availability, Some(0.7));
    }

    #[test]
    fn scrap_is_counted_by_the_lines_fail_disposition() {
        let (intervals, visits, planned) = fixture();
        let station = ft();
        let mut i = inputs(&station, &intervals, &visits, Some(60_000));
        i.disposition = FailDisposition::Scrap;
        let q = station_oee(i, &planned, at(0.0), at(120.0), at(500.0)).figures.quantities;
        assert_eq!((q.pq, q.gq, q.rq, q.sq), (70, 63, 0, 7));
    }

    #[test]
    fn nothing_recorded_is_no_data_and_the_future_is_not_planned() {
        let planned = vec![(at(0.0), at(120.0))];
        let s = station_oee(inputs(&ft(), &[], &[], Some(60_000)), &planned, at(0.0), at(120.0), at(500.0));
        assert_eq!(s.figures.time.pbt_ms, 120 * 60_000);
        assert_eq!(
            (s.figures.availability, s.figures.effectiveness, s.figures.quality, s.figures.oee),
            (None, None, None, None)
        );
        // At 00:30, with running since 00:00 still open: PBT 30 min, all running.
        let running = [iv(0.0, None, MachineState::Running)];
        let s = station_oee(inputs(&ft(), &running, &[], Some(60_000)), &planned, at(0.0), at(120.0), at(30.0));
        assert_eq!((s.figures.time.pbt_ms, s.figures.time.apt_ms), (30 * 60_000, 30 * 60_000));
        assert_eq!(s.figures.availability, Some(1.0));
        assert_eq!(s.figures.quality, None);
    }

    /// A line of FT (as in the fixture: ideal 60 s, PBT 110 min, APT 77 min) then RF (ideal
    /// 30 s, running 0–50 and 60–110, 60 passes inside planned time), and one failed repair
    /// (scrap). The constraint is FT (the longer ideal cycle): the line's PBT is 110 min, not
    /// 220, and its APT FT's 77 min. Output: GQ 60 (RF's passes), SQ 1, PQ 61 (units, not the
    /// 70 + 60 station visits). Availability 77/110 = 70 %; effectiveness 60 s × 61 / 77 min =
    /// 61/77 = 79.22 %; quality 60/61 = 98.36 %; OEE = 0.7 × 60/77 = 54.55 % (= 60 good units ×
    /// 60 s / 110 min).
    #[test]
    fn a_line_is_one_work_unit_timed_by_its_constraint_and_counted_by_its_output() {
        let (intervals, mut visits, planned) = fixture();
        let ft_oee =
            station_oee(inputs(&ft(), &intervals, &visits, Some(60_000)), &planned, at(0.0), at(120.0), at(500.0));
        let rf = StationId::parse("RF").unwrap();
        let repair = StationId::parse("REPAIR").unwrap();
        let rf_intervals = [
            StateInterval { station: rf.clone(), ..iv(0.0, Some(50.0), MachineState::Running) },
            StateInterval { station: rf.clone(), ..iv(60.0, Some(110.0), MachineState::Running) },
        ];
        let rf_visits: Vec<Visit> = (0..60)
            .map(|k| {
                let minute = if k < 30 { 1.0 + k as f64 * 1.5 } else { 61.0 + (k - 30) as f64 * 1.5 };
                Visit { station: rf.clone(), ..visit(minute, true) }
            })
            .collect();
        let rf_oee = station_oee(
            StationInputs {
                station: &rf,
                ideal_cycle_ms: Some(30_000),
                disposition: FailDisposition::Repair,
                intervals: &rf_intervals,
                visits: &rf_visits,
            },
            &planned,
            at(0.0),
            at(120.0),
            at(500.0),
        );
        visits.extend(rf_visits);
        visits.push(Visit { station: repair.clone(), ..visit(30.0, false) });
        let steps = [ft_oee, rf_oee];
        let scraps = |s: &StationId| *s == repair;
        let line = line_oee(
            LineInputs { steps: &steps, visits: &visits, scraps: &scraps },
            &planned,
            at(0.0),
            at(120.0),
            at(500.0),
        );
        assert_eq!(line.constraint, Some(ft()));
        let f = &line.figures;
        assert_eq!((f.time.pbt_ms, f.time.apt_ms), (110 * 60_000, 77 * 60_000));
        let q = f.quantities;
        assert_eq!((q.pq, q.gq, q.rq, q.sq), (61, 60, 0, 1));
        assert_eq!(f.availability, Some(0.7));
        assert_eq!(f.effectiveness, Some(61.0 / 77.0));
        assert_eq!(f.quality, Some(60.0 / 61.0));
        assert!((f.oee.unwrap() - 0.7 * 60.0 / 77.0).abs() < 1e-12);
        // A step without an ideal cycle time: the constraint is unknown, no effectiveness.
        let mut no_ideal = steps.clone();
        no_ideal[1].ideal_cycle_ms = None;
        let line = line_oee(
            LineInputs { steps: &no_ideal, visits: &visits, scraps: &scraps },
            &planned,
            at(0.0),
            at(120.0),
            at(500.0),
        );
        assert_eq!((line.figures.effectiveness, line.figures.oee), (None, None));
        assert!(
            line.figures
                .problems
                .iter()
                .any(|p| matches!(p, OeeProblem::NoIdealCycleTime { station } if *station == rf))
        );
        let empty = line_oee(
            LineInputs { steps: &[], visits: &visits, scraps: &scraps },
            &planned,
            at(0.0),
            at(120.0),
            at(500.0),
        );
        assert_eq!((empty.constraint, empty.figures.oee), (None, None));
    }
}
