//! The investor audit ledger at work (SPEC §5): closing periods into signed entries,
//! checkpoints the operator hands to auditors, and verification that recomputes every closed
//! period from the raw records and checks every hash, signature and checkpoint.
//!
//! The rules (canonical bytes, the Merkle log, signed notes) are [`crate::domain::ledger`]'s;
//! the figures are [`crate::figures::period_figures`]'s, computed from the rows up to a close's
//! high-water marks with the master data the entry records, so a recomputation months later
//! gives the same bytes. Records that arrive after their period closed are not tampering: they
//! lie above the high-water mark, verification lists them as late, and the next close appends a
//! signed supplement for them.
//!
//! Must never: edit or remove an entry (a correction is a new entry), or report a clean
//! verification that did not check everything it was given.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::LineId;
use crate::domain::kpi::{Grain, buckets};
use crate::domain::ledger::{
    Checkpoint, Entry, EntryKind, HighWater, LedgerError, Log, NoteSigner, NoteVerifier, OpenInterval, Period,
    PeriodKind, SCHEMA, Source, StationDigest, canonical, hex, leaf_hash, sha256,
};
use crate::domain::shift::ShiftCalendar;
use crate::figures::{FiguresError, PeriodBasis};
use crate::store::{RecordHash, StationResultFilter, Store, StoreError, StoredCheckpoint, StoredEntry, StoredResult};

/// The key name and checkpoint origin of a plant's log unless `mes.toml` names another.
pub const DEFAULT_ORIGIN: &str = "mes.local/plant";

/// Why the ledger could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The figures could not be computed.
    #[error(transparent)]
    Figures(#[from] FiguresError),
    /// A ledger value is malformed or does not verify.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The key or checkpoint file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> AuditError {
    AuditError::File { path: path.to_owned(), message: e.to_string() }
}

/// Where the plant's signing key lives under a data folder (`<data-dir>/audit/ledger.key`).
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("audit").join("ledger.key")
}

/// The plant's signing key if this host has it: `MES_LEDGER_KEY` (a `PRIVATE+KEY+…` string)
/// if set, else the file at `path` if it exists. A web front on another host than the closer
/// has none, and says so, rather than making a key nobody verifies with.
pub fn existing_plant_key(path: &Path) -> Result<Option<NoteSigner>, AuditError> {
    if let Ok(text) = std::env::var("MES_LEDGER_KEY")
        && !text.trim().is_empty()
    {
        return Ok(Some(NoteSigner::parse(&text)?));
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(NoteSigner::parse(&text).map_err(|e| file_error(path, e))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file_error(path, e)),
    }
}

