//! The unit record: one station visit of one unit, as a PLC reports it through the handshake.
//! It is the atom of everything the MES counts, so it is validated here, once, before storage.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{
    DefectCode, LineId, LotId, PlcEpoch, ProductCode, RecordSeq, RepairActionCode, SerialNumber, StationId, WorkOrderId,
};

/// Outcome of a station visit (IPC-CFX `UnitsTested`/`UnitsInspected` overall result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The unit passed.
    Pass,
    /// The unit failed; it goes to repair or scrap.
    Fail,
}

impl Verdict {
    /// Stable lower-case name, as stored and exported.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }

    /// Inverse of [`Verdict::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pass" => Some(Verdict::Pass),
            "fail" => Some(Verdict::Fail),
            _ => None,
        }
    }
}

/// One defect found at a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Defect {
    /// Defect code.
    pub code: DefectCode,
    /// Reference designator (`C12`, `U3`) when the station knows where.
    pub ref_designator: Option<String>,
}

/// A measured value (torque, current, RF power) with its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Measurement {
    /// Measurement name (`torque_1`).
    pub name: String,
    /// Value; always finite (checked by [`UnitRecord::problems`]).
    pub value: f64,
    /// Engineering unit (`N·m`).
    pub unit: Option<String>,
    /// Lower limit, if any.
    pub lower_limit: Option<f64>,
    /// Upper limit, if any.
    pub upper_limit: Option<f64>,
}

/// Whether a genealogy link is known or only possible (an ambiguous reel change or splice: the
/// unit was placed while either of two reels may have fed it, so both are recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Certainty {
    /// The item certainly went into the unit.
    Certain,
    /// The item possibly went into the unit.
    Possible,
}

impl Certainty {
    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Certainty::Certain => "certain",
            Certainty::Possible => "possible",
        }
    }

    /// Inverse of [`Certainty::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "certain" => Some(Certainty::Certain),
            "possible" => Some(Certainty::Possible),
            _ => None,
        }
    }
}

/// A consumed item: a serialised sub-assembly (itself a unit, traced further down) or a lot/reel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "tracking", content = "id", rename_all = "snake_case")]
pub enum ConsumedItem {
    /// A unit with its own serial (a PCBA in a phone).
    Serial(SerialNumber),
    /// A lot or reel.
    Lot(LotId),
}

/// The serial, or the lot's code with its material: what a person reads.
impl std::fmt::Display for ConsumedItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsumedItem::Serial(s) => s.fmt(f),
            ConsumedItem::Lot(l) => l.fmt(f),
        }
    }
}

impl ConsumedItem {
    /// The printed id, whichever kind it is.
    pub fn id(&self) -> &str {
        match self {
            ConsumedItem::Serial(s) => s.as_str(),
            ConsumedItem::Lot(l) => l.as_str(),
        }
    }
}

/// One consumption in a unit record: the genealogy input of that visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Consumption {
    /// What the line calls it ("pcba", "reel", "display_lot").
    pub kind: String,
    /// The item.
    pub item: ConsumedItem,
    /// Reference designators it fed (`C12,C13`), when the line knows.
    pub ref_designator: Option<String>,
    /// Known or only possible.
    pub certainty: Certainty,
}

/// One station visit of one unit, as read from a PLC's record handshake. Its natural key is
/// (line, station, epoch, seq): re-delivering the same record is harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitRecord {
    /// Line of the station.
    pub line: LineId,
    /// Station that produced the record.
    pub station: StationId,
    /// PLC boot epoch.
    pub epoch: PlcEpoch,
    /// PLC sequence number.
    pub seq: RecordSeq,
    /// Unit serial.
    pub serial: SerialNumber,
    /// Product, when the station knows it.
    pub product: Option<ProductCode>,
    /// Work order, when the station knows it.
    pub work_order: Option<WorkOrderId>,
    /// Outcome.
    pub verdict: Verdict,
    /// Defects, in PLC order.
    pub defects: Vec<Defect>,
    /// Measurements.
    pub measurements: Vec<Measurement>,
    /// Consumed serials, lots and reels.
    pub consumed: Vec<Consumption>,
    /// When the unit entered the station, if reported.
    pub started_at: Option<DateTime<Utc>>,
    /// When the unit left the station: the record's production time.
    pub ended_at: DateTime<Utc>,
    /// Cycle time in milliseconds, if reported.
    pub cycle_time_ms: Option<u32>,
    /// Station program or recipe name, if reported.
    pub program: Option<String>,
    /// What a repair bench did to the unit, if the station reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_action: Option<RepairActionCode>,
}

