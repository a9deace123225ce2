//! Yield figures from station visits, with the formulas written where they are computed (and in
//! `docs/kpi.md`) so an auditor can redo them by hand:
//!
//! - **First-pass yield** of a station, FPY = units whose *first* visit to the station passed ÷
//!   units whose first visit to it falls in the period. A unit that fails, is repaired and then
//!   passes is not first-pass.
//! - **Final yield** of a station = units whose *last* visit in the period passed ÷ units that
//!   visited it in the period.
//! - **Rolled throughput yield**, RTY = the product of the FPYs of every step of the route; no
//!   answer unless every step has data.
//! - **Scrap rate** of a line = units scrapped in the period (a failure whose disposition is
//!   scrap, see `plc_contract::profile::fail_disposition`) ÷ units that visited the line in it.
//! - **DPMO** (IPC-7912A) = defects recorded in the period ÷ (the sum, over the units that
//!   visited the line in the period, of their product's defect opportunities per unit) ×
//!   1,000,000; no data if a unit's product (or the line's, for units without one) declares none.
//! - **Defect Pareto**: defects by code, most frequent first, with each code's share and the
//!   cumulative share.
//!
//! A figure over zero units is `None` ("no data"), never a division by zero.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::StationId;
use super::record::Verdict;

/// One station visit, as the yield figures need it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Visit {
    /// Unit serial.
    pub serial: String,
    /// Station.
    pub station: StationId,
    /// Outcome.
    pub verdict: Verdict,
    /// When the unit left the station.
    pub ended_at: DateTime<Utc>,
    /// Defect codes found at the visit.
    pub defects: Vec<String>,
    /// Defect opportunities per unit of the unit's product, if it is known (DPMO).
    pub opportunities_per_unit: Option<u32>,
}

/// The yield figures of one station over a period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StationYield {
    /// Station.
    pub station: StationId,
    /// Units whose first visit to the station is in the period.
    pub first_visits: u64,
    /// Of those, passed at that first visit.
    pub first_pass: u64,
    /// `first_pass / first_visits`.
    pub fpy: Option<f64>,
    /// Units that visited the station in the period.
    pub units: u64,
    /// Of those, whose last visit in the period passed.
    pub final_pass: u64,
    /// `final_pass / units`.
    pub final_yield: Option<f64>,
    /// Visits in the period (retests included).
    pub visits: u64,
    /// Defects recorded in the period.
    pub defects: u64,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Yield of each station of `route` over `[from, to)`. `visits` must hold, for every unit that