/// The plant's signing key: [`existing_plant_key`], else a fresh key named `origin`, written to
/// `path` (owner-only) on first use.
pub fn plant_key(path: &Path, origin: &str) -> Result<NoteSigner, AuditError> {
    if let Some(key) = existing_plant_key(path)? {
        return Ok(key);
    }
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let signer = NoteSigner::new(origin, seed)?;
    let text = format!(
        "PRIVATE+KEY+{}+{:08x}+{}\n",
        signer.name(),
        signer.key_id(),
        base64_of(&[&[0x01u8][..], &signer.seed()].concat())
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_error(path, e))?;
    }
    write_private(path, text.as_bytes()).map_err(|e| file_error(path, e))?;
    tracing::warn!(path = %path.display(), key = %signer.verifier().encode(), "made the plant's ledger key");
    Ok(signer)
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The notes of a checkpoint file, in order: signed notes one after the other (a note ends
/// with its signature lines, each starting with an em dash).
pub fn read_checkpoint_file(text: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let mut current = String::new();
    let mut in_signatures = false;
    for line in text.split_inclusive('\n') {
        let signature = line.starts_with('\u{2014}');
        if in_signatures && !signature {
            notes.push(std::mem::take(&mut current));
            in_signatures = false;
        }
        if line == "\n" && current.is_empty() {
            continue;
        }
        current.push_str(line);
        in_signatures |= signature;
    }
    if !current.trim().is_empty() {
        notes.push(current);
    }
    notes
}

/// How one station result is hashed for its period's digest: its canonical form with its id
/// and commit time.
/// The hash of a stored result as recorded. A unit's product is left out: it belongs to the unit
/// row, which a later record may fill in after the period closed (no station result stores it).
fn record_hash(r: &StoredResult) -> Result<[u8; 32], LedgerError> {
    let record = crate::domain::record::UnitRecord { product: None, ..r.record.clone() };
    Ok(sha256(&canonical(&serde_json::json!({ "id": r.id, "record": record, "recorded_at": r.recorded_at }))?))
}

fn record_key(r: &StoredResult) -> String {
    format!("{}/{} epoch {} seq {}", r.record.line, r.record.station, r.record.epoch.0, r.record.seq.0)
}

/// The results of `line` that ended in `[from, to)`, committed up to `max_id`, in id order.
async fn period_results(
    store: &Store,
    line: &LineId,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    max_id: i64,
) -> Result<Vec<StoredResult>, StoreError> {
    let filter = StationResultFilter {
        line: Some(line.clone()),
        from: Some(from),
        to: Some(to),
        max_id: Some(max_id),
        ..Default::default()
    };
    let mut out = Vec::new();
    // From the lowest id there can be: a row slipped in under the marks is found too.
    let mut after = i64::MIN;
    loop {
        let page = store.station_results(&filter, after, 5_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        out.extend(page);
    }
    Ok(out)
}

/// The source of a period's figures: per-station digests over each result's hash, and the
/// hashes themselves (for the record-hash table).
fn source_of(
    results: &[StoredResult],
    stations: &[String],
    rows: &crate::figures::PeriodRows,
    hw: HighWater,
    seq: u64,
) -> Result<(Source, Vec<RecordHash>), LedgerError> {
    let mut by_station: BTreeMap<&str, Vec<[u8; 32]>> = BTreeMap::new();
    let mut hashes = Vec::with_capacity(results.len());
    for r in results {
        let h = record_hash(r)?;
        by_station.entry(r.record.station.as_str()).or_default().push(h);
        hashes.push(RecordHash {
            result_id: r.id,
            entry_seq: seq,
            station: r.record.station.to_string(),
            record: record_key(r),
            hash: hex(&h),
        });
    }
    // Every station of the line, in route order, then any other a record names.
    let mut order: Vec<String> = stations.to_vec();
    for s in by_station.keys() {
        if !order.iter().any(|o| o == s) {
            order.push((*s).to_owned());
        }
    }
    let mut digests = Vec::new();
    let mut all = Vec::new();
    for station in order {
        let hs = by_station.get(station.as_str()).cloned().unwrap_or_default();
        let d = sha256(&hs.concat());
        all.extend_from_slice(&d);
        digests.push(StationDigest { station, results: hs.len() as u64, digest: hex(&d) });
    }
    Ok((
        Source {
            results: results.len() as u64,
            digest: hex(&sha256(&all)),
            stations: digests,
            inputs: hex(&sha256(&canonical(rows)?)),
            high_water: hw,
            open_intervals: rows
                .intervals
                .iter()
                .flatten()
                .filter(|i| i.ended_at.is_none())
                .map(|i| OpenInterval {
                    station: i.station.to_string(),
                    started_at: i.started_at,
                    lacked_reason: i.reason.is_none(),
                })
                .collect(),
        },
        hashes,
    ))
}

/// One entry a close appended.
#[derive(Debug, Clone, Serialize)]
pub struct Closed {
    /// Its sequence number.
    pub seq: u64,
    /// Period or supplement.
    pub kind: EntryKind,
    /// Line.
    pub line: String,
    /// The period's label.
    pub period: String,
    /// Results counted.
    pub results: u64,
    /// Units out of the last step.
    pub units_out: u64,
}

/// What to close.
#[derive(Debug, Clone)]
pub struct CloseRequest {
    /// Only this line (all by default).
    pub line: Option<LineId>,
    /// Shifts or days.
    pub period: PeriodKind,
    /// Close periods that ended by then.
    pub until: DateTime<Utc>,
    /// Who or what closes ("mes serve", a user).
    pub by: String,
}

/// The log as stored: its entries and their leaves.
struct Stored {
    entries: Vec<StoredEntry>,
    log: Log,
}

impl Stored {
    async fn load(store: &Store) -> Result<Self, StoreError> {
        let entries = store.ledger_entries().await?;
        let log = Log::new(entries.iter().map(|e| e.payload.clone().into_bytes()));
        Ok(Self { entries, log })
    }

    fn parsed(&self) -> Vec<Option<Entry>> {
        self.entries.iter().map(|e| Entry::from_bytes(e.payload.as_bytes()).ok()).collect()
    }
}

/// Closes every complete period not yet closed, per line, and appends a supplement for every
/// closed period that has records above its high-water mark. Each entry is appended with its
/// record hashes and a signed checkpoint of the log it ends, in one transaction; the checkpoint
/// is also appended to `checkpoint_file`.
pub async fn close(
    store: &Store,
    calendar: &ShiftCalendar,
    key: &NoteSigner,
    checkpoint_file: &Path,
    request: &CloseRequest,
) -> Result<Vec<Closed>, AuditError> {
    let mut closed = Vec::new();
    let hw = store.high_water().await?;
    let lines = store.lines().await?;
    let mut stored = Stored::load(store).await?;
    let mut parsed = stored.parsed();
    for line in lines.iter().filter(|l| request.line.as_ref().is_none_or(|w| *w == l.id)) {
        let Some(first) = first_result_at(store, &line.id).await? else { continue };
        let grain = match request.period {
            PeriodKind::Shift => Grain::Shift,
            PeriodKind::Day => Grain::Day,
        };
        let span_from = first - chrono::Duration::days(2);
        let span_to = request.until + chrono::Duration::days(2);
        let periods: Vec<Period> = buckets(calendar, span_from, span_to, grain)
            .into_iter()
            .filter(|b| b.end <= request.until && b.end > first)
            .map(|b| Period { kind: request.period, label: b.label, start: b.start, end: b.end })
            .collect();
        let stations: Vec<String> = line.stations.iter().map(|s| s.id.to_string()).collect();
        for period in periods {
            let latest = parsed
                .iter()
                .flatten()
                .filter(|e| e.line == line.id.as_str() && e.period == period && e.kind != EntryKind::Correction)
                .max_by_key(|e| e.seq)
                .cloned();
            let (kind, amends, basis) = match &latest {
                None => (
                    EntryKind::Period,
                    None,
                    crate::figures::period_basis(store, calendar, &line.id, period.start, period.end).await?,
                ),
                Some(e) => {
                    let covered = e.source.as_ref().map_or(0, |s| s.high_water.result_id);
                    if !has_results_above(store, &line.id, &period, covered, hw.result_id).await? {
                        continue;
                    }
                    let basis: PeriodBasis = serde_json::from_value(e.figures["basis"].clone())
                        .map_err(|err| LedgerError::Malformed { what: "entry basis", why: err.to_string() })?;
                    (EntryKind::Supplement, Some(e.seq), basis)
                }
            };
            let span = (period.start, period.end);
            let results = period_results(store, &line.id, span, hw.result_id).await?;
            let rows = crate::figures::period_rows(store, &line.id, &basis, span, hw).await?;
            let seq = stored.entries.len() as u64;
            let (source, hashes) = source_of(&results, &stations, &rows, hw, seq)?;
            let figures = crate::figures::period_figures(&line.id, &basis, span, rows)?;
            let mut figures_json = serde_json::to_value(&figures).map_err(|e| LedgerError::Canonical(e.to_string()))?;
            figures_json["basis"] = serde_json::to_value(&basis).map_err(|e| LedgerError::Canonical(e.to_string()))?;
            figures_json["rules"] = crate::figures::FIGURE_RULES.into();
            let entry = Entry {
                schema: SCHEMA,
                seq,
                kind,
                line: line.id.to_string(),
                period: period.clone(),
                figures: figures_json,
                source: Some(source.clone()),
                amends,
                changes: Vec::new(),
                reason: None,
                by: request.by.clone(),
                at: crate::store::truncate_now(),
                previous: stored.entries.last().map(|e| e.hash.clone()),
            };
            append(store, key, checkpoint_file, &mut stored, &entry, &hashes).await?;
            parsed.push(Some(entry));
            tracing::info!(line = %line.id, period = %period.label, seq, kind = ?kind, results = source.results, "period closed");
            closed.push(Closed {
                seq,
                kind,
                line: line.id.to_string(),
                period: period.label.clone(),
                results: source.results,
                units_out: figures.output.units_out,
            });
        }
    }
    Ok(closed)
}

/// How a running MES closes periods as they end.
#[derive(Debug, Clone)]
pub struct AutoClose {
    /// How long after its end a period is closed.
    pub grace: chrono::Duration,
    /// Shifts or days.
    pub period: PeriodKind,
    /// How often to look (wall time).
    pub every: std::time::Duration,
}

/// Closes every period that has been over for `settings.grace` (by `now`, the plant's clock:
/// a simulated plant's runs faster), then again every `settings.every`, until `stop` turns
/// true. A failed round (the database away, another process closing at the same time) is
/// logged and counted, and the next round tries again: nothing is skipped, since each round
/// closes everything still open.
pub async fn auto_close(
    store: std::sync::Arc<Store>,
    calendar: ShiftCalendar,
    key: NoteSigner,
    checkpoint_file: PathBuf,
    settings: AutoClose,
    now: impl Fn() -> DateTime<Utc>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let request = CloseRequest {
            line: None,
            period: settings.period,
            until: now() - settings.grace,
            by: "mes (auto-close)".into(),
        };
        match close(&store, &calendar, &key, &checkpoint_file, &request).await {
            Ok(closed) => {
                for c in &closed {
                    let kind = if c.kind == EntryKind::Supplement { "supplement" } else { "period" };
                    metrics::counter!(crate::telemetry::LEDGER_ENTRIES, "kind" => kind).increment(1);
                }
            }
            Err(e) => {
                metrics::counter!(crate::telemetry::LEDGER_CLOSE_ERRORS).increment(1);
                tracing::warn!(error = %e, "closing periods into the audit ledger failed; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(settings.every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Appends `entry` (and the checkpoint over the log it ends) to the store and the file.
async fn append(
    store: &Store,
    key: &NoteSigner,
    checkpoint_file: &Path,
    stored: &mut Stored,
    entry: &Entry,
    hashes: &[RecordHash],
) -> Result<(), AuditError> {
    let bytes = entry.bytes()?;
    let payload = String::from_utf8(bytes.clone()).map_err(|e| LedgerError::Canonical(e.to_string()))?;
    // On an error the caller drops `stored`: the log it holds is not reused.
    stored.log.push(&bytes);
    let size = stored.log.size();
    let root = stored.log.root(size)?;
    let checkpoint = Checkpoint { origin: key.name().to_owned(), size, root };
    let note = key.sign_note(&checkpoint.text())?;
    let row = StoredEntry {
        seq: entry.seq,
        line: Some(entry.line.clone()),
        kind: serde_json::to_value(entry.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        period_start: entry.period.start,
        period_end: entry.period.end,
        payload,
        hash: hex(&leaf_hash(&bytes)),
        prev_hash: entry.previous.clone().unwrap_or_default(),
        signature: key.sign(&bytes),
        amends: entry.amends,
        by: entry.by.clone(),
        reason: entry.reason.clone(),
        at: entry.at,
    };
    let at = entry.at;
    store.append_ledger(&row, hashes, &StoredCheckpoint { size, root: hex(&root), note: note.clone(), at }).await?;
    stored.entries.push(row);
    append_to_file(checkpoint_file, &note)
}

fn append_to_file(path: &Path, note: &str) -> Result<(), AuditError> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_error(path, e))?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| file_error(path, e))?;
    f.write_all(note.as_bytes()).and_then(|()| f.sync_all()).map_err(|e| file_error(path, e))
}

async fn first_result_at(store: &Store, line: &LineId) -> Result<Option<DateTime<Utc>>, StoreError> {
    let filter = StationResultFilter { line: Some(line.clone()), ..Default::default() };
    let first = store.station_results(&filter, 0, 1).await?;
    // Results commit roughly in time order; a few minutes of disorder cannot skip a period,
    // since periods are taken from two days before.
    Ok(first.first().map(|r| r.record.ended_at))
}

async fn has_results_above(
    store: &Store,
    line: &LineId,
    period: &Period,
    covered: i64,
    max_id: i64,
) -> Result<bool, StoreError> {
    let filter = StationResultFilter {
        line: Some(line.clone()),
        from: Some(period.start),
        to: Some(period.end),
        max_id: Some(max_id),
        ..Default::default()
    };
    Ok(!store.station_results(&filter, covered, 1).await?.is_empty())
}

/// Where a discrepancy is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    /// The entry, if one is concerned.
    pub entry: Option<u64>,
    /// Line.
    pub line: Option<String>,
    /// The period's label.
    pub period: Option<String>,
    /// Station.
    pub station: Option<String>,
    /// The record's key.
    pub record: Option<String>,
    /// What is wrong.
    pub what: String,
}

/// A record that arrived after its period closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LateArrival {
    /// The entry of the period.
    pub entry: u64,
    /// The record's key.
    pub record: String,
    /// Whether a later supplement covers it.
    pub supplemented: bool,
}

/// What a verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// Entries checked.
    pub entries: u64,
    /// Station results recomputed.
    pub records: u64,
    /// Checkpoints checked (stored and given).
    pub checkpoints: u64,
    /// Everything wrong.
    pub discrepancies: Vec<Discrepancy>,
    /// Records that arrived after their period closed.
    pub late: Vec<LateArrival>,
    /// Corrections in the log: figures amended by hand, with who and why.
    pub corrections: Vec<CorrectionNote>,
    /// Entries sealed under earlier figure rules whose figures the current rules compute
    /// differently, only where a rule change says they may: not a discrepancy (the records
    /// verify), but the auditor reads both.
    pub rule_changes: Vec<RuleChangeNote>,
}

/// An entry whose sealed figures differ from today's computation because the figure rules
/// changed since it was sealed ([`crate::figures::RULE_CHANGES`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleChangeNote {
    /// The entry.
    pub entry: u64,
    /// Its line.
    pub line: String,
    /// Its period's label.
    pub period: String,
    /// The rules version it was sealed under.
    pub sealed_under: u32,
    /// The version whose change explains the difference (see [`RuleChangeNote::change`]).
    pub changed_in: u32,
    /// The figures (JSON pointers) that differ.
    pub fields: Vec<String>,
}

