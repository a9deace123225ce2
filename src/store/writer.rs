//! The batch writer: the one path by which production records enter the database.
//!
//! A batch (unit records with their defects, measurements and genealogy, state intervals,
//! counter samples) is written in one transaction and `commit` returns only after COMMIT has
//! succeeded, so a caller may acknowledge the batch's records to their PLCs when — and only
//! when — it gets `Ok`. Every row is keyed naturally, so committing the same batch again (a PLC
//! re-offering unacknowledged records after a reconnect or an MES crash) changes nothing.
//! A batch that fails anywhere is rolled back whole: nothing is half-written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, SqliteTransactionMode, TransactionOptions, TransactionTrait, Value,
};

use super::entities::{
    counter_sample, defect, genealogy_edge, material_lot, measurement, state_interval, station_result, unit,
};
use super::lots::lots_with_codes;
use super::sql::{do_nothing_on, get, placeholders, raw, rows_per_insert};
use super::{Backend, CommitReceipt, RecordBatch, Store, StoreError};
use crate::domain::LotId;
use crate::domain::counter::CounterSample;
use crate::domain::equipment::StationKind;
use crate::domain::record::{ConsumedItem, Fence, RecordKey, UnitRecord, Verdict};
use crate::domain::state::StateInterval;
use crate::domain::unit::UnitStatus;

/// A record resolved to ids, ready to insert.
struct Resolved<'a> {
    record: &'a UnitRecord,
    line_id: i64,
    station_id: i64,
    station_kind: StationKind,
    product_id: Option<i64>,
    work_order_id: Option<i64>,
}

impl Store {
    /// Commits a batch in one transaction and returns after COMMIT. Idempotent on every natural
    /// key. On error nothing of the batch is written.
    pub async fn commit(&self, batch: &RecordBatch) -> Result<CommitReceipt, StoreError> {
        self.commit_all(&[batch]).await
    }

    /// Commits several batches in one transaction, as if committed one after the other: what a
    /// collector host's outbox forwards after the database was away, a transaction for many
    /// cycles instead of one each. Idempotent like [`Store::commit`].
    pub async fn commit_all(&self, batches: &[&RecordBatch]) -> Result<CommitReceipt, StoreError> {
        let resolved = self.resolve(batches.iter().flat_map(|b| &b.records)).await?;
        let (_writer, txn) = self.begin_write().await?;
        let mut held = Vec::with_capacity(batches.len());
        // Each line and epoch is read once per transaction, not once per forwarded batch.
        let mut checked: Vec<(&Fence, bool)> = Vec::new();
        for batch in batches {
            held.push(match &batch.fence {
                Some(fence) => {
                    let known = checked.iter().find(|(f, _)| f.line == fence.line && f.epoch == fence.epoch);
                    match known {
                        Some(&(_, held)) if held || !fence.numbered => held,
                        _ => {
                            let held = self.check_fence(&txn, fence).await?;
                            checked.push((fence, held));
                            held
                        }
                    }
                }
                None => true,
            });
        }
        let recorded_at = truncate_to_micros(Utc::now());
        let receipt = write_records(&txn, &resolved, recorded_at).await?;
        // Batch by batch: one statement may not close an interval another row of it opens.
        for batch in batches.iter().zip(held).filter_map(|(b, held)| held.then_some(b)) {
            write_state_intervals(self, &txn, &batch.state_intervals).await?;
            write_counter_samples(self, &txn, &batch.counter_samples).await?;
        }
        self.announce(&txn).await?;
        let committing = std::time::Instant::now();
        txn.commit().await.map_err(StoreError::db("committing a batch"))?;
        tracing::trace!(phase = "commit", micros = committing.elapsed().as_micros() as u64, "writer phase");
        tracing::debug!(
            inserted = receipt.inserted,
            duplicates = receipt.duplicates,
            edges = receipt.edges,
            "batch committed"
        );
        Ok(receipt)
    }

