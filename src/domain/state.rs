//! Machine states: what a station's PLC state word means, mapped onto SEMI E10 so availability
//! and downtime are comparable across vendors (IPC-CFX `StationStateChanged` does the same).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{LineId, StationId};

/// The states a line PLC reports (SPEC §3). A profile maps each PLC's codes onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MachineState {
    /// Powered off or not reporting.
    Off,
    /// Ready, nothing to do.
    Idle,
    /// Producing.
    Running,
    /// Cannot unload: downstream full.
    Blocked,
    /// Nothing to load: upstream empty.
    Starved,
    /// Stopped by a fault.
    Fault,
    /// Product or material changeover (setup).
    Changeover,
    /// Planned maintenance.
    Maintenance,
}

/// SEMI E10 equipment states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum E10State {
    /// Performing its intended function.
    Productive,
    /// Available but not producing (includes blocked and starved).
    Standby,
    /// Available to engineers for experiments.
    Engineering,
    /// Planned down: maintenance, setup/changeover.
    ScheduledDown,
    /// Unplanned down: faults and repair.
    UnscheduledDown,
    /// Not scheduled for production (off shift, powered off).
    NonScheduled,
}

impl MachineState {
    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MachineState::Off => "off",
            MachineState::Idle => "idle",
            MachineState::Running => "running",
            MachineState::Blocked => "blocked",
            MachineState::Starved => "starved",
            MachineState::Fault => "fault",
            MachineState::Changeover => "changeover",
            MachineState::Maintenance => "maintenance",
        }
    }

    /// Inverse of [`MachineState::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        use MachineState::*;
        [Off, Idle, Running, Blocked, Starved, Fault, Changeover, Maintenance].into_iter().find(|s| s.as_str() == value)
    }

    /// The SEMI E10 state this station state counts as.
    pub fn e10(self) -> E10State {
        match self {
            MachineState::Running => E10State::Productive,
            MachineState::Idle | MachineState::Blocked | MachineState::Starved => E10State::Standby,
            MachineState::Changeover | MachineState::Maintenance => E10State::ScheduledDown,
            MachineState::Fault => E10State::UnscheduledDown,
            MachineState::Off => E10State::NonScheduled,
        }
    }
}

impl E10State {
    /// Stable snake_case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            E10State::Productive => "productive",
            E10State::Standby => "standby",
            E10State::Engineering => "engineering",
            E10State::ScheduledDown => "scheduled_down",
            E10State::UnscheduledDown => "unscheduled_down",
            E10State::NonScheduled => "non_scheduled",
        }
    }
}

/// A period a station spent in one state. `ended_at` is `None` while it lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateInterval {
    /// Line.
    pub line: LineId,
    /// Station.
    pub station: StationId,
    /// Start (inclusive).
    pub started_at: DateTime<Utc>,
    /// End (exclusive); `None` while the state lasts.
    pub ended_at: Option<DateTime<Utc>>,
    /// The state word as the PLC sent it.
    pub plc_code: u16,
    /// What the profile maps it to.
    pub state: MachineState,
    /// Fault code, when in fault.
    pub fault_code: Option<u16>,
    /// Downtime reason, when known.
    pub reason: Option<String>,
}

impl StateInterval {
    /// Why the station stopped, as far as the MES knows: the profile's reason for the PLC's
    /// fault code, else the bare code, else nothing.
    pub fn down_reason(&self) -> DownReason {
        match (&self.reason, self.fault_code) {
            (Some(r), _) => DownReason::Named(r.clone()),
            (None, Some(c)) => DownReason::Code(c),
            (None, None) => DownReason::Unknown,
        }
    }
}

/// Why a station is down. The code is kept as a number beside a missing reason, so each page
/// words it in its own language ("fault 103", "lỗi 103") instead of parsing text back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DownReason {
    /// The profile's reason (English, the key of its Vietnamese name).
    Named(String),
    /// A fault code the profile has no reason for.
    Code(u16),
    /// A fault without a code.
    Unknown,
}

/// In English, as the terminal, exports and the API say it: the reason, `fault 103` or `fault`.
impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::Named(r) => f.write_str(r),
            DownReason::Code(c) => write!(f, "fault {c}"),
            DownReason::Unknown => f.write_str("fault"),
        }
    }
}

/// Serialized as its English text, the form the API and sealed figures have always carried.
impl Serialize for DownReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_reason_keeps_its_code() {
        let mut i = StateInterval {
            line: LineId::parse("phone-1").unwrap(),
            station: StationId::parse("FT").unwrap(),
            started_at: DateTime::UNIX_EPOCH,
            ended_at: None,
            plc_code: 5,
            state: MachineState::Fault,
            fault_code: Some(103),
            reason: None,
        };
        assert_eq!(i.down_reason(), DownReason::Code(103));
        assert_eq!(serde_json::to_value(i.down_reason()).unwrap(), "fault 103");
        i.reason = Some("nozzle blocked".into());
        assert_eq!(i.down_reason().to_string(), "nozzle blocked");
        i.fault_code = None;
        i.reason = None;
        assert_eq!(i.down_reason().to_string(), "fault");
    }

    #[test]
    fn states_map_onto_e10_as_cfx_does() {
        assert_eq!(MachineState::Blocked.e10(), E10State::Standby);
        assert_eq!(MachineState::Starved.e10(), E10State::Standby);
        assert_eq!(MachineState::Changeover.e10(), E10State::ScheduledDown);
        assert_eq!(MachineState::Fault.e10(), E10State::UnscheduledDown);
        assert_eq!(MachineState::parse("running"), Some(MachineState::Running));
    }

    #[test]
    fn profile_state_names_are_exactly_the_machine_states() {
        use MachineState::*;
        let all = [Off, Idle, Running, Blocked, Starved, Fault, Changeover, Maintenance];
        let names: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, plc_contract::profile::STATE_NAMES);
    }
}
