//! Quality holds: a unit or a lot set aside until a quality engineer releases it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{LotId, SerialNumber};

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

/// Who released a hold, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Release {
    /// Who.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl Hold {
    /// Whether the hold is in force.
    pub fn is_active(&self) -> bool {
        self.released.is_none()
    }
}
