//! Store-and-forward for a collector host: while the central database cannot be reached, what
//! the collectors take is committed to a local outbox (a SQLite file in the data folder,
//! `synchronous = FULL`) and acknowledged to the PLCs on the strength of that commit; once the
//! database answers again a forwarder sends the outbox on in order — many batches per
//! transaction, idempotently, so a forward cut short by a crash is sent again harmlessly — and
//! deletes only what the database confirmed.
//!
//! [`StoreAndForward`] is the collectors' sink: the central [`Store`] while it answers and the
//! outbox is empty, the outbox from the first unreachable commit until everything in it has
//! been forwarded (so a line's batches reach the database in the order they were taken). The
//! outbox is bounded: when full it refuses, the collectors stop acknowledging and the PLCs
//! keep their records (then block), an alarm is raised, and nothing is dropped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::acquisition::sink::{BufferStatus, Interlock, RecordSink, SharedBuffer, SinkError};
use crate::domain::ids::{LineId, SerialNumber, StationId};
use crate::domain::plant::PlantModel;
use crate::domain::record::{CommitReceipt, RecordBatch, UnitRecord};
use crate::domain::validation::{UnitHistory, ValidationAnswer};

/// The outbox's file name in the data folder.
pub const OUTBOX_FILE: &str = "outbox.sqlite";

/// How long a direct commit may go unanswered before the database counts as away and the
/// batch is kept in the outbox instead (a stalled link, not only a refused one).
const DIRECT_LIMIT: Duration = Duration::from_secs(10);

/// Entries forwarded per round (consecutive batches among them share one transaction).
const FORWARD_CHUNK: usize = 100;

/// The longest pause between forwarding attempts while the database stays away.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Refusals in a row after which an entry is set aside in the quarantine: the database
/// answered each time, with an error no retry mends (a row it rejects), and the entries behind
/// it must not wait for ever.
const QUARANTINE_AFTER: u32 = 3;

/// One thing kept for the central database, in the order it happened.
#[derive(Debug, Serialize, Deserialize)]
enum Entry {
    /// A collector's batch.
    Batch(RecordBatch),
    /// A line's open state intervals ended (its collector stopped or resumed).
    Close {
        /// The line.
        line: LineId,
        /// When.
        at: DateTime<Utc>,
        /// Why.
        why: String,
    },
    /// A validation answer given.
    Answer(ValidationAnswer),
}

impl Entry {
    /// The line the entry is counted under (an empty batch, never kept in practice: none).
    fn line(&self) -> &str {
        match self {
            Entry::Batch(b) => b
                .records
                .first()
                .map(|r| &r.line)
                .or_else(|| b.state_intervals.first().map(|i| &i.line))
                .or_else(|| b.counter_samples.first().map(|s| &s.line))
                .map_or("", LineId::as_str),
            Entry::Close { line, .. } => line.as_str(),
            Entry::Answer(a) => a.line.as_str(),
        }
    }

    fn records(&self) -> u64 {
        match self {
            Entry::Batch(b) => b.records.len() as u64,
            _ => 0,
        }
    }
}

/// An entry set aside in the outbox's quarantine, as `mes outbox` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// Its place in the outbox (it goes back there if sent again).
    pub id: i64,
    /// The line it was taken from.
    pub line: String,
    /// When it was kept (RFC 3339).
    pub queued_at: String,
    /// When it was set aside (RFC 3339).
    pub quarantined_at: String,
    /// Unit records in it.
    pub records: u64,
    /// What the central database answered, the last time.
    pub error: String,
}

/// An entry leaving the backlog, as the counts see it.
struct Gone {
    line: String,
    records: u64,
    bytes: u64,
}

/// A kept entry read back for forwarding.
struct Kept {
    id: i64,
    entry: Entry,
    bytes: u64,
}

/// The local outbox file.
pub struct Outbox {
    conn: Arc<Mutex<Connection>>,
    status: SharedBuffer,
}

