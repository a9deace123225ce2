//! One line's collector: polls every station through a [`Driver`] on the fixed schedule of its
//! scan classes ([`super::schedule`]), turns state words into machine-state intervals and
//! counters into raw samples, and runs the unit-record handshake — read, commit through the
//! line's [`super::sink::RecordSink`], and only then acknowledge. One station's
//! garbage or exceptions are that station's errors; a broken link reconnects with capped
//! exponential backoff and jitter, then drains what the PLCs held meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use plc_contract::profile::{Profile, Role};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;

use super::driver::{Driver, DriverError};
use super::handshake::{Delivered, Handshaker};
use super::health::{ScanHealth, SharedHealth};
use super::schedule::{Due, ScanSchedule};
use super::sink::{Ports, SinkError};
use super::station::{StationMap, Status, Values, fingerprint, polled_classes};
use crate::domain::counter::{CounterKind, CounterSample};
use crate::domain::record::UnitRecord;
use crate::domain::record::{Fence, RecordBatch};
use crate::domain::state::{MachineState, StateInterval};
use crate::domain::{IdError, LineId, PlcEpoch, StationId};
use crate::telemetry;

/// What the owner of a collector asks of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Poll and record.
    Run,
    /// Take every record the PLCs still hold, then stop (production has stopped).
    Drain,
    /// Stop after the current cycle.
    Stop,
}

/// Why a collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// A code in the profile is not a valid id.
    #[error("profile of line {line}: {source}")]
    Id {
        /// Line code.
        line: String,
        /// Why.
        source: IdError,
    },
    /// The record sink could not be read at start.
    #[error("line {line}: {source}")]
    Sink {
        /// Line code.
        line: String,
        /// Why.
        source: SinkError,
    },
}

/// Timing of a collector's reconnects and drain (its polls follow the scan classes).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// How long a drain may take before it gives up on unreachable PLCs.
    pub drain_limit: Duration,
}

impl Timing {
    /// The timing collectors use unless told otherwise.
    pub fn standard() -> Self {
        Self {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            drain_limit: Duration::from_secs(30),
        }
    }
}

/// Per-station runtime state.
struct StationRun {
    code: StationId,
    handshake: Handshaker,
    /// Open state interval: (PLC code, fault code, since).
    state: Option<(u16, u16, DateTime<Utc>)>,
    /// Each counter tag's scan class and last stored sample, in `StationMap::counter_tags`
    /// order (found by position: no lookup by role or class name per poll).
    counters: Vec<CounterRun>,
    /// What the latest poll saw, for the line's health (written once per cycle for all
    /// stations): read time, state and fault code.
    seen: Option<(DateTime<Utc>, Option<MachineState>, u16)>,
    /// This station's read metrics, registered once (a lookup by labels per read costs more
    /// than the read's own bookkeeping). Read time is a sum, not a histogram: a histogram sample
    /// per read costs a good part of the read itself; the line's poll times per scan class are
    /// the histogram.
    read_micros: metrics::Counter,
    reads: metrics::Counter,
    /// Reads and their microseconds not yet added to the metrics (see [`METRICS_EVERY`]).
    unflushed: (u64, u64),
    /// The validation request being answered: (epoch, request number, first seen, given up
    /// as unanswered and recorded so).
    asked: Option<(u32, u32, Instant, bool)>,
}

/// How often a collector adds its stations' read counts to `/metrics`: counting in place and
/// adding once a second costs less than two shared atomic counters per read, and a scrape
/// (every few seconds at the fastest) cannot tell.
const METRICS_EVERY: Duration = Duration::from_secs(1);

/// The most state intervals and counter samples a collector keeps for a commit that keeps
/// failing (hours of state changes of a busy line).
const MAX_UNSENT: usize = 100_000;

/// One counter of a station as its collector follows it.
struct CounterRun {
    /// The index of the counter's scan class in the schedule.
    class: Option<usize>,
    /// The last sample stored: (epoch, raw).
    last: Option<(u32, u32)>,
}

/// A scan class's metrics, registered once (in the schedule's class order).
struct ScanMetrics {
    seconds: metrics::Histogram,
    polls: metrics::Counter,
    overruns: metrics::Counter,
    skipped: metrics::Counter,
}

/// A record read this cycle, waiting for the commit.
struct Taken {
    station: usize,
    record: UnitRecord,
    fingerprint: String,
}

/// One line's collector.
pub struct Collector<D: Driver> {
    line: LineId,
    profile: Profile,
    /// Each station's tags grouped for polling, in profile order (one shared slice: a poll
    /// holds it across its awaits with one reference count, kept hot, instead of one per
    /// station).
    maps: Arc<[StationMap]>,
    /// The profile's state codes with the machine state each names (`None`: a name that is not
    /// one), parsed once: every poll turns the state word into a machine state for the health.
    states: Vec<(u16, Option<MachineState>)>,
    /// What the line makes, as its profile declares it: each record names it unless the PLC
    /// said otherwise, so a unit's product is known from its first record.
    product: Option<crate::domain::ProductCode>,
    driver: D,
    ports: Ports,
    health: SharedHealth,
    stations: Vec<StationRun>,
    schedule: ScanSchedule,
    scan_metrics: Vec<ScanMetrics>,
    queue: metrics::Gauge,
    /// States and counter samples seen but not yet committed (a commit failed), sent with the
    /// next batch.
    unsent: RecordBatch,
    /// When the stations' read counts were last added to the metrics (`None`: not yet).
    metrics_flushed: Option<Instant>,
    timing: Timing,
    connected: bool,
    draining: bool,
    failures: u32,
    rng: ChaCha8Rng,
    /// The line's lease epoch when several processes may collect it: records this collector
    /// numbers (flag handshakes) are committed under it, in batches of their own, and
    /// acknowledged only once the central database took them while the lease still held.
    lease_epoch: Option<i64>,
}