    /// Starts a write transaction on the writer connection: queued behind this process's other
    /// writers, and `BEGIN IMMEDIATE` on SQLite so other processes wait instead of failing.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<(tokio::sync::MutexGuard<'_, ()>, DatabaseTransaction), StoreError> {
        let guard = self.write_lock.lock().await;
        let txn = self
            .writer
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: (self.backend == Backend::Sqlite).then_some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
            .map_err(StoreError::db("beginning a write transaction"))?;
        Ok((guard, txn))
    }

    /// Validates records and resolves their codes before any write, so a bad record fails the
    /// batch without opening a transaction. Duplicates inside the batch keep their first copy.
    async fn resolve<'a>(
        &self,
        records: impl Iterator<Item = &'a UnitRecord>,
    ) -> Result<Vec<Resolved<'a>>, StoreError> {
        let mut seen: BTreeSet<RecordKey> = BTreeSet::new();
        let mut out = Vec::with_capacity(records.size_hint().0);
        for record in records {
            let problems = record.problems();
            if !problems.is_empty() {
                return Err(StoreError::InvalidRecord {
                    line: record.line.to_string(),
                    station: record.station.to_string(),
                    epoch: record.epoch.0,
                    seq: record.seq.0,
                    problems,
                });
            }
            if !seen.insert(record.key()) {
                continue;
            }
            let line_id = self.line_id(record.line.as_str()).await?;
            let (station_id, station_kind) = self.station_id(record.line.as_str(), record.station.as_str()).await?;
            let product_id = match &record.product {
                Some(p) => Some(self.product_id(p.as_str()).await?),
                None => None,
            };
            let work_order_id = match &record.work_order {
                Some(w) => Some(self.work_order_id(w.as_str()).await?),
                None => None,
            };
            out.push(Resolved { record, line_id, station_id, station_kind, product_id, work_order_id });
        }
        Ok(out)
    }
}