/// A correction as a verification lists it, so an auditor sees every amended figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrectionNote {
    /// The correction's entry.
    pub entry: u64,
    /// The entry it corrects.
    pub amends: u64,
    /// Line and period label.
    pub line: String,
    /// The period's label.
    pub period: String,
    /// What changed.
    pub changes: Vec<crate::domain::ledger::Change>,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
}

impl Verification {
    /// Whether nothing is wrong.
    pub fn clean(&self) -> bool {
        self.discrepancies.is_empty()
    }

    fn flag(
        &mut self,
        entry: Option<&Entry>,
        seq: Option<u64>,
        station: Option<String>,
        record: Option<String>,
        what: String,
    ) {
        self.discrepancies.push(Discrepancy {
            entry: seq.or(entry.map(|e| e.seq)),
            line: entry.map(|e| e.line.clone()),
            period: entry.map(|e| e.period.label.clone()),
            station,
            record,
            what,
        });
    }
}

/// One entry as verification reads it, from the store or from a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EntryRow {
    /// Its position as stored.
    pub seq: u64,
    /// Its canonical bytes.
    pub payload: String,
    /// Its Ed25519 signature, base64.
    pub signature: String,
    /// The leaf hash stored beside it (a bundle stores none: recomputed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The previous entry's hash stored beside it (likewise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
}

impl From<&StoredEntry> for EntryRow {
    fn from(e: &StoredEntry) -> Self {
        Self {
            seq: e.seq,
            payload: e.payload.clone(),
            signature: e.signature.clone(),
            hash: Some(e.hash.clone()),
            prev_hash: Some(e.prev_hash.clone()),
        }
    }
}

/// What a period's figures are recomputed from: its raw results, its rows, and the hash the
/// close took of each result.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PeriodInputs {
    /// The entry they are for.
    pub seq: u64,
    /// The period's station results up to the close's mark, in id order.
    pub results: Vec<StoredResult>,
    /// The rows its figures are computed from.
    pub rows: crate::figures::PeriodRows,
    /// The hashes the close took (result id, station, record key, hash).
    pub taken: Vec<(i64, String, String, String)>,
}

/// Checks every entry's bytes, hash, chain and signature; the log, and the entries read back.
fn check_entries(v: &mut Verification, verifier: &NoteVerifier, rows: &[EntryRow]) -> (Log, Vec<Option<Entry>>) {
    let mut previous: Option<String> = None;
    let mut parsed = Vec::with_capacity(rows.len());
    for (k, row) in rows.iter().enumerate() {
        let seq = k as u64;
        let entry = match Entry::from_bytes(row.payload.as_bytes()) {
            Ok(e) => Some(e),
            Err(e) => {
                v.flag(None, Some(row.seq), None, None, format!("the entry's content does not read back: {e}"));
                None
            }
        };
        let e = entry.as_ref();
        if row.seq != seq {
            v.flag(
                e,
                Some(row.seq),
                None,
                None,
                format!("stored at position {seq}: entries were removed or reordered"),
            );
        }
        if let Some(en) = e
            && en.seq != seq
        {
            v.flag(e, None, None, None, format!("states position {} but is at {seq}", en.seq));
        }
        let hash = hex(&leaf_hash(row.payload.as_bytes()));
        if row.hash.as_ref().is_some_and(|h| *h != hash) {
            v.flag(e, Some(row.seq), None, None, "the content does not hash to the stored hash: edited".into());
        }
        let chain_broken = e.is_some_and(|en| en.previous != previous)
            || row.prev_hash.as_ref().is_some_and(|p| *p != previous.clone().unwrap_or_default());
        if chain_broken {
            v.flag(e, Some(row.seq), None, None, "does not name the entry before it: the chain is broken".into());
        }
        if let Err(err) = verifier.verify(row.payload.as_bytes(), &row.signature, &format!("entry {}", row.seq)) {
            v.flag(e, Some(row.seq), None, None, err.to_string());
        }
        previous = Some(hash);
        parsed.push(entry);
    }
    (Log::new(rows.iter().map(|r| r.payload.clone().into_bytes())), parsed)
}