impl<D: Driver> Collector<D> {
    /// A collector of `profile`'s line over `driver`, resuming each station's handshake from
    /// the last record the sink holds for it, reporting into `health` (made by
    /// [`SharedHealth::for_profile`], kept by its owner across collectors of the same line).
    pub async fn new(profile: Profile, driver: D, ports: Ports, health: SharedHealth) -> Result<Self, CollectorError> {
        let id_error = |source| CollectorError::Id { line: profile.line.clone(), source };
        let sink_error = |source| CollectorError::Sink { line: profile.line.clone(), source };
        let line = LineId::parse(profile.line.clone()).map_err(id_error)?;
        let last = ports.sink.resume_positions(&line).await.map_err(sink_error)?;
        let closed = ports
            .sink
            .close_open_intervals(&line, Utc::now(), "not watched: collection resumed")
            .await
            .map_err(sink_error)?;
        if closed > 0 {
            tracing::info!(line = %line, closed, "state intervals left open by an earlier run closed");
        }
        let mut stations = Vec::new();
        for p in &profile.stations {
            let code = StationId::parse(p.code.clone()).map_err(id_error)?;
            let labels = [("line", profile.line.clone()), ("station", p.code.clone())];
            let delivered = last.get(&code).map(|r| Delivered {
                epoch: r.epoch.0,
                seq: u32::try_from(r.seq.0).unwrap_or(u32::MAX),
                fingerprint: fingerprint(r),
                acknowledged: false,
            });
            stations.push(StationRun {
                code,
                handshake: Handshaker::new(p.handshake, delivered),
                state: None,
                counters: Vec::new(),
                seen: None,
                read_micros: metrics::counter!(telemetry::READ_MICROSECONDS, &labels),
                reads: metrics::counter!(telemetry::READS, &labels),
                unflushed: (0, 0),
                asked: None,
            });
        }
        let maps: Arc<[StationMap]> =
            profile.stations.iter().map(|p| StationMap::new(p.clone(), profile.clock_zone)).collect();
        let classes = polled_classes(&profile.scan_classes, maps.iter());
        let schedule = ScanSchedule::new(&classes, Instant::now());
        for (run, map) in stations.iter_mut().zip(maps.iter()) {
            run.counters = map
                .counter_tags()
                .iter()
                .map(|(_, t, _)| CounterRun { class: schedule.class_index(&t.scan), last: None })
                .collect();
        }
        health.lock().scans = schedule
            .counts()
            .into_iter()
            .map(|c| ScanHealth {
                class: c.class,
                period_ms: u64::try_from(c.period.as_millis()).unwrap_or(u64::MAX),
                ..Default::default()
            })
            .collect();
        let scan_metrics = schedule
            .counts()
            .into_iter()
            .map(|c| {
                let labels = [("line", profile.line.clone()), ("scan_class", c.class)];
                ScanMetrics {
                    seconds: metrics::histogram!(telemetry::SCAN_SECONDS, &labels),
                    polls: metrics::counter!(telemetry::SCAN_POLLS, &labels),
                    overruns: metrics::counter!(telemetry::SCAN_OVERRUNS, &labels),
                    skipped: metrics::counter!(telemetry::SCAN_SKIPPED, &labels),
                }
            })
            .collect();
        let queue = metrics::gauge!(telemetry::QUEUE_DEPTH, "line" => profile.line.clone());
        let seed = profile.line.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        let timing = Timing::standard();
        let states = profile.states.iter().map(|(code, name)| (*code, MachineState::parse(name))).collect();
        let product = profile.product.as_ref().and_then(|p| crate::domain::ProductCode::parse(p.code.clone()).ok());
        Ok(Self {
            line,
            profile,
            maps,
            states,
            product,
            driver,
            ports,
            health,
            stations,
            schedule,
            scan_metrics,
            queue,
            unsent: RecordBatch::default(),
            metrics_flushed: None,
            timing,
            connected: false,
            draining: false,
            failures: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            lease_epoch: None,
        })
    }

    /// The health this collector updates.
    pub fn health(&self) -> SharedHealth {
        self.health.clone()
    }

    /// Collects under a line lease of `epoch` (see [`crate::domain::record::Fence`]); `None`:
    /// this process is the line's only collector.
    pub fn with_lease_epoch(mut self, epoch: Option<i64>) -> Self {
        self.lease_epoch = epoch;
        self
    }

