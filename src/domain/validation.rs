//! The unit-validation interlock (SPEC §3, IPC-CFX `ValidateUnitsRequest`): a station asks
//! whether a scanned unit may enter; the answer follows from the unit's recorded history and the
//! asking station alone, so it is the same whichever process answers. A route-entry station
//! asks about a part made on another line (it must have completed that line's route); a later
//! station, pack especially, asks about the line's own unit (it must have passed every step
//! before the asking one), which catches a hold placed after the unit was loaded.

use serde::{Deserialize, Serialize};

use super::ids::{LineId, StationId};
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
    /// The line that made it (its first visit's line).
    pub line: LineId,
    /// The production steps of that line, in order (repair stations excluded).
    pub route: Vec<StationId>,
}

impl UnitHistory {
    /// The steps it must have passed before entering `station` of `line`: on its own line, the
    /// steps before that station; a part arriving from another line, that line's whole route.
    pub fn steps_before<'a>(&'a self, line: &LineId, station: &StationId) -> &'a [StationId] {
        if *line != self.line {
            return &self.route;
        }
        let at = self.route.iter().position(|s| s == station).unwrap_or(self.route.len());
        &self.route[..at]
    }
}

/// Allows (`None`) or denies a unit asking to enter `station` of `line`. Checks run from the
/// strongest reason: unknown, held, failed and not repaired, skipped step.
pub fn validate(history: Option<&UnitHistory>, line: &LineId, station: &StationId) -> Option<DenyReason> {
    let Some(h) = history else { return Some(DenyReason::UnknownSerial) };
    if h.on_hold {
        return Some(DenyReason::OnHold);
    }
    if h.visits.last().is_some_and(|(_, v)| *v == Verdict::Fail) {
        return Some(DenyReason::PreviousStepFailed);
    }
    let passed = |step: &StationId| h.visits.iter().any(|(s, v)| s == step && *v == Verdict::Pass);
    if !h.steps_before(line, station).iter().all(passed) {
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
            line: LineId::parse("smt-1").unwrap(),
            route: ["PRINT", "AOI", "ICT", "PACK"].map(st).to_vec(),
        }
    }

    /// A board entering another line (its own route complete).
    fn at_entry(h: Option<&UnitHistory>) -> Option<DenyReason> {
        validate(h, &LineId::parse("phone-1").unwrap(), &st("LOAD"))
    }

    /// A unit asking at its own line's pack station.
    fn at_pack(h: Option<&UnitHistory>) -> Option<DenyReason> {
        validate(h, &LineId::parse("smt-1").unwrap(), &st("PACK"))
    }

    #[test]
    fn a_unit_that_passed_every_step_is_allowed() {
        use Verdict::*;
        let done = history(&[("PRINT", Pass), ("AOI", Pass), ("ICT", Pass), ("PACK", Pass)]);
        assert_eq!(at_entry(Some(&done)), None);
        // Failed, repaired, retested and passed: allowed.
        let repaired =
            history(&[("PRINT", Pass), ("AOI", Pass), ("ICT", Fail), ("REPAIR", Pass), ("ICT", Pass), ("PACK", Pass)]);
        assert_eq!(at_entry(Some(&repaired)), None);
    }

    #[test]
    fn on_its_own_line_a_unit_needs_only_the_steps_before_the_asking_station() {
        use Verdict::*;
        let before_pack = history(&[("PRINT", Pass), ("AOI", Pass), ("ICT", Pass)]);
        assert_eq!(at_pack(Some(&before_pack)), None);
        // The same history leaving the line is short of its pack step.
        assert_eq!(at_entry(Some(&before_pack)), Some(DenyReason::WrongRouteStep));
        let skipped_aoi = history(&[("PRINT", Pass), ("ICT", Pass)]);
        assert_eq!(at_pack(Some(&skipped_aoi)), Some(DenyReason::WrongRouteStep));
        // Held after it was loaded: refused at pack.
        let held = UnitHistory { on_hold: true, ..before_pack };
        assert_eq!(at_pack(Some(&held)), Some(DenyReason::OnHold));
    }

    #[test]
    fn each_reason_has_its_case_and_code() {
        use Verdict::*;
        assert_eq!(at_entry(None), Some(DenyReason::UnknownSerial));
        let failed = history(&[("PRINT", Pass), ("AOI", Pass), ("ICT", Fail)]);
        assert_eq!(at_entry(Some(&failed)), Some(DenyReason::PreviousStepFailed));
        let skipped = history(&[("PRINT", Pass), ("AOI", Pass), ("PACK", Pass)]);
        assert_eq!(at_entry(Some(&skipped)), Some(DenyReason::WrongRouteStep));
        let held =
            UnitHistory { on_hold: true, ..history(&[("PRINT", Pass), ("AOI", Pass), ("ICT", Pass), ("PACK", Pass)]) };
        assert_eq!(at_entry(Some(&held)), Some(DenyReason::OnHold));
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
    /// The MES could not judge the unit before the station's timeout (its database away, or
    /// records still waiting to be forwarded) and the station let it pass by its fallback
    /// (`allow_and_flag`): recorded so the unit stays flagged. `denied` is then `None`.
    #[serde(default)]
    pub unanswered: bool,
    /// When the MES answered (for an unanswered request: when it gave up).
    pub answered_at: chrono::DateTime<chrono::Utc>,
}

/// The reason stored with an unanswered request the station let pass.
pub const UNANSWERED_ALLOWED: &str = "unanswered_allowed_by_fallback";