impl Outbox {
    /// Opens (creating) the outbox at `path`, holding at most `capacity_bytes` of entries, and
    /// reads what an earlier run left in it.
    pub fn open(path: &Path, capacity_bytes: u64) -> Result<Self, StoreError> {
        let failed = |operation| move |source| StoreError::Sqlite { operation, source };
        let conn = Connection::open(path).map_err(failed("opening the outbox"))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(failed("opening the outbox"))?;
        // Every kept batch is on disk before its records are acknowledged to a PLC.
        conn.pragma_update(None, "synchronous", "FULL").map_err(failed("opening the outbox"))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                line TEXT NOT NULL,
                queued_at TEXT NOT NULL,
                records INTEGER NOT NULL,
                entry TEXT NOT NULL
            )",
        )
        .map_err(failed("creating the outbox table"))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS quarantine (
                id INTEGER PRIMARY KEY,
                line TEXT NOT NULL,
                queued_at TEXT NOT NULL,
                quarantined_at TEXT NOT NULL,
                records INTEGER NOT NULL,
                error TEXT NOT NULL,
                entry TEXT NOT NULL
            )",
        )
        .map_err(failed("creating the outbox's quarantine"))?;
        let mut status = BufferStatus { capacity_bytes, ..Default::default() };
        count_from_file(&conn, &mut status).map_err(failed("reading the outbox"))?;
        if status.quarantined_entries > 0 {
            tracing::error!(
                entries = status.quarantined_entries,
                records = status.quarantined_records,
                "the outbox's quarantine holds entries the central database refused; read them with `mes outbox`"
            );
        }
        if status.backlog_entries > 0 {
            tracing::warn!(
                entries = status.backlog_entries,
                records = status.backlog_records,
                "the outbox holds what an earlier run kept while the database was away; forwarding it"
            );
        }
        let outbox = Self { conn: Arc::new(Mutex::new(conn)), status: Arc::new(Mutex::new(status)) };
        outbox.publish();
        Ok(outbox)
    }

    /// The outbox's status, shared.
    pub fn status(&self) -> SharedBuffer {
        self.status.clone()
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, BufferStatus> {
        self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether nothing waits to be forwarded.
    fn is_empty(&self) -> bool {
        self.lock_status().backlog_entries == 0
    }

    /// Runs `work` on the outbox connection off the async threads.
    async fn with_conn<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Corrupt { table: "outbox", column: operation, value: e.to_string() })?
        .map_err(|source| StoreError::Sqlite { operation, source })
    }

    /// Keeps `entry` durably, or refuses when the outbox would exceed its capacity.
    async fn keep(&self, entry: &Entry) -> Result<(), StoreError> {
        let text = serde_json::to_string(entry).map_err(|e| StoreError::Corrupt {
            table: "outbox",
            column: "entry",
            value: e.to_string(),
        })?;
        let bytes = text.len() as u64;
        let (line, records) = (entry.line().to_owned(), entry.records());
        {
            let mut s = self.lock_status();
            // Once full it stays refusing until forwarding made room: small batches slipping
            // in would keep the alarm blinking and starve the stations with larger records.
            if s.full || s.bytes + bytes > s.capacity_bytes {
                if !s.full {
                    metrics::counter!(crate::telemetry::OUTBOX_REFUSED).increment(1);
                    tracing::error!(
                        capacity_bytes = s.capacity_bytes,
                        backlog_records = s.backlog_records,
                        "the outbox is full: records are no longer acknowledged and stay in the PLCs"
                    );
                }
                s.full = true;
                drop(s);
                self.publish();
                return Err(StoreError::OutboxFull { capacity_bytes: self.lock_status().capacity_bytes });
            }
        }
        let queued_at = Utc::now();
        let row_line = line.clone();
        self.with_conn("keeping a batch in the outbox", move |c| {
            c.execute(
                "INSERT INTO outbox (line, queued_at, records, entry) VALUES (?1, ?2, ?3, ?4)",
                params![row_line, queued_at.to_rfc3339(), records as i64, text],
            )
            .map(|_| ())
        })
        .await?;
        {
            let mut s = self.lock_status();
            s.backlog_entries += 1;
            s.backlog_records += records;
            s.bytes += bytes;
            *s.backlog_by_line.entry(line).or_default() += records;
            s.oldest_queued_at.get_or_insert(queued_at);
        }
        self.publish();
        Ok(())
    }

    /// Keeps `batch` for the central database (what a collector's commit does while it is
    /// away), or refuses when full.
    pub async fn keep_batch(&self, batch: &RecordBatch) -> Result<(), StoreError> {
        self.keep(&Entry::Batch(batch.clone())).await
    }

    /// The oldest `limit` entries, in order, up to one that does not read back; that one, once
    /// it is the oldest, is set aside in the quarantine at once (it can never be forwarded, and
    /// what follows must not wait for it).
    async fn first(&self, limit: usize) -> Result<Vec<Kept>, StoreError> {
        loop {
            let rows = self
                .with_conn("reading the outbox", move |c| {
                    let mut stmt = c.prepare("SELECT id, entry FROM outbox ORDER BY id LIMIT ?1")?;
                    let rows = stmt.query_map([limit as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
                    rows.collect::<Result<Vec<_>, _>>()
                })
                .await?;
            let mut kept = Vec::with_capacity(rows.len());
            let mut unreadable = None;
            for (id, text) in rows {
                match serde_json::from_str(&text) {
                    Ok(entry) => kept.push(Kept { id, entry, bytes: text.len() as u64 }),
                    Err(e) => {
                        unreadable = Some((id, e));
                        break;
                    }
                }
            }
            match unreadable {
                Some((id, e)) if kept.is_empty() => {
                    self.quarantine(id, format!("the entry does not read back: {e}")).await?;
                }
                _ => return Ok(kept),
            }
        }
    }

    /// Moves `kept` from the outbox into its quarantine with the `error` the database gave, in
    /// one transaction: set aside, never dropped.
    async fn quarantine(&self, id: i64, why: String) -> Result<(), StoreError> {
        let at = Utc::now().to_rfc3339();
        let error = why.clone();
        let (gone, oldest) = self
            .with_conn("setting an entry aside in the outbox's quarantine", move |c| {
                let tx = c.transaction()?;
                let gone =
                    tx.query_row("SELECT line, records, length(entry) FROM outbox WHERE id = ?1", [id], |r| {
                        Ok(Gone {
                            line: r.get(0)?,
                            records: r.get::<_, i64>(1)? as u64,
                            bytes: r.get::<_, i64>(2)? as u64,
                        })
                    })?;
                tx.execute(
                    "INSERT INTO quarantine (id, line, queued_at, quarantined_at, records, error, entry) \
                     SELECT id, line, queued_at, ?2, records, ?3, entry FROM outbox WHERE id = ?1",
                    params![id, at, error],
                )?;
                tx.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
                let oldest = oldest(&tx)?;
                tx.commit()?;
                Ok((gone, oldest))
            })
            .await?;
        metrics::counter!(crate::telemetry::OUTBOX_QUARANTINED).increment(1);
        tracing::error!(
            entry = id,
            line = gone.line,
            records = gone.records,
            error = why,
            "an outbox entry cannot be forwarded: set aside in the quarantine, the rest goes on"
        );
        let records = gone.records;
        self.left(&[gone], oldest, |s| {
            s.quarantined_entries += 1;
            s.quarantined_records += records;
        });
        Ok(())
    }

    /// Counts again from the file when it holds entries the counts do not know: ones put back
    /// from the quarantine by `mes outbox --retry` in another process. Whether it did.
    async fn recount_if_changed(&self) -> Result<bool, StoreError> {
        let (known_backlog, known_quarantine) = {
            let s = self.lock_status();
            (s.backlog_entries, s.quarantined_entries)
        };
        let counted = self
            .with_conn("reading the outbox", move |c| {
                let (backlog, quarantine): (i64, i64) =
                    c.query_row("SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM quarantine)", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                if backlog as u64 == known_backlog && quarantine as u64 == known_quarantine {
                    return Ok(None);
                }
                let mut fresh = BufferStatus::default();
                count_from_file(c, &mut fresh)?;
                Ok(Some(fresh))
            })
            .await?;
        let Some(fresh) = counted else { return Ok(false) };
        tracing::warn!(
            entries = fresh.backlog_entries,
            quarantined = fresh.quarantined_entries,
            "the outbox file changed under this process (entries sent again from the quarantine): counted again"
        );
        self.take_counts(fresh);
        Ok(true)
    }

    /// Takes the backlog and quarantine counts of `counted` (from [`count_from_file`]), keeping
    /// what only this process knows (capacity, full, forwarding, the database's error).
    fn take_counts(&self, counted: BufferStatus) {
        {
            let mut s = self.lock_status();
            s.backlog_entries = counted.backlog_entries;
            s.backlog_records = counted.backlog_records;
            s.bytes = counted.bytes;
            s.backlog_by_line = counted.backlog_by_line;
            s.oldest_queued_at = counted.oldest_queued_at;
            s.quarantined_entries = counted.quarantined_entries;
            s.quarantined_records = counted.quarantined_records;
        }
        self.publish();
    }

    /// What the quarantine holds, oldest first.
    pub async fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        self.with_conn("reading the outbox's quarantine", |c| {
            let mut stmt =
                c.prepare("SELECT id, line, queued_at, quarantined_at, records, error FROM quarantine ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(Quarantined {
                    id: r.get(0)?,
                    line: r.get(1)?,
                    queued_at: r.get(2)?,
                    quarantined_at: r.get(3)?,
                    records: r.get::<_, i64>(4)? as u64,
                    error: r.get(5)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// Puts quarantined entries (`ids`, or all) back into the outbox at their old places, to be
    /// forwarded again once the cause is mended: by a running collector host at its next round
    /// (it counts the file again when it holds what it did not keep), else at the next start.
    /// How many.
    pub async fn requeue(&self, ids: Option<Vec<i64>>) -> Result<usize, StoreError> {
        let moved = self
            .with_conn("putting quarantined entries back into the outbox", move |c| {
                let tx = c.transaction()?;
                let chosen: Vec<i64> = match ids {
                    Some(ids) => ids,
                    None => {
                        let mut stmt = tx.prepare("SELECT id FROM quarantine ORDER BY id")?;
                        stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
                    }
                };
                let mut moved = 0;
                for id in chosen {
                    let n = tx.execute(
                        "INSERT INTO outbox (id, line, queued_at, records, entry) \
                         SELECT id, line, queued_at, records, entry FROM quarantine WHERE id = ?1",
                        [id],
                    )?;
                    if n == 1 {
                        tx.execute("DELETE FROM quarantine WHERE id = ?1", [id])?;
                        moved += 1;
                    }
                }
                let mut counts = BufferStatus::default();
                count_from_file(&tx, &mut counts)?;
                tx.commit()?;
                Ok((moved, counts))
            })
            .await?;
        let (moved, counts) = moved;
        self.take_counts(counts);
        Ok(moved)
    }

    /// Deletes `kept` (the database confirmed them).
    async fn forget(&self, kept: &[Kept]) -> Result<(), StoreError> {
        let Some(last) = kept.last().map(|k| k.id) else { return Ok(()) };
        let first = kept.first().map_or(last, |k| k.id);
        let oldest = self
            .with_conn("deleting forwarded entries from the outbox", move |c| {
                c.execute("DELETE FROM outbox WHERE id BETWEEN ?1 AND ?2", [first, last])?;
                oldest(c)
            })
            .await?;
        let records: u64 = kept.iter().map(|k| k.entry.records()).sum();
        let gone: Vec<Gone> = kept
            .iter()
            .map(|k| Gone { line: k.entry.line().to_owned(), records: k.entry.records(), bytes: k.bytes })
            .collect();
        self.left(&gone, oldest, |s| s.forwarded_records += records);
        Ok(())
    }

    /// Counts `gone` out of the backlog (forwarded or set aside, as `how` notes), `oldest` now
    /// the oldest entry's time.
    fn left(&self, gone: &[Gone], oldest: Option<DateTime<Utc>>, how: impl FnOnce(&mut BufferStatus)) {
        {
            let mut s = self.lock_status();
            for g in gone {
                s.backlog_entries = s.backlog_entries.saturating_sub(1);
                s.backlog_records = s.backlog_records.saturating_sub(g.records);
                s.bytes = s.bytes.saturating_sub(g.bytes);
                if let Some(n) = s.backlog_by_line.get_mut(&g.line) {
                    *n = n.saturating_sub(g.records);
                }
            }
            how(&mut s);
            s.backlog_by_line.retain(|_, n| *n > 0);
            s.oldest_queued_at = oldest;
            if s.full && s.bytes < s.capacity_bytes / 2 {
                s.full = false;
                tracing::info!("the outbox has room again: records are acknowledged again");
            }
        }
        self.publish();
    }

    /// Sets the outbox gauges of `/metrics` from its status.
    fn publish(&self) {
        use crate::telemetry as t;
        let s = self.lock_status().clone();
        metrics::gauge!(t::OUTBOX_RECORDS).set(s.backlog_records as f64);
        metrics::gauge!(t::OUTBOX_BYTES).set(s.bytes as f64);
        metrics::gauge!(t::OUTBOX_CAPACITY_BYTES).set(s.capacity_bytes as f64);
        metrics::gauge!(t::OUTBOX_FULL).set(if s.full { 1.0 } else { 0.0 });
        let age = s.oldest_queued_at.map_or(0.0, |at| (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!(t::OUTBOX_OLDEST_SECONDS).set(age);
        metrics::gauge!(t::OUTBOX_FORWARD_RATE).set(s.forward_rate);
        metrics::gauge!(t::DATABASE_AWAY).set(if s.database_error.is_some() { 1.0 } else { 0.0 });
        metrics::gauge!(t::OUTBOX_QUARANTINED_RECORDS).set(s.quarantined_records as f64);
    }
}

/// `write`, or [`StoreError::NoAnswer`] once it took [`DIRECT_LIMIT`].
async fn within<T>(write: impl std::future::Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(DIRECT_LIMIT, write).await.unwrap_or(Err(StoreError::NoAnswer { after: DIRECT_LIMIT }))
}

/// Sets `status`'s backlog and quarantine counts from what the file holds.
fn count_from_file(c: &Connection, status: &mut BufferStatus) -> Result<(), rusqlite::Error> {
    (status.quarantined_entries, status.quarantined_records) =
        c.query_row("SELECT count(*), coalesce(sum(records), 0) FROM quarantine", [], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })?;
    (status.backlog_entries, status.backlog_records, status.bytes) = (0, 0, 0);
    status.backlog_by_line.clear();
    let mut rows = c.prepare("SELECT line, count(*), sum(records), sum(length(entry)) FROM outbox GROUP BY line")?;
    let rows = rows.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
    })?;
    for row in rows {
        let (line, entries, records, bytes) = row?;
        status.backlog_entries += entries as u64;
        status.backlog_records += records as u64;
        status.bytes += bytes as u64;
        status.backlog_by_line.insert(line, records as u64);
    }
    status.oldest_queued_at = oldest(c)?;
    Ok(())
}

/// When the oldest entry was kept.
fn oldest(c: &Connection) -> Result<Option<DateTime<Utc>>, rusqlite::Error> {
    let at: Option<String> =
        c.query_row("SELECT queued_at FROM outbox ORDER BY id LIMIT 1", [], |r| r.get(0)).optional()?;
    Ok(at.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)))
}

/// The collectors' sink on a collector host: the central store, with the outbox while the
/// store is away (see the module documentation).
pub struct StoreAndForward {
    store: Arc<Store>,
    outbox: Outbox,
    /// The master data registered through this sink (by the lines it names), registered again
    /// when the database has lost it (it was replaced while the outbox waited).
    plants: Mutex<std::collections::BTreeMap<Vec<String>, PlantModel>>,
    /// One forwarding round at a time (the forwarder's, or a resuming collector's).
    forwarding: tokio::sync::Mutex<()>,
    /// Wakes the forwarder when something is kept.
    kept: tokio::sync::Notify,
    /// How often in a row the database refused each entry, by outbox id.
    refusals: Mutex<HashMap<i64, u32>>,
}

impl StoreAndForward {
    /// The sink over `store` with `outbox`.
    pub fn new(store: Arc<Store>, outbox: Outbox) -> Self {
        Self {
            store,
            outbox,
            plants: Mutex::default(),
            forwarding: tokio::sync::Mutex::new(()),
            kept: tokio::sync::Notify::new(),
            refusals: Mutex::default(),
        }
    }

    /// Forwards the outbox whenever it holds something and the database answers, until `stop`
    /// turns `true` (then one last round; what is left waits for the next start).
    pub async fn forward(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut pause = Duration::from_millis(250);
        loop {
            let stopping = *stop.borrow();
            match self.forward_round().await {
                Ok(0) if stopping => return,
                Ok(0) => {
                    pause = Duration::from_millis(250);
                    tokio::select! {
                        () = self.kept.notified() => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => {}
                    }
                }
                // Stopping: one round, not the whole backlog (the next start forwards the rest).
                Ok(_) if stopping => return,
                Ok(_) => pause = Duration::from_millis(250),
                Err(e) => {
                    if stopping {
                        tracing::warn!(error = %e, backlog = self.outbox.lock_status().backlog_records, "stopping with records still in the outbox; they are forwarded at the next start");
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                    pause = (pause * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Forwards up to [`FORWARD_CHUNK`] of the oldest entries; how many left the outbox
    /// (forwarded, or set aside in the quarantine).
    async fn forward_round(&self) -> Result<usize, StoreError> {
        let _one = self.forwarding.lock().await;
        if self.outbox.is_empty() && !self.outbox.recount_if_changed().await? {
            self.outbox.publish();
            return Ok(0);
        }
        let kept = self.outbox.first(FORWARD_CHUNK).await?;
        let started = Instant::now();
        let mut done = 0;
        let mut records = 0;
        while done < kept.len() {
            // Consecutive batches go in one transaction; a close or an answer on its own.
            let run = kept[done..].iter().take_while(|k| matches!(k.entry, Entry::Batch(_))).count().max(1);
            let group = &kept[done..done + run];
            if let Err(e) = self.forward_group(group).await {
                let e = match e.is_unavailable() || e.is_missing_master_data() || e.is_transient() {
                    true => e,
                    // The database answered and refused: find the entry, set it aside if it keeps refusing.
                    false => match self.forward_refused(group, e).await {
                        Ok(forwarded) => {
                            records += forwarded;
                            done += run;
                            continue;
                        }
                        Err(e) => e,
                    },
                };
                self.database_away(&e);
                if e.is_missing_master_data() {
                    self.register_again().await;
                }
                self.outbox.publish();
                return Err(e);
            }
            self.outbox.forget(group).await?;
            records += group.iter().map(|k| k.entry.records()).sum::<u64>();
            done += run;
        }
        let seconds = started.elapsed().as_secs_f64().max(1e-6);
        {
            let mut s = self.outbox.lock_status();
            s.forward_rate = records as f64 / seconds;
            if s.database_error.take().is_some() {
                tracing::info!("the central database answers again");
            }
        }
        metrics::counter!(crate::telemetry::OUTBOX_FORWARDED).increment(records);
        tracing::info!(
            entries = done,
            records,
            backlog = self.outbox.lock_status().backlog_records,
            "outbox forwarded"
        );
        self.outbox.publish();
        Ok(done)
    }

    /// Sends one group of kept entries to the database.
    async fn forward_group(&self, group: &[Kept]) -> Result<(), StoreError> {
        match &group[0].entry {
            Entry::Batch(_) => {
                let batches: Vec<&RecordBatch> = group
                    .iter()
                    .filter_map(|k| match &k.entry {
                        Entry::Batch(b) => Some(b),
                        _ => None,
                    })
                    .collect();
                within(async { self.store.commit_all(&batches).await.map(|_| ()) }).await
            }
            Entry::Close { line, at, why } => {
                within(async { self.store.close_open_intervals(line, *at, why).await.map(|_| ()) }).await
            }
            Entry::Answer(a) => within(self.store.record_validation(a)).await,
        }
    }

    /// A group the database refused (it answered, with an error): its entries one at a time,
    /// so those it takes go on; one it refuses [`QUARANTINE_AFTER`] times in a row is set aside
    /// in the quarantine, else its error stands (tried again after a pause). The unit records
    /// forwarded.
    async fn forward_refused(&self, group: &[Kept], error: StoreError) -> Result<u64, StoreError> {
        let mut forwarded = 0;
        // A group of one was refused as it is; a larger one is tried entry by entry.
        let mut known = Some(error).filter(|_| group.len() == 1);
        for k in group {
            let one = std::slice::from_ref(k);
            let outcome = match known.take() {
                Some(e) => Err(e),
                None => self.forward_group(one).await,
            };
            match outcome {
                Ok(()) => {
                    self.outbox.forget(one).await?;
                    self.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&k.id);
                    forwarded += k.entry.records();
                }
                Err(e) if e.is_unavailable() || e.is_missing_master_data() || e.is_transient() => return Err(e),
                Err(e) => {
                    let refusals = {
                        let mut all = self.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        let n = all.entry(k.id).or_default();
                        *n += 1;
                        *n
                    };
                    if refusals < QUARANTINE_AFTER {
                        return Err(e);
                    }
                    self.refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&k.id);
                    self.outbox.quarantine(k.id, format!("refused {refusals} times in a row: {e}")).await?;
                }
            }
        }
        Ok(forwarded)
    }

    /// Forwards everything kept (in rounds, as the forwarder does), or fails.
    pub async fn forward_all(&self) -> Result<(), StoreError> {
        while self.forward_round().await? > 0 {}
        Ok(())
    }

    /// Notes that the database is away (for pages and `/metrics`).
    fn database_away(&self, e: &StoreError) {
        let mut s = self.outbox.lock_status();
        if s.database_error.is_none() {
            tracing::error!(error = %e, "the central database cannot be written; collectors keep their records in the outbox");
        }
        s.database_error = Some(e.to_string());
    }

    /// Registers every plant registered through this sink again.
    async fn register_again(&self) {
        let plants = self.plants.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        self.store.forget_master_ids().await;
        for p in plants.values() {
            if let Err(e) = self.store.register_plant(p).await {
                tracing::error!(error = %e, "registering the lines again before forwarding failed");
            }
        }
    }

    /// Commits `write` to the database while the outbox is empty; keeps `entry` in the outbox
    /// when the outbox already holds something (order) or the database is away. `Ok(None)`:
    /// kept.
    async fn write_or_keep<T>(
        &self,
        write: impl std::future::Future<Output = Result<T, StoreError>>,
        entry: impl FnOnce() -> Entry,
    ) -> Result<Option<T>, StoreError> {
        if self.outbox.is_empty() {
            match within(write).await {
                Ok(done) => return Ok(Some(done)),
                Err(e) if !e.is_unavailable() => return Err(e),
                Err(e) => self.database_away(&e),
            }
        }
        self.outbox.keep(&entry()).await?;
        self.kept.notify_one();
        Ok(None)
    }
}

impl RecordSink for StoreAndForward {
    fn resume_positions<'a>(
        &'a self,
        line: &'a LineId,
    ) -> BoxFuture<'a, Result<HashMap<StationId, UnitRecord>, SinkError>> {
        Box::pin(async move {
            // The outbox holds the newest records: the central positions count only once they
            // are there (a ready-flag line numbers its records from them).
            self.forward_all().await?;
            RecordSink::resume_positions(self.store.as_ref(), line).await
        })
    }

    fn commit<'a>(&'a self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<CommitReceipt, SinkError>> {
        Box::pin(async move {
            // A record the database would refuse must not wait in the outbox forever.
            if let Some(r) = batch.records.iter().find(|r| !r.problems().is_empty()) {
                return Err(StoreError::InvalidRecord {
                    line: r.line.to_string(),
                    station: r.station.to_string(),
                    epoch: r.epoch.0,
                    seq: r.seq.0,
                    problems: r.problems(),
                }
                .into());
            }
            if batch.fence.as_ref().is_some_and(|f| f.numbered) {
                // Numbered by this process under the line's lease: stored centrally, where the
                // lease is checked, or not at all (then the PLC keeps it). Kept here, it could
                // meet a record another holder gave the same number.
                if !self.outbox.is_empty() {
                    return Err(StoreError::Forwarding { what: "a record numbered under the line's lease" }.into());
                }
                return Ok(within(self.store.commit(batch)).await?);
            }
            let done = self.write_or_keep(self.store.commit(batch), || Entry::Batch(batch.clone())).await?;
            Ok(done.unwrap_or_else(|| CommitReceipt { inserted: batch.records.len(), ..Default::default() }))
        })
    }

    fn close_open_intervals<'a>(
        &'a self,
        line: &'a LineId,
        at: DateTime<Utc>,
        why: &'a str,
    ) -> BoxFuture<'a, Result<u64, SinkError>> {
        Box::pin(async move {
            let entry = || Entry::Close { line: line.clone(), at, why: why.to_owned() };
            Ok(self.write_or_keep(self.store.close_open_intervals(line, at, why), entry).await?.unwrap_or(0))
        })
    }

    fn register_plant<'a>(&'a self, plant: &'a PlantModel) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let lines = plant.lines.iter().map(|l| l.id.to_string()).collect();
            self.plants.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(lines, plant.clone());
            RecordSink::register_plant(self.store.as_ref(), plant).await
        })
    }

    fn buffer(&self) -> Option<SharedBuffer> {
        Some(self.outbox.status())
    }
}