    /// Overrides the timing (tests use short backoffs).
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Runs until `mode` says stop, or says drain and nothing is left to take.
    pub async fn run(mut self, mut mode: watch::Receiver<Mode>) {
        let mut drain_started: Option<Instant> = None;
        loop {
            let current = *mode.borrow();
            if current == Mode::Stop {
                break;
            }
            if current == Mode::Drain && drain_started.is_none() {
                drain_started = Some(Instant::now());
                self.draining = true;
                self.driver.read_fresh();
            }
            if drain_started.is_some_and(|d| d.elapsed() > self.timing.drain_limit) {
                tracing::warn!(line = %self.line, "drain gave up: PLCs unreachable");
                break;
            }
            if !self.connected {
                match self.driver.connect().await {
                    Ok(()) => {
                        if let Err(e) = self.watch_all().await {
                            self.note_link_error(&e);
                            self.driver.disconnect();
                            let delay = self.backoff();
                            tracing::warn!(line = %self.line, error = %e, "watching the stations failed");
                            Self::pause(delay, &mut mode).await;
                            continue;
                        }
                        self.connected = true;
                        self.failures = 0;
                        // The grid starts at the connection: ticks while the link was down are
                        // not overruns of the polls.
                        self.schedule.restart(Instant::now());
                        let mut h = self.health.lock();
                        h.connected = true;
                        h.connects += 1;
                        metrics::gauge!(telemetry::CONNECTED, "line" => self.line.to_string()).set(1.0);
                        tracing::info!(line = %self.line, connects = h.connects, "connected");
                    }
                    Err(e) => {
                        self.note_link_error(&e);
                        let delay = self.backoff();
                        tracing::warn!(line = %self.line, error = %e, retry_ms = delay.as_millis() as u64, "connect failed");
                        Self::pause(delay, &mut mode).await;
                        continue;
                    }
                }
            }
            let due = self.schedule.begin(Instant::now());
            let outcome = self.cycle(&due).await;
            self.note_scans(&due);
            if self.health.lock().left_to_another() {
                break; // the line's supervisor says so and stands by
            }
            match outcome {
                Ok(cycle) => {
                    if drain_started.is_some() && !cycle.waiting {
                        tracing::info!(line = %self.line, "drained: no record left in any PLC");
                        break;
                    }
                    // After taking records the PLCs may hold more: poll again at once (outside
                    // the schedule: no class is due then, only the handshake is read). Else
                    // wait for the next tick; a notification from the PLC ends the wait early.
                    if cycle.taken == 0 {
                        let wake = self.driver.wakeup();
                        let tick = tokio::time::sleep_until(self.schedule.next_deadline().into());
                        tokio::select! {
                            () = tick => {}
                            _ = mode.changed() => {}
                            () = async { match &wake { Some(w) => w.notified().await, None => std::future::pending().await } } => {}
                        }
                    }
                }
                Err(e) => {
                    self.note_link_error(&e);
                    self.driver.disconnect();
                    self.connected = false;
                    let delay = self.backoff();
                    tracing::warn!(line = %self.line, error = %e, retry_ms = delay.as_millis() as u64, "link lost");
                    Self::pause(delay, &mut mode).await;
                }
            }
        }
        self.driver.disconnect();
        self.flush_read_metrics(true);
        self.health.lock().connected = false;
        metrics::gauge!(telemetry::CONNECTED, "line" => self.line.to_string()).set(0.0);
        if self.health.lock().left_to_another() {
            // The process that took the line watches the stations: their states are its to
            // record and close.
            return;
        }
        // What the stations did while commits failed, as far as it can still be stored.
        let unsent = std::mem::take(&mut self.unsent);
        if !(unsent.state_intervals.is_empty() && unsent.counter_samples.is_empty())
            && let Err(e) = self.ports.sink.commit(&unsent).await
        {
            tracing::warn!(line = %self.line, error = %e, "could not store the last states and counter samples");
        }
        // What the stations do from now on is not watched: their current states end here.
        if let Err(e) =
            self.ports.sink.close_open_intervals(&self.line, Utc::now(), "not watched: collection stopped").await
        {
            tracing::warn!(line = %self.line, error = %e, "could not close the open state intervals");
        }
    }

    /// Adds the stations' reads counted since the last time to `/metrics`, if
    /// [`METRICS_EVERY`] has passed or the collector ends (`end`).
    fn flush_read_metrics(&mut self, end: bool) {
        if !end && self.metrics_flushed.is_some_and(|at| at.elapsed() < METRICS_EVERY) {
            return;
        }
        self.metrics_flushed = Some(Instant::now());
        for run in &mut self.stations {
            let (reads, micros) = std::mem::take(&mut run.unflushed);
            if reads > 0 {
                run.reads.increment(reads);
                run.read_micros.increment(micros);
            }
        }
    }

    /// Counts the poll `due` just ended in the schedule, `/metrics` and the line's health
    /// (whose scan rows, like `scan_metrics`, are in the schedule's class order).
    fn note_scans(&mut self, due: &Due) {
        self.flush_read_metrics(false);
        let served = self.schedule.finish(due, Instant::now());
        if served.is_empty() {
            return;
        }
        let mut h = self.health.lock();
        for s in served {
            let (Some(m), Some(scan)) = (self.scan_metrics.get(s.class), h.scans.get_mut(s.class)) else { continue };
            m.seconds.record(s.duration.as_secs_f64());
            m.polls.increment(1);
            if s.skipped > 0 {
                m.skipped.increment(s.skipped);
            }
            if s.overran {
                m.overruns.increment(1);
                tracing::debug!(line = %self.line, scan_class = %scan.class, took_ms = s.duration.as_millis() as u64, "scan overrun");
            }
            scan.polls += 1;
            scan.overruns += u64::from(s.overran);
            scan.skipped += s.skipped;
            scan.note_poll(s.duration);
        }
    }

