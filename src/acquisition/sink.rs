//! The ports a collector writes and asks through: a [`RecordSink`] that commits what it reads
//! (and says where each station's record stream stands), an [`Interlock`] that judges a unit at
//! a validation request, and [`LineLeases`] that let exactly one of several processes collect a
//! line. Acquisition owns them so that what stands behind them — the
//! store today, a local outbox when the central database is away (issue 18) — is chosen by the
//! composition root, not by the collector; a collector never names the store.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::domain::ids::{LineId, SerialNumber, StationId};
use crate::domain::plant::PlantModel;
use crate::domain::record::{CommitReceipt, RecordBatch, UnitRecord};
use crate::domain::validation::{UnitHistory, ValidationAnswer};

/// Why a sink or an interlock could not do what was asked. The collector only needs to know
/// whether the sink has lost the line's master data (then it registers the line again) and
/// what to show; the cause stays attached for the logs.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct SinkError {
    /// The sink does not know the line, a station, product or work order the batch names (its
    /// database was replaced under a running collector).
    pub missing_master_data: bool,
    /// What failed.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// Where a collector's records go. Every method is all-or-nothing: a commit that returns an
/// error wrote nothing, so the PLCs keep their records and offer them again.
pub trait RecordSink: Send + Sync {
    /// The last record committed per station of `line` (by station code), from which each
    /// station's handshake resumes after a restart.
    fn resume_positions<'a>(
        &'a self,
        line: &'a LineId,
    ) -> BoxFuture<'a, Result<HashMap<StationId, UnitRecord>, SinkError>>;

    /// Commits one batch in one transaction and returns only once it is durable.
    fn commit<'a>(&'a self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<CommitReceipt, SinkError>>;

    /// Ends at `at` every state interval of `line` still open (its stations are no longer
    /// watched, for the reason `why`); returns how many it closed.
    fn close_open_intervals<'a>(
        &'a self,
        line: &'a LineId,
        at: DateTime<Utc>,
        why: &'a str,
    ) -> BoxFuture<'a, Result<u64, SinkError>>;

    /// Registers the lines, stations and products of `plant` (idempotent), forgetting anything
    /// the sink remembered of earlier master data.
    fn register_plant<'a>(&'a self, plant: &'a PlantModel) -> BoxFuture<'a, Result<(), SinkError>>;

    /// The local outbox this sink commits to while the central database is away, if it has
    /// one: then a collector keeps collecting when it cannot reach the database (nor confirm
    /// its line's lease), and pages show what waits to be forwarded.
    fn buffer(&self) -> Option<SharedBuffer> {
        None
    }
}

/// What waits in a collector host's local outbox (store-and-forward), as `/readyz`, the line
/// page and `/metrics` show it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BufferStatus {
    /// Batches, interval closes and validation answers waiting to be forwarded.
    pub backlog_entries: u64,
    /// Unit records among them.
    pub backlog_records: u64,
    /// Unit records waiting, per line code.
    pub backlog_by_line: std::collections::BTreeMap<String, u64>,
    /// Bytes they take in the outbox.
    pub bytes: u64,
    /// The most the outbox may hold (`[outbox] max_mb`).
    pub capacity_bytes: u64,
    /// When the oldest waiting entry was queued.
    pub oldest_queued_at: Option<DateTime<Utc>>,
    /// Unit records forwarded to the central database since start.
    pub forwarded_records: u64,
    /// Unit records forwarded per second over the last forwarding round.
    pub forward_rate: f64,
    /// The outbox is full: collectors stop acknowledging (the PLCs buffer, then block).
    pub full: bool,
    /// Why the central database could not be written, until it can again.
    pub database_error: Option<String>,
    /// Entries the central database refused again and again (it answered, with an error), set
    /// aside in the outbox's quarantine so the rest can go on: kept, never dropped, for an
    /// operator to read (`mes outbox`) and send again once the cause is mended.
    pub quarantined_entries: u64,
    /// Unit records among them.
    pub quarantined_records: u64,
}

/// An outbox's status, shared between it and its readers.
pub type SharedBuffer = Arc<std::sync::Mutex<BufferStatus>>;

/// What a validation request is judged by, and where its answer is kept.
pub trait Interlock: Send + Sync {
    /// The history the interlock judges a unit by; `None` for a serial never made here.
    fn unit_history<'a>(&'a self, serial: &'a SerialNumber) -> BoxFuture<'a, Result<Option<UnitHistory>, SinkError>>;

    /// Keeps an answer; a second answer to the same request keeps the first.
    fn record_answer<'a>(&'a self, answer: &'a ValidationAnswer) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// Who collects a line when several processes are configured for it: exactly one at a time.
pub trait LineLeases: Send + Sync {
    /// Takes `line` for this process (named `holder` to the others) unless another holds it.
    /// `returning`: this process collected the line until the database went away, and may keep
    /// its newest records in an outbox; any other claim waits until a restarted database has
    /// been up long enough for such a holder to return first (a standby that took the line
    /// then would number a ready-flag station's records from what the database holds, and
    /// collide with those the holder forwards).
    fn claim<'a>(
        &'a self,
        line: &'a LineId,
        holder: &'a str,
        returning: bool,
    ) -> BoxFuture<'a, Result<Claim, SinkError>>;
}

/// The answer to a claim.
pub enum Claim {
    /// No other process can collect the line (a SQLite store belongs to one process): collect.
    Sole,
    /// This process holds the line until the lease ends; collect while [`Lease::holds`].
    Held(Box<dyn Lease>),
    /// Another process holds it (named where known); stay a hot standby and claim again.
    Taken {
        /// The holder's name.
        owner: Option<String>,
    },
}

/// A held line. Dropping it gives the line up.
pub trait Lease: Send {
    /// The line's lease epoch under this claim: what a commit that must not outlive the lease
    /// names ([`crate::domain::record::Fence`]).
    fn epoch(&self) -> i64;

    /// Whether the lease still holds. `false` once it may have ended (its connection is gone):
    /// the collector must stop at once, since another process may be taking the line over.
    fn holds(&mut self) -> BoxFuture<'_, bool>;
}

/// The ports a set of collectors is started with.
#[derive(Clone)]
pub struct Ports {
    /// Where records go.
    pub sink: Arc<dyn RecordSink>,
    /// What validation requests are judged by.
    pub interlock: Arc<dyn Interlock>,
    /// Who collects which line.
    pub leases: Arc<dyn LineLeases>,
}

impl Ports {
    /// Every port served by one implementation (the store).
    pub fn all<T: RecordSink + Interlock + LineLeases + 'static>(one: Arc<T>) -> Self {
        Self { sink: one.clone(), interlock: one.clone(), leases: one }
    }
}