impl Interlock for StoreAndForward {
    fn unit_history<'a>(&'a self, serial: &'a SerialNumber) -> BoxFuture<'a, Result<Option<UnitHistory>, SinkError>> {
        Box::pin(async move {
            // The database does not know what waits in the outbox: judging by it could deny a
            // unit for a step it did pass. Unanswered, the station follows its fallback.
            if !self.outbox.is_empty() {
                return Err(StoreError::Forwarding { what: "judging a unit" }.into());
            }
            Interlock::unit_history(self.store.as_ref(), serial).await
        })
    }

    fn record_answer<'a>(&'a self, answer: &'a ValidationAnswer) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.write_or_keep(self.store.record_validation(answer), || Entry::Answer(answer.clone())).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::state::{MachineState, StateInterval};

    fn interval(line: &str, minute: u32) -> StateInterval {
        let at = DateTime::parse_from_rfc3339(&format!("2026-12-01T06:{minute:02}:00Z")).unwrap().with_timezone(&Utc);
        StateInterval {
            line: LineId::parse(line.to_owned()).unwrap(),
            station: StationId::parse("AOI".to_owned()).unwrap(),
            started_at: at,
            ended_at: None,
            plc_code: 2,
            state: MachineState::Running,
            fault_code: None,
            reason: None,
        }
    }

