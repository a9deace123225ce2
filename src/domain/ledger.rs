//! The shape of an investor audit ledger entry (SPEC §5). Hashing and signing rules arrive with
//! the ledger issue; the shape is fixed now so the schema holds it from the first migration.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::LineId;

/// What an entry states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerEntryKind {
    /// Output figures of a closed period.
    Figures,
    /// A correction of an earlier entry.
    Correction,
}

/// One link of the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// Line the figures are for; `None` for plant-wide entries.
    pub line: Option<LineId>,
    /// Period start (inclusive).
    pub period_start: DateTime<Utc>,
    /// Period end (exclusive).
    pub period_end: DateTime<Utc>,
    /// Figures or correction.
    pub kind: LedgerEntryKind,
    /// Canonical JSON of the figures.
    pub payload: String,
    /// Entry this one corrects.
    pub corrects: Option<u64>,
    /// Who wrote it.
    pub author: String,
    /// Why (mandatory for corrections).
    pub reason: Option<String>,
    /// Hash of the previous entry (hex).
    pub prev_hash: String,
    /// Hash of this entry's canonical content and `prev_hash` (hex).
    pub hash: String,
    /// Ed25519 signature of `hash` (hex).
    pub signature: String,
    /// When written.
    pub created_at: DateTime<Utc>,
}
