//! Units: one physical product instance, known by its serial.

use serde::{Deserialize, Serialize};

use super::ids::{ProductCode, SerialNumber, WorkOrderId};

/// Where a unit stands in its life. Holds are not a status: they are separate records, so a hold
/// can be placed and released without losing what the unit was doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    /// Seen on a line, not yet packed.
    InProcess,
    /// Built into another unit (a PCBA inside a phone); traced through its parent.
    Consumed,
    /// Passed the pack station.
    Packed,
    /// Declared scrap.
    Scrapped,
}

impl UnitStatus {
    /// Stable lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitStatus::InProcess => "in_process",
            UnitStatus::Consumed => "consumed",
            UnitStatus::Packed => "packed",
            UnitStatus::Scrapped => "scrapped",
        }
    }

    /// Inverse of [`UnitStatus::as_str`].
    pub fn parse(value: &str) -> Option<Self> {
        [Self::InProcess, Self::Consumed, Self::Packed, Self::Scrapped].into_iter().find(|s| s.as_str() == value)
    }
}

/// A unit as the MES knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unit {
    /// Its serial.
    pub serial: SerialNumber,
    /// Product, once known.
    pub product: Option<ProductCode>,
    /// Work order, once known.
    pub work_order: Option<WorkOrderId>,
    /// Life status.
    pub status: UnitStatus,
    /// Whether an active hold covers it (directly or through a held lot it contains).
    pub on_hold: bool,
}