    /// Tells the driver which tags the polls read (OPC UA subscribes to them).
    async fn watch_all(&mut self) -> Result<(), DriverError> {
        for i in 0..self.stations.len() {
            let maps = self.maps.clone();
            let map = &maps[i];
            let tags: Vec<_> = map.periodic_tags().collect();
            self.driver.watch(&map.profile, &tags).await?;
        }
        Ok(())
    }

    /// Sleeps, waking early when the mode changes.
    async fn pause(delay: Duration, mode: &mut watch::Receiver<Mode>) {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = mode.changed() => {}
        }
    }

    /// Capped exponential backoff with ±25 % jitter, so collectors of many lines do not
    /// reconnect in step after a network blip.
    fn backoff(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let exp = self.timing.backoff_min.saturating_mul(1u32 << self.failures.min(16).saturating_sub(1));
        let base = exp.min(self.timing.backoff_max);
        base.mul_f64(self.rng.random_range(0.75..1.25))
    }

    fn note_link_error(&self, e: &DriverError) {
        metrics::counter!(telemetry::LINK_ERRORS, "line" => self.line.to_string()).increment(1);
        metrics::gauge!(telemetry::CONNECTED, "line" => self.line.to_string()).set(0.0);
        let mut h = self.health.lock();
        h.connected = false;
        h.last_connect_error = Some(e.to_string());
    }

    fn note_station_error(&self, i: usize, e: &dyn std::fmt::Display) {
        let mut h = self.health.lock();
        if let Some(s) = h.stations.get_mut(i) {
            metrics::counter!(telemetry::READ_ERRORS, "line" => self.line.to_string(), "station" => s.code.clone())
                .increment(1);
            s.errors += 1;
            s.last_error = Some(e.to_string());
        }
    }

    /// One poll of every station: statuses, due periodic tags, and waiting records; then one
    /// commit for everything read, then the acknowledgements.
    async fn cycle(&mut self, due: &Due) -> Result<Cycle, DriverError> {
        // What an earlier cycle saw but could not commit goes first, in order.
        let mut batch = std::mem::take(&mut self.unsent);
        let mut taken: Vec<Taken> = Vec::new();
        let mut waiting = false;
        for i in 0..self.stations.len() {
            match self.poll_station(i, due, &mut batch).await {
                Ok(Some(t)) => {
                    waiting = true;
                    taken.push(t);
                }
                Ok(None) => {}
                Err(StationFault::Link(e)) => {
                    self.keep_unsent(batch);
                    return Err(e);
                }
                Err(StationFault::Station { error, waiting: w }) => {
                    waiting |= w;
                    self.note_station_error(i, &error);
                    tracing::warn!(line = %self.line, station = %self.stations[i].code, error = %error, "station read failed");
                }
            }
        }
        {
            // One lock for every station's news (a lock per station per poll showed in the
            // collector's profile).
            let mut h = self.health.lock();
            for (i, (run, s)) in self.stations.iter_mut().zip(h.stations.iter_mut()).enumerate() {
                if let Some((read_at, state, fault)) = run.seen.take() {
                    s.last_good_read = Some(read_at);
                    s.state = state;
                    s.fault_code = fault;
                }
                s.record_waiting = taken.iter().any(|t| t.station == i);
            }
            h.queue_depth = taken.len();
        }
        self.queue.set(taken.len() as f64);
        // Under a lease, records this process numbers go in a batch of their own that names
        // the lease: refused once another process took the line, and never kept in an outbox.
        let (numbered, taken): (Vec<Taken>, Vec<Taken>) = match self.lease_epoch {
            Some(_) => taken.into_iter().partition(|t| self.stations[t.station].handshake.numbered_by_mes()),
            None => (Vec::new(), taken),
        };
        batch.records = taken.iter().map(|t| t.record.clone()).collect();
        batch.fence = self.fence(false);
        let mut stored = 0;
        if !(batch.records.is_empty() && batch.state_intervals.is_empty() && batch.counter_samples.is_empty()) {
            match self.deliver(batch, taken).await? {
                Some(n) => stored += n,
                None => return Ok(Cycle { taken: 0, waiting: true }),
            }
        }
        if !numbered.is_empty() {
            let batch = RecordBatch {
                records: numbered.iter().map(|t| t.record.clone()).collect(),
                fence: self.fence(true),
                ..Default::default()
            };
            match self.deliver(batch, numbered).await? {
                Some(n) => stored += n,
                None => return Ok(Cycle { taken: stored, waiting: true }),
            }
        }
        if stored > 0 {
            self.queue.set(0.0);
            self.health.lock().queue_depth = 0;
        }
        Ok(Cycle { taken: stored, waiting })
    }

    /// The lease a batch is taken under (`numbered`: it holds records this process numbered).
    fn fence(&self, numbered: bool) -> Option<Fence> {
        self.lease_epoch.map(|epoch| Fence { line: self.line.clone(), epoch, numbered })
    }

    /// Commits `batch` (holding the records `taken`), then acknowledges each record to its
    /// PLC: how many records, or `None` when the commit failed (nothing acknowledged; the
    /// batch's states and counter samples wait for the next commit).
    async fn deliver(&mut self, batch: RecordBatch, taken: Vec<Taken>) -> Result<Option<usize>, DriverError> {
        let n = taken.len();
        let started = Instant::now();
        let committed = self.ports.sink.commit(&batch).await;
        metrics::histogram!(telemetry::COMMIT_SECONDS, "line" => self.line.to_string())
            .record(started.elapsed().as_secs_f64());
        let receipt = match committed {
            Ok(r) => r,
            Err(e) => {
                // Nothing is acknowledged: the PLCs keep the records and offer them again.
                {
                    let mut h = self.health.lock();
                    h.store_errors += 1;
                    h.last_store_error = Some(e.to_string());
                }
                metrics::counter!(telemetry::STORE_ERRORS, "line" => self.line.to_string()).increment(1);
                tracing::error!(line = %self.line, error = %e, records = n, "commit failed; records stay in the PLCs");
                if e.missing_master_data {
                    self.restore_master_data().await;
                }
                self.keep_unsent(batch);
                return Ok(None);
            }
        };
        tracing::debug!(line = %self.line, inserted = receipt.inserted, duplicates = receipt.duplicates, "committed");
        metrics::counter!(telemetry::RECORDS, "line" => self.line.to_string()).increment(receipt.inserted as u64);
        metrics::counter!(telemetry::DUPLICATES, "line" => self.line.to_string()).increment(receipt.duplicates as u64);
        {
            let mut h = self.health.lock();
            h.last_store_error = None;
            for t in &taken {
                let s = &mut h.stations[t.station];
                // A re-delivery (after a lost acknowledgement) was stored before: not new output.
                if receipt.duplicate_keys.contains(&t.record.key()) {
                    s.duplicates += 1;
                    continue;
                }
                s.pass += u64::from(t.record.verdict == crate::domain::record::Verdict::Pass);
                s.fail += u64::from(t.record.verdict == crate::domain::record::Verdict::Fail);
                s.records += 1;
            }
        }
        let packed: Vec<(StationId, crate::domain::SerialNumber)> = taken
            .iter()
            .filter(|t| {
                self.maps[t.station].profile.kind == "pack" && t.record.verdict == crate::domain::record::Verdict::Pass
            })
            .map(|t| (self.stations[t.station].code.clone(), t.record.serial.clone()))
            .collect();
        let mut link_lost = None;
        for t in taken {
            let run = &mut self.stations[t.station];
            let profile = &self.maps[t.station].profile;
            let writes = run.handshake.committed(t.record.epoch.0, t.record.seq.0 as u32, t.fingerprint);
            let tags: Vec<_> =
                writes.into_iter().filter_map(|(role, value)| profile.tags.get(&role).map(|t| (t, value))).collect();
            match self.driver.write(profile, &tags).await {
                Ok(()) => run.handshake.acknowledged(),
                Err(e) if e.needs_reconnect() => {
                    link_lost = Some(e);
                    break;
                }
                Err(e) => {
                    let code = run.code.clone();
                    self.note_station_error(t.station, &e);
                    tracing::warn!(line = %self.line, station = %code, error = %e, "acknowledgement refused");
                }
            }
        }
        // Checked once the PLCs have their acknowledgements: a trace per packed unit must not
        // hold up the stations.
        report_held_packed(self.ports.interlock.as_ref(), &self.health, &self.line, packed).await;
        if let Some(e) = link_lost {
            return Err(e);
        }
        Ok(Some(n))
    }

    /// Keeps what `batch` saw of states and counters for the next commit: the collector has
    /// moved on from those states (the next change closes the interval opened here), so
    /// losing them would leave an interval open for ever. Its records stay in the PLCs.
    fn keep_unsent(&mut self, batch: RecordBatch) {
        let RecordBatch { mut state_intervals, mut counter_samples, .. } = batch;
        let excess = (state_intervals.len() + counter_samples.len()).saturating_sub(MAX_UNSENT);
        if excess > 0 {
            // Counter samples are cumulative: the oldest go first; intervals only beyond that.
            let samples = excess.min(counter_samples.len());
            counter_samples.drain(..samples);
            state_intervals.drain(..(excess - samples).min(state_intervals.len()));
            tracing::warn!(line = %self.line, dropped = excess, "too many unsent states and counter samples; the oldest dropped");
        }
        self.unsent = RecordBatch { state_intervals, counter_samples, ..Default::default() };
    }

    /// The store lacks this line's master data (its database was replaced or restored from an
    /// older backup while the collector ran): forget every id it cached and register the line,
    /// its stations and product again from the profile, so the records waiting in the PLCs are
    /// committed on the next cycle instead of failing forever.
    async fn restore_master_data(&mut self) {
        tracing::error!(
            line = %self.line,
            "the store has lost this line's master data (was the database dropped or replaced?); registering the line again"
        );
        match self.ports.sink.register_plant(&super::plant_of(std::slice::from_ref(&self.profile))).await {
            Ok(()) => {
                self.health.lock().master_data_restored += 1;
                tracing::warn!(line = %self.line, "line, stations and product registered again");
            }
            Err(e) => {
                tracing::error!(line = %self.line, error = %e, "registering the line again failed; retrying next cycle")
            }
        }
    }

    /// One read of station `i`'s tags, timed and counted for `/metrics`.
    async fn timed_read(
        &mut self,
        i: usize,
        station: &plc_contract::profile::StationProfile,
        tags: &[&plc_contract::profile::Tag],
    ) -> Result<Vec<super::driver::TagResult>, StationFault> {
        let started = Instant::now();
        let read = self.driver.read(station, tags).await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let values = read.map_err(StationFault::from_driver)?;
        let unflushed = &mut self.stations[i].unflushed;
        *unflushed = (unflushed.0 + 1, unflushed.1.saturating_add(micros));
        Ok(values)
    }

    /// Polls station `i`: state interval and counter samples go into `batch`; a waiting record
    /// is read and returned.
    async fn poll_station(
        &mut self,
        i: usize,
        due: &Due,
        batch: &mut RecordBatch,
    ) -> Result<Option<Taken>, StationFault> {
        let maps = self.maps.clone();
        let map = &maps[i];
        // While draining, production has stopped: every class is read each poll, so the last
        // counter values are sampled before the collector ends.
        let (draining, counters) = (self.draining, &self.stations[i].counters);
        let due_mask = counters.iter().enumerate().fold(0u32, |mask, (k, counter)| {
            let due_now = draining || counter.class.is_some_and(|c| due.serves(c));
            if due_now && k < 32 { mask | 1 << k } else { mask }
        });
        let counters = || {
            let all = map.counter_tags().iter().enumerate();
            all.filter(move |(k, _)| *k < 32 && due_mask & 1 << k != 0)
        };
        let mut tags: Vec<&plc_contract::profile::Tag> =
            Vec::with_capacity(map.status_tags().len() + map.counter_tags().len());
        tags.extend(map.status_tags());
        tags.extend(counters().map(|(_, (_, t, _))| t));
        let values = self.timed_read(i, &map.profile, &tags).await?;
        let read_at = Utc::now();
        let values = Values::new(tags, values);
        let status = map.status(&values);
        tracing::trace!(line = %self.line, station = %map.profile.code, ?status, "polled");
        if self.lease_epoch.is_some() && self.stations[i].handshake.acknowledged_elsewhere(&status.handshake) {
            let ack = status.handshake.ack.unwrap_or_default();
            self.note_acknowledged_elsewhere(i, format!("record_ack shows {ack}, which this process did not write"));
        }
        let run = &mut self.stations[i];
        let states = &self.states;
        let state = status.state.and_then(|c| states.iter().find(|(code, _)| *code == c)).and_then(|(_, s)| *s);
        run.seen = Some((read_at, state, status.fault));
        record_state(&self.line, run, &self.profile, &status, read_at, batch);
        for (k, (role, tag, width)) in counters() {
            let (role, width) = (*role, *width);
            let raw = match values.get(tag) {
                Some(Ok(plc_contract::codec::TagValue::Int(v))) => u32::try_from(*v).ok(),
                _ => None,
            };
            let (Some(raw), Some(kind)) = (raw, counter_kind(role)) else { continue };
            let epoch = status.handshake.epoch;
            let Some(counter) = run.counters.get_mut(k) else { continue };
            if counter.last != Some((epoch, raw)) {
                counter.last = Some((epoch, raw));
                batch.counter_samples.push(CounterSample {
                    line: self.line.clone(),
                    station: run.code.clone(),
                    counter: kind,
                    epoch: PlcEpoch(epoch),
                    sampled_at: read_at,
                    raw,
                    width_bits: width,
                });
            }
        }
        if let Some((request, answered)) = status.validation
            && request != 0
            && request != answered
        {
            self.answer_validation(i, status.handshake.epoch, request).await?;
        }
        let run = &self.stations[i];
        if !run.handshake.pending(&status.handshake) {
            return Ok(None);
        }
        // A record waits: read it with the handshake tags, so key and content are one read.
        let tags = map.record_tags();
        let may_tear = !self.stations[i].handshake.numbered_by_mes() && !self.driver.reads_at_once(&map.profile, &tags);
        let values = self.timed_read(i, &map.profile, &tags).await?;
        let read_at = Utc::now();
        let values = Values::new(tags, values);
        let run = &self.stations[i];
        let status = map.status(&values);
        if !run.handshake.pending(&status.handshake) {
            return Ok(None);
        }
        if may_tear {
            self.check_record_held(i, map, status.handshake).await?;
        }
        let run = &self.stations[i];
        // The key of a flag record depends on its content; decode with a provisional key first.
        let provisional = map.key(&self.line, &run.code, status.handshake.epoch, 0);
        let (record, note) = map
            .record(&values, provisional, read_at)
            .map_err(|e| StationFault::Station { error: e.to_string(), waiting: true })?;
        if let Some(note) = note {
            // Stored all the same: a wrong PLC clock must not hold up the station.
            tracing::warn!(line = %self.line, station = %run.code, %note, "record time");
            self.note_station_error(i, &note);
        }
        let run = &self.stations[i];
        let fp = fingerprint(&record);
        let (epoch, seq) = run.handshake.key(&status.handshake, &fp);
        let key = map.key(&self.line, &run.code, epoch, seq);
        let product = record.product.clone().or_else(|| self.product.clone());
        let record = UnitRecord { epoch: key.epoch, seq: key.seq, product, ..record };
        Ok(Some(Taken { station: i, record, fingerprint: fp }))
    }
}

