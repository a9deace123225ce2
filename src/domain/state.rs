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

#[cfg(test)]
mod tests {
    use super::*;

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