/// Verifies the whole ledger in `store` with `verifier`: every entry's bytes, hash chain and
/// signature, the log's root against every stored checkpoint and every checkpoint in
/// `checkpoints` (an auditor's file: a cut-off tail or a rewritten history is caught even when
/// the store looks consistent), and every period and supplement in `scope` recomputed from the
/// raw rows: figures, digests and each record's hash. `progress` is told how many entries are
/// done.
pub async fn verify(
    store: &Store,
    verifier: &NoteVerifier,
    checkpoints: &[String],
    scope: &PeriodScope,
    mut progress: impl FnMut(u64, u64),
) -> Result<Verification, AuditError> {
    let mut v = Verification::default();
    let rows: Vec<EntryRow> = store.ledger_entries().await?.iter().map(EntryRow::from).collect();
    let total = rows.len() as u64;
    let (log, parsed) = check_entries(&mut v, verifier, &rows);
    for c in store.ledger_checkpoints().await? {
        v.checkpoints += 1;
        check_checkpoint(&mut v, verifier, &log, &c.note, "stored checkpoint");
    }
    for note in checkpoints {
        v.checkpoints += 1;
        check_checkpoint(&mut v, verifier, &log, note, "checkpoint given");
    }
    for (k, entry) in parsed.iter().enumerate() {
        progress(k as u64, total);
        let Some(entry) = entry.as_ref().filter(|e| e.kind != EntryKind::Correction && scope.covers(e)) else {
            continue;
        };
        if let Some(inputs) = load_period(store, &mut v, entry).await? {
            check_period(&mut v, entry, &inputs)?;
            late_arrivals(store, &mut v, entry, &parsed).await?;
        }
    }
    check_corrections(&mut v, &parsed);
    v.entries = total;
    progress(total, total);
    Ok(v)
}

fn check_checkpoint(v: &mut Verification, verifier: &NoteVerifier, log: &Log, note: &str, what: &str) {
    let text = match verifier.open(note) {
        Ok(t) => t,
        Err(e) => {
            v.flag(None, None, None, None, format!("{what}: {e}"));
            return;
        }
    };
    let c = match Checkpoint::parse(&text) {
        Ok(c) => c,
        Err(e) => {
            v.flag(None, None, None, None, format!("{what}: {e}"));
            return;
        }
    };
    if c.size > log.size() {
        v.flag(
            None,
            Some(c.size - 1),
            None,
            None,
            format!("{what} of {} entries, but the log holds {}: its newest entries were cut off", c.size, log.size()),
        );
        return;
    }
    match log.root(c.size) {
        Ok(root) if root == c.root => {}
        _ => v.flag(
            None,
            None,
            None,
            None,
            format!(
                "{what} of {} entries has another root than the log's first {}: history was rewritten",
                c.size, c.size
            ),
        ),
    }
}

/// The line and basis an entry was computed for; flagged and `None` when they do not read.
fn entry_basis(v: &mut Verification, entry: &Entry) -> Option<(LineId, PeriodBasis, HighWater)> {
    let Some(source) = &entry.source else {
        v.flag(Some(entry), None, None, None, "states no source".into());
        return None;
    };
    let line = match LineId::parse(entry.line.clone()) {
        Ok(l) => l,
        Err(e) => {
            v.flag(Some(entry), None, None, None, format!("names no line: {e}"));
            return None;
        }
    };
    match serde_json::from_value(entry.figures["basis"].clone()) {
        Ok(b) => Some((line, b, source.high_water)),
        Err(e) => {
            v.flag(Some(entry), None, None, None, format!("its basis does not read back: {e}"));
            None
        }
    }
}

/// Reads what entry's period is recomputed from.
async fn load_period(store: &Store, v: &mut Verification, entry: &Entry) -> Result<Option<PeriodInputs>, AuditError> {
    let Some((line, basis, hw)) = entry_basis(v, entry) else { return Ok(None) };
    let span = (entry.period.start, entry.period.end);
    let results = period_results(store, &line, span, hw.result_id).await?;
    let mut rows = crate::figures::period_rows(store, &line, &basis, span, hw).await?;
    // What was open at close is read as it was then, whenever it closed since (with no reason
    // if it had none then). A station has one open interval at a time: the last of those
    // starting at that instant (a state that changed twice within one read leaves a
    // zero-length interval before it, closed already).
    let open = entry.source.as_ref().map(|s| s.open_intervals.as_slice()).unwrap_or_default();
    for o in open {
        let last = rows
            .intervals
            .iter_mut()
            .flatten()
            .filter(|i| o.station == i.station.as_str() && o.started_at == i.started_at)
            .last();
        if let Some(i) = last {
            i.ended_at = None;
            if o.lacked_reason {
                i.reason = None;
            }
        }
    }
    let taken =
        store.record_hashes(entry.seq).await?.into_iter().map(|h| (h.result_id, h.station, h.record, h.hash)).collect();
    Ok(Some(PeriodInputs { seq: entry.seq, results, rows, taken }))
}

/// Recomputes one period or supplement entry from `inputs`: each record against the hash the
/// close took of it, the digests the entry states, the rows, and the figures.
fn check_period(v: &mut Verification, entry: &Entry, inputs: &PeriodInputs) -> Result<(), AuditError> {
    let Some((line, basis, hw)) = entry_basis(v, entry) else { return Ok(()) };
    let Some(source) = &entry.source else { return Ok(()) };
    let span = (entry.period.start, entry.period.end);
    v.records += inputs.results.len() as u64;
    let stations: Vec<String> = basis.stations.iter().map(|s| s.code.to_string()).collect();
    let (now, hashes) = source_of(&inputs.results, &stations, &inputs.rows, hw, entry.seq)?;
    if now.inputs != source.inputs {
        v.flag(
            Some(entry),
            None,
            None,
            None,
            "the rows its figures are computed from (visits, state intervals, counter samples, the products' \
             defect opportunities) differ from those the period closed with"
                .into(),
        );
    }
    let taken: BTreeMap<i64, &(i64, String, String, String)> = inputs.taken.iter().map(|t| (t.0, t)).collect();
    let found: BTreeMap<i64, &RecordHash> = hashes.iter().map(|h| (h.result_id, h)).collect();
    for (id, h) in &found {
        let place = (Some(h.station.clone()), Some(h.record.clone()));
        match taken.get(id) {
            None => v.flag(
                Some(entry),
                None,
                place.0,
                place.1,
                format!("result {id} was not there when the period closed: inserted"),
            ),
            Some(t) if t.3 != h.hash => v.flag(
                Some(entry),
                None,
                place.0,
                place.1,
                format!("result {id} differs from what the period closed with: edited"),
            ),
            Some(_) => {}
        }
    }
    for (id, t) in &taken {
        if !found.contains_key(id) {
            v.flag(
                Some(entry),
                None,
                Some(t.1.clone()),
                Some(t.2.clone()),
                format!("result {id} the period closed with is gone: deleted (or moved out of the period)"),
            );
        }
    }
    if now.digest != source.digest || now.results != source.results {
        for (a, b) in now.stations.iter().zip(&source.stations) {
            if a.digest != b.digest || a.results != b.results {
                v.flag(
                    Some(entry),
                    None,
                    Some(b.station.clone()),
                    None,
                    format!(
                        "the station's {} results do not hash to the {} the entry was closed with",
                        a.results, b.results
                    ),
                );
            }
        }
        if now.stations.len() != source.stations.len() {
            v.flag(Some(entry), None, None, None, "the stations' results do not match the entry's digest".into());
        }
    }
    let mut tables: BTreeMap<&str, Vec<[u8; 32]>> = BTreeMap::new();
    for t in taken.values() {
        let h: Option<[u8; 32]> = crate::domain::ledger::unhex(&t.3).ok().and_then(|b| b.try_into().ok());
        tables.entry(t.1.as_str()).or_default().push(h.unwrap_or([0; 32]));
    }
    let table_agrees = source
        .stations
        .iter()
        .all(|s| hex(&sha256(&tables.get(s.station.as_str()).cloned().unwrap_or_default().concat())) == s.digest);
    if !table_agrees {
        v.flag(
            Some(entry),
            None,
            None,
            None,
            "the record hashes kept for the entry do not match its digest: the hash table was edited".into(),
        );
    }
    let figures = crate::figures::period_figures(&line, &basis, span, inputs.rows.clone())?;
    let recomputed = serde_json::to_value(&figures).map_err(|e| LedgerError::Canonical(e.to_string()))?;
    let (wrong, notes) = compare_figures(entry, recomputed)?;
    if let Some(what) = wrong {
        v.flag(Some(entry), None, None, None, what);
    }
    v.rule_changes.extend(notes);
    Ok(())
}