    fn batch(line: &str, minute: u32) -> Entry {
        Entry::Batch(RecordBatch { state_intervals: vec![interval(line, minute)], ..Default::default() })
    }

    #[tokio::test]
    async fn kept_entries_come_back_in_order_survive_a_reopen_and_leave_once_forwarded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(OUTBOX_FILE);
        let outbox = Outbox::open(&path, 1 << 20).unwrap();
        assert!(outbox.is_empty());
        for minute in 0..5 {
            outbox.keep(&batch(if minute % 2 == 0 { "smt-1" } else { "phone-1" }, minute)).await.unwrap();
        }
        let close =
            Entry::Close { line: LineId::parse("smt-1".to_owned()).unwrap(), at: Utc::now(), why: "test".into() };
        outbox.keep(&close).await.unwrap();
        drop(outbox);

        let outbox = Outbox::open(&path, 1 << 20).unwrap();
        let status = outbox.status().lock().unwrap().clone();
        assert_eq!(status.backlog_entries, 6);
        assert!(status.oldest_queued_at.is_some());
        let kept = outbox.first(3).await.unwrap();
        let minutes: Vec<u32> = kept
            .iter()
            .map(|k| match &k.entry {
                Entry::Batch(b) => chrono::Timelike::minute(&b.state_intervals[0].started_at),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(minutes, [0, 1, 2], "oldest first");
        outbox.forget(&kept).await.unwrap();
        let rest = outbox.first(10).await.unwrap();
        assert_eq!(rest.len(), 3);
        assert!(matches!(rest[2].entry, Entry::Close { .. }));
        outbox.forget(&rest).await.unwrap();
        let status = outbox.status().lock().unwrap().clone();
        assert_eq!((status.backlog_entries, status.bytes, status.oldest_queued_at), (0, 0, None));
        assert!(Outbox::open(&path, 1 << 20).unwrap().is_empty(), "forwarded entries are gone from the file");
    }

    #[tokio::test]
    async fn a_full_outbox_refuses_until_forwarding_made_room() {
        let dir = tempfile::tempdir().unwrap();
        let one = serde_json::to_string(&batch("smt-1", 0)).unwrap().len() as u64;
        let outbox = Outbox::open(&dir.path().join(OUTBOX_FILE), one * 4).unwrap();
        for minute in 0..4 {
            outbox.keep(&batch("smt-1", minute)).await.unwrap();
        }
        let refused = outbox.keep(&batch("smt-1", 4)).await;
        assert!(matches!(refused, Err(StoreError::OutboxFull { .. })), "{refused:?}");
        assert!(outbox.status().lock().unwrap().full);
        // Still full after one entry left: it refuses until half the room is free again.
        let kept = outbox.first(1).await.unwrap();
        outbox.forget(&kept).await.unwrap();
        assert!(outbox.keep(&batch("smt-1", 5)).await.is_err());
        let kept = outbox.first(2).await.unwrap();
        outbox.forget(&kept).await.unwrap();
        assert!(!outbox.status().lock().unwrap().full);
        outbox.keep(&batch("smt-1", 6)).await.unwrap();
        assert_eq!(outbox.status().lock().unwrap().backlog_entries, 2);
    }
}
