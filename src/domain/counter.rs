//! PLC counter samples. Samples are stored raw; deltas (with wrap, reset and plausibility rules)
//! are derived from pairs of samples so every produced count can be traced to its two samples.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{LineId, PlcEpoch, StationId};

/// Which cumulative counter of a station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterKind {
    /// Units in.
    In,
    /// Good units out.
    Good,
    /// Rejected units out.
    Reject,
}

impl CounterKind {
    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            CounterKind::In => "in",
            CounterKind::Good => "good",
            CounterKind::Reject => "reject",
        }
    }

    /// Inverse of [`CounterKind::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        [Self::In, Self::Good, Self::Reject].into_iter().find(|k| k.as_str() == value)
    }
}

/// One raw reading of a counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSample {
    /// Line.
    pub line: LineId,
    /// Station.
    pub station: StationId,
    /// Which counter.
    pub counter: CounterKind,
    /// PLC epoch when read (a new epoch means the counter restarted).
    pub epoch: PlcEpoch,
    /// When it was read.
    pub sampled_at: DateTime<Utc>,
    /// Raw value as read.
    pub raw: u32,
    /// Register width in bits (16 or 32): the wrap modulus.
    pub width_bits: u8,
}

/// Rules for turning consecutive samples into counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeltaRules {
    /// Most units a station can plausibly count per second.
    pub max_rate_per_sec: f64,
    /// Counts always plausible between two samples, whatever the time between them.
    pub slack: u64,
    /// Longer than this between two samples is a gap in the data.
    pub max_gap: chrono::Duration,
}

impl Default for DeltaRules {
    fn default() -> Self {
        Self { max_rate_per_sec: 50.0, slack: 100, max_gap: chrono::Duration::minutes(10) }
    }
}

/// What happened between two samples that a reader of counter figures must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterEventKind {
    /// The register wrapped at its width; the count across the wrap is kept.
    Wrap,
    /// The value fell without a wrap or restart: the counter was reset; counts since the reset
    /// are kept, counts between the last sample and the reset are unknown.
    Reset,
    /// The PLC restarted (new epoch): the counter started again from zero.
    Restart,
    /// The increase is beyond what the station can produce: not counted.
    Implausible,
    /// Too long between two samples: the count is kept but its timing is unknown.
    Gap,
}

/// One count between two samples, keeping both so the figure can be traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterDelta {
    /// Index of the earlier sample.
    pub from: usize,
    /// Index of the later sample.
    pub to: usize,
    /// Units counted (0 when implausible).
    pub count: u64,
    /// What was unusual about it, if anything.
    pub event: Option<CounterEventKind>,
}

/// Counts between consecutive samples of one counter of one station, in time order. A pure
/// function of the stored samples, so the baseline survives any restart of the MES.
pub fn deltas(samples: &[CounterSample], rules: &DeltaRules) -> Vec<CounterDelta> {
    let mut out = Vec::with_capacity(samples.len().saturating_sub(1));
    for (k, pair) in samples.windows(2).enumerate() {
        let (a, b) = (&pair[0], &pair[1]);
        let modulus = 1u64 << u32::from(b.width_bits.clamp(1, 32));
        let elapsed = b.sampled_at - a.sampled_at;
        let bound = rules.slack + (rules.max_rate_per_sec * elapsed.num_milliseconds().max(0) as f64 / 1000.0) as u64;
        let (raw_a, raw_b) = (u64::from(a.raw), u64::from(b.raw));
        // A restart shows as a fall of the counter; the epoch register may change later than
        // the fall (it shows the epoch of the record the PLC presents, which can be one kept
        // from before the restart), so a new epoch without a fall counts the plain increase.
        let (mut count, mut event) = if a.epoch != b.epoch {
            (if raw_b >= raw_a { raw_b - raw_a } else { raw_b }, Some(CounterEventKind::Restart))
        } else if raw_b >= raw_a {
            (raw_b - raw_a, None)
        } else if modulus - raw_a + raw_b <= bound {
            (modulus - raw_a + raw_b, Some(CounterEventKind::Wrap))
        } else {
            (raw_b, Some(CounterEventKind::Reset))
        };
        if count > bound {
            (count, event) = (0, Some(CounterEventKind::Implausible));
        } else if event.is_none() && elapsed > rules.max_gap {
            event = Some(CounterEventKind::Gap);
        }
        out.push(CounterDelta { from: k, to: k + 1, count, event });
    }
    out
}

