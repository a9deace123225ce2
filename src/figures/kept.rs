//! Line summaries kept, not recomputed from the store: the web process keeps each line's
//! rows of the current shift (the visits of the units seen in it, the state intervals that
//! overlap it) and, when the store moves, reads only what changed since its last read, so a
//! refresh reads work proportional to what was committed, not to the shift's length.
//!
//! What changed is found by id: the visits of every unit with a result after the last id read
//! (all of that unit's visits again, so a first pass stays known as first), the intervals after
//! the last id read, and the intervals held open (closing one rewrites its row under its id).
//! Ids commit in order on SQLite (one writer at a time); on PostgreSQL a transaction may commit
//! after one that took later ids, so there a read starts from the high-water mark of at least
//! [`PG_COMMIT_LAG`] ago (any transaction still writing then has committed by now) and reads
//! the rows of the whole store again until such a mark exists. The rows are read whole again
//! at a new shift and every [`FULL_REREAD`], which bounds anything missed.
//!
//! The figures are then computed from the kept rows exactly as [`super::line_summaries`]
//! computes them from a fresh read (same windows, same order); a test compares the two
//! after every batch of a generated history on both backends.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{FiguresError, LineSummary, SummaryAt, production_steps};
use crate::domain::kpi::Visit;
use crate::domain::shift::ShiftCalendar;
use crate::domain::state::StateInterval;
use crate::store::{Backend, Store};

/// How long a PostgreSQL write transaction may stay open and still be read by the next refresh
/// (see the module doc); the batch writer's take milliseconds.
pub const PG_COMMIT_LAG: Duration = Duration::from_secs(10);

/// How often the kept rows are thrown away and read whole again.
pub const FULL_REREAD: Duration = Duration::from_secs(300);

/// One line's kept rows.
#[derive(Debug, Default)]
struct KeptLine {
    /// Visits by result id.
    visits: BTreeMap<i64, Visit>,
    /// Result ids per unit serial.
    units: HashMap<String, Vec<i64>>,
    /// State intervals by id.
    intervals: BTreeMap<i64, StateInterval>,
}

impl KeptLine {
    /// Takes in a read: each unit read comes with all its visits, which replace the kept ones.
    fn take_visits(&mut self, read: Vec<(i64, Visit)>) {
        let mut seen: HashMap<String, Vec<i64>> = HashMap::new();
        for (id, visit) in read {
            seen.entry(visit.serial.clone()).or_default().push(id);
            self.visits.insert(id, visit);
        }
        for (serial, ids) in seen {
            if let Some(old) = self.units.insert(serial, ids.clone()) {
                for id in old.into_iter().filter(|id| !ids.contains(id)) {
                    self.visits.remove(&id);
                }
            }
        }
    }

    /// Ids of the intervals kept open.
    fn open(&self) -> Vec<i64> {
        self.intervals.iter().filter(|(_, i)| i.ended_at.is_none()).map(|(id, _)| *id).collect()
    }