/// An entry's figures against their recomputation from its records: the discrepancy, if any
/// figure differs that no rule change since the entry was sealed explains, and a note per rule
/// change that explains a difference.
fn compare_figures(
    entry: &Entry,
    mut recomputed: serde_json::Value,
) -> Result<(Option<String>, Vec<RuleChangeNote>), AuditError> {
    recomputed["basis"] = entry.figures["basis"].clone();
    if let Some(rules) = entry.figures.get("rules") {
        recomputed["rules"] = rules.clone();
    }
    if canonical(&recomputed)? == canonical(&entry.figures)? {
        return Ok((None, Vec::new()));
    }
    let mut fields = Vec::new();
    differing("", &entry.figures, &recomputed, &mut fields);
    let sealed = sealed_rules(entry);
    let mut unexplained = Vec::new();
    let mut changes: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (field, what) in fields {
        match changed_since(sealed, &field) {
            Some(version) => changes.entry(version).or_default().push(field),
            None => unexplained.push(what),
        }
    }
    let wrong = (!unexplained.is_empty()).then(|| {
        format!(
            "figures differ from the raw records: {}",
            unexplained.into_iter().take(8).collect::<Vec<_>>().join(", ")
        )
    });
    let notes = changes
        .into_iter()
        .map(|(version, fields)| RuleChangeNote {
            entry: entry.seq,
            line: entry.line.clone(),
            period: entry.period.label.clone(),
            sealed_under: sealed,
            changed_in: version,
            fields,
        })
        .collect();
    Ok((wrong, notes))
}

impl RuleChangeNote {
    /// The rule change that explains the difference.
    pub fn change(&self) -> Option<&'static crate::figures::RuleChange> {
        crate::figures::RULE_CHANGES.iter().find(|c| c.version == self.changed_in)
    }
}

/// The figure rules an entry was sealed under; 1 for entries sealed before they were recorded.
fn sealed_rules(entry: &Entry) -> u32 {
    entry.figures.get("rules").and_then(serde_json::Value::as_u64).and_then(|r| u32::try_from(r).ok()).unwrap_or(1)
}

/// The rules version after `sealed` (up to the current one) that changed how `field` is
/// computed, if one did.
fn changed_since(sealed: u32, field: &str) -> Option<u32> {
    crate::figures::RULE_CHANGES
        .iter()
        .filter(|c| c.version > sealed && c.version <= crate::figures::FIGURE_RULES)
        .find(|c| c.fields.iter().any(|f| field == *f || field.starts_with(&format!("{f}/"))))
        .map(|c| c.version)
}

/// Lists the records of entry's period above its marks: late, not tampering.
async fn late_arrivals(
    store: &Store,
    v: &mut Verification,
    entry: &Entry,
    all: &[Option<Entry>],
) -> Result<(), AuditError> {
    let (Ok(line), Some(source)) = (LineId::parse(entry.line.clone()), &entry.source) else { return Ok(()) };
    let newer_supplement = all.iter().flatten().any(|e| {
        e.kind == EntryKind::Supplement && e.line == entry.line && e.period == entry.period && e.seq > entry.seq
    });
    if newer_supplement {
        // The newest entry of the period reports what is still late.
        return Ok(());
    }
    let filter = StationResultFilter {
        line: Some(line),
        from: Some(entry.period.start),
        to: Some(entry.period.end),
        ..Default::default()
    };
    let supplemented = entry.kind == EntryKind::Supplement;
    let covered_by_first = all
        .iter()
        .flatten()
        .filter(|e| e.kind == EntryKind::Period && e.line == entry.line && e.period == entry.period)
        .filter_map(|e| e.source.as_ref().map(|s| s.high_water.result_id))
        .min()
        .unwrap_or(source.high_water.result_id);
    for r in store.station_results(&filter, covered_by_first, 100_000).await? {
        v.late.push(LateArrival {
            entry: entry.seq,
            record: record_key(&r),
            supplemented: supplemented && r.id <= source.high_water.result_id,
        });
    }
    Ok(())
}

/// A correction must name a period or supplement entry, change what that entry stated, and
/// state the corrected figures.
fn check_corrections(v: &mut Verification, all: &[Option<Entry>]) {
    for c in all.iter().flatten().filter(|e| e.kind == EntryKind::Correction) {
        let Some(target) = c.amends.and_then(|s| all.get(s as usize)).and_then(Option::as_ref) else {
            v.flag(Some(c), None, None, None, "corrects an entry the log does not hold".into());
            continue;
        };
        if target.seq >= c.seq || target.line != c.line || target.period != c.period {
            v.flag(Some(c), None, None, None, format!("does not correct entry {} of its line and period", target.seq));
            continue;
        }
        v.corrections.push(CorrectionNote {
            entry: c.seq,
            amends: target.seq,
            line: c.line.clone(),
            period: c.period.label.clone(),
            changes: c.changes.clone(),
            reason: c.reason.clone().unwrap_or_default(),
            by: c.by.clone(),
        });
        let mut expected = target.figures.clone();
        for change in &c.changes {
            if target.figures.pointer(&change.field) != Some(&change.from) {
                v.flag(
                    Some(c),
                    None,
                    None,
                    None,
                    format!("{} was not {} in entry {}", change.field, change.from, target.seq),
                );
            }
            if let Some(slot) = expected.pointer_mut(&change.field) {
                *slot = change.to.clone();
            }
        }
        if expected != c.figures || c.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            v.flag(
                Some(c),
                None,
                None,
                None,
                "its figures are not the corrected entry's with its changes, or it gives no reason".into(),
            );
        }
    }
}

/// The format of an offline bundle.
pub const BUNDLE_FORMAT: &str = "mes-audit-bundle/1";

/// Everything an auditor needs to verify closed periods with no database: the whole log (its
/// entries' bytes and signatures, so every root can be recomputed), the signed checkpoints,
/// an inclusion proof of each bundled entry in the newest checkpoint's tree, consistency proofs
/// between consecutive checkpoints, the raw records and rows of the chosen periods, and the
/// public key. The file is canonical JSON signed as a whole: a byte changed anywhere is caught.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The plant's verifier key (compare its fingerprint with the one the plant published).
    pub key: String,
    /// Every entry of the log, in order.
    pub entries: Vec<EntryRow>,
    /// Every signed checkpoint, oldest first.
    pub checkpoints: Vec<String>,
    /// (entry, tree size, audit path as hex) for each bundled period, in the newest tree.
    pub inclusion: Vec<(u64, u64, Vec<String>)>,
    /// (old size, new size, proof as hex) between consecutive checkpoints.
    pub consistency: Vec<(u64, u64, Vec<String>)>,
    /// The raw records and rows of the chosen periods.
    pub periods: Vec<PeriodInputs>,
}