/// The natural key of a unit record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    /// Line.
    pub line: LineId,
    /// Station.
    pub station: StationId,
    /// PLC epoch.
    pub epoch: PlcEpoch,
    /// Sequence.
    pub seq: RecordSeq,
}

/// Something wrong in a record that makes it unfit to store, named so an operator can find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordProblem {
    /// A measurement is NaN or infinite (garbage registers).
    #[error("measurement {name:?} is not a finite number")]
    NonFiniteMeasurement {
        /// Measurement name.
        name: String,
    },
    /// `started_at` after `ended_at`.
    #[error("started_at {started} is after ended_at {ended}")]
    StartsAfterEnd {
        /// Start.
        started: DateTime<Utc>,
        /// End.
        ended: DateTime<Utc>,
    },
    /// The unit consumes itself.
    #[error("unit {serial} lists itself as consumed")]
    ConsumesItself {
        /// The serial.
        serial: String,
    },
    /// The sequence number does not fit the store's signed 64-bit column.
    #[error("sequence number {seq} is out of range")]
    SeqOutOfRange {
        /// The sequence number.
        seq: u64,
    },
}

impl UnitRecord {
    /// A record with its natural key, serial, verdict and end time; everything a station may
    /// or may not report (product, defects, measurements, consumption, times, program, repair action) empty.
    pub fn new(key: RecordKey, serial: SerialNumber, verdict: Verdict, ended_at: DateTime<Utc>) -> Self {
        Self {
            line: key.line,
            station: key.station,
            epoch: key.epoch,
            seq: key.seq,
            serial,
            product: None,
            work_order: None,
            verdict,
            defects: Vec::new(),
            measurements: Vec::new(),
            consumed: Vec::new(),
            started_at: None,
            ended_at,
            cycle_time_ms: None,
            program: None,
            repair_action: None,
        }
    }

    /// The record's natural key.
    pub fn key(&self) -> RecordKey {
        RecordKey { line: self.line.clone(), station: self.station.clone(), epoch: self.epoch, seq: self.seq }
    }

    /// Everything wrong with the record; empty when it may be stored.
    pub fn problems(&self) -> Vec<RecordProblem> {
        let mut problems = Vec::new();
        for m in &self.measurements {
            let limits = [Some(m.value), m.lower_limit, m.upper_limit];
            if limits.iter().flatten().any(|v| !v.is_finite()) {
                problems.push(RecordProblem::NonFiniteMeasurement { name: m.name.clone() });
            }
        }
        if let Some(started) = self.started_at
            && started > self.ended_at
        {
            problems.push(RecordProblem::StartsAfterEnd { started, ended: self.ended_at });
        }
        if self.consumed.iter().any(|c| c.item == ConsumedItem::Serial(self.serial.clone())) {
            problems.push(RecordProblem::ConsumesItself { serial: self.serial.to_string() });
        }
        if i64::try_from(self.seq.0).is_err() {
            problems.push(RecordProblem::SeqOutOfRange { seq: self.seq.0 });
        }
        problems
    }