/// Units a counter counted in `[from, to)`: the deltas whose later sample falls in the period
/// (so each count belongs to exactly one period, the one in which it was observed).
pub fn counted_between(samples: &[CounterSample], rules: &DeltaRules, from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    deltas(samples, rules).iter().filter(|d| (from..to).contains(&samples[d.to].sampled_at)).map(|d| d.count).sum()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn sample(secs: i64, epoch: u32, raw: u32, width_bits: u8) -> CounterSample {
        CounterSample {
            line: LineId::parse("phone-1").unwrap(),
            station: StationId::parse("FT").unwrap(),
            counter: CounterKind::Good,
            epoch: PlcEpoch(epoch),
            sampled_at: Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs),
            raw,
            width_bits,
        }
    }

    fn counts(samples: &[CounterSample]) -> Vec<(u64, Option<CounterEventKind>)> {
        deltas(samples, &DeltaRules::default()).iter().map(|d| (d.count, d.event)).collect()
    }

    #[test]
    fn plain_increases_count_and_keep_their_two_samples() {
        let s = [sample(0, 1, 10, 16), sample(60, 1, 12, 16), sample(120, 1, 12, 16)];
        let d = deltas(&s, &DeltaRules::default());
        assert_eq!((d[0].from, d[0].to, d[0].count, d[0].event), (0, 1, 2, None));
        assert_eq!(d[1].count, 0);
    }

    #[test]
    fn a_16_bit_wrap_counts_across_it_and_a_32_bit_one_too() {
        // 65,530 → 65,535 → 0 → 4: 5 + 1 + 4 = 10 units.
        let s = [sample(0, 1, 65_530, 16), sample(1, 1, 65_535, 16), sample(2, 1, 0, 16), sample(3, 1, 4, 16)];
        assert_eq!(counts(&s), vec![(5, None), (1, Some(CounterEventKind::Wrap)), (4, None)]);
        let s = [sample(0, 1, u32::MAX - 1, 32), sample(1, 1, 3, 32)];
        assert_eq!(counts(&s), vec![(5, Some(CounterEventKind::Wrap))]);
    }

    #[test]
    fn a_fall_far_from_the_top_is_a_reset_and_a_new_epoch_a_restart() {
        // 5,000 → 7: not a wrap (65,536 - 5,000 + 7 is far beyond plausible): reset, 7 since.
        let s = [sample(0, 1, 5_000, 16), sample(10, 1, 7, 16), sample(20, 2, 3, 16)];
        assert_eq!(counts(&s), vec![(7, Some(CounterEventKind::Reset)), (3, Some(CounterEventKind::Restart))]);
    }

    #[test]
    fn counts_belong_to_the_period_of_their_later_sample() {
        let s = [sample(0, 1, 10, 16), sample(60, 1, 15, 16), sample(120, 1, 22, 16)];
        let t = |secs: i64| Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs);
        let rules = DeltaRules::default();
        assert_eq!(counted_between(&s, &rules, t(0), t(61)), 5);
        assert_eq!(counted_between(&s, &rules, t(61), t(200)), 7);
        assert_eq!(counted_between(&s, &rules, t(0), t(200)), 12);
    }

    #[test]
    fn an_epoch_seen_after_the_fall_does_not_count_the_units_twice() {
        // Restart at 5,000: the fall is seen first (reset, 7 since), the new epoch one sample
        // later with 9: 2 more, not 9.
        let s = [sample(0, 1, 5_000, 16), sample(10, 1, 7, 16), sample(20, 2, 9, 16)];
        assert_eq!(counts(&s), vec![(7, Some(CounterEventKind::Reset)), (2, Some(CounterEventKind::Restart))]);
    }

    #[test]
    fn an_implausible_jump_is_flagged_and_not_counted_and_a_long_silence_is_a_gap() {
        // 40,000 units in 10 s is beyond 50/s + 100 slack.
        let s = [sample(0, 1, 100, 32), sample(10, 1, 40_100, 32), sample(10 + 3_600, 1, 40_150, 32)];
        assert_eq!(counts(&s), vec![(0, Some(CounterEventKind::Implausible)), (50, Some(CounterEventKind::Gap))]);
        assert!(deltas(&s[..1], &DeltaRules::default()).is_empty(), "one sample: no delta");
    }
}
