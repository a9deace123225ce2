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

/// Polls kept per scan class for the duration quantiles on the line page.
pub const RECENT_POLLS: usize = 1000;

/// One scan class of a line as its collector keeps it: counts since start (see
/// [`super::schedule`]) and the durations of its latest polls.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanHealth {
    /// Scan class name.
    pub class: String,
    /// Its configured period, in milliseconds.
    pub period_ms: u64,
    /// Ticks served by a poll.
    pub polls: u64,
    /// Polls still running when the next tick came.
    pub overruns: u64,
    /// Ticks skipped (during overruns or while the link was down).
    pub skipped: u64,
    /// Durations of the latest [`RECENT_POLLS`] polls, in microseconds, oldest first.
    #[serde(skip)]
    pub recent_us: std::collections::VecDeque<u32>,
}

impl ScanHealth {
    /// Notes one poll of `duration`.
    pub fn note_poll(&mut self, duration: std::time::Duration) {
        if self.recent_us.len() == RECENT_POLLS {
            self.recent_us.pop_front();
        }
        self.recent_us.push_back(u32::try_from(duration.as_micros()).unwrap_or(u32::MAX));
    }

    /// The `p` quantile (0..=1) of the latest polls' durations, nearest rank; `None` before the
    /// first poll.
    pub fn quantile(&self, p: f64) -> Option<std::time::Duration> {
        let mut sorted: Vec<u32> = self.recent_us.iter().copied().collect();
        sorted.sort_unstable();
        let k = ((sorted.len() as f64 * p.clamp(0.0, 1.0)).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(k).map(|us| std::time::Duration::from_micros(u64::from(*us)))
    }
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
    /// Scan classes in name order.
    pub scans: Vec<ScanHealth>,
    /// Whether this process collects the line or stands by for another.
    pub ownership: Ownership,
    /// This process collects the line but could not confirm its lease (the database is away):
    /// it goes on into its outbox and claims the line again once the database answers.
    pub lease_unconfirmed: bool,
    /// What showed that another process acknowledges this line's records (a sequence
    /// station's acknowledgement this process did not write, or a record moving on while it was
    /// read). With the lease unconfirmed, that is the standby that took the line: this process
    /// stops collecting it, so the taker sees every record (its interlock judges units by
    /// them) and stands by.
    pub acknowledged_elsewhere: Option<String>,
}

impl LineHealth {
    /// Whether this process leaves the line to another: its lease is unconfirmed and another
    /// process acknowledges the line's records (or holds its lease), so that process has it.
    pub fn left_to_another(&self) -> bool {
        self.lease_unconfirmed && self.acknowledged_elsewhere.is_some()
    }
}

/// Who collects a line, as this process sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Ownership {
    /// Not yet decided (the first claim is under way).
    #[default]
    Starting,
    /// This process is the only one that can collect it (a SQLite store).
    Sole,
    /// This process holds the line's lease and collects it.
    Owner {
        /// This process's name, as other processes see it.
        holder: String,
    },
    /// Another process holds the line; this one takes it over when that one goes.
    Standby {
        /// The holder's name, where the store knows it.
        owner: Option<String>,
    },
}

impl Ownership {
    /// Whether this process collects the line.
    pub fn collects(&self) -> bool {
        matches!(self, Ownership::Sole | Ownership::Owner { .. })
    }
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

    /// Health of `profile`'s line, not yet connected.
    pub fn for_profile(profile: &plc_contract::profile::Profile) -> Self {
        Self::new(&profile.line, profile.stations.iter().map(|s| s.code.clone()))
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
