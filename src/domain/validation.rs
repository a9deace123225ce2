//! The unit-validation interlock (SPEC §3, IPC-CFX `ValidateUnitsRequest`): a route-entry
//! station asks whether a scanned unit may enter; the answer follows from the unit's recorded
//! history alone, so it is the same whichever process answers.

use serde::{Deserialize, Serialize};

use super::ids::StationId;
use super::record::Verdict;

/// Why a unit is refused, with the reason code the PLC receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// A step of its route has no pass: it skipped a station.
    WrongRouteStep,
    /// Its last visit failed and no later visit passed (not repaired and retested).
    PreviousStepFailed,
    /// The unit, or a lot or unit inside it, is on hold.
    OnHold,
    /// The MES has never seen the serial.
    UnknownSerial,
}

impl DenyReason {
    /// The code written to the PLC's reason register (0 means allowed).
    pub fn code(self) -> u16 {
        match self {
            DenyReason::WrongRouteStep => 1,
            DenyReason::PreviousStepFailed => 2,
            DenyReason::OnHold => 3,
            DenyReason::UnknownSerial => 4,
        }
    }

    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::WrongRouteStep => "wrong_route_step",
            DenyReason::PreviousStepFailed => "previous_step_failed",
            DenyReason::OnHold => "on_hold",
            DenyReason::UnknownSerial => "unknown_serial",
        }
    }
}

/// What the MES knows about a unit asking to enter a station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitHistory {
    /// Its visits in time order: station and verdict.
    pub visits: Vec<(StationId, Verdict)>,
    /// Whether it, or anything inside it, is on hold.
    pub on_hold: bool,
    /// The route it must have completed: the production steps of the line that made it, in
    /// order (repair stations excluded).
    pub route: Vec<StationId>,
}

/// Allows (`None`) or denies a unit. Checks run from the strongest reason: unknown, held,
/// failed and not repaired, skipped step.
pub fn validate(history: Option<&UnitHistory>) -> Option<DenyReason> {
    let Some(h) = history else { return Some(DenyReason::UnknownSerial) };
    if h.on_hold {
        return Some(DenyReason::OnHold);
    }
    if h.visits.last().is_some_and(|(_, v)| *v == Verdict::Fail) {
        return Some(DenyReason::PreviousStepFailed);
    }
    let passed = |step: &StationId| h.visits.iter().any(|(s, v)| s == step && *v == Verdict::Pass);
    if !h.route.iter().all(passed) {
        return Some(DenyReason::WrongRouteStep);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(code: &str) -> StationId {
        StationId::parse(code).unwrap()
    }

    fn history(visits: &[(&str, Verdict)]) -> UnitHistory {
        UnitHistory {
            visits: visits.iter().map(|(s, v)| (st(s), *v)).collect(),
            on_hold: false,
            route: ["PRINT", "AOI", "ICT"].map(st).to_vec(),
        }
    }

    #[test]
    fn a_unit_that_passed_every_step_is_allowed() {
        use Verdict::*;
        assert_eq!(validate(Some(&history(&[("PRINT", Pass), ("AOI", Pass), ("ICT", Pass)]))), None);
        // Failed, repaired, retested and passed: allowed.
        let repaired = history(&[("PRINT", Pass), ("AOI", Pass), ("ICT", Fail), ("REPAIR", Pass), ("ICT", Pass)]);
        assert_eq!(validate(Some(&repaired)), None);
    }

    #[test]
    fn each_reason_has_its_case_and_code() {
        use Verdict::*;
        assert_eq!(validate(None), Some(DenyReason::UnknownSerial));
        let failed = history(&[("PRINT", Pass), ("AOI", Pass), ("ICT", Fail)]);
        assert_eq!(validate(Some(&failed)), Some(DenyReason::PreviousStepFailed));
        let skipped = history(&[("PRINT", Pass), ("AOI", Pass)]);
        assert_eq!(validate(Some(&skipped)), Some(DenyReason::WrongRouteStep));
        let held = UnitHistory { on_hold: true, ..history(&[("PRINT", Pass), ("AOI", Pass), ("ICT", Pass)]) };
        assert_eq!(validate(Some(&held)), Some(DenyReason::OnHold));
        let codes: Vec<u16> =
            [DenyReason::WrongRouteStep, DenyReason::PreviousStepFailed, DenyReason::OnHold, DenyReason::UnknownSerial]
                .map(DenyReason::code)
                .to_vec();
        assert_eq!(codes, vec![1, 2, 3, 4], "SPEC §3 order");
    }
}

/// An answer the MES gave, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationAnswer {
    /// Line of the asking station.
    pub line: super::ids::LineId,
    /// The asking station.
    pub station: StationId,
    /// PLC epoch of the request.
    pub epoch: u32,
    /// The PLC's request number.
    pub request_seq: u32,
    /// The serial asked about, as scanned (it may not be a valid serial).
    pub serial: String,
    /// `None` allowed, else why denied.
    pub denied: Option<DenyReason>,
    /// When the MES answered.
    pub answered_at: chrono::DateTime<chrono::Utc>,
}