/// visited a station in the period, all its visits to the route's stations (earlier ones too),
/// so a first visit before `from` is recognised as such.
pub fn station_yields(
    visits: &[Visit],
    route: &[StationId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<StationYield> {
    let in_period = |v: &Visit| v.ended_at >= from && v.ended_at < to;
    let mut ordered: Vec<&Visit> = visits.iter().collect();
    ordered.sort_by(|a, b| a.ended_at.cmp(&b.ended_at).then_with(|| a.serial.cmp(&b.serial)));
    route
        .iter()
        .map(|station| {
            let mut first: HashMap<&str, &Visit> = HashMap::new();
            let mut last_in: HashMap<&str, &Visit> = HashMap::new();
            let (mut count, mut defects) = (0u64, 0u64);
            for v in ordered.iter().filter(|v| &v.station == station) {
                first.entry(v.serial.as_str()).or_insert(v);
                if in_period(v) {
                    last_in.insert(v.serial.as_str(), v);
                    count += 1;
                    defects += v.defects.len() as u64;
                }
            }
            let firsts: Vec<&&Visit> = first.values().filter(|v| in_period(v)).collect();
            let first_pass = firsts.iter().filter(|v| v.verdict == Verdict::Pass).count() as u64;
            let final_pass = last_in.values().filter(|v| v.verdict == Verdict::Pass).count() as u64;
            StationYield {
                station: station.clone(),
                first_visits: firsts.len() as u64,
                first_pass,
                fpy: ratio(first_pass, firsts.len() as u64),
                units: last_in.len() as u64,
                final_pass,
                final_yield: ratio(final_pass, last_in.len() as u64),
                visits: count,
                defects,
            }
        })
        .collect()
}

/// How a station's retests recover its first failures over a period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StationRetest {
    /// Station.
    pub station: StationId,
    /// Units whose first visit to the station is in the period and failed.
    pub first_fail: u64,
    /// Of those, whose last visit in the period was a later one that passed.
    pub retest_pass: u64,
    /// `retest_pass / first_fail`: a high figure beside a low FPY points at the test, not
    /// the product.
    pub retest_yield: Option<f64>,
}

/// Retest yield of each station of `route` over `[from, to)`, from the same `visits` as
/// [`station_yields`] (every visit of each unit seen in the period, earlier ones too).
pub fn retest_yields(
    visits: &[Visit],
    route: &[StationId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<StationRetest> {
    let in_period = |v: &Visit| v.ended_at >= from && v.ended_at < to;
    let mut ordered: Vec<&Visit> = visits.iter().collect();
    ordered.sort_by(|a, b| a.ended_at.cmp(&b.ended_at).then_with(|| a.serial.cmp(&b.serial)));
    route
        .iter()
        .map(|station| {
            // Per unit: its first visit and its last visit in the period, by position.
            let mut seen: HashMap<&str, (usize, Option<usize>)> = HashMap::new();
            for (k, v) in ordered.iter().enumerate().filter(|(_, v)| &v.station == station) {
                let entry = seen.entry(v.serial.as_str()).or_insert((k, None));
                if in_period(v) {
                    entry.1 = Some(k);
                }
            }
            let (mut first_fail, mut retest_pass) = (0u64, 0u64);
            for (first, last) in seen.values() {
                let f = ordered[*first];
                if !in_period(f) || f.verdict == Verdict::Pass {
                    continue;
                }
                first_fail += 1;
                if last.is_some_and(|l| l != *first && ordered[l].verdict == Verdict::Pass) {
                    retest_pass += 1;
                }
            }
            StationRetest {
                station: station.clone(),
                first_fail,
                retest_pass,
                retest_yield: ratio(retest_pass, first_fail),
            }
        })
        .collect()
}

/// Rolled throughput yield: the product of the route's FPYs; `None` if any step has no data.
pub fn rolled_throughput_yield(stations: &[StationYield]) -> Option<f64> {
    if stations.is_empty() {
        return None;
    }
    stations.iter().map(|s| s.fpy).product::<Option<f64>>()
}

/// Line-wide yield figures beside the per-station ones.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LineYield {
    /// Distinct units with a visit to the line in the period.
    pub units: u64,
    /// Of those, scrapped in the period.
    pub scrapped: u64,
    /// `scrapped / units`.
    pub scrap_rate: Option<f64>,
    /// Defects recorded in the period.
    pub defects: u64,
    /// Defect opportunities of those units (each its product's per-unit figure); `None` when a
    /// unit's product declares none.
    pub opportunities: Option<u64>,
    /// `defects / opportunities × 10⁶`.
    pub dpmo: Option<f64>,
}

/// Scrap rate and DPMO of a line over `[from, to)`. `scraps(station)` says whether a failure at
/// the station scraps the unit (the line's fail disposition); `line_opportunities` stands in for
/// units whose product is not known (the one product the line's route makes).
pub fn line_yield(
    visits: &[Visit],
    scraps: impl Fn(&StationId) -> bool,
    line_opportunities: Option<u32>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> LineYield {
    let in_period: Vec<&Visit> = visits.iter().filter(|v| v.ended_at >= from && v.ended_at < to).collect();
    let units: HashMap<&str, Option<u32>> = in_period
        .iter()
        .map(|v| (v.serial.as_str(), v.opportunities_per_unit.or(line_opportunities).filter(|o| *o > 0)))
        .collect();
    let scrapped: std::collections::HashSet<&str> = in_period
        .iter()
        .filter(|v| v.verdict == Verdict::Fail && scraps(&v.station))
        .map(|v| v.serial.as_str())
        .collect();
    let defects: u64 = in_period.iter().map(|v| v.defects.len() as u64).sum();
    let opportunities: Option<u64> = units.values().map(|o| o.map(u64::from)).sum();
    LineYield {
        units: units.len() as u64,
        scrapped: scrapped.len() as u64,
        scrap_rate: ratio(scrapped.len() as u64, units.len() as u64),
        defects,
        opportunities,
        dpmo: opportunities.and_then(|o| ratio(defects, o)).map(|r| r * 1_000_000.0),
    }
}

/// One bar of a defect Pareto.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ParetoBar {
    /// Defect code.
    pub code: String,
    /// Occurrences.
    pub count: u64,
    /// Share of all defects.
    pub share: f64,
    /// Share of this and every more frequent code.
    pub cumulative: f64,
}

/// Defects of the visits in `[from, to)` by code, most frequent first (ties by code).
pub fn defect_pareto(visits: &[Visit], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<ParetoBar> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for v in visits.iter().filter(|v| v.ended_at >= from && v.ended_at < to) {
        for d in &v.defects {
            *counts.entry(d.as_str()).or_default() += 1;
        }
    }
    let total: u64 = counts.values().sum();
    let mut bars: Vec<(&str, u64)> = counts.into_iter().collect();
    bars.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut running = 0u64;
    bars.into_iter()
        .map(|(code, count)| {
            running += count;
            ParetoBar {
                code: code.to_owned(),
                count,
                share: count as f64 / total as f64,
                cumulative: running as f64 / total as f64,
            }
        })
        .collect()
}

/// Work in progress on a line: units between its steps, and units failed into repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LineWip {
    /// Per step of the route, in order: units waiting for it (they passed the step before it,
    /// or came back from repair to retest at it). The first step's queue is outside the MES's
    /// sight: always 0.
    pub before: Vec<u64>,
    /// Units whose last visit was a failure sent to repair, not repaired yet.
    pub at_repair: u64,
}

/// WIP from each unit's latest visit among `visits` (any order; every visit of the units in
/// question): passed a step that is not the last → waiting for the next; failed where failures
/// go to repair (`to_repair`) → at repair; passed a repair station (not in `route`) → waiting
/// to retest at the step it last failed. Finished (passed the last step) and scrapped units are
/// not WIP.
pub fn line_wip(visits: &[Visit], route: &[StationId], to_repair: impl Fn(&StationId) -> bool) -> LineWip {
    let mut by_unit: HashMap<&str, Vec<&Visit>> = HashMap::new();
    for v in visits {
        by_unit.entry(v.serial.as_str()).or_default().push(v);
    }
    let step = |id: &StationId| route.iter().position(|r| r == id);
    let mut wip = LineWip { before: vec![0; route.len()], at_repair: 0 };
    for list in by_unit.values_mut() {
        list.sort_by_key(|v| v.ended_at);
        let Some(last) = list.last() else { continue };
        match (step(&last.station), last.verdict) {
            (Some(k), Verdict::Pass) => {
                if let Some(next) = wip.before.get_mut(k + 1) {
                    *next += 1;
                }
            }
            (Some(_), Verdict::Fail) => wip.at_repair += u64::from(to_repair(&last.station)),
            (None, Verdict::Pass) => {
                let failed_at = list.iter().rev().find(|v| v.verdict == Verdict::Fail).and_then(|v| step(&v.station));
                if let Some(k) = failed_at {
                    wip.before[k] += 1;
                }
            }
            // A failed repair scraps the unit.
            (None, Verdict::Fail) => {}
        }
    }
    wip
}

/// How a period is cut for figures "by" something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grain {
    /// The plant's shifts (a night shift crossing midnight belongs to the date it started on).
    Shift,
    /// Local calendar days in the plant's time zone.
    Day,
    /// Local clock hours.
    Hour,
}

