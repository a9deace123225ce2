//! The floor the batch writer is measured against (`mes bench ingest`): the same rows inserted
//! into the same schema by a plain loop of prepared statements in one transaction — rusqlite
//! on SQLite (the C library with the thinnest wrapper), sqlx on PostgreSQL. No batching, no
//! validation, no ORM; ids of units and lots kept in a hash map as a hand-written loader would.
//!
//! Benchmark code only: production writes go through [`Store::commit`](crate::store::Store::commit).

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use sea_orm::sqlx::{Connection, PgConnection};

use crate::domain::record::{ConsumedItem, UnitRecord};
use crate::store::StoreError;
use crate::store::writer::truncate_to_micros;

/// Master-data ids the loop needs, looked up before timing starts.
#[derive(Debug, Clone, Default)]
pub struct BaselineIds {
    /// line code → id
    pub lines: HashMap<String, i64>,
    /// (line, station) → id
    pub stations: HashMap<(String, String), i64>,
    /// product code → id
    pub products: HashMap<String, i64>,
    /// work order code → id
    pub work_orders: HashMap<String, i64>,
}

impl crate::store::Store {
    /// Ids of all master data, for the baseline loop.
    pub async fn baseline_ids(&self) -> Result<BaselineIds, StoreError> {
        use sea_orm::EntityTrait;

        use crate::store::entities::{line, product, station, work_order};
        let op = StoreError::db;
        let lines = line::Entity::find().all(&self.db).await.map_err(op("reading lines"))?;
        let by_line: HashMap<i64, String> = lines.iter().map(|l| (l.id, l.code.clone())).collect();
        let stations = station::Entity::find().all(&self.db).await.map_err(op("reading stations"))?;
        Ok(BaselineIds {
            lines: lines.iter().map(|l| (l.code.clone(), l.id)).collect(),
            stations: stations
                .iter()
                .filter_map(|s| by_line.get(&s.line_id).map(|l| ((l.clone(), s.code.clone()), s.id)))
                .collect(),
            products: product::Entity::find()
                .all(&self.db)
                .await
                .map_err(op("reading products"))?
                .into_iter()
                .map(|p| (p.code, p.id))
                .collect(),
            work_orders: work_order::Entity::find()
                .all(&self.db)
                .await
                .map_err(op("reading work orders"))?
                .into_iter()
                .map(|w| (w.code, w.id))
                .collect(),
        })
    }
}

/// Why the baseline failed (it is benchmark code: errors are reported, not recovered).
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no.
    #[error("postgres: {0}")]
    Postgres(#[from] sea_orm::sqlx::Error),
    /// A record names master data that is not registered.
    #[error("unknown {0}")]
    Unknown(String),
}

/// Text form sqlx uses for timestamps in SQLite, so both loaders store identical bytes.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    crate::store::sqlite_read::instant(truncate_to_micros(t))
}