/// A bundle with the plant's signature over its canonical bytes: the exported file.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SignedBundle {
    /// The bundle.
    pub bundle: Bundle,
    /// Ed25519 signature of the bundle's canonical bytes, base64.
    pub signature: String,
}

/// Which closed periods a bundle carries or a verification recomputes (the whole log's bytes,
/// chain, signatures and checkpoints are always checked: they are cheap and a cut or rewrite
/// anywhere concerns every period).
#[derive(Debug, Clone, Default)]
pub struct PeriodScope {
    /// Only this line.
    pub line: Option<LineId>,
    /// Periods that end after this.
    pub from: Option<DateTime<Utc>>,
    /// Periods that start before this.
    pub to: Option<DateTime<Utc>>,
}

impl PeriodScope {
    /// Whether `entry`'s period is in scope.
    pub fn covers(&self, entry: &Entry) -> bool {
        self.line.as_ref().is_none_or(|l| l.as_str() == entry.line)
            && self.from.is_none_or(|f| entry.period.end > f)
            && self.to.is_none_or(|t| entry.period.start < t)
    }
}

/// The bundle of `scope`'s closed periods, signed, as canonical bytes.
pub async fn export(store: &Store, key: &NoteSigner, scope: &PeriodScope) -> Result<Vec<u8>, AuditError> {
    let stored = store.ledger_entries().await?;
    let entries: Vec<EntryRow> = stored.iter().map(EntryRow::from).collect();
    let checkpoints: Vec<StoredCheckpoint> = store.ledger_checkpoints().await?;
    let log = Log::new(entries.iter().map(|e| e.payload.clone().into_bytes()));
    let size = log.size();
    let hexes = |p: Vec<[u8; 32]>| p.iter().map(|h| hex(h)).collect::<Vec<_>>();
    let mut periods = Vec::new();
    let mut inclusion = Vec::new();
    let mut scratch = Verification::default();
    for e in stored.iter().filter_map(|row| Entry::from_bytes(row.payload.as_bytes()).ok()) {
        if e.kind == EntryKind::Correction || !scope.covers(&e) {
            continue;
        }
        if let Some(inputs) = load_period(store, &mut scratch, &e).await? {
            periods.push(inputs);
        }
        inclusion.push((e.seq, size, hexes(log.inclusion(e.seq, size)?)));
    }
    let consistency = checkpoints
        .windows(2)
        .map(|w| Ok((w[0].size, w[1].size, hexes(log.consistency(w[0].size, w[1].size)?))))
        .collect::<Result<Vec<_>, LedgerError>>()?;
    let bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        key: key.verifier().encode(),
        entries,
        checkpoints: checkpoints.into_iter().map(|c| c.note).collect(),
        inclusion,
        consistency,
        periods,
    };
    let signature = key.sign(&canonical(&bundle)?);
    Ok(canonical(&SignedBundle { bundle, signature })?)
}

/// Verifies a bundle file with no database: the file's canonical form and signature, every
/// entry, checkpoint, inclusion and consistency proof, and every bundled period recomputed
/// from its records. `key` is the key the auditor trusts; without one, the bundle's own key
/// is used (and the report says so: compare its fingerprint).
pub fn verify_bundle(bytes: &[u8], key: Option<&NoteVerifier>) -> Result<(Verification, NoteVerifier), AuditError> {
    let mut v = Verification::default();
    let file: SignedBundle =
        serde_json::from_slice(bytes).map_err(|e| LedgerError::Malformed { what: "bundle", why: e.to_string() })?;
    if canonical(&file)? != bytes {
        v.flag(None, None, None, None, "the bundle is not in the canonical form it was written in: altered".into());
    }
    let bundle = &file.bundle;
    if bundle.format != BUNDLE_FORMAT {
        v.flag(None, None, None, None, format!("not a {BUNDLE_FORMAT} bundle: {}", bundle.format));
    }
    let own = NoteVerifier::parse(&bundle.key)?;
    let verifier = key.cloned().unwrap_or(own.clone());
    if own != verifier {
        v.flag(None, None, None, None, format!("the bundle names key {}, not the key given", own.encode()));
    }
    if let Err(e) = verifier.verify(&canonical(bundle)?, &file.signature, "the bundle") {
        v.flag(None, None, None, None, e.to_string());
    }
    let (log, parsed) = check_entries(&mut v, &verifier, &bundle.entries);
    for note in &bundle.checkpoints {
        v.checkpoints += 1;
        check_checkpoint(&mut v, &verifier, &log, note, "checkpoint");
    }
    let unhex32 = |h: &String| crate::domain::ledger::unhex(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    let proof = |p: &[String]| p.iter().map(unhex32).collect::<Option<Vec<[u8; 32]>>>();
    for (seq, size, path) in &bundle.inclusion {
        let ok = (|| {
            let root = log.root(*size).ok()?;
            let leaf = bundle.entries.get(*seq as usize)?;
            crate::domain::ledger::verify_inclusion(leaf.payload.as_bytes(), *seq, *size, &proof(path)?, &root).ok()
        })();
        if ok.is_none() {
            v.flag(
                None,
                Some(*seq),
                None,
                None,
                format!("its inclusion proof in the tree of {size} entries does not verify"),
            );
        }
    }
    for (old, new, path) in &bundle.consistency {
        let ok = (|| {
            let (a, b) = (log.root(*old).ok()?, log.root(*new).ok()?);
            crate::domain::ledger::verify_consistency(*old, &a, *new, &b, &proof(path)?).ok()
        })();
        if ok.is_none() {
            v.flag(
                None,
                None,
                None,
                None,
                format!("the consistency proof from {old} to {new} entries does not verify"),
            );
        }
    }
    for inputs in &bundle.periods {
        match parsed.get(inputs.seq as usize).and_then(Option::as_ref) {
            Some(entry) => check_period(&mut v, entry, inputs)?,
            None => {
                v.flag(None, Some(inputs.seq), None, None, "bundled records for an entry the log does not hold".into())
            }
        }
    }
    check_corrections(&mut v, &parsed);
    v.entries = parsed.len() as u64;
    Ok((v, verifier))
}

/// Appends a correction of entry `seq`: each `(field, value)` (a JSON pointer into its figures,
/// and the corrected value) recorded with the value it had, who made it and why. The corrected
/// entry stays as it was.
pub async fn correct(
    store: &Store,
    key: &NoteSigner,
    checkpoint_file: &Path,
    seq: u64,
    set: &[(String, serde_json::Value)],
    reason: &str,
    by: &str,
) -> Result<u64, AuditError> {
    let bad = |why: String| AuditError::Ledger(LedgerError::Malformed { what: "correction", why });
    if reason.trim().is_empty() || by.trim().is_empty() {
        return Err(bad("a correction needs a reason and who makes it".into()));
    }
    let mut stored = Stored::load(store).await?;
    let target = stored
        .entries
        .get(seq as usize)
        .and_then(|e| Entry::from_bytes(e.payload.as_bytes()).ok())
        .ok_or_else(|| bad(format!("the log has no entry {seq}")))?;
    if target.kind == EntryKind::Correction {
        return Err(bad(format!("entry {seq} is a correction: correct the entry it corrects")));
    }
    let mut figures = target.figures.clone();
    let mut changes = Vec::new();
    for (field, to) in set {
        let slot = figures.pointer_mut(field).ok_or_else(|| bad(format!("entry {seq} has no figure {field}")))?;
        changes.push(crate::domain::ledger::Change { field: field.clone(), from: slot.clone(), to: to.clone() });
        *slot = to.clone();
    }
    let entry = Entry {
        schema: SCHEMA,
        seq: stored.entries.len() as u64,
        kind: EntryKind::Correction,
        line: target.line.clone(),
        period: target.period.clone(),
        figures,
        source: None,
        amends: Some(seq),
        changes,
        reason: Some(reason.trim().to_owned()),
        by: by.trim().to_owned(),
        at: crate::store::truncate_now(),
        previous: stored.entries.last().map(|e| e.hash.clone()),
    };
    append(store, key, checkpoint_file, &mut stored, &entry, &[]).await?;
    Ok(entry.seq)
}

/// JSON pointers where `a` and `b` differ.
/// Each figure that differs between `a` (an entry's) and `b` (the recomputation): its JSON
/// pointer and the difference in words.
fn differing(at: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                differing(
                    &format!("{at}/{k}"),
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differing(&format!("{at}/{i}"), p, q, out);
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if a != b => out.push((at.to_owned(), format!("{at} is {b} in the records, {a} in the entry"))),
        _ => {}
    }
}

/// The figures an investor reads first, taken from an entry's figures document (absent where
/// the document has no such figure: a figure over nothing is "no data", never 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Headline {
    /// Units that entered the line's first step.
    pub units_started: Option<u64>,
    /// Units that passed the line's last step.
    pub units_out: Option<u64>,
    /// Units scrapped.
    pub scrapped: Option<u64>,
    /// Failures sent to repair.
    pub reworked: Option<u64>,
    /// Rolled first-pass yield.
    pub first_pass_yield: Option<f64>,
    /// Final yield of the last step.
    pub final_yield: Option<f64>,
    /// The line's OEE (ISO 22400-2).
    pub oee: Option<f64>,
}