    /// The visits of the units seen in `[from, to)`, in id order: what
    /// [`Store::yield_visits`] reads.
    fn visits_in(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Visit> {
        let seen = |serial: &str| {
            self.units.get(serial).is_some_and(|ids| {
                ids.iter().filter_map(|id| self.visits.get(id)).any(|v| v.ended_at >= from && v.ended_at < to)
            })
        };
        let mut included: HashMap<&str, bool> = HashMap::new();
        self.visits
            .values()
            .filter(|v| *included.entry(v.serial.as_str()).or_insert_with(|| seen(&v.serial)))
            .cloned()
            .collect()
    }

    /// Each step's intervals overlapping `[from, to)`, ordered by start then id: what
    /// [`Store::state_intervals_in`] reads.
    fn intervals_in(
        &self,
        steps: &[crate::domain::equipment::Station],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Vec<StateInterval>> {
        let mut per: Vec<Vec<(DateTime<Utc>, i64, &StateInterval)>> = vec![Vec::new(); steps.len()];
        for (id, i) in &self.intervals {
            if i.started_at < to
                && i.ended_at.is_none_or(|e| e > from)
                && let Some(k) = steps.iter().position(|s| s.id == i.station)
            {
                per[k].push((i.started_at, *id, i));
            }
        }
        per.into_iter()
            .map(|mut v| {
                v.sort_by_key(|(at, id, _)| (*at, *id));
                v.into_iter().map(|(_, _, i)| i.clone()).collect()
            })
            .collect()
    }
}

/// Every line's kept rows, and how far they have been read.
#[derive(Debug, Default)]
pub struct KeptSummaries {
    /// How long a PostgreSQL write may stay uncommitted (`None`: [`PG_COMMIT_LAG`]).
    commit_lag: Option<Duration>,
    /// The shift start the kept rows cover (`None`: nothing kept).
    window: Option<DateTime<Utc>>,
    lines: BTreeMap<String, KeptLine>,
    /// High-water marks (results, intervals) of past reads, oldest first.
    marks: VecDeque<(Instant, [i64; 2])>,
    /// When the rows were last read whole.
    reread: Option<Instant>,
    /// Rows the last refresh read, per line.
    rows_read: BTreeMap<String, usize>,
}

impl KeptSummaries {
    /// Kept summaries that trust every PostgreSQL write to commit within `lag` (a test that
    /// commits one batch at a time: zero).
    pub fn with_commit_lag(lag: Duration) -> Self {
        Self { commit_lag: Some(lag), ..Self::default() }
    }

    /// The summary of every line at `now`, as [`super::line_summaries`] computes it, from the
    /// kept rows brought up to date.
    pub async fn summaries(
        &mut self,
        store: &Store,
        calendar: &ShiftCalendar,
        now: DateTime<Utc>,
        held: &BTreeMap<String, u64>,
    ) -> Result<Vec<LineSummary>, FiguresError> {
        let at = SummaryAt::new(store, calendar, now).await?;
        if at.shift.is_none() {
            // Off shift a summary reads only the last second's states: nothing to keep.
            *self = Self { commit_lag: self.commit_lag, ..Self::default() };
            return super::summaries_at(store, &at, held).await;
        }
        let lag =
            if store.backend() == Backend::Sqlite { Duration::ZERO } else { self.commit_lag.unwrap_or(PG_COMMIT_LAG) };
        // The mark is read before the rows: whatever it counts, the reads below see.
        let hw = store.high_water().await?;
        let mark = [hw.result_id, hw.interval_id];
        let whole = self.window != Some(at.from) || self.reread.is_none_or(|t| t.elapsed() >= FULL_REREAD);
        if whole {
            *self = Self {
                window: Some(at.from),
                reread: Some(Instant::now()),
                commit_lag: self.commit_lag,
                ..Self::default()
            };
        }
        let floor = self.floor(lag, Instant::now());
        let mut out = Vec::new();
        let mut rows_read = BTreeMap::new();
        for line in store.lines().await? {
            let key = line.id.to_string();
            let kept = self.lines.entry(key.clone()).or_default();
            let visits = store.visits_touched_after(line.id.as_str(), at.from, floor[0]).await?;
            let intervals = store.line_intervals_changed(&line.id, at.from, floor[1], &kept.open()).await?;
            rows_read.insert(key, visits.len() + intervals.len());
            kept.take_visits(visits);
            kept.intervals.extend(intervals);
            let steps = production_steps(&line);
            let (visits, intervals) = (kept.visits_in(at.from, at.to), kept.intervals_in(&steps, at.from, at.to));
            out.push(at.summary(line, intervals, visits, held));
        }
        self.rows_read = rows_read;
        self.marks.push_back((Instant::now(), mark));
        Ok(out)
    }

    /// The ids already read in full: the newest mark at least `lag` old (older ones are no
    /// longer needed), or none yet (read everything).
    fn floor(&mut self, lag: Duration, now: Instant) -> [i64; 2] {
        let old_enough = |t: &Instant| now.saturating_duration_since(*t) >= lag;
        while self.marks.get(1).is_some_and(|(t, _)| old_enough(t)) {
            self.marks.pop_front();
        }
        match self.marks.front() {
            Some((t, mark)) if old_enough(t) => *mark,
            _ => [0, 0],
        }
    }

    /// Rows the last refresh read from the store, per line (what changed for that line, with
    /// the units' earlier visits and the intervals held open).
    pub fn rows_read(&self) -> &BTreeMap<String, usize> {
        &self.rows_read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_start_from_the_newest_mark_old_enough_and_from_nothing_before_one_is() {
        let lag = Duration::from_secs(10);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut kept = KeptSummaries::with_commit_lag(lag);
        assert_eq!(kept.floor(lag, at(0)), [0, 0], "nothing read yet: everything");
        kept.marks.push_back((at(0), [10, 5]));
        assert_eq!(kept.floor(lag, at(4)), [0, 0], "the only mark is 4 s old: a write may still commit below it");
        kept.marks.push_back((at(4), [20, 8]));
        kept.marks.push_back((at(11), [30, 9]));
        assert_eq!(kept.floor(lag, at(11)), [10, 5], "11 s old: the newest mark old enough");
        assert_eq!(kept.floor(lag, at(15)), [20, 8]);
        assert_eq!(kept.marks.len(), 2, "marks older than the one read from are dropped");
        // In commit order (SQLite, or a test's single writer): the last mark.
        assert_eq!(kept.floor(Duration::ZERO, at(15)), [30, 9]);
        assert_eq!(kept.marks.len(), 1);
    }

    #[test]
    fn a_unit_read_again_replaces_its_visits_and_only_units_seen_in_the_window_count() {
        use crate::domain::ids::StationId;
        use crate::domain::record::Verdict;
        let at = |m: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(m);
        let visit = |serial: &str, minute: i64| Visit {
            serial: serial.into(),
            station: StationId::parse("TEST").unwrap(),
            verdict: Verdict::Pass,
            ended_at: at(minute),
            defects: Vec::new(),
            opportunities_per_unit: None,
        };
        let mut line = KeptLine::default();
        line.take_visits(vec![(1, visit("A", 5)), (2, visit("B", 50)), (4, visit("A", 70))]);
        // B again, with an earlier visit that arrived late under a later id, and a retest.
        line.take_visits(vec![(2, visit("B", 50)), (5, visit("B", 40)), (6, visit("B", 80))]);
        let serials = |v: Vec<Visit>| v.into_iter().map(|v| (v.serial, v.ended_at)).collect::<Vec<_>>();
        assert_eq!(
            serials(line.visits_in(at(60), at(90))),
            vec![
                ("A".into(), at(5)),
                ("B".into(), at(50)),
                ("A".into(), at(70)),
                ("B".into(), at(40)),
                ("B".into(), at(80))
            ],
            "both units were seen in the window: all their visits, in id order"
        );
        assert_eq!(
            serials(line.visits_in(at(75), at(90))),
            vec![("B".into(), at(50)), ("B".into(), at(40)), ("B".into(), at(80))],
            "A was not seen after 75"
        );
    }
}
