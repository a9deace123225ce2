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
