//! The ISA-95 equipment hierarchy: site → area → line → station.

use serde::{Deserialize, Serialize};

use super::ids::{LineId, StationId};

/// A plant site with its own time zone (shifts and reports are cut in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// Short code, e.g. "THA".
    pub code: String,
    /// Display name.
    pub name: String,
    /// IANA time zone name, e.g. "Asia/Ho_Chi_Minh".
    pub time_zone: String,
}

/// An area (hall, floor) of a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    /// Code of the site it belongs to.
    pub site: String,
    /// Short code, unique in the site.
    pub code: String,
    /// Display name.
    pub name: String,
}

/// What a line makes; decides which simulator and profile shape it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// SMT/PCBA component line.
    Smt,
    /// Smartphone final assembly.
    Phone,
    /// Tablet final assembly.
    Tablet,
}

impl LineKind {
    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Smt => "smt",
            LineKind::Phone => "phone",
            LineKind::Tablet => "tablet",
        }
    }

    /// Inverse of [`LineKind::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "smt" => Some(LineKind::Smt),
            "phone" => Some(LineKind::Phone),
            "tablet" => Some(LineKind::Tablet),
            _ => None,
        }
    }
}

/// A production line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Line {
    /// Line code, unique across the plant.
    pub id: LineId,
    /// Code of the area it stands in.
    pub area: String,
    /// Display name.
    pub name: String,
    /// Display name on Vietnamese pages (the profile's `name_vi`), if one is given.
    #[serde(default)]
    pub name_vi: Option<String>,
    /// What it makes.
    pub kind: LineKind,
    /// Stations in route order.
    pub stations: Vec<Station>,
}

/// What a station does. Yield and status rules depend on it (a pass at `Pack` packs the unit;
/// `Repair` visits are not first-pass test results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StationKind {
    /// Builds or places something onto the unit (printer, pick-and-place, screwing).
    Assembly,
    /// Process step without material (reflow, laser mark).
    Process,
    /// Optical or manual inspection (SPI, AOI, final QC).
    Inspection,
    /// Electrical or functional test (ICT, FCT, RF).
    Test,
    /// Repair/rework: failed units come here and re-enter test.
    Repair,
    /// Final pack; a pass here makes the unit `packed`.
    Pack,
}

impl StationKind {
    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            StationKind::Assembly => "assembly",
            StationKind::Process => "process",
            StationKind::Inspection => "inspection",
            StationKind::Test => "test",
            StationKind::Repair => "repair",
            StationKind::Pack => "pack",
        }
    }

    /// Inverse of [`StationKind::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        [Self::Assembly, Self::Process, Self::Inspection, Self::Test, Self::Repair, Self::Pack]
            .into_iter()
            .find(|k| k.as_str() == value)
    }
}

/// A station (work cell) of a line, with its PLC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Station {
    /// Station code, unique within its line.
    pub id: StationId,
    /// Display name.
    pub name: String,
    /// Display name on Vietnamese pages (the profile's `name_vi`), if one is given.
    #[serde(default)]
    pub name_vi: Option<String>,
    /// Position in the line's route order, from 1.
    pub position: u32,
    /// What it does.
    pub kind: StationKind,
    /// Ideal cycle time (ISO 22400 planned run time per unit), for OEE effectiveness.
    #[serde(default)]
    pub ideal_cycle_ms: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_names() {
        for kind in [LineKind::Smt, LineKind::Phone, LineKind::Tablet] {
            assert_eq!(LineKind::parse(kind.as_str()), Some(kind));
        }
        for kind in [StationKind::Assembly, StationKind::Repair, StationKind::Pack] {
            assert_eq!(StationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(StationKind::parse("oven"), None);
    }

    #[test]
    fn profile_kinds_are_exactly_the_domain_kinds() {
        for name in plc_contract::profile::STATION_KINDS {
            assert!(StationKind::parse(name).is_some(), "{name}");
        }
        for name in plc_contract::profile::LINE_KINDS {
            assert!(LineKind::parse(name).is_some(), "{name}");
        }
        assert_eq!(plc_contract::profile::STATION_KINDS.len(), 6);
    }
}
