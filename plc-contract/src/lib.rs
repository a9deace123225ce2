//! What the MES and the bundled line simulators agree on, kept in one crate so neither depends on
//! the other.
//!
//! Today this is the station-result line of SPEC §8: the simulators append one per unit record a
//! simulated PLC produced (`--ground-truth`), and `mes export station-results --format jsonl`
//! writes the same keys for what the MES recorded, so the two files compare line by line.
//! It also owns the PLC profile format ([`profile`]) and the register codecs ([`codec`]) that
//! both sides use, so an address map and a data layout are defined once.
//!
//! This crate owns formats only: no network I/O, no clock (profiles are read from files).

pub mod clock;
pub mod codec;
pub mod opcua;
pub mod profile;
pub mod source;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One consumed item in a station result: a serialised sub-assembly (`kind` = "pcba", …) or a
/// lot/reel (`kind` = "reel", "display_lot", …), by its printed id.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ConsumedRef {
    /// What was consumed, as the line names it ("pcba", "reel", "battery_lot", …).
    pub kind: String,
    /// The serial, lot or reel id as printed on the item.
    pub id: String,
    /// `"possible"` when the line cannot know whether this item went in (a unit placed across
    /// an ambiguous reel change or splice lists both reels so); absent when certain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certainty: Option<String>,
    /// A lot's part number, where the line names it (a lot code is unique only within one
    /// part number and supplier); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_number: Option<String>,
    /// A lot's supplier, where the line names it (in the profile, or per record from a
    /// dual-sourced station's supplier tag); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<String>,
}

/// One station result as a JSON line: the ground-truth format of the simulators and the export
/// format of the MES (SPEC §8). Extra keys that only the MES knows are optional so that a ground
/// truth line and an export line deserialize into the same type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StationResultLine {
    /// Line code, e.g. "phone-1".
    pub line: String,
    /// Station code within the line, e.g. "FT".
    pub station: String,
    /// PLC record sequence number (unique per station and PLC epoch).
    pub seq: u64,
    /// Unit serial the record is about.
    pub serial: String,
    /// "pass" or "fail".
    pub result: String,
    /// Defect codes, in the order the PLC reported them.
    pub defects: Vec<String>,
    /// Consumed serials, lots and reels.
    pub consumed: Vec<ConsumedRef>,
    /// What a repair bench did to the unit, if the station reports it (a code of the profile's
    /// `[repair_actions]`); absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_action: Option<String>,
    /// When the unit left the station (the record's production time), RFC 3339.
    pub produced_at: DateTime<Utc>,
    /// PLC boot epoch the sequence number belongs to (export only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plc_epoch: Option<u32>,
    /// When the unit entered the station, if the PLC reports it (export only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When the MES committed the record (export only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<DateTime<Utc>>,
    /// `true` when the unit is on quality hold at export time (export only; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_hold: Option<bool>,
    /// Ground truth only: the PLC's own clock when it offered the record (the wall clock),
    /// what a `produced_at` tag shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plc_clock: Option<DateTime<Utc>>,
}

/// One unit-validation request as it ended: the simulators' ground truth of the interlock
/// (`<ground-truth>.validation.jsonl`, one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ValidationLine {
    /// Line code.
    pub line: String,
    /// Asking station.
    pub station: String,
    /// The serial asked about.
    pub serial: String,
    /// `allow`, `deny`, or `timeout` (no answer in time; the station followed its fallback).
    pub outcome: String,
    /// The MES's reason code (0 when allowed or timed out).
    pub reason: u16,
    /// What the simulation knows about the part: `good`, `failed` (left its line failed),
    /// `skipped` (skipped a step) or `unknown` (never seen by the MES).
    pub truth: String,
}

impl StationResultLine {
    /// The line without its instants and MES-only keys: what a simulator and the MES must
    /// agree on exactly, whatever clock each ran on.
    pub fn without_times(&self) -> Self {
        Self {
            produced_at: DateTime::<Utc>::UNIX_EPOCH,
            plc_epoch: None,
            started_at: None,
            recorded_at: None,
            on_hold: None,
            plc_clock: None,
            ..self.clone()
        }
    }
}

impl StationResultLine {
    /// The ground-truth form: the SPEC §8 keys (no MES-side epoch or commit time), and the
    /// PLC clock the simulated PLC stamped the record with.
    pub fn ground_truth_form(&self) -> Self {
        Self { plc_epoch: None, started_at: None, recorded_at: None, on_hold: None, ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ground_truth_line_from_spec_parses() {
        let line = r#"{"line":"phone-1","station":"FT","seq":1234,"serial":"PH1-000001","result":"pass","defects":[],"consumed":[{"kind":"pcba","id":"PCB-1"}],"produced_at":"2026-11-23T04:00:00Z"}"#;
        let parsed: StationResultLine = serde_json::from_str(line).unwrap();
        assert_eq!(parsed.seq, 1234);
        assert_eq!(parsed.consumed[0].kind, "pcba");
        assert_eq!(parsed.plc_epoch, None);
        let back = serde_json::to_string(&parsed).unwrap();
        assert!(!back.contains("plc_epoch"), "optional keys stay absent: {back}");
    }
}