impl<D: Driver> Collector<D> {
    /// Another process acknowledges station `i`'s records (`what` showed it): said once in the
    /// log and kept in the line's health, where the line's supervisor finds it.
    fn note_acknowledged_elsewhere(&self, i: usize, what: String) {
        let mut h = self.health.lock();
        if h.acknowledged_elsewhere.is_none() {
            let station = &self.stations[i].code;
            tracing::warn!(line = %self.line, station = %station, %what, "another process acknowledges this line's records");
            h.acknowledged_elsewhere = Some(format!("{station}: {what}"));
        }
    }

    /// After a record of sequence station `i` was read in several requests: whether the PLC
    /// still presents it (`seen`'s epoch and sequence, not yet acknowledged). Only this process
    /// acknowledges a station's records in normal running, but while a standby holds a line
    /// whose former holder is cut off from the database both do; a record acknowledged while it
    /// was read holds fields of the next one (or none), and is read again.
    async fn check_record_held(
        &mut self,
        i: usize,
        map: &super::station::StationMap,
        seen: super::handshake::HandshakeView,
    ) -> Result<(), StationFault> {
        let tags: Vec<&plc_contract::profile::Tag> = map.status_tags().collect();
        let values = self.timed_read(i, &map.profile, &tags).await?;
        let now = map.status(&Values::new(tags, values)).handshake;
        let (epoch, seq) = (now.epoch, now.seq);
        // Once acknowledged with nothing after it, the PLC shows the same number as acknowledged.
        if epoch == seen.epoch && seq == seen.seq && self.stations[i].handshake.pending(&now) {
            return Ok(());
        }
        let what = format!(
            "record {}/{} was acknowledged while it was read (the PLC shows {epoch}/{}, acknowledged {})",
            seen.epoch,
            seen.seq.unwrap_or_default(),
            seq.unwrap_or_default(),
            now.ack.unwrap_or_default()
        );
        // A new epoch is the PLC restarting, not another master.
        if self.lease_epoch.is_some() && epoch == seen.epoch {
            self.note_acknowledged_elsewhere(i, what.clone());
        }
        Err(StationFault::Station {
            error: format!("{what}: is another process acknowledging this station's records? It is read again"),
            waiting: true,
        })
    }

