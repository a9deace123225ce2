//! The audit ledger's rows: entries (each with its canonical bytes, leaf hash, signature), the
//! signed checkpoints, and the hash of every station result a closed period counted. Appended
//! in one transaction per close; never changed (the database's triggers refuse it).

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::sql::{get, raw};
use super::{Store, StoreError};
use crate::domain::ledger::HighWater;

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Position in the log (leaf index).
    pub seq: u64,
    /// Line code.
    pub line: Option<String>,
    /// `period`, `supplement` or `correction`.
    pub kind: String,
    /// Period start.
    pub period_start: DateTime<Utc>,
    /// Period end.
    pub period_end: DateTime<Utc>,
    /// The entry's canonical bytes (UTF-8 JSON).
    pub payload: String,
    /// Its leaf hash, hex.
    pub hash: String,
    /// The previous entry's leaf hash, hex ("" for the first).
    pub prev_hash: String,
    /// Ed25519 signature of the payload, base64.
    pub signature: String,
    /// The seq of the entry it corrects or supplements.
    pub amends: Option<u64>,
    /// Who wrote it.
    pub by: String,
    /// Why (corrections).
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A signed tree head as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Entries in the tree.
    pub size: u64,
    /// Root hash, hex.
    pub root: String,
    /// The signed note.
    pub note: String,
    /// When it was signed.
    pub at: DateTime<Utc>,
}