    /// The SPEC §8 station-result line for this record, as the export and the simulators'
    /// ground truth write it.
    pub fn to_result_line(&self, recorded_at: Option<DateTime<Utc>>) -> plc_contract::StationResultLine {
        plc_contract::StationResultLine {
            line: self.line.to_string(),
            station: self.station.to_string(),
            seq: self.seq.0,
            serial: self.serial.to_string(),
            result: self.verdict.as_str().to_owned(),
            defects: self.defects.iter().map(|d| d.code.to_string()).collect(),
            consumed: self
                .consumed
                .iter()
                .map(|c| {
                    let material = match &c.item {
                        ConsumedItem::Lot(lot) => Some(lot.material()),
                        ConsumedItem::Serial(_) => None,
                    };
                    let named = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                    plc_contract::ConsumedRef {
                        kind: c.kind.clone(),
                        id: c.item.id().to_owned(),
                        certainty: (c.certainty == Certainty::Possible).then(|| "possible".to_owned()),
                        part_number: material.and_then(|m| named(m.part_number())),
                        supplier: material.and_then(|m| named(m.supplier())),
                    }
                })
                .collect(),
            repair_action: self.repair_action.as_ref().map(ToString::to_string),
            produced_at: self.ended_at,
            plc_epoch: Some(self.epoch.0),
            started_at: self.started_at,
            recorded_at,
            on_hold: None,
            plc_clock: None,
        }
    }
}

/// What one transaction commits: the records, state intervals and counter samples a collector
/// read in one cycle, committed together or not at all.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecordBatch {
    /// Unit records (station visits) with their genealogy.
    pub records: Vec<UnitRecord>,
    /// Machine state intervals; an open interval (no end) may be closed by a later batch.
    pub state_intervals: Vec<super::state::StateInterval>,
    /// Raw counter samples.
    pub counter_samples: Vec<super::counter::CounterSample>,
    /// The line's lease the batch was taken under, when several processes may collect the
    /// line: what of it may still be stored once another process took the line over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence: Option<Fence>,
}

/// A line's lease as a commit names it (each new holder of a line raises its epoch). Under an
/// epoch that is no longer the line's, a batch of records the MES numbered is refused whole
/// (two holders may have given two records one number); any other batch keeps its records,
/// keyed by the PLC and stored once whoever forwards them, and loses its state intervals and
/// counter samples, which the new holder records from the same stations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fence {
    /// The line.
    pub line: LineId,
    /// The lease epoch the collector holds the line under.
    pub epoch: i64,
    /// The batch holds records the MES numbered (flag-handshake stations): committed to the
    /// central database under the current epoch, or not at all.
    pub numbered: bool,
}

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReceipt {
    /// Records stored by this commit.
    pub inserted: usize,
    /// Records already stored before (re-deliveries), left untouched.
    pub duplicates: usize,
    /// Genealogy edges stored.
    pub edges: usize,
    /// The keys of the batch's records that were already stored (what `duplicates` counts), so
    /// a caller can tell new records from re-deliveries one by one.
    pub duplicate_keys: std::collections::BTreeSet<RecordKey>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn record(serial: &str) -> UnitRecord {
        let key = RecordKey {
            line: LineId::parse("phone-1").unwrap(),
            station: StationId::parse("FT").unwrap(),
            epoch: PlcEpoch(1),
            seq: RecordSeq(1),
        };
        UnitRecord::new(
            key,
            SerialNumber::parse(serial).unwrap(),
            Verdict::Pass,
            Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(),
        )
    }

    #[test]
    fn a_clean_record_has_no_problems() {
        assert!(record("PH1-1").problems().is_empty());
    }

    #[test]
    fn garbage_measurements_self_consumption_and_reversed_times_are_named() {
        let mut r = record("PH1-1");
        r.measurements.push(Measurement {
            name: "torque_1".into(),
            value: f64::NAN,
            unit: None,
            lower_limit: None,
            upper_limit: Some(f64::INFINITY),
        });
        r.consumed.push(Consumption {
            kind: "pcba".into(),
            item: ConsumedItem::Serial(r.serial.clone()),
            ref_designator: None,
            certainty: Certainty::Certain,
        });
        r.started_at = Some(r.ended_at + chrono::Duration::seconds(1));
        r.seq = RecordSeq(u64::MAX);
        let problems = r.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert_eq!(problems[0].to_string(), "measurement \"torque_1\" is not a finite number");
    }
}