    /// Answers station `i`'s validation request `request`: reads the serial, judges it from the
    /// store (`domain::validation`), records the answer, then writes verdict and reason before
    /// the answer number (the PLC acts when the number matches its request).
    async fn answer_validation(&mut self, i: usize, epoch: u32, request: u32) -> Result<(), StationFault> {
        let maps = self.maps.clone();
        let map = &maps[i];
        let Some(v) = &map.profile.validation else { return Ok(()) };
        let values =
            self.driver.read(&map.profile, &[&v.serial, &v.request_seq]).await.map_err(StationFault::from_driver)?;
        let serial = match values.first() {
            Some(Ok(plc_contract::codec::TagValue::Text(t))) => t.clone(),
            other => {
                return Err(StationFault::Station {
                    error: format!("validation serial unreadable: {other:?}"),
                    waiting: true,
                });
            }
        };
        if !matches!(values.get(1), Some(Ok(plc_contract::codec::TagValue::Int(r))) if *r == i64::from(request)) {
            return Ok(()); // the PLC moved on meanwhile; the next poll sees its new request
        }
        let run = &mut self.stations[i];
        let first_seen = match run.asked {
            Some((e, r, _, true)) if (e, r) == (epoch, request) => return Ok(()), // given up, recorded
            Some((e, r, t, false)) if (e, r) == (epoch, request) => t,
            _ => {
                let now = Instant::now();
                run.asked = Some((epoch, request, now, false));
                now
            }
        };
        // Past the station's timeout a station that lets units pass has done so: the unit is not
        // judged any more (an answer now would describe nothing that happened) but recorded as
        // unanswered, so it stays flagged. A blocking station waits for the answer.
        if v.fallback == plc_contract::profile::Fallback::AllowAndFlag && first_seen.elapsed() >= v.timeout {
            record_answer(&*self.ports.interlock, &self.answer(i, epoch, request, &serial, None, true)).await?;
            self.stations[i].asked = Some((epoch, request, first_seen, true));
            tracing::warn!(
                line = %self.line,
                station = %self.stations[i].code,
                serial = %serial,
                request,
                "validation unanswered in time: the station let the unit pass by its fallback; recorded as unanswered"
            );
            return Ok(());
        }
        let history = match crate::domain::SerialNumber::parse(serial.clone()) {
            Ok(s) => self
                .ports
                .interlock
                .unit_history(&s)
                .await
                .map_err(|e| StationFault::Station { error: e.to_string(), waiting: true })?,
            Err(_) => None,
        };
        let denied = crate::domain::validation::validate(history.as_ref(), &self.line, &self.stations[i].code);
        record_answer(&*self.ports.interlock, &self.answer(i, epoch, request, &serial, denied, false)).await?;
        let verdict = if denied.is_some() { 2 } else { 1 };
        let writes = [
            (&v.verdict, plc_contract::codec::TagValue::Int(verdict)),
            (&v.reason, plc_contract::codec::TagValue::Int(i64::from(denied.map_or(0, |d| d.code())))),
            (&v.answer_seq, plc_contract::codec::TagValue::Int(i64::from(request))),
        ];
        self.driver.write(&map.profile, &writes).await.map_err(StationFault::from_driver)?;
        tracing::info!(
            line = %self.line,
            station = %self.stations[i].code,
            serial = %serial,
            request,
            verdict = if denied.is_some() { "deny" } else { "allow" },
            reason = denied.map_or("", |d| d.as_str()),
            "validation answered"
        );
        Ok(())
    }