impl Grain {
    /// `shift`, `day` or `hour`, as `by` is written.
    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Shift => "shift",
            Grain::Day => "day",
            Grain::Hour => "hour",
        }
    }
}

/// One slice of a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// "2026-11-23 C", "2026-11-23", "2026-11-23 14:00" (local).
    pub label: String,
    /// Start in UTC (inclusive), clipped to the period.
    pub start: DateTime<Utc>,
    /// End in UTC (exclusive), clipped to the period.
    pub end: DateTime<Utc>,
}

impl Bucket {
    /// Whether the slice is still running at `now`: its figures cover part of it. A period
    /// that ends now ends its last slice at `now`, which counts as running.
    pub fn running_at(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && now <= self.end
    }
}

/// The slices of `[from, to)` at `grain` in `calendar`'s time zone, in order, clipped to the
/// period; time between shifts belongs to no shift slice.
pub fn buckets(
    calendar: &super::shift::ShiftCalendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    grain: Grain,
) -> Vec<Bucket> {
    use chrono::TimeZone;
    let zone = calendar.time_zone;
    let first = from.with_timezone(&zone).date_naive() - chrono::Duration::days(1);
    let last = to.with_timezone(&zone).date_naive();
    let mut out = Vec::new();
    let mut date = first;
    while date <= last {
        match grain {
            Grain::Shift => {
                for s in &calendar.shifts {
                    if let Some(i) = calendar.instance(s, date) {
                        out.push(Bucket { label: format!("{date} {}", i.name), start: i.start, end: i.end });
                    }
                }
            }
            Grain::Day | Grain::Hour => {
                let local = |d: chrono::NaiveDate, h: u32| {
                    d.and_hms_opt(h, 0, 0)
                        .and_then(|t| zone.from_local_datetime(&t).earliest())
                        .map(|t| t.with_timezone(&Utc))
                };
                if grain == Grain::Day {
                    if let (Some(start), Some(end)) = (local(date, 0), local(date + chrono::Duration::days(1), 0)) {
                        out.push(Bucket { label: date.to_string(), start, end });
                    }
                } else {
                    for h in 0..24 {
                        let end = if h == 23 { local(date + chrono::Duration::days(1), 0) } else { local(date, h + 1) };
                        if let (Some(start), Some(end)) = (local(date, h), end) {
                            out.push(Bucket { label: format!("{date} {h:02}:00"), start, end });
                        }
                    }
                }
            }
        }
        date += chrono::Duration::days(1);
    }
    out.sort_by_key(|b| b.start);
    out.into_iter()
        .filter(|b| b.end > from && b.start < to)
        .map(|b| Bucket { start: b.start.max(from), end: b.end.min(to), ..b })
        .collect()
}

