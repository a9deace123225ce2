//! Material lots and reels: what goes into units without a serial of its own.

use serde::{Deserialize, Serialize};

use super::ids::LotId;

/// A lot or reel of material (component reel, display lot, screw lot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialLot {
    /// Lot or reel id.
    pub id: LotId,
    /// What it is ("reel", "display_lot", …).
    pub kind: String,
    /// Manufacturer part number, if the label carries one.
    pub part_number: Option<String>,
    /// Quantity on the lot when it was received, if known.
    pub quantity: Option<u32>,
}
