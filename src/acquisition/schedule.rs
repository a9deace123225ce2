//! Scan classes on a fixed schedule, without I/O or a clock (the caller passes every instant).
//!
//! Each scan class ticks at `start + n × period`, measured from when collection (re)started, not
//! "a period after the last poll ended": a 20 ms class polls 50 times a second however long each
//! poll takes, as long as it takes less than 20 ms. The missed-tick policy is tokio's
//! `MissedTickBehavior::Skip`: a poll still running when its class's next tick comes is an
//! *overrun*; the ticks that passed meanwhile are *skipped* (counted, never made up for by a
//! burst of polls), and the next poll serves the latest tick that has come, then the class is
//! back on its grid. Every tick is therefore either served by exactly one poll or counted as
//! skipped: `polls + skipped` is the number of ticks that have come.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One scan class's clock and its counts since collection started.
#[derive(Debug, Clone)]
struct ClassClock {
    name: String,
    period: Duration,
    /// Index of the first tick not yet served or skipped.
    next: u64,
    polls: u64,
    overruns: u64,
    skipped: u64,
}

/// The scan classes of one line and where each stands on its grid.
#[derive(Debug, Clone)]
pub struct ScanSchedule {
    start: Instant,
    classes: Vec<ClassClock>,
}

/// The classes a poll serves, from [`ScanSchedule::begin`], to hand back to
/// [`ScanSchedule::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// Indexes of the classes whose tick had come when the poll began, each with the ticks it
    /// skipped to get there.
    classes: Vec<(usize, u64)>,
    began: Option<Instant>,
}

impl Due {
    /// Whether the class with index `k` ([`ScanSchedule::class_index`]) is served.
    pub fn serves(&self, k: usize) -> bool {
        self.classes.iter().any(|&(c, _)| c == k)
    }
}

/// What a finished poll meant for one class it served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The class: its index in [`ScanSchedule::counts`] order (name order), so a caller keeps
    /// per-class handles in a vector and finds them without comparing names on every poll.
    pub class: usize,
    /// How long the poll took.
    pub duration: Duration,
    /// Whether the class's next tick came while the poll ran.
    pub overran: bool,
    /// Ticks of the class that passed without a poll before this one (counted as skipped).
    pub skipped: u64,
}

/// A scan class's counts, for health and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassCounts {
    /// Scan class name.
    pub class: String,
    /// Its period.
    pub period: Duration,
    /// Ticks served by a poll.
    pub polls: u64,
    /// Polls still running when the class's next tick came.
    pub overruns: u64,
    /// Ticks that passed without a poll (during overruns, or while the link was down).
    pub skipped: u64,
}

impl ScanSchedule {
    /// The schedule of `classes` (name → period; a zero period is read as 1 ms), with every
    /// class's first tick at `start`.
    pub fn new(classes: &BTreeMap<String, Duration>, start: Instant) -> Self {
        let classes = classes
            .iter()
            .map(|(name, period)| ClassClock {
                name: name.clone(),
                period: (*period).max(Duration::from_millis(1)),
                next: 0,
                polls: 0,
                overruns: 0,
                skipped: 0,
            })
            .collect();
        Self { start, classes }
    }

    /// Puts every class back on a grid starting at `start` (after a reconnect: the ticks missed
    /// while the link was down were counted as skipped up to the last poll; the rest are not the
    /// collector's overruns). Counts are kept.
    pub fn restart(&mut self, start: Instant) {
        self.start = start;
        for c in &mut self.classes {
            c.next = 0;
        }
    }

    /// Index of the latest tick of `c` at or before `now`, if one has come.
    fn latest(&self, c: &ClassClock, now: Instant) -> Option<u64> {
        let elapsed = now.checked_duration_since(self.start)?;
        Some(u64::try_from(elapsed.as_nanos() / c.period.as_nanos()).unwrap_or(u64::MAX))
    }

    /// When the tick of class `c` with index `n` comes.
    fn tick_at(&self, c: &ClassClock, n: u64) -> Instant {
        let nanos = c.period.as_nanos().saturating_mul(u128::from(n));
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// When the next tick of any class comes: the collector sleeps until then.
    pub fn next_deadline(&self) -> Instant {
        self.classes.iter().map(|c| self.tick_at(c, c.next)).min().unwrap_or(self.start)
    }

    /// Starts a poll at `now`: every class whose tick has come is due (its missed ticks, if the
    /// latest is not the first waiting, are counted as skipped).
    pub fn begin(&mut self, now: Instant) -> Due {
        let mut due = Vec::new();
        for k in 0..self.classes.len() {
            let Some(latest) = self.latest(&self.classes[k], now) else { continue };
            let c = &mut self.classes[k];
            if latest >= c.next {
                let skipped = latest - c.next;
                c.skipped += skipped;
                c.next = latest + 1;
                due.push((k, skipped));
            }
        }
        Due { classes: due, began: Some(now) }
    }

    /// The index of class `name` ([`Self::counts`] order): a caller that asks [`Due::serves`]
    /// on every poll looks its classes up once.
    pub fn class_index(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c.name == name)
    }

    /// Ends the poll `due` at `ended`: each class it served counts a poll, and an overrun if its
    /// next tick has come meanwhile.
    pub fn finish(&mut self, due: &Due, ended: Instant) -> Vec<Served> {
        let began = due.began.unwrap_or(ended);
        let mut served = Vec::new();
        for &(k, skipped) in &due.classes {
            let next_tick = self.tick_at(&self.classes[k], self.classes[k].next);
            let c = &mut self.classes[k];
            c.polls += 1;
            let overran = ended >= next_tick;
            c.overruns += u64::from(overran);
            served.push(Served { class: k, duration: ended.saturating_duration_since(began), overran, skipped });
        }
        served
    }