async fn write_records(
    txn: &DatabaseTransaction,
    resolved: &[Resolved<'_>],
    recorded_at: DateTime<Utc>,
) -> Result<CommitReceipt, StoreError> {
    if resolved.is_empty() {
        return Ok(CommitReceipt::default());
    }
    let mut phase = std::time::Instant::now();
    let mut lap = |name: &'static str| {
        tracing::trace!(phase = name, micros = phase.elapsed().as_micros() as u64, "writer phase");
        phase = std::time::Instant::now();
    };
    let unit_ids = upsert_units(txn, resolved).await?;
    lap("units");
    let lot_ids = upsert_lots(txn, resolved).await?;
    lap("lots");

    // Station results: ON CONFLICT DO NOTHING RETURNING gives exactly the rows this commit
    // inserted; re-delivered records return nothing and their children are not rewritten
    // (they were committed in the same transaction as their result the first time).
    let mut new_results: Vec<(i64, &Resolved<'_>)> = Vec::with_capacity(resolved.len());
    let mut by_key: HashMap<(i64, i64, i64), &Resolved<'_>> = HashMap::with_capacity(resolved.len());
    for r in resolved {
        by_key.insert((r.station_id, i64::from(r.record.epoch.0), seq_i64(r.record)), r);
    }
    let columns = [
        station_result::Column::LineId,
        station_result::Column::StationId,
        station_result::Column::PlcEpoch,
        station_result::Column::Seq,
        station_result::Column::UnitId,
        station_result::Column::WorkOrderId,
        station_result::Column::Result,
        station_result::Column::StartedAt,
        station_result::Column::EndedAt,
        station_result::Column::CycleTimeMs,
        station_result::Column::Program,
        station_result::Column::RepairAction,
        station_result::Column::RecordedAt,
    ];
    for chunk in resolved.chunks(rows_per_insert(columns.len())) {
        let mut stmt = Query::insert();
        stmt.into_table(station_result::Entity).columns(columns);
        for r in chunk {
            let rec = r.record;
            let unit_id = unit_ids[rec.serial.as_str()];
            stmt.values(exprs([
                r.line_id.into(),
                r.station_id.into(),
                i64::from(rec.epoch.0).into(),
                seq_i64(rec).into(),
                unit_id.into(),
                r.work_order_id.into(),
                rec.verdict.as_str().into(),
                rec.started_at.map(truncate_to_micros).into(),
                truncate_to_micros(rec.ended_at).into(),
                rec.cycle_time_ms.map(|v| i32::try_from(v).unwrap_or(i32::MAX)).into(),
                rec.program.clone().into(),
                rec.repair_action.as_ref().map(ToString::to_string).into(),
                recorded_at.into(),
            ]))
            .map_err(build_error)?;
        }
        stmt.on_conflict(
            OnConflict::columns([
                station_result::Column::LineId,
                station_result::Column::StationId,
                station_result::Column::PlcEpoch,
                station_result::Column::Seq,
            ])
            .do_nothing()
            .to_owned(),
        );
        stmt.returning(Query::returning().columns([
            station_result::Column::Id,
            station_result::Column::StationId,
            station_result::Column::PlcEpoch,
            station_result::Column::Seq,
        ]));
        let rows = txn.query_all(&stmt).await.map_err(StoreError::db("inserting station results"))?;
        for row in rows {
            let key = (get::<i64>(&row, "station_id")?, get::<i64>(&row, "plc_epoch")?, get::<i64>(&row, "seq")?);
            let id = get::<i64>(&row, "id")?;
            if let Some(r) = by_key.get(&key) {
                new_results.push((id, r));
            }
        }
    }

    lap("results");
    insert_defects(txn, &new_results).await?;
    lap("defects");
    insert_measurements(txn, &new_results).await?;
    lap("measurements");
    let edges = insert_edges(txn, &new_results, &unit_ids, &lot_ids).await?;
    lap("edges");
    update_statuses(txn, &new_results, &unit_ids).await?;
    lap("statuses");

    let new_keys: BTreeSet<RecordKey> = new_results.iter().map(|(_, r)| r.record.key()).collect();
    let duplicate_keys = resolved.iter().map(|r| r.record.key()).filter(|k| !new_keys.contains(k)).collect();
    Ok(CommitReceipt {
        inserted: new_results.len(),
        duplicates: resolved.len() - new_results.len(),
        edges,
        duplicate_keys,
    })
}

/// What a batch says about one unit.
struct UnitSeen {
    first_seen: DateTime<Utc>,
    product: Option<i64>,
    work_order: Option<i64>,
}

impl UnitSeen {
    fn at(first_seen: DateTime<Utc>) -> Self {
        Self { first_seen, product: None, work_order: None }
    }
}

/// Inserts units not yet known (record serials and consumed serials), fills in product and
/// work order where they were unknown, and returns serial → id for all of them.
async fn upsert_units(
    txn: &DatabaseTransaction,
    resolved: &[Resolved<'_>],
) -> Result<HashMap<String, i64>, StoreError> {
    // Sorted by serial so concurrent PostgreSQL writers take row locks in the same order and
    // cannot deadlock.
    let mut units: BTreeMap<&str, UnitSeen> = BTreeMap::new();
    for r in resolved {
        let rec = r.record;
        let entry = units.entry(rec.serial.as_str()).or_insert_with(|| UnitSeen::at(rec.ended_at));
        entry.first_seen = entry.first_seen.min(rec.ended_at);
        entry.product = entry.product.or(r.product_id);
        entry.work_order = entry.work_order.or(r.work_order_id);
        for c in &rec.consumed {
            if let ConsumedItem::Serial(s) = &c.item {
                let child = units.entry(s.as_str()).or_insert_with(|| UnitSeen::at(rec.ended_at));
                child.first_seen = child.first_seen.min(rec.ended_at);
            }
        }
    }
    let columns = [
        unit::Column::Serial,
        unit::Column::ProductId,
        unit::Column::WorkOrderId,
        unit::Column::Status,
        unit::Column::FirstSeenAt,
    ];
    let rows = units
        .iter()
        .map(|(serial, seen)| {
            exprs([
                (*serial).into(),
                seen.product.into(),
                seen.work_order.into(),
                UnitStatus::InProcess.as_str().into(),
                truncate_to_micros(seen.first_seen).into(),
            ])
        })
        .collect();
    insert_rows(txn, unit::Entity, &columns, rows, do_nothing_on(&[unit::Column::Serial]), "inserting units").await?;
    let serials: Vec<&str> = units.keys().copied().collect();
    let ids = ids_by_code(txn, "units", "serial", &serials).await?;
    // A unit first seen as a consumed child has no product yet; its own record brings it.
    let mut fill: BTreeMap<(&'static str, i64), Vec<i64>> = BTreeMap::new();
    for (serial, seen) in &units {
        let id = ids[*serial];
        if let Some(p) = seen.product {
            fill.entry(("product_id", p)).or_default().push(id);
        }
        if let Some(w) = seen.work_order {
            fill.entry(("work_order_id", w)).or_default().push(id);
        }
    }
    for ((column, value), unit_ids) in fill {
        for chunk in unit_ids.chunks(rows_per_insert(1) - 1) {
            let sql = format!(
                "UPDATE units SET {column} = $1 WHERE {column} IS NULL AND id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut values: Vec<Value> = vec![value.into()];
            values.extend(chunk.iter().map(|id| Value::from(*id)));
            txn.execute_raw(raw(txn.get_database_backend(), &sql, values))
                .await
                .map_err(StoreError::db("filling unit product and work order"))?;
        }
    }
    Ok(ids)
}

/// Inserts lots and reels not yet known and returns lot → id. One read finds the known ones;
/// a lot that a hold registered before any collector saw it (a placeholder, kind `held`) is
/// taken over by the first recorded lot it names, so the hold keeps holding it.
async fn upsert_lots(txn: &DatabaseTransaction, resolved: &[Resolved<'_>]) -> Result<HashMap<LotId, i64>, StoreError> {
    let mut lots: BTreeMap<&LotId, (&str, DateTime<Utc>)> = BTreeMap::new();
    for r in resolved {
        for c in &r.record.consumed {
            if let ConsumedItem::Lot(l) = &c.item {
                let entry = lots.entry(l).or_insert((c.kind.as_str(), r.record.ended_at));
                entry.1 = entry.1.min(r.record.ended_at);
            }
        }
    }
    if lots.is_empty() {
        return Ok(HashMap::new());
    }
    let codes: Vec<&str> = lots.keys().map(|l| l.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut ids = HashMap::with_capacity(lots.len());
    let mut placeholders = Vec::new();
    for known in lots_with_codes(txn, &codes).await? {
        if known.is_placeholder() {
            placeholders.push(known);
        } else if lots.contains_key(&known.lot) {
            ids.insert(known.lot, known.id);
        }
    }
    for placeholder in placeholders {
        let mut takers = lots.iter().filter(|(lot, _)| !ids.contains_key(**lot) && placeholder.lot.matches(lot));
        let taker = takers.next();
        let others: Vec<String> = takers.map(|(lot, _)| lot.to_string()).collect();
        if let Some((lot, _)) = taker
            && !others.is_empty()
        {
            // The hold named less than a material and two fit: it holds the first only.
            tracing::warn!(held = %placeholder.lot, taken_by = %lot, not_held = ?others,
                "a hold placed before its lot was recorded fits several lots; it holds the first, place holds on the others");
        }
        if let Some((lot, (kind, _))) = taker {
            txn.execute_raw(raw(
                txn.get_database_backend(),
                "UPDATE material_lots SET kind = $1, part_number = $2, supplier = $3 WHERE id = $4",
                vec![
                    (*kind).into(),
                    lot.material().part_number().into(),
                    lot.material().supplier().into(),
                    placeholder.id.into(),
                ],
            ))
            .await
            .map_err(StoreError::db("recording a held lot"))?;
            ids.insert((*lot).clone(), placeholder.id);
        }
    }
    if ids.len() == lots.len() {
        return Ok(ids);
    }
    let columns = [
        material_lot::Column::Code,
        material_lot::Column::PartNumber,
        material_lot::Column::Supplier,
        material_lot::Column::Kind,
        material_lot::Column::FirstSeenAt,
    ];
    let rows = lots
        .iter()
        .filter(|(lot, _)| !ids.contains_key(**lot))
        .map(|(lot, (kind, first_seen))| {
            exprs([
                lot.as_str().into(),
                lot.material().part_number().into(),
                lot.material().supplier().into(),
                (*kind).into(),
                truncate_to_micros(*first_seen).into(),
            ])
        })
        .collect();
    let key = [material_lot::Column::Code, material_lot::Column::PartNumber, material_lot::Column::Supplier];
    insert_rows(txn, material_lot::Entity, &columns, rows, do_nothing_on(&key), "inserting material lots").await?;
    for known in lots_with_codes(txn, &codes).await? {
        if lots.contains_key(&known.lot) {
            ids.entry(known.lot).or_insert(known.id);
        }
    }
    Ok(ids)
}

/// `SELECT id, <column> FROM <table> WHERE <column> IN (…)`, chunked, as a map.
async fn ids_by_code(
    txn: &DatabaseTransaction,
    table: &'static str,
    column: &'static str,
    codes: &[&str],
) -> Result<HashMap<String, i64>, StoreError> {
    let mut out = HashMap::with_capacity(codes.len());
    for chunk in codes.chunks(rows_per_insert(1)) {
        let sql =
            format!("SELECT id, {column} AS code FROM {table} WHERE {column} IN ({})", placeholders(1, chunk.len()));
        let values = chunk.iter().map(|c| Value::from(*c)).collect();
        let rows = txn
            .query_all_raw(raw(txn.get_database_backend(), &sql, values))
            .await
            .map_err(StoreError::db("reading ids back"))?;
        for row in rows {
            out.insert(get::<String>(&row, "code")?, get::<i64>(&row, "id")?);
        }
    }
    Ok(out)
}

async fn insert_defects(txn: &DatabaseTransaction, new_results: &[(i64, &Resolved<'_>)]) -> Result<(), StoreError> {
    let columns = [
        defect::Column::StationResultId,
        defect::Column::Position,
        defect::Column::Code,
        defect::Column::RefDesignator,
    ];
    let rows: Vec<[SimpleExpr; 4]> = new_results
        .iter()
        .flat_map(|(id, r)| {
            r.record.defects.iter().enumerate().map(move |(i, d)| {
                exprs([(*id).into(), position(i).into(), d.code.as_str().into(), d.ref_designator.clone().into()])
            })
        })
        .collect();
    insert_rows(txn, defect::Entity, &columns, rows, None, "inserting defects").await
}

async fn insert_measurements(
    txn: &DatabaseTransaction,
    new_results: &[(i64, &Resolved<'_>)],
) -> Result<(), StoreError> {
    let columns = [
        measurement::Column::StationResultId,
        measurement::Column::Position,
        measurement::Column::Name,
        measurement::Column::Value,
        measurement::Column::Unit,
        measurement::Column::LowerLimit,
        measurement::Column::UpperLimit,
    ];
    let rows: Vec<[SimpleExpr; 7]> = new_results
        .iter()
        .flat_map(|(id, r)| {
            r.record.measurements.iter().enumerate().map(move |(i, m)| {
                exprs([
                    (*id).into(),
                    position(i).into(),
                    m.name.clone().into(),
                    m.value.into(),
                    m.unit.clone().into(),
                    m.lower_limit.into(),
                    m.upper_limit.into(),
                ])
            })
        })
        .collect();
    insert_rows(txn, measurement::Entity, &columns, rows, None, "inserting measurements").await
}

async fn insert_edges(
    txn: &DatabaseTransaction,
    new_results: &[(i64, &Resolved<'_>)],
    unit_ids: &HashMap<String, i64>,
    lot_ids: &HashMap<LotId, i64>,
) -> Result<usize, StoreError> {
    let columns = [
        genealogy_edge::Column::ParentUnitId,
        genealogy_edge::Column::ChildUnitId,
        genealogy_edge::Column::ChildLotId,
        genealogy_edge::Column::ChildKind,
        genealogy_edge::Column::StationResultId,
        genealogy_edge::Column::Position,
        genealogy_edge::Column::RefDesignator,
        genealogy_edge::Column::Certainty,
    ];
    let mut rows: Vec<[SimpleExpr; 8]> = Vec::new();
    for (id, r) in new_results {
        let parent = unit_ids[r.record.serial.as_str()];
        for (i, c) in r.record.consumed.iter().enumerate() {
            let (child_unit, child_lot): (Option<i64>, Option<i64>) = match &c.item {
                ConsumedItem::Serial(s) => (Some(unit_ids[s.as_str()]), None),
                ConsumedItem::Lot(l) => (None, Some(lot_ids[l])),
            };
            rows.push(exprs([
                parent.into(),
                child_unit.into(),
                child_lot.into(),
                c.kind.clone().into(),
                (*id).into(),
                position(i).into(),
                c.ref_designator.clone().into(),
                c.certainty.as_str().into(),
            ]));
        }
    }
    let count = rows.len();
    insert_rows(txn, genealogy_edge::Entity, &columns, rows, None, "inserting genealogy edges").await?;
    Ok(count)
}

/// Status changes a commit implies: a pass at a pack station packs the unit; a serialised
/// child consumed by a parent becomes `consumed`. Only units still in process move, so a
/// re-delivered or late record never moves a unit backwards.
async fn update_statuses(
    txn: &DatabaseTransaction,
    new_results: &[(i64, &Resolved<'_>)],
    unit_ids: &HashMap<String, i64>,
) -> Result<(), StoreError> {
    let packed: BTreeSet<i64> = new_results
        .iter()
        .filter(|(_, r)| r.station_kind == StationKind::Pack && r.record.verdict == Verdict::Pass)
        .map(|(_, r)| unit_ids[r.record.serial.as_str()])
        .collect();
    let consumed: BTreeSet<i64> = new_results
        .iter()
        .flat_map(|(_, r)| r.record.consumed.iter())
        .filter_map(|c| match &c.item {
            ConsumedItem::Serial(s) => Some(unit_ids[s.as_str()]),
            ConsumedItem::Lot(_) => None,
        })
        .collect();
    for (status, ids) in [(UnitStatus::Packed, packed), (UnitStatus::Consumed, consumed)] {
        let ids: Vec<i64> = ids.into_iter().collect();
        for chunk in ids.chunks(rows_per_insert(1) - 2) {
            let sql =
                format!("UPDATE units SET status = $1 WHERE status = $2 AND id IN ({})", placeholders(3, chunk.len()));
            let mut values: Vec<Value> = vec![status.as_str().into(), UnitStatus::InProcess.as_str().into()];
            values.extend(chunk.iter().map(|id| Value::from(*id)));
            txn.execute_raw(raw(txn.get_database_backend(), &sql, values))
                .await
                .map_err(StoreError::db("updating unit statuses"))?;
        }
    }
    Ok(())
}

/// Inserts intervals keyed by (station, start). An interval re-sent with its end closes the
/// open row; a closed row is never changed.
async fn write_state_intervals(
    store: &Store,
    txn: &DatabaseTransaction,
    intervals: &[StateInterval],
) -> Result<(), StoreError> {
    let columns = [
        state_interval::Column::StationId,
        state_interval::Column::StartedAt,
        state_interval::Column::EndedAt,
        state_interval::Column::PlcCode,
        state_interval::Column::State,
        state_interval::Column::E10State,
        state_interval::Column::FaultCode,
        state_interval::Column::Reason,
    ];
    // One statement may not touch a row twice: an interval both opened and closed in this
    // batch (states a failed commit carried over) is written once, closed.
    let mut once: Vec<&StateInterval> = Vec::with_capacity(intervals.len());
    let mut at: std::collections::HashMap<_, usize> = std::collections::HashMap::with_capacity(intervals.len());
    for i in intervals {
        match at.entry((&i.line, &i.station, i.started_at)) {
            std::collections::hash_map::Entry::Occupied(k) => {
                let o: &mut &StateInterval = &mut once[*k.get()];
                if i.ended_at.is_some() || o.ended_at.is_none() {
                    *o = i;
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(once.len());
                once.push(i);
            }
        }
    }
    let mut rows = Vec::with_capacity(once.len());
    for i in once {
        let (station_id, _) = store.station_id(i.line.as_str(), i.station.as_str()).await?;
        rows.push(exprs([
            station_id.into(),
            truncate_to_micros(i.started_at).into(),
            i.ended_at.map(truncate_to_micros).into(),
            i32::from(i.plc_code).into(),
            i.state.as_str().into(),
            i.state.e10().as_str().into(),
            i.fault_code.map(i32::from).into(),
            i.reason.clone().into(),
        ]));
    }
    let close_open = OnConflict::columns([state_interval::Column::StationId, state_interval::Column::StartedAt])
        .update_column(state_interval::Column::EndedAt)
        // Only an end replaces "open": the same open interval again (a batch forwarded twice)
        // changes nothing.
        .action_and_where(sea_orm::sea_query::ExprTrait::and(
            sea_orm::sea_query::ExprTrait::is_null(Expr::col((
                state_interval::Entity,
                state_interval::Column::EndedAt,
            ))),
            Expr::cust("excluded.ended_at IS NOT NULL"),
        ))
        .to_owned();
    insert_rows(txn, state_interval::Entity, &columns, rows, Some(close_open), "inserting state intervals").await
}

async fn write_counter_samples(
    store: &Store,
    txn: &DatabaseTransaction,
    samples: &[CounterSample],
) -> Result<(), StoreError> {
    let columns = [
        counter_sample::Column::StationId,
        counter_sample::Column::Counter,
        counter_sample::Column::PlcEpoch,
        counter_sample::Column::SampledAt,
        counter_sample::Column::RawValue,
        counter_sample::Column::WidthBits,
    ];
    let mut rows = Vec::with_capacity(samples.len());
    for s in samples {
        let (station_id, _) = store.station_id(s.line.as_str(), s.station.as_str()).await?;
        rows.push(exprs([
            station_id.into(),
            s.counter.as_str().into(),
            i64::from(s.epoch.0).into(),
            truncate_to_micros(s.sampled_at).into(),
            i64::from(s.raw).into(),
            i16::from(s.width_bits).into(),
        ]));
    }
    let conflict = do_nothing_on(&[
        counter_sample::Column::StationId,
        counter_sample::Column::Counter,
        counter_sample::Column::SampledAt,
    ]);
    insert_rows(txn, counter_sample::Entity, &columns, rows, conflict, "inserting counter samples").await
}

/// Multi-row INSERT, chunked under the bind limit, with an optional conflict clause: the one
/// insert loop of the store (station results, which need RETURNING, excepted).
pub(crate) async fn insert_rows<E, C, const N: usize>(
    txn: &impl ConnectionTrait,
    table: E,
    columns: &[C; N],
    rows: Vec<[SimpleExpr; N]>,
    on_conflict: Option<OnConflict>,
    operation: &'static str,
) -> Result<(), StoreError>
where
    E: sea_orm::sea_query::IntoIden + Copy,
    C: sea_orm::sea_query::IntoIden + Copy,
{
    for chunk in rows.chunks(rows_per_insert(N)) {
        let mut stmt = Query::insert();
        stmt.into_table(table).columns(columns.iter().copied());
        for row in chunk {
            stmt.values(row.clone()).map_err(build_error)?;
        }
        if let Some(clause) = &on_conflict {
            stmt.on_conflict(clause.clone());
        }
        txn.execute(&stmt).await.map_err(StoreError::db(operation))?;
    }
    Ok(())
}

pub(crate) fn exprs<const N: usize>(values: [Value; N]) -> [SimpleExpr; N] {
    values.map(SimpleExpr::from)
}

fn build_error(e: sea_orm::sea_query::error::Error) -> StoreError {
    StoreError::Db { operation: "building an insert", source: sea_orm::DbErr::Custom(e.to_string()) }
}

fn seq_i64(record: &UnitRecord) -> i64 {
    // Checked by UnitRecord::problems before resolution.
    i64::try_from(record.seq.0).unwrap_or(i64::MAX)
}

fn position(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

/// PostgreSQL keeps microseconds; SQLite keeps what it is given. Truncating here makes both
/// return exactly what the other does.
pub(crate) fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.timestamp_subsec_nanos();
    t - chrono::Duration::nanoseconds(i64::from(nanos % 1_000))
}
