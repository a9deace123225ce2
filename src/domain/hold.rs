//! Quality holds: a unit or a lot set aside until a quality engineer releases it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{LotId, SerialNumber};
use super::unit::UnitStatus;

/// What a hold covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum HoldTarget {
    /// One unit.
    Unit(SerialNumber),
    /// A lot or reel, and so every unit that contains it.
    Lot(LotId),
}

/// A hold with its history: placed, and perhaps released (never deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    /// What it covers.
    pub target: HoldTarget,
    /// Why.
    pub reason: String,
    /// Who placed it.
    pub placed_by: String,
    /// When.
    pub placed_at: DateTime<Utc>,
    /// Who released it and when, if released.
    pub released: Option<Release>,
}

/// Who released a hold, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Release {
    /// Who.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Why (a release is a quality decision, kept like the hold's own reason); `None` only for
    /// releases made before reasons were asked for.
    pub reason: Option<String>,
}

/// How many units a hold would catch, by the line that last recorded each and by life status:
/// what a quality engineer checks before placing it (a lot id shared by two lines catches both
/// lines' units; a hold on shipped goods means a recall).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HoldReach {
    /// Per line (`"—"` for a unit no line recorded), units by status, in line order.
    pub lines: std::collections::BTreeMap<String, std::collections::BTreeMap<UnitStatus, u64>>,
    /// Every unit counted.
    pub total: u64,
}

impl HoldReach {
    /// Counts one unit last recorded by `line` (if any), standing at `status`.
    pub fn add(&mut self, line: Option<&str>, status: UnitStatus) {
        *self.lines.entry(line.unwrap_or("—").to_owned()).or_default().entry(status).or_default() += 1;
        self.total += 1;
    }
}

impl Hold {
    /// Whether the hold is in force.
    pub fn is_active(&self) -> bool {
        self.released.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reach_counts_each_unit_once_by_line_and_status() {
        let mut reach = HoldReach::default();
        reach.add(Some("phone-1"), UnitStatus::Packed);
        reach.add(Some("phone-1"), UnitStatus::Packed);
        reach.add(Some("tablet-1"), UnitStatus::InProcess);
        reach.add(None, UnitStatus::Consumed);
        assert_eq!(reach.total, 4);
        assert_eq!(reach.lines["phone-1"][&UnitStatus::Packed], 2);
        assert_eq!(reach.lines["tablet-1"][&UnitStatus::InProcess], 1);
        assert_eq!(reach.lines["—"][&UnitStatus::Consumed], 1);
    }
}