/// Time in each state, failures and repair figures of one station over a period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StationDowntime {
    /// Station.
    pub station: StationId,
    /// Seconds in each machine state (only states that occurred).
    pub seconds_by_state: BTreeMap<String, f64>,
    /// Breakdowns: fault intervals that started in the period.
    pub failures: u64,
    /// Mean time between failures: running seconds ÷ failures.
    pub mtbf_seconds: Option<f64>,
    /// Mean time to repair: fault seconds ÷ failures.
    pub mttr_seconds: Option<f64>,
    /// Fault seconds and breakdowns by downtime reason (or `fault <code>`), longest first.
    #[schema(value_type = Vec<(String, u64, f64)>)]
    pub by_reason: Vec<(super::state::DownReason, u64, f64)>,
}

/// Downtime figures from a station's state intervals over `[from, to)`; an interval still open
/// ends at `now` (or `to`, whichever is first). Intervals are clipped to the period.
pub fn station_downtime(
    station: &StationId,
    intervals: &[super::state::StateInterval],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StationDowntime {
    use super::state::MachineState;
    let mut by_state: BTreeMap<String, f64> = BTreeMap::new();
    let mut reasons: BTreeMap<super::state::DownReason, (u64, f64)> = BTreeMap::new();
    let mut failures = 0u64;
    for i in intervals {
        let end = i.ended_at.unwrap_or(now).min(to);
        let start = i.started_at.max(from);
        if end <= start {
            continue;
        }
        let secs = (end - start).num_milliseconds() as f64 / 1000.0;
        *by_state.entry(i.state.as_str().to_owned()).or_default() += secs;
        if i.state == MachineState::Fault {
            let entry = reasons.entry(i.down_reason()).or_default();
            entry.1 += secs;
            if i.started_at >= from {
                failures += 1;
                entry.0 += 1;
            }
        }
    }
    let running = by_state.get(MachineState::Running.as_str()).copied().unwrap_or(0.0);
    let faulted = by_state.get(MachineState::Fault.as_str()).copied().unwrap_or(0.0);
    let mut by_reason: Vec<_> = reasons.into_iter().map(|(r, (n, s))| (r, n, s)).collect();
    by_reason.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.to_string().cmp(&b.0.to_string())));
    StationDowntime {
        station: station.clone(),
        seconds_by_state: by_state,
        failures,
        mtbf_seconds: (failures > 0).then(|| running / failures as f64),
        mttr_seconds: (failures > 0).then(|| faulted / failures as f64),
        by_reason,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + chrono::Duration::minutes(minute)
    }

    fn st(code: &str) -> StationId {
        StationId::parse(code).unwrap()
    }

    /// At FT over minutes [10, 100): A fails then passes (recovered); B fails twice; C fails
    /// and is retested only after the period; D failed before the period (not a first failure
    /// of it) and passes in it; E passes first time.
    #[test]
    fn retest_yield_counts_first_failures_a_later_visit_recovered() {
        let visits = vec![
            v("A", "FT", false, 10, &[]),
            v("A", "FT", true, 20, &[]),
            v("B", "FT", false, 11, &[]),
            v("B", "FT", false, 21, &[]),
            v("C", "FT", false, 12, &[]),
            v("C", "FT", true, 120, &[]),
            v("D", "FT", false, 5, &[]),
            v("D", "FT", true, 15, &[]),
            v("E", "FT", true, 13, &[]),
        ];
        let r = retest_yields(&visits, &[st("FT")], at(10), at(100));
        assert_eq!(
            r,
            vec![StationRetest { station: st("FT"), first_fail: 3, retest_pass: 1, retest_yield: Some(1.0 / 3.0) }]
        );
        let none = retest_yields(&visits, &[st("FT")], at(200), at(300));
        assert_eq!((none[0].first_fail, none[0].retest_yield), (0, None));
    }

    /// Route SMT → FT → PACK, REPAIR beside FT (FT failures go to repair):
    /// A passed SMT (waits for FT); B passed FT (waits for PACK); C failed FT (at repair);
    /// D failed FT then passed REPAIR (waits to retest at FT); E passed PACK (done);
    /// F failed SMT (scrapped: SMT failures are not repaired); G failed REPAIR (scrapped).
    #[test]
    fn wip_counts_each_unit_once_where_its_latest_visit_left_it() {
        let visits = vec![
            v("A", "SMT", true, 1, &[]),
            v("B", "SMT", true, 1, &[]),
            v("B", "FT", true, 2, &[]),
            v("C", "SMT", true, 1, &[]),
            v("C", "FT", false, 3, &[]),
            v("D", "FT", false, 2, &[]),
            v("D", "SMT", true, 1, &[]),
            v("D", "REPAIR", true, 9, &[]),
            v("E", "SMT", true, 1, &[]),
            v("E", "FT", true, 2, &[]),
            v("E", "PACK", true, 3, &[]),
            v("F", "SMT", false, 1, &[]),
            v("G", "FT", false, 1, &[]),
            v("G", "REPAIR", false, 2, &[]),
        ];
        let route = [st("SMT"), st("FT"), st("PACK")];
        let wip = line_wip(&visits, &route, |s| s.as_str() == "FT");
        assert_eq!(wip, LineWip { before: vec![0, 2, 1], at_repair: 1 });
        assert_eq!(line_wip(&[], &route, |_| true), LineWip { before: vec![0, 0, 0], at_repair: 0 });
    }

    fn v(serial: &str, station: &str, pass: bool, minute: i64, defects: &[&str]) -> Visit {
        Visit {
            serial: serial.into(),
            station: st(station),
            verdict: if pass { Verdict::Pass } else { Verdict::Fail },
            ended_at: at(minute),
            defects: defects.iter().map(|d| (*d).to_owned()).collect(),
            opportunities_per_unit: None,
        }
    }

    /// Four phones through FT and RF in the period [0, 60):
    /// - A passes FT and RF;
    /// - B fails FT (FT_AUDIO), is repaired, passes FT at its second visit, passes RF;
    /// - C passes FT, fails RF (RF_POWER_LOW) and is not retested in the period;
    /// - D failed FT at minute -10 (before the period) and passes FT at minute 5.
    ///
    /// FT: first visits in the period: A, B, C (D's first visit is before it) → 3; first-pass:
    /// A, C → 2; FPY = 2/3. Units at FT in the period: A, B, C, D → 4; last visit passed: all
    /// four → final yield 4/4 = 1. Visits in the period: A, B, B, C, D = 5; defects 1 (B's).
    /// RF: first visits A, B, C → 3, first-pass A, B → FPY 2/3; final yield 2/3.
    /// RTY = 2/3 × 2/3 = 4/9.
    fn fixture() -> Vec<Visit> {
        vec![
            v("D", "FT", false, -10, &["FT_TOUCH"]),
            v("A", "FT", true, 1, &[]),
            v("B", "FT", false, 2, &["FT_AUDIO"]),
            v("C", "FT", true, 3, &[]),
            v("D", "FT", true, 5, &[]),
            v("B", "FT", true, 20, &[]),
            v("A", "RF", true, 4, &[]),
            v("C", "RF", false, 6, &["RF_POWER_LOW"]),
            v("B", "RF", true, 25, &[]),
        ]
    }

    #[test]
    fn first_pass_final_and_rolled_yield_of_a_hand_worked_period() {
        let y = station_yields(&fixture(), &[st("FT"), st("RF")], at(0), at(60));
        let ft = &y[0];
        assert_eq!(
            (ft.first_visits, ft.first_pass, ft.units, ft.final_pass, ft.visits, ft.defects),
            (3, 2, 4, 4, 5, 1)
        );
        assert_eq!(ft.fpy, Some(2.0 / 3.0));
        assert_eq!(ft.final_yield, Some(1.0));
        let rf = &y[1];
        assert_eq!((rf.first_visits, rf.first_pass, rf.final_pass), (3, 2, 2));
        let rty = rolled_throughput_yield(&y).unwrap();
        assert!((rty - 4.0 / 9.0).abs() < 1e-12, "{rty}");
        assert!(rty <= ft.fpy.unwrap() && rty <= rf.fpy.unwrap());
    }

    /// The fixture plus E failing AOI (an inspection: scrap) at minute 30 with two defects.
    /// In [0, 60): units A, B, C, D, E = 5; scrapped: E (C's RF failure goes to repair) → 1/5;
    /// defects FT_AUDIO, RF_POWER_LOW, SOLDER_BRIDGE, TOMBSTONE = 4; with 250 opportunities per
    /// unit, DPMO = 4 / (5 × 250) × 10⁶ = 3200. If E is of a product with 1,250 opportunities,
    /// DPMO = 4 / (4 × 250 + 1250) × 10⁶ = 1777.77…
    #[test]
    fn scrap_rate_and_dpmo_of_a_hand_worked_period() {
        let mut visits = fixture();
        visits.push(v("E", "AOI", false, 30, &["SOLDER_BRIDGE", "TOMBSTONE"]));
        let scraps = |s: &StationId| s.as_str() == "AOI";
        let y = line_yield(&visits, scraps, Some(250), at(0), at(60));
        assert_eq!((y.units, y.scrapped, y.defects), (5, 1, 4));
        assert_eq!(y.scrap_rate, Some(0.2));
        assert_eq!(y.dpmo, Some(3200.0));
        assert_eq!(y.opportunities, Some(1250));
        assert_eq!(line_yield(&visits, scraps, None, at(0), at(60)).dpmo, None);
        visits.last_mut().unwrap().opportunities_per_unit = Some(1250);
        assert_eq!(line_yield(&visits, scraps, Some(250), at(0), at(60)).dpmo, Some(4.0 / 2250.0 * 1e6));
        let empty = line_yield(&visits, scraps, Some(250), at(100), at(200));
        assert_eq!((empty.units, empty.scrap_rate, empty.dpmo), (0, None, None));
    }

    #[test]
    fn a_period_without_production_has_no_data_not_a_division_by_zero() {
        let y = station_yields(&fixture(), &[st("FT"), st("RF")], at(100), at(200));
        assert!(y.iter().all(|s| s.fpy.is_none() && s.final_yield.is_none() && s.units == 0));
        assert_eq!(rolled_throughput_yield(&y), None);
        assert_eq!(rolled_throughput_yield(&[]), None);
        assert!(defect_pareto(&fixture(), at(100), at(200)).is_empty());
    }

    #[test]
    fn periods_cut_by_shift_day_and_hour_in_the_plant_time_zone() {
        use crate::domain::shift::{DEFAULT_TIME_ZONE, ShiftCalendar};
        let cal = ShiftCalendar::three_shifts(DEFAULT_TIME_ZONE);
        // 2026-11-23 12:00 to 2026-11-24 12:00 UTC = 19:00 on the 23rd to 19:00 on the 24th local.
        let (from, to) = (at(12 * 60), at(36 * 60));
        let shifts = buckets(&cal, from, to, Grain::Shift);
        let labels: Vec<&str> = shifts.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["2026-11-23 B", "2026-11-23 C", "2026-11-24 A", "2026-11-24 B"]);
        // B of the 23rd is clipped to start at the period (19:00 local = 12:00 UTC); the night
        // shift C runs 22:00 local (15:00 UTC) to 06:00 local on the 24th (23:00 UTC).
        assert_eq!((shifts[0].start, shifts[1].start, shifts[1].end), (from, at(15 * 60), at(23 * 60)));
        assert_eq!(shifts.last().unwrap().end, to);
        let days = buckets(&cal, from, to, Grain::Day);
        // Local midnight is 17:00 UTC.
        assert_eq!(days.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(), ["2026-11-23", "2026-11-24"]);
        assert_eq!(days[0].end, at(17 * 60));
        assert_eq!(buckets(&cal, from, to, Grain::Hour).len(), 24);
        // The slices cover the period without overlap.
        for w in shifts.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
    }

    /// FT over [00:00, 01:00): running 00:00–00:20, fault (nozzle) 00:20–00:25, running
    /// 00:25–00:50, fault (no reason, code 7) 00:50–01:10 (clipped at 01:00), an interval
    /// before the period ignored. Running 45 min, fault 15 min, 2 breakdowns: MTBF = 45/2 =
    /// 22.5 min = 1350 s, MTTR = 15/2 = 7.5 min = 450 s.
    #[test]
    fn mtbf_mttr_and_downtime_by_reason_of_a_hand_worked_hour() {
        use crate::domain::state::{MachineState, StateInterval};
        let iv = |s: i64, e: Option<i64>, state, code: Option<u16>, reason: Option<&str>| StateInterval {
            line: crate::domain::LineId::parse("phone-1").unwrap(),
            station: st("FT"),
            started_at: at(s),
            ended_at: e.map(at),
            plc_code: 0,
            state,
            fault_code: code,
            reason: reason.map(str::to_owned),
        };
        let intervals = [
            iv(-30, Some(0), MachineState::Fault, Some(9), Some("earlier")),
            iv(0, Some(20), MachineState::Running, None, None),
            iv(20, Some(25), MachineState::Fault, Some(103), Some("nozzle blocked")),
            iv(25, Some(50), MachineState::Running, None, None),
            iv(50, None, MachineState::Fault, Some(7), None),
        ];
        let d = station_downtime(&st("FT"), &intervals, at(0), at(60), at(70));
        assert_eq!(d.seconds_by_state["running"], 45.0 * 60.0);
        assert_eq!(d.seconds_by_state["fault"], 15.0 * 60.0);
        assert_eq!(d.failures, 2);
        assert_eq!(d.mtbf_seconds, Some(1350.0));
        assert_eq!(d.mttr_seconds, Some(450.0));
        use crate::domain::state::DownReason;
        assert_eq!(
            d.by_reason,
            vec![(DownReason::Code(7), 1, 600.0), (DownReason::Named("nozzle blocked".into()), 1, 300.0)]
        );
        let quiet = station_downtime(&st("FT"), &intervals[1..2], at(0), at(60), at(70));
        assert_eq!((quiet.failures, quiet.mtbf_seconds, quiet.mttr_seconds), (0, None, None));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Visits of up to 12 units at three stations over 10 hours, in any order and result.
        fn visits() -> impl Strategy<Value = Vec<Visit>> {
            prop::collection::vec((0u8..12, 0usize..3, any::<bool>(), 0i64..600), 0..80).prop_map(|raw| {
                raw.into_iter()
                    .map(|(unit, station, pass, minute)| {
                        v(&format!("U{unit}"), ["A", "B", "C"][station], pass, minute, &[])
                    })
                    .collect()
            })
        }

        proptest! {
            #[test]
            fn rty_never_exceeds_any_steps_first_pass_yield(visits in visits(), from in 0i64..300, len in 1i64..400) {
                let route = [st("A"), st("B"), st("C")];
                let y = station_yields(&visits, &route, at(from), at(from + len));
                if let Some(rty) = rolled_throughput_yield(&y) {
                    for s in &y {
                        prop_assert!(rty <= s.fpy.unwrap() + 1e-12, "{rty} > {:?}", s.fpy);
                    }
                }
            }

            #[test]
            fn every_unit_counts_once_per_station_in_first_pass_figures(visits in visits(), cut in 1i64..599) {
                let route = [st("A"), st("B"), st("C")];
                let whole = station_yields(&visits, &route, at(0), at(600));
                let early = station_yields(&visits, &route, at(0), at(cut));
                let late = station_yields(&visits, &route, at(cut), at(600));
                for k in 0..3 {
                    let units: std::collections::HashSet<&str> =
                        visits.iter().filter(|v| v.station == route[k]).map(|v| v.serial.as_str()).collect();
                    // Each unit that visited the station has exactly one first visit, in exactly one slice.
                    prop_assert_eq!(whole[k].first_visits, units.len() as u64);
                    prop_assert_eq!(early[k].first_visits + late[k].first_visits, whole[k].first_visits);
                    prop_assert_eq!(early[k].first_pass + late[k].first_pass, whole[k].first_pass);
                    prop_assert!(whole[k].first_pass <= whole[k].first_visits);
                    prop_assert!(whole[k].final_pass <= whole[k].units);
                }
            }
        }
    }

    #[test]
    fn the_pareto_ranks_codes_with_shares_that_add_up() {
        let mut visits = fixture();
        visits.push(v("E", "FT", false, 30, &["FT_AUDIO", "FT_CAMERA"]));
        // In [0, 60): FT_AUDIO 2, RF_POWER_LOW 1, FT_CAMERA 1 (D's FT_TOUCH is before it).
        let p = defect_pareto(&visits, at(0), at(60));
        let codes: Vec<(&str, u64)> = p.iter().map(|b| (b.code.as_str(), b.count)).collect();
        assert_eq!(codes, vec![("FT_AUDIO", 2), ("FT_CAMERA", 1), ("RF_POWER_LOW", 1)]);
        assert_eq!(p[0].share, 0.5);
        assert_eq!(p.last().unwrap().cumulative, 1.0);
    }
}