impl Headline {
    /// The headline of a figures document (the shape of [`crate::figures::PeriodFigures`]).
    pub fn of(figures: &serde_json::Value) -> Self {
        let count = |p: &str| figures.pointer(p).and_then(serde_json::Value::as_u64);
        let ratio = |p: &str| figures.pointer(p).and_then(serde_json::Value::as_f64);
        Self {
            units_started: count("/output/units_started"),
            units_out: count("/output/units_out"),
            scrapped: count("/output/scrapped"),
            reworked: count("/output/reworked"),
            first_pass_yield: ratio("/output/first_pass_yield"),
            final_yield: ratio("/output/final_yield"),
            oee: ratio("/oee/line_oee/oee"),
        }
    }
}

/// One ledger entry as the API and the audit page list it: where it sits in the log, what it
/// states in brief (as recorded, and as corrected since), and its bytes and signature, so a
/// client can check it without the MES.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    /// Position in the log (its leaf index).
    pub seq: u64,
    /// `period`, `supplement` or `correction`.
    pub kind: String,
    /// Line code.
    pub line: String,
    /// The period's label (`2026-12-03 A`, `2026-12-03`).
    pub period: String,
    /// Period start.
    pub start: DateTime<Utc>,
    /// Period end (exclusive).
    pub end: DateTime<Utc>,
    /// Station results the entry counts (none for a correction).
    pub results: Option<u64>,
    /// The largest station result id the entry counts (its high-water mark).
    pub high_water: Option<i64>,
    /// The headline figures as the entry states them (for a correction: as corrected).
    pub figures: Headline,
    /// The headline after the newest correction of this entry, if it was corrected.
    pub corrected: Option<Headline>,
    /// The corrections of this entry, oldest first.
    pub corrected_by: Vec<u64>,
    /// The entry a supplement or correction amends.
    pub amends: Option<u64>,
    /// A correction's changes (field, old and new value).
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<crate::domain::ledger::Change>,
    /// Who or what wrote it.
    pub by: String,
    /// Why (corrections).
    pub reason: Option<String>,
    /// When it was appended.
    pub at: DateTime<Utc>,
    /// Its RFC 6962 leaf hash, hex.
    pub hash: String,
    /// The previous entry's leaf hash, hex (empty for the first).
    pub prev_hash: String,
    /// Ed25519 signature of `payload`, base64.
    pub signature: String,
    /// The entry's canonical bytes (RFC 8785 JSON): what is hashed and signed.
    pub payload: String,
}

impl EntryView {
    /// The view of `row`, with the corrections `all` holds of it.
    fn of(row: &StoredEntry, corrections: &BTreeMap<u64, Vec<(u64, Headline)>>) -> Self {
        let entry = Entry::from_bytes(row.payload.as_bytes()).ok();
        let mine = corrections.get(&row.seq);
        Self {
            seq: row.seq,
            kind: row.kind.clone(),
            line: row.line.clone().unwrap_or_default(),
            period: entry.as_ref().map(|e| e.period.label.clone()).unwrap_or_default(),
            start: row.period_start,
            end: row.period_end,
            results: entry.as_ref().and_then(|e| e.source.as_ref()).map(|s| s.results),
            high_water: entry.as_ref().and_then(|e| e.source.as_ref()).map(|s| s.high_water.result_id),
            figures: entry.as_ref().map(|e| Headline::of(&e.figures)).unwrap_or_default(),
            corrected: mine.and_then(|c| c.last()).map(|(_, h)| h.clone()),
            corrected_by: mine.map(|c| c.iter().map(|(seq, _)| *seq).collect()).unwrap_or_default(),
            amends: row.amends,
            changes: entry.as_ref().map(|e| e.changes.clone()).unwrap_or_default(),
            by: row.by.clone(),
            reason: row.reason.clone(),
            at: row.at,
            hash: row.hash.clone(),
            prev_hash: row.prev_hash.clone(),
            signature: row.signature.clone(),
            payload: row.payload.clone(),
        }
    }
}

/// Per corrected entry, its corrections in log order with the headline each states.
fn corrections_of(rows: &[StoredEntry]) -> BTreeMap<u64, Vec<(u64, Headline)>> {
    let mut out: BTreeMap<u64, Vec<(u64, Headline)>> = BTreeMap::new();
    for row in rows {
        if let Ok(e) = Entry::from_bytes(row.payload.as_bytes())
            && e.kind == EntryKind::Correction
            && let Some(target) = e.amends
        {
            out.entry(target).or_default().push((e.seq, Headline::of(&e.figures)));
        }
    }
    out
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct EntryFilter {
    /// The periods.
    pub scope: PeriodScope,
    /// Entries after this seq (paging).
    pub after: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// The entries `filter` selects, oldest first, each with its corrections.
pub async fn entries(store: &Store, filter: &EntryFilter) -> Result<Vec<EntryView>, AuditError> {
    let rows = store.ledger_entries().await?;
    let corrections = corrections_of(&rows);
    Ok(rows
        .iter()
        .filter(|e| filter.after.is_none_or(|a| e.seq > a))
        .filter(|e| filter.scope.line.as_ref().is_none_or(|l| e.line.as_deref() == Some(l.as_str())))
        .filter(|e| filter.scope.from.is_none_or(|f| e.period_end > f))
        .filter(|e| filter.scope.to.is_none_or(|t| e.period_start < t))
        .take(filter.limit)
        .map(|e| EntryView::of(e, &corrections))
        .collect())
}

/// The newest signed tree head: what an auditor keeps to detect a later rewrite or cut.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CheckpointView {
    /// Entries in the tree.
    pub size: u64,
    /// Root hash, hex.
    pub root: String,
    /// The C2SP signed note (checkpoint text, blank line, signature line).
    pub note: String,
    /// When it was signed.
    pub at: DateTime<Utc>,
    /// The verifier key (`name+id+key`), when this process holds the plant's key.
    pub key: Option<String>,
    /// The key's SHA-256 fingerprint, likewise.
    pub fingerprint: Option<String>,
}

/// The newest checkpoint, if the log has any.
pub async fn latest_checkpoint(
    store: &Store,
    key: Option<&NoteVerifier>,
) -> Result<Option<CheckpointView>, AuditError> {
    Ok(store.ledger_checkpoints().await?.into_iter().next_back().map(|c| CheckpointView {
        size: c.size,
        root: c.root,
        note: c.note,
        at: c.at,
        key: key.map(NoteVerifier::encode),
        fingerprint: key.map(NoteVerifier::fingerprint),
    }))
}

/// An entry with its inclusion proof in the newest checkpoint's tree.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EntryProof {
    /// The entry.
    pub entry: EntryView,
    /// The checkpoint the proof is for.
    pub checkpoint: CheckpointView,
    /// The audit path (RFC 9162 §2.1.3.1), hex hashes from the leaf up.
    pub inclusion: Vec<String>,
}