    /// Each class's counts, in name order.
    pub fn counts(&self) -> Vec<ClassCounts> {
        self.classes
            .iter()
            .map(|c| ClassCounts {
                class: c.name.clone(),
                period: c.period,
                polls: c.polls,
                overruns: c.overruns,
                skipped: c.skipped,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn schedule(classes: &[(&str, u64)], start: Instant) -> ScanSchedule {
        ScanSchedule::new(&classes.iter().map(|(n, p)| ((*n).to_owned(), ms(*p))).collect(), start)
    }

    /// Runs polls taking `took(k)` each, sleeping to the next deadline between them, until
    /// `until`; returns the schedule.
    fn run(mut s: ScanSchedule, t0: Instant, until: Duration, took: impl Fn(u64) -> Duration) -> ScanSchedule {
        let mut now = t0;
        let mut k = 0;
        loop {
            now = now.max(s.next_deadline());
            if now >= t0 + until {
                return s;
            }
            let due = s.begin(now);
            now += took(k);
            s.finish(&due, now);
            k += 1;
        }
    }

    #[test]
    fn polls_keep_the_rate_whatever_each_poll_takes_below_the_period() {
        let t0 = Instant::now();
        // 5 ms polls at 20 ms: "period after the poll ended" would make 40 polls in a second.
        let s = run(schedule(&[("fast", 20)], t0), t0, ms(1000), |_| ms(5));
        let c = &s.counts()[0];
        assert_eq!((c.polls, c.overruns, c.skipped), (50, 0, 0));
        let s = run(schedule(&[("fast", 20)], t0), t0, ms(1000), |_| ms(19));
        assert_eq!((s.counts()[0].polls, s.counts()[0].overruns), (50, 0));
    }

    #[test]
    fn a_stalled_poll_is_one_overrun_and_its_missed_ticks_are_skipped_not_burst() {
        let t0 = Instant::now();
        // Poll 10 stalls 105 ms: it began at 200 ms, ended at 305 ms; ticks 220..300 came meanwhile.
        let mut s = run(schedule(&[("fast", 20)], t0), t0, ms(1000), |k| if k == 10 { ms(105) } else { ms(5) });
        let c = s.counts()[0].clone();
        assert_eq!(c.overruns, 1);
        // Ticks 11..=14 (220, 240, 260, 280 ms) skipped; the poll at 305 ms serves tick 15 (300 ms).
        assert_eq!(c.skipped, 4);
        assert_eq!(c.polls + c.skipped, 50, "every tick served once or counted as skipped");
        assert_eq!(c.polls, 46, "no burst makes up for the stall");
        // The skipped ticks travel with the poll that ends them, for the caller's counters.
        let t = t0 + ms(1000);
        s.restart(t);
        let first = s.begin(t);
        s.finish(&first, t + ms(1));
        // Ticks at 20 and 40 ms pass unserved; the poll at 65 ms serves the one at 60 ms.
        let late = s.begin(t + ms(65));
        let served = s.finish(&late, t + ms(66));
        assert_eq!(served, vec![Served { class: 0, duration: ms(1), overran: false, skipped: 2 }]);
    }

    #[test]
    fn classes_tick_on_their_own_grids_and_share_a_poll_when_they_coincide() {
        let t0 = Instant::now();
        let mut s = schedule(&[("fast", 100), ("slow", 1000), ("odd", 30)], t0);
        let mut polls_at = Vec::new();
        loop {
            let now = s.next_deadline();
            if now > t0 + ms(300) {
                break;
            }
            let due = s.begin(now);
            let names: Vec<&str> = ["fast", "slow", "odd"]
                .into_iter()
                .filter(|n| s.class_index(n).is_some_and(|k| due.serves(k)))
                .collect();
            polls_at.push(((now - t0).as_millis(), names.join("+")));
            s.finish(&due, now + ms(1));
        }
        let expected: Vec<(u128, String)> = [
            (0, "fast+slow+odd"),
            (30, "odd"),
            (60, "odd"),
            (90, "odd"),
            (100, "fast"),
            (120, "odd"),
            (150, "odd"),
            (180, "odd"),
            (200, "fast"),
            (210, "odd"),
            (240, "odd"),
            (270, "odd"),
            (300, "fast+odd"),
        ]
        .into_iter()
        .map(|(t, n)| (t, n.to_owned()))
        .collect();
        assert_eq!(polls_at, expected);
    }

    #[test]
    fn an_extra_poll_between_ticks_serves_no_class_and_a_restart_rebases_the_grid() {
        let t0 = Instant::now();
        let mut s = schedule(&[("fast", 20)], t0);
        let due = s.begin(t0);
        s.finish(&due, t0 + ms(2));
        // A record was taken: the collector polls again at once, outside the schedule.
        let extra = s.begin(t0 + ms(3));
        assert!(!s.class_index("fast").is_some_and(|k| extra.serves(k)));
        assert!(s.finish(&extra, t0 + ms(4)).is_empty());
        assert_eq!(s.next_deadline(), t0 + ms(20));
        // The link was down for a second: the grid starts again at the reconnect.
        s.restart(t0 + ms(1003));
        assert_eq!(s.next_deadline(), t0 + ms(1003));
        let due = s.begin(t0 + ms(1003));
        assert_eq!(s.finish(&due, t0 + ms(1004)).len(), 1);
        assert_eq!(s.counts()[0].polls, 2);
        assert_eq!(s.counts()[0].skipped, 0);
    }
}