/// The hash a close took of one station result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHash {
    /// The result's id.
    pub result_id: i64,
    /// The entry that counted it.
    pub entry_seq: u64,
    /// Station code.
    pub station: String,
    /// The record's key, as people read it (`phone-1/FT epoch 8 seq 12`).
    pub record: String,
    /// SHA-256 of its canonical form, hex.
    pub hash: String,
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Every ledger entry, in log order.
    pub async fn ledger_entries(&self) -> Result<Vec<StoredEntry>, StoreError> {
        let sql = "SELECT e.seq, l.code AS line, e.kind, e.period_start, e.period_end, e.payload, e.hash, e.prev_hash, \
                   e.signature, e.corrects_seq, e.author, e.reason, e.created_at \
                   FROM ledger_entries e LEFT JOIN lines l ON l.id = e.line_id ORDER BY e.seq";
        let rows = self
            .db
            .query_all_raw(raw(self.sea_backend(), sql, vec![]))
            .await
            .map_err(StoreError::db("reading the ledger"))?;
        rows.iter()
            .map(|r| {
                Ok(StoredEntry {
                    seq: u64_of(get(r, "seq")?),
                    line: get(r, "line")?,
                    kind: get(r, "kind")?,
                    period_start: get(r, "period_start")?,
                    period_end: get(r, "period_end")?,
                    payload: get(r, "payload")?,
                    hash: get(r, "hash")?,
                    prev_hash: get(r, "prev_hash")?,
                    signature: get(r, "signature")?,
                    amends: get::<Option<i64>>(r, "corrects_seq")?.map(u64_of),
                    by: get(r, "author")?,
                    reason: get(r, "reason")?,
                    at: get(r, "created_at")?,
                })
            })
            .collect()
    }

    /// Every signed checkpoint, oldest first.
    pub async fn ledger_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let rows = self
            .db
            .query_all_raw(raw(
                self.sea_backend(),
                "SELECT size, root, note, created_at FROM ledger_checkpoints ORDER BY size",
                vec![],
            ))
            .await
            .map_err(StoreError::db("reading checkpoints"))?;
        rows.iter()
            .map(|r| {
                Ok(StoredCheckpoint {
                    size: u64_of(get(r, "size")?),
                    root: get(r, "root")?,
                    note: get(r, "note")?,
                    at: get(r, "created_at")?,
                })
            })
            .collect()
    }

    /// The record hashes entry `seq` took.
    pub async fn record_hashes(&self, seq: u64) -> Result<Vec<RecordHash>, StoreError> {
        let rows = self
            .db
            .query_all_raw(raw(
                self.sea_backend(),
                "SELECT result_id, entry_seq, station, record, hash FROM ledger_record_hashes WHERE entry_seq = $1 \
                 ORDER BY result_id",
                vec![i64::try_from(seq).unwrap_or(i64::MAX).into()],
            ))
            .await
            .map_err(StoreError::db("reading record hashes"))?;
        rows.iter()
            .map(|r| {
                Ok(RecordHash {
                    result_id: get(r, "result_id")?,
                    entry_seq: u64_of(get(r, "entry_seq")?),
                    station: get(r, "station")?,
                    record: get(r, "record")?,
                    hash: get(r, "hash")?,
                })
            })
            .collect()
    }

    /// The largest ids of results, intervals and samples now: what a close includes.
    pub async fn high_water(&self) -> Result<HighWater, StoreError> {
        let sql = "SELECT (SELECT COALESCE(MAX(id), 0) FROM station_results) AS r, \
                   (SELECT COALESCE(MAX(id), 0) FROM state_intervals) AS i, \
                   (SELECT COALESCE(MAX(id), 0) FROM counter_samples) AS s";
        let row = self
            .db
            .query_one_raw(raw(self.sea_backend(), sql, vec![]))
            .await
            .map_err(StoreError::db("reading the high-water marks"))?;
        let Some(row) = row else { return Ok(HighWater::default()) };
        Ok(HighWater { result_id: get(&row, "r")?, interval_id: get(&row, "i")?, sample_id: get(&row, "s")? })
    }

    /// Appends `entry` with the hashes of the records it counted and the checkpoint over the
    /// log it ends, in one transaction. Fails (nothing written) if another close took its
    /// sequence number meanwhile.
    pub async fn append_ledger(
        &self,
        entry: &StoredEntry,
        hashes: &[RecordHash],
        checkpoint: &StoredCheckpoint,
    ) -> Result<(), StoreError> {
        use super::sql::{placeholders, rows_per_insert};
        let backend = self.sea_backend();
        let line_id = match &entry.line {
            Some(code) => Some(self.line_id(code).await?),
            None => None,
        };
        let seq = i64::try_from(entry.seq).unwrap_or(i64::MAX);
        let (_writer, txn) = self.begin_write().await?;
        txn.execute_raw(raw(
            backend,
            "INSERT INTO ledger_entries (seq, line_id, period_start, period_end, kind, payload, corrects_seq, author, \
             reason, prev_hash, hash, signature, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            vec![
                seq.into(),
                line_id.into(),
                entry.period_start.into(),
                entry.period_end.into(),
                entry.kind.clone().into(),
                entry.payload.clone().into(),
                entry.amends.map(|a| i64::try_from(a).unwrap_or(i64::MAX)).into(),
                entry.by.clone().into(),
                entry.reason.clone().into(),
                entry.prev_hash.clone().into(),
                entry.hash.clone().into(),
                entry.signature.clone().into(),
                entry.at.into(),
            ],
        ))
        .await
        .map_err(StoreError::db("appending a ledger entry"))?;
        for chunk in hashes.chunks(rows_per_insert(5)) {
            let sql = format!(
                "INSERT INTO ledger_record_hashes (result_id, entry_seq, station, record, hash) VALUES {}",
                (0..chunk.len()).map(|k| format!("({})", placeholders(k * 5 + 1, 5))).collect::<Vec<_>>().join(", ")
            );
            let values = chunk
                .iter()
                .flat_map(|h| {
                    [
                        h.result_id.into(),
                        i64::try_from(h.entry_seq).unwrap_or(i64::MAX).into(),
                        h.station.clone().into(),
                        h.record.clone().into(),
                        h.hash.clone().into(),
                    ]
                })
                .collect();
            txn.execute_raw(raw(backend, &sql, values)).await.map_err(StoreError::db("recording record hashes"))?;
        }
        txn.execute_raw(raw(
            backend,
            "INSERT INTO ledger_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4)",
            vec![
                i64::try_from(checkpoint.size).unwrap_or(i64::MAX).into(),
                checkpoint.root.clone().into(),
                checkpoint.note.clone().into(),
                checkpoint.at.into(),
            ],
        ))
        .await
        .map_err(StoreError::db("recording a checkpoint"))?;
        txn.commit().await.map_err(StoreError::db("committing a ledger entry"))
    }
}