/// The log over the stored leaf hashes (proofs are only as good as those hashes: whoever
/// checks one against a signed checkpoint finds out).
fn log_of(rows: &[StoredEntry]) -> Log {
    Log::from_leaf_hashes(rows.iter().map(|e| {
        crate::domain::ledger::unhex(&e.hash).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()).unwrap_or([0; 32])
    }))
}

/// Entry `seq` with its inclusion proof in the newest checkpoint's tree; `None` when the log
/// has no such entry or no checkpoint covers it yet.
pub async fn entry_proof(
    store: &Store,
    seq: u64,
    key: Option<&NoteVerifier>,
) -> Result<Option<EntryProof>, AuditError> {
    let rows = store.ledger_entries().await?;
    let Some(row) = usize::try_from(seq).ok().and_then(|k| rows.get(k)) else { return Ok(None) };
    let Some(checkpoint) = latest_checkpoint(store, key).await? else { return Ok(None) };
    if seq >= checkpoint.size || checkpoint.size > rows.len() as u64 {
        return Ok(None);
    }
    let inclusion = log_of(&rows).inclusion(seq, checkpoint.size)?.iter().map(|h| hex(h)).collect();
    Ok(Some(EntryProof { entry: EntryView::of(row, &corrections_of(&rows)), checkpoint, inclusion }))
}

/// The consistency proof (RFC 9162 §2.1.4) between two tree sizes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConsistencyView {
    /// The older size.
    pub first: u64,
    /// The newer size.
    pub second: u64,
    /// Root at `first`, hex.
    pub first_root: String,
    /// Root at `second`, hex.
    pub second_root: String,
    /// The proof, hex hashes in order.
    pub proof: Vec<String>,
}

/// The consistency proof from size `first` to `second`; `None` unless
/// `1 <= first <= second <= ` the log's size.
pub async fn consistency(store: &Store, first: u64, second: u64) -> Result<Option<ConsistencyView>, AuditError> {
    let log = log_of(&store.ledger_entries().await?);
    if first == 0 || first > second || second > log.size() {
        return Ok(None);
    }
    let proof = log.consistency(first, second)?.iter().map(|h| hex(h)).collect();
    Ok(Some(ConsistencyView {
        first,
        second,
        first_root: hex(&log.root(first)?),
        second_root: hex(&log.root(second)?),
        proof,
    }))
}

/// The log's size (entries).
pub async fn log_size(store: &Store) -> Result<u64, AuditError> {
    Ok(store.ledger_entries().await?.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_file_reads_back_note_by_note() {
        let signer = NoteSigner::new("example.com/log", [3; 32]).unwrap();
        let a = signer.sign_note("example.com/log\n1\nAAAA\n").unwrap();
        let b = signer.sign_note("example.com/log\n2\nBBBB\n").unwrap();
        assert_eq!(read_checkpoint_file(&format!("{a}{b}")), vec![a.clone(), b.clone()]);
        assert_eq!(read_checkpoint_file(&format!("{a}\n{b}\n")), vec![a, b], "blank lines between notes are allowed");
        assert!(read_checkpoint_file("").is_empty());
    }

    /// An entry of `figures` for phone-1's shift A of 2026-12-03.
    fn entry(figures: serde_json::Value) -> Entry {
        let at = "2026-12-03T00:00:00Z".parse().unwrap();
        Entry {
            schema: SCHEMA,
            seq: 3,
            kind: EntryKind::Period,
            line: "phone-1".into(),
            period: Period { kind: PeriodKind::Shift, label: "2026-12-03 A".into(), start: at, end: at },
            figures,
            source: None,
            amends: None,
            changes: Vec::new(),
            reason: None,
            by: "test".into(),
            at,
            previous: None,
        }
    }

    #[test]
    fn only_what_a_rule_change_recomputes_differently_is_excused_and_only_for_entries_sealed_before_it() {
        use serde_json::json;
        // Today's computation: the line as one work unit.
        let now = json!({
            "output": { "units_out": 330 },
            "oee": { "stations": [], "line_oee": { "constraint": "FT", "figures": { "pq": 330 } } },
        });
        // Sealed under rules 1 (no `rules` recorded): the line's quantities were its stations' added up.
        let old = json!({
            "output": { "units_out": 330 },
            "oee": { "stations": [], "line_oee": { "pq": 2357 } },
            "basis": { "shift": "A" },
        });
        let (wrong, notes) = compare_figures(&entry(old.clone()), now.clone()).unwrap();
        assert_eq!(wrong, None, "the line OEE's difference is the rule change's, not a discrepancy");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!((notes[0].sealed_under, notes[0].changed_in, notes[0].entry), (1, 2, 3));
        assert!(notes[0].fields.iter().all(|f| f.starts_with("/oee/line_oee/")), "{:?}", notes[0].fields);
        assert!(notes[0].fields.contains(&"/oee/line_oee/pq".to_owned()), "{:?}", notes[0].fields);
        assert!(notes[0].change().is_some_and(|c| c.en.contains("work unit") && !c.vi.is_empty()));

        // Anything else that differs is a discrepancy, whatever the rules.
        let mut inflated = old.clone();
        inflated["output"]["units_out"] = json!(400);
        let (wrong, notes) = compare_figures(&entry(inflated), now.clone()).unwrap();
        let wrong = wrong.expect("an output the records do not give is a discrepancy");
        assert!(wrong.contains("/output/units_out is 330 in the records, 400 in the entry"), "{wrong}");
        assert!(!wrong.contains("line_oee"), "{wrong}");
        assert_eq!(notes.len(), 1, "the rule change is still noted");

        // Sealed under today's rules, the same difference in the line OEE is a discrepancy.
        let mut current = old;
        current["rules"] = json!(crate::figures::FIGURE_RULES);
        let (wrong, notes) = compare_figures(&entry(current.clone()), now.clone()).unwrap();
        assert!(wrong.is_some_and(|w| w.contains("/oee/line_oee/pq")), "no rule change excuses it");
        assert!(notes.is_empty());

        // And figures that agree are clean under any rules.
        let mut agreeing = now.clone();
        agreeing["basis"] = json!({ "shift": "A" });
        for rules in [None, Some(json!(1)), Some(json!(crate::figures::FIGURE_RULES))] {
            let mut sealed = agreeing.clone();
            if let Some(r) = rules {
                sealed["rules"] = r;
            }
            assert_eq!(compare_figures(&entry(sealed), now.clone()).unwrap(), (None, Vec::new()));
        }
    }
}
