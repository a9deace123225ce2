//! Products, their routes (ordered operations) and the work orders that make them.

use serde::{Deserialize, Serialize};

use super::ids::{LineId, ProductCode, StationId, WorkOrderId};

/// IPC-1782 traceability level declared per product: material level M1–M4 and process level
/// P1–P4. Completeness verdicts (which data a unit must carry) are derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceabilityLevel {
    /// Material traceability level, 1–4.
    pub material: u8,
    /// Process traceability level, 1–4.
    pub process: u8,
}

impl TraceabilityLevel {
    /// Parses "M3P2" (any case). Levels outside 1–4 are rejected.
    pub fn parse(value: &str) -> Option<Self> {
        plc_contract::profile::traceability_level(value).map(|(material, process)| Self { material, process })
    }
}

impl std::fmt::Display for TraceabilityLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "M{}P{}", self.material, self.process)
    }
}

/// A product the plant makes (a phone model, a tablet model, a PCBA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Product code.
    pub code: ProductCode,
    /// Display name.
    pub name: String,
    /// Display name on Vietnamese pages (the profile's `name_vi`), if one is given.
    #[serde(default)]
    pub name_vi: Option<String>,
    /// IPC-1782 level the customer requires for it.
    pub traceability: TraceabilityLevel,
    /// Defect opportunities per unit, for DPMO (IPC-7912A).
    pub opportunities_per_unit: u32,
}

/// One step of a route: the operation done at a station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStep {
    /// Position in the route, from 1.
    pub position: u32,
    /// Station that performs it.
    pub station: StationId,
    /// Operation name ("functional test").
    pub operation: String,
}

/// The ordered operations a product goes through on a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Product it is for.
    pub product: ProductCode,
    /// Line it runs on.
    pub line: LineId,
    /// Version; a changed route is a new version, never an edit.
    pub version: u32,
    /// Steps in order.
    pub steps: Vec<RouteStep>,
}

/// An order to make a quantity of one product on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkOrder {
    /// Work order number.
    pub id: WorkOrderId,
    /// Product to make.
    pub product: ProductCode,
    /// Line that makes it.
    pub line: LineId,
    /// Planned quantity of good units.
    pub planned_quantity: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceability_levels_parse_only_within_the_standard() {
        assert_eq!(TraceabilityLevel::parse("M3P2"), Some(TraceabilityLevel { material: 3, process: 2 }));
        assert_eq!(TraceabilityLevel::parse("m1p4").map(|l| l.to_string()), Some("M1P4".into()));
        for bad in ["M5P1", "M0P1", "P1M1", "M3", "M3P2X", "M:P1"] {
            assert_eq!(TraceabilityLevel::parse(bad), None, "{bad}");
        }
    }
}
