//! What a collector knows about its PLCs, shared with the rest of the program (the terminal
//! summary today, the dashboard and `/readyz` later): connection, last good read, errors,
//! records taken, and each station's current state.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::state::MachineState;

/// One station as its collector sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StationHealth {
    /// Station code.
    pub code: String,
    /// Last read that decoded.
    pub last_good_read: Option<DateTime<Utc>>,
    /// Failed reads, writes and undecodable records since start.
    pub errors: u64,
    /// The last error, for the operator.
    pub last_error: Option<String>,
    /// Records committed (new) since start.
    pub records: u64,
    /// Records that were already stored (re-deliveries) since start.
    pub duplicates: u64,
    /// Passed / failed among the new records.
    pub pass: u64,
    /// Failed among the new records.
    pub fail: u64,
    /// Whether a record waits in the PLC.
    pub record_waiting: bool,
    /// Current state, as mapped from the PLC's state word.
    pub state: Option<MachineState>,
    /// Current fault code (0 none).
    pub fault_code: u16,
}

/// One line's collector.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LineHealth {
    /// Line code.
    pub line: String,
    /// Whether the connection to the line's PLCs is up.
    pub connected: bool,
    /// Connections made since start (the first one included).
    pub connects: u64,
    /// The last connection error.
    pub last_connect_error: Option<String>,
    /// Records read but not yet committed and acknowledged (the collector's queue).
    pub queue_depth: usize,
    /// Failed commits since start.
    pub store_errors: u64,
    /// Why the last commit failed, until one succeeds.
    pub last_store_error: Option<String>,
    /// Times the line's master data was found missing in the store and registered again.
    pub master_data_restored: u64,
    /// Units on hold that passed a pack station (newest last, at most 100): quality must act.
    pub held_packed: Vec<String>,
    /// Stations in profile order.
    pub stations: Vec<StationHealth>,
}

/// A line's health, shared between its collector and readers.
#[derive(Debug, Clone, Default)]
pub struct SharedHealth(Arc<Mutex<LineHealth>>);

impl SharedHealth {
    /// Health of `line` with `stations`, not yet connected.
    pub fn new(line: &str, stations: impl IntoIterator<Item = String>) -> Self {
        let stations = stations.into_iter().map(|code| StationHealth { code, ..Default::default() }).collect();
        Self(Arc::new(Mutex::new(LineHealth { line: line.to_owned(), stations, ..Default::default() })))
    }

    /// Locks for reading or updating; a panic elsewhere never makes health unreadable.
    pub fn lock(&self) -> MutexGuard<'_, LineHealth> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of the current health.
    pub fn snapshot(&self) -> LineHealth {
        self.lock().clone()
    }
}