    /// The answer to station `i`'s request: `denied`, or given up as `unanswered`.
    fn answer(
        &self,
        i: usize,
        epoch: u32,
        request: u32,
        serial: &str,
        denied: Option<crate::domain::validation::DenyReason>,
        unanswered: bool,
    ) -> crate::domain::validation::ValidationAnswer {
        crate::domain::validation::ValidationAnswer {
            line: self.line.clone(),
            station: self.stations[i].code.clone(),
            epoch,
            request_seq: request,
            serial: serial.to_owned(),
            denied,
            unanswered,
            answered_at: Utc::now(),
        }
    }
}

/// Records an answer before anything is written to the PLC; a failure leaves the station
/// waiting (the next poll asks again).
async fn record_answer(
    interlock: &dyn super::sink::Interlock,
    answer: &crate::domain::validation::ValidationAnswer,
) -> Result<(), StationFault> {
    interlock.record_answer(answer).await.map_err(|e| StationFault::Station { error: e.to_string(), waiting: true })
}

/// A unit on hold (itself or through anything in it) that passed a pack station is reported:
/// logged as a warning and kept in the line's health for the dashboard.
async fn report_held_packed(
    interlock: &dyn super::sink::Interlock,
    health: &SharedHealth,
    line: &LineId,
    packed: Vec<(StationId, crate::domain::SerialNumber)>,
) {
    for (station, serial) in packed {
        match interlock.unit_history(&serial).await {
            Ok(Some(h)) if h.on_hold => {
                let mut health = health.lock();
                // A record read again after a lost acknowledgement is the same packing.
                if health.held_packed.iter().any(|s| s == serial.as_str()) {
                    continue;
                }
                tracing::warn!(line = %line, station = %station, serial = %serial, "a unit on hold was packed");
                health.held_packed.push(serial.to_string());
                let excess = health.held_packed.len().saturating_sub(100);
                health.held_packed.drain(..excess);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(line = %line, error = %e, "could not check holds at pack"),
        }
    }
}

/// Result of one cycle.
struct Cycle {
    /// Records committed.
    taken: usize,
    /// Whether any station still had (or has) a record waiting.
    waiting: bool,
}

/// A station-level failure: a broken link (reconnect) or a problem of this station only.
enum StationFault {
    Link(DriverError),
    Station { error: String, waiting: bool },
}

impl StationFault {
    fn from_driver(e: DriverError) -> Self {
        if e.needs_reconnect() {
            StationFault::Link(e)
        } else {
            // A station that could not be read may hold a record: a drain must not end on it.
            StationFault::Station { error: e.to_string(), waiting: true }
        }
    }
}

fn counter_kind(role: Role) -> Option<CounterKind> {
    match role {
        Role::CountIn => Some(CounterKind::In),
        Role::CountGood => Some(CounterKind::Good),
        Role::CountReject => Some(CounterKind::Reject),
        _ => None,
    }
}

/// A changed state word closes the open interval and opens the next (both in `batch`).
fn record_state(
    line: &LineId,
    run: &mut StationRun,
    profile: &Profile,
    status: &Status,
    at: DateTime<Utc>,
    batch: &mut RecordBatch,
) {
    let Some(code) = status.state else { return };
    if run.state.is_some_and(|(c, f, _)| (c, f) == (code, status.fault)) {
        return;
    }
    let interval = |plc_code: u16, fault: u16, since: DateTime<Utc>, until: Option<DateTime<Utc>>| {
        let state = profile.states.get(&plc_code).and_then(|n| MachineState::parse(n)).unwrap_or(MachineState::Off);
        StateInterval {
            line: line.clone(),
            station: run.code.clone(),
            started_at: since,
            ended_at: until,
            plc_code,
            state,
            fault_code: (fault != 0).then_some(fault),
            reason: if profile.states.contains_key(&plc_code) {
                profile.fault_reasons.get(&fault).cloned()
            } else {
                Some(format!("unmapped PLC state code {plc_code}"))
            },
        }
    };
    if let Some((c, f, since)) = run.state {
        batch.state_intervals.push(interval(c, f, since, Some(at)));
    }
    batch.state_intervals.push(interval(code, status.fault, at, None));
    run.state = Some((code, status.fault, at));
}