fn pos(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

struct Row {
    line: i64,
    station: i64,
    product: Option<i64>,
    work_order: Option<i64>,
}

fn resolve(ids: &BaselineIds, record: &UnitRecord) -> Result<Row, BaselineError> {
    let unknown = |what: &str| BaselineError::Unknown(what.to_owned());
    Ok(Row {
        line: *ids.lines.get(record.line.as_str()).ok_or_else(|| unknown(record.line.as_str()))?,
        station: *ids
            .stations
            .get(&(record.line.to_string(), record.station.to_string()))
            .ok_or_else(|| unknown(record.station.as_str()))?,
        product: record.product.as_ref().and_then(|p| ids.products.get(p.as_str()).copied()),
        work_order: record.work_order.as_ref().and_then(|w| ids.work_orders.get(w.as_str()).copied()),
    })
}

/// Inserts `records` into the migrated SQLite file at `path` with one prepared statement per
/// row, all in one transaction, with the store's pragmas (WAL, synchronous FULL, foreign keys).
pub fn insert_sqlite(path: &Path, ids: &BaselineIds, records: &[UnitRecord]) -> Result<(), BaselineError> {
    use rusqlite::{OptionalExtension, params};

    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", crate::store::SQLITE_CACHE_PRAGMA)?;
    let tx = conn.transaction()?;
    {
        let mut insert_unit = tx.prepare(
            "INSERT INTO units (serial, product_id, work_order_id, status, first_seen_at) VALUES (?1, ?2, ?3, 'in_process', ?4) \
             ON CONFLICT (serial) DO NOTHING RETURNING id",
        )?;
        let mut select_unit = tx.prepare("SELECT id FROM units WHERE serial = ?1")?;
        let mut insert_lot = tx.prepare(
            "INSERT INTO material_lots (code, kind, first_seen_at) VALUES (?1, ?2, ?3) ON CONFLICT (code, part_number, supplier) DO NOTHING RETURNING id",
        )?;
        let mut select_lot = tx.prepare("SELECT id FROM material_lots WHERE code = ?1")?;
        let mut insert_result = tx.prepare(
            "INSERT INTO station_results (line_id, station_id, plc_epoch, seq, unit_id, work_order_id, result, started_at, \
             ended_at, cycle_time_ms, program, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (line_id, station_id, plc_epoch, seq) DO NOTHING RETURNING id",
        )?;
        let mut insert_defect = tx.prepare(
            "INSERT INTO station_result_defects (station_result_id, position, code, ref_designator) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut insert_measurement = tx.prepare(
            "INSERT INTO station_result_measurements (station_result_id, position, name, value, unit, lower_limit, upper_limit) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut insert_edge = tx.prepare(
            "INSERT INTO genealogy_edges (parent_unit_id, child_unit_id, child_lot_id, child_kind, station_result_id, position, \
             ref_designator, certainty) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut units: HashMap<String, i64> = HashMap::new();
        let mut lots: HashMap<String, i64> = HashMap::new();
        let recorded_at = ts(Utc::now());
        let mut unit_id =
            |serial: &str, product: Option<i64>, wo: Option<i64>, at: &str| -> Result<i64, BaselineError> {
                if let Some(id) = units.get(serial) {
                    return Ok(*id);
                }
                let id = match insert_unit.query_row(params![serial, product, wo, at], |r| r.get(0)).optional()? {
                    Some(id) => id,
                    None => select_unit.query_row(params![serial], |r| r.get(0))?,
                };
                units.insert(serial.to_owned(), id);
                Ok(id)
            };
        for record in records {
            let row = resolve(ids, record)?;
            let at = ts(record.ended_at);
            let unit = unit_id(record.serial.as_str(), row.product, row.work_order, &at)?;
            let seq = i64::try_from(record.seq.0).unwrap_or(i64::MAX);
            let Some(result_id) = insert_result
                .query_row(
                    params![
                        row.line,
                        row.station,
                        i64::from(record.epoch.0),
                        seq,
                        unit,
                        row.work_order,
                        record.verdict.as_str(),
                        record.started_at.map(ts),
                        at,
                        record.cycle_time_ms.map(i64::from),
                        record.program,
                        recorded_at
                    ],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
            else {
                continue;
            };
            for (i, d) in record.defects.iter().enumerate() {
                insert_defect.execute(params![result_id, pos(i), d.code.as_str(), d.ref_designator])?;
            }
            for (i, m) in record.measurements.iter().enumerate() {
                insert_measurement.execute(params![
                    result_id,
                    pos(i),
                    m.name,
                    m.value,
                    m.unit,
                    m.lower_limit,
                    m.upper_limit
                ])?;
            }
            for (i, c) in record.consumed.iter().enumerate() {
                let (child_unit, child_lot) = match &c.item {
                    ConsumedItem::Serial(s) => (Some(unit_id(s.as_str(), None, None, &at)?), None),
                    ConsumedItem::Lot(l) => {
                        let id = match lots.get(l.as_str()) {
                            Some(id) => *id,
                            None => {
                                let id = match insert_lot
                                    .query_row(params![l.as_str(), c.kind, at], |r| r.get(0))
                                    .optional()?
                                {
                                    Some(id) => id,
                                    None => select_lot.query_row(params![l.as_str()], |r| r.get(0))?,
                                };
                                lots.insert(l.to_string(), id);
                                id
                            }
                        };
                        (None, Some(id))
                    }
                };
                insert_edge.execute(params![
                    unit,
                    child_unit,
                    child_lot,
                    c.kind,
                    result_id,
                    pos(i),
                    c.ref_designator,
                    c.certainty.as_str()
                ])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// The same loop on PostgreSQL through sqlx (prepared and cached per connection), in one
/// transaction.
pub async fn insert_postgres(url: &str, ids: &BaselineIds, records: &[UnitRecord]) -> Result<(), BaselineError> {
    use sea_orm::sqlx::{query, query_scalar};

    let mut conn = PgConnection::connect(url).await?;
    let mut tx = conn.begin().await?;
    let mut units: HashMap<String, i64> = HashMap::new();
    let mut lots: HashMap<String, i64> = HashMap::new();
    let recorded_at = truncate_to_micros(Utc::now());
    for record in records {
        let row = resolve(ids, record)?;
        let at = truncate_to_micros(record.ended_at);
        let mut serials = vec![(record.serial.as_str(), row.product, row.work_order)];
        serials.extend(record.consumed.iter().filter_map(|c| match &c.item {
            ConsumedItem::Serial(s) => Some((s.as_str(), None, None)),
            ConsumedItem::Lot(_) => None,
        }));
        for (serial, product, wo) in serials {
            if units.contains_key(serial) {
                continue;
            }
            let inserted: Option<i64> = query_scalar(
                "INSERT INTO units (serial, product_id, work_order_id, status, first_seen_at) \
                 VALUES ($1, $2, $3, 'in_process', $4) ON CONFLICT (serial) DO NOTHING RETURNING id",
            )
            .bind(serial)
            .bind(product)
            .bind(wo)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
            let id = match inserted {
                Some(id) => id,
                None => query_scalar("SELECT id FROM units WHERE serial = $1").bind(serial).fetch_one(&mut *tx).await?,
            };
            units.insert(serial.to_owned(), id);
        }
        let unit = units[record.serial.as_str()];
        let result_id: Option<i64> = query_scalar(
            "INSERT INTO station_results (line_id, station_id, plc_epoch, seq, unit_id, work_order_id, result, started_at, \
             ended_at, cycle_time_ms, program, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (line_id, station_id, plc_epoch, seq) DO NOTHING RETURNING id",
        )
        .bind(row.line)
        .bind(row.station)
        .bind(i64::from(record.epoch.0))
        .bind(i64::try_from(record.seq.0).unwrap_or(i64::MAX))
        .bind(unit)
        .bind(row.work_order)
        .bind(record.verdict.as_str())
        .bind(record.started_at.map(truncate_to_micros))
        .bind(at)
        .bind(record.cycle_time_ms.and_then(|v| i32::try_from(v).ok()))
        .bind(record.program.as_deref())
        .bind(recorded_at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(result_id) = result_id else { continue };
        for (i, d) in record.defects.iter().enumerate() {
            query("INSERT INTO station_result_defects (station_result_id, position, code, ref_designator) VALUES ($1, $2, $3, $4)")
                .bind(result_id)
                .bind(i32::try_from(i).unwrap_or(i32::MAX))
                .bind(d.code.as_str())
                .bind(d.ref_designator.as_deref())
                .execute(&mut *tx)
                .await?;
        }
        for (i, m) in record.measurements.iter().enumerate() {
            query(
                "INSERT INTO station_result_measurements (station_result_id, position, name, value, unit, lower_limit, \
                 upper_limit) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(result_id)
            .bind(i32::try_from(i).unwrap_or(i32::MAX))
            .bind(&m.name)
            .bind(m.value)
            .bind(m.unit.as_deref())
            .bind(m.lower_limit)
            .bind(m.upper_limit)
            .execute(&mut *tx)
            .await?;
        }
        for (i, c) in record.consumed.iter().enumerate() {
            let (child_unit, child_lot) = match &c.item {
                ConsumedItem::Serial(s) => (Some(units[s.as_str()]), None),
                ConsumedItem::Lot(l) => {
                    let id = match lots.get(l.as_str()) {
                        Some(id) => *id,
                        None => {
                            let inserted: Option<i64> = query_scalar(
                                "INSERT INTO material_lots (code, kind, first_seen_at) VALUES ($1, $2, $3) \
                                 ON CONFLICT (code, part_number, supplier) DO NOTHING RETURNING id",
                            )
                            .bind(l.as_str())
                            .bind(&c.kind)
                            .bind(at)
                            .fetch_optional(&mut *tx)
                            .await?;
                            let id = match inserted {
                                Some(id) => id,
                                None => {
                                    query_scalar("SELECT id FROM material_lots WHERE code = $1")
                                        .bind(l.as_str())
                                        .fetch_one(&mut *tx)
                                        .await?
                                }
                            };
                            lots.insert(l.to_string(), id);
                            id
                        }
                    };
                    (None, Some(id))
                }
            };
            query(
                "INSERT INTO genealogy_edges (parent_unit_id, child_unit_id, child_lot_id, child_kind, station_result_id, \
                 position, ref_designator, certainty) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(unit)
            .bind(child_unit)
            .bind(child_lot)
            .bind(&c.kind)
            .bind(result_id)
            .bind(i32::try_from(i).unwrap_or(i32::MAX))
            .bind(c.ref_designator.as_deref())
            .bind(c.certainty.as_str())
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
