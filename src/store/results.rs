//! Reading station results back: by line, station and time for exports, and by unit for traces.
//! Pages are keyed on the result id (commit order) so an export of millions of rows streams in
//! constant memory.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Value};
use serde::Serialize;

use super::sql::{among, get, raw};
use super::{Store, StoreError};
use crate::domain::ids::{
    DefectCode, LineId, LotId, PlcEpoch, ProductCode, RecordSeq, RepairActionCode, SerialNumber, StationId, WorkOrderId,
};
use crate::domain::record::{Certainty, ConsumedItem, Consumption, Defect, Measurement, UnitRecord, Verdict};

/// Which station results to read. All bounds are optional; times are `ended_at`, from inclusive,
/// to exclusive.
#[derive(Debug, Clone, Default)]
pub struct StationResultFilter {
    /// Only this line.
    pub line: Option<LineId>,
    /// Only this station code.
    pub station: Option<StationId>,
    /// Ended at or after.
    pub from: Option<DateTime<Utc>>,
    /// Ended before.
    pub to: Option<DateTime<Utc>>,
    /// Committed no later than this result id (a closed period's high-water mark).
    pub max_id: Option<i64>,
}

/// A station result as stored: the record plus what the store adds.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct StoredResult {
    /// Row id (commit order).
    pub id: i64,
    /// The record as it was committed.
    pub record: UnitRecord,
    /// When the MES committed it.
    pub recorded_at: DateTime<Utc>,
}

pub(super) const SELECT_RESULTS: &str = "SELECT r.id, l.code AS line, s.code AS station, r.plc_epoch, r.seq, u.serial, \
     p.code AS product, w.code AS work_order, r.result, r.started_at, r.ended_at, r.cycle_time_ms, r.program, \
     r.repair_action, r.recorded_at \
     FROM station_results r \
     JOIN lines l ON l.id = r.line_id \
     JOIN stations s ON s.id = r.station_id \
     JOIN units u ON u.id = r.unit_id \
     LEFT JOIN products p ON p.id = u.product_id \
     LEFT JOIN work_orders w ON w.id = r.work_order_id";

/// How far a plant's recorded history reaches: what a simulated plant continuing it must
/// number its new PLC boots, units and reels above.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlantExtent {
    /// Station results stored.
    pub results: u64,
    /// The highest PLC epoch of any stored result.
    pub max_epoch: u32,
    /// Units stored.
    pub units: u64,
    /// Lots and reels stored.
    pub lots: u64,
}

impl Store {
    /// How far the recorded history reaches (see [`PlantExtent`]).
    pub async fn plant_extent(&self) -> Result<PlantExtent, StoreError> {
        use sea_orm::ConnectionTrait;
        let sql = "SELECT (SELECT COUNT(*) FROM station_results) AS results, \
                   (SELECT COALESCE(MAX(plc_epoch), 0) FROM station_results) AS max_epoch, \
                   (SELECT COUNT(*) FROM units) AS units, (SELECT COUNT(*) FROM material_lots) AS lots";
        let row = self
            .db
            .query_one_raw(super::sql::raw(self.sea_backend(), sql, vec![]))
            .await
            .map_err(StoreError::db("reading how far the history reaches"))?;
        let Some(row) = row else { return Ok(PlantExtent::default()) };
        let n = |k: &'static str| super::sql::get::<i64>(&row, k).map(|v| u64::try_from(v).unwrap_or(0));
        Ok(PlantExtent {
            results: n("results")?,
            max_epoch: u32::try_from(n("max_epoch")?).unwrap_or(u32::MAX),
            units: n("units")?,
            lots: n("lots")?,
        })
    }

    /// Up to `limit` results matching `filter` with id greater than `after_id`, in id order.
    /// Call again with the last id to page on.
    pub async fn station_results(
        &self,
        filter: &StationResultFilter,
        after_id: i64,
        limit: u64,
    ) -> Result<Vec<StoredResult>, StoreError> {
        let mut sql = format!("{SELECT_RESULTS} WHERE r.id > $1");
        let mut values: Vec<Value> = vec![after_id.into()];
        if let Some(line) = &filter.line {
            values.push(line.as_str().into());
            sql.push_str(&format!(" AND l.code = ${}", values.len()));
        }
        if let Some(station) = &filter.station {
            values.push(station.as_str().into());
            sql.push_str(&format!(" AND s.code = ${}", values.len()));
        }
        if let Some(from) = filter.from {
            values.push(from.into());
            sql.push_str(&format!(" AND r.ended_at >= ${}", values.len()));
        }
        if let Some(to) = filter.to {
            values.push(to.into());
            sql.push_str(&format!(" AND r.ended_at < ${}", values.len()));
        }
        if let Some(max) = filter.max_id {
            values.push(max.into());
            sql.push_str(&format!(" AND r.id <= ${}", values.len()));
        }
        values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
        sql.push_str(&format!(" ORDER BY r.id LIMIT ${}", values.len()));
        self.load_results(&sql, values).await
    }

    /// The last result committed for each station of `line` (highest id), keyed by station
    /// code: where a collector's handshakes resume after a restart.
    pub async fn last_results(&self, line: &LineId) -> Result<HashMap<String, StoredResult>, StoreError> {
        let sql = format!(
            "{SELECT_RESULTS} WHERE r.id IN (SELECT MAX(r2.id) FROM station_results r2 \
             JOIN lines l2 ON l2.id = r2.line_id WHERE l2.code = $1 GROUP BY r2.station_id)"
        );
        let rows = self.load_results(&sql, vec![line.as_str().into()]).await?;
        Ok(rows.into_iter().map(|r| (r.record.station.to_string(), r)).collect())
    }

    /// Every visit of the given units, in time order.
    pub(crate) async fn results_of_units(&self, unit_ids: &[i64]) -> Result<Vec<StoredResult>, StoreError> {
        let (among_units, lists) = among(self.sea_backend(), "r.unit_id", 1, unit_ids);
        let sql = format!("{SELECT_RESULTS} WHERE {among_units} ORDER BY r.ended_at, r.id");
        let mut out = Vec::new();
        for list in lists {
            out.extend(self.load_results(&sql, vec![list]).await?);
        }
        out.sort_by_key(|r| (r.record.ended_at, r.id));
        Ok(out)
    }

    /// Runs a `SELECT_RESULTS` query and attaches defects, measurements and consumption.
    async fn load_results(&self, sql: &str, values: Vec<Value>) -> Result<Vec<StoredResult>, StoreError> {
        let backend = self.sea_backend();
        let rows = self
            .db
            .query_all_raw(raw(backend, sql, values))
            .await
            .map_err(StoreError::db("reading station results"))?;
        let mut results = Vec::with_capacity(rows.len());
        for row in &rows {
            let result: String = get(row, "result")?;
            let verdict = Verdict::parse(&result).ok_or(StoreError::Corrupt {
                table: "station_results",
                column: "result",
                value: result.clone(),
            })?;
            let seq: i64 = get(row, "seq")?;
            let epoch: i64 = get(row, "plc_epoch")?;
            results.push(StoredResult {
                id: get(row, "id")?,
                record: UnitRecord {
                    line: parse_id(LineId::parse, get::<String>(row, "line")?, "lines", "code")?,
                    station: parse_id(StationId::parse, get::<String>(row, "station")?, "stations", "code")?,
                    epoch: PlcEpoch(u32::try_from(epoch).map_err(|_| corrupt("plc_epoch", epoch))?),
                    seq: RecordSeq(u64::try_from(seq).map_err(|_| corrupt("seq", seq))?),
                    serial: parse_id(SerialNumber::parse, get::<String>(row, "serial")?, "units", "serial")?,
                    product: optional_code(row, "product", ProductCode::parse, "products")?,
                    work_order: optional_code(row, "work_order", WorkOrderId::parse, "work_orders")?,
                    verdict,
                    defects: Vec::new(),
                    measurements: Vec::new(),
                    consumed: Vec::new(),
                    started_at: get(row, "started_at")?,
                    ended_at: get(row, "ended_at")?,
                    cycle_time_ms: get::<Option<i32>>(row, "cycle_time_ms")?.and_then(|v| u32::try_from(v).ok()),
                    program: get(row, "program")?,
                    repair_action: get::<Option<String>>(row, "repair_action")?
                        .map(|v| parse_id(RepairActionCode::parse, v, "station_results", "repair_action"))
                        .transpose()?,
                },
                recorded_at: get(row, "recorded_at")?,
            });
        }
        self.attach_children(&mut results).await?;
        Ok(results)
    }

    async fn attach_children(&self, results: &mut [StoredResult]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        let backend = self.sea_backend();
        let index: HashMap<i64, usize> = results.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        let ids: Vec<i64> = results.iter().map(|r| r.id).collect();
        let (among_results, lists) = among(backend, "station_result_id", 1, &ids);
        let defects = format!(
            "SELECT station_result_id, code, ref_designator FROM station_result_defects \
             WHERE {among_results} ORDER BY station_result_id, position"
        );
        let measurements = format!(
            "SELECT station_result_id, name, value, unit, lower_limit, upper_limit FROM station_result_measurements \
             WHERE {among_results} ORDER BY station_result_id, position"
        );
        let consumption = format!(
            "SELECT e.station_result_id, e.child_kind, {CHILD_COLUMNS}, \
             e.ref_designator, e.certainty FROM genealogy_edges e \
             LEFT JOIN units cu ON cu.id = e.child_unit_id \
             LEFT JOIN material_lots ml ON ml.id = e.child_lot_id \
             WHERE {among_results} ORDER BY e.station_result_id, e.position"
        );
        for list in lists {
            // Three independent reads on three pooled connections: one round trip's wait, not three.
            let read = |sql: &str, what: &'static str| {
                let statement = raw(backend, sql, vec![list.clone()]);
                async move { self.db.query_all_raw(statement).await.map_err(StoreError::db(what)) }
            };
            let (defects, measurements, consumption) = tokio::try_join!(
                read(&defects, "reading defects"),
                read(&measurements, "reading measurements"),
                read(&consumption, "reading consumption"),
            )?;
            for row in defects {
                let owner = index[&get::<i64>(&row, "station_result_id")?];
                results[owner].record.defects.push(Defect {
                    code: parse_id(DefectCode::parse, get::<String>(&row, "code")?, "station_result_defects", "code")?,
                    ref_designator: get(&row, "ref_designator")?,
                });
            }
            for row in measurements {
                let owner = index[&get::<i64>(&row, "station_result_id")?];
                results[owner].record.measurements.push(Measurement {
                    name: get(&row, "name")?,
                    value: get(&row, "value")?,
                    unit: get(&row, "unit")?,
                    lower_limit: get(&row, "lower_limit")?,
                    upper_limit: get(&row, "upper_limit")?,
                });
            }
            for row in consumption {
                let owner = index[&get::<i64>(&row, "station_result_id")?];
                results[owner].record.consumed.push(Consumption {
                    kind: get(&row, "child_kind")?,
                    item: consumed_item(&row)?,
                    ref_designator: get(&row, "ref_designator")?,
                    certainty: certainty(get(&row, "certainty")?)?,
                });
            }
        }
        Ok(())
    }
}

/// Parses a stored identifier, reporting a value that no longer validates as corruption.
pub(crate) fn parse_id<T, E>(
    parse: impl FnOnce(String) -> Result<T, E>,
    value: String,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    let copy = value.clone();
    parse(value).map_err(|_| StoreError::Corrupt { table, column, value: copy })
}

/// An optional code column (`product`, `work_order`) parsed into its id type.
pub(crate) fn optional_code<T, E>(
    row: &sea_orm::QueryResult,
    column: &'static str,
    parse: impl FnOnce(String) -> Result<T, E>,
    table: &'static str,
) -> Result<Option<T>, StoreError> {
    get::<Option<String>>(row, column)?.map(|v| parse_id(parse, v, table, "code")).transpose()
}

/// The `status` column of a units row.
pub(crate) fn unit_status(row: &sea_orm::QueryResult) -> Result<crate::domain::unit::UnitStatus, StoreError> {
    let status: String = get(row, "status")?;
    crate::domain::unit::UnitStatus::parse(&status).ok_or(StoreError::Corrupt {
        table: "units",
        column: "status",
        value: status,
    })
}

/// The columns naming an edge's child, as [`consumed_item`] reads them, for a query that joins
/// the child unit as `cu` and the child lot as `ml`.
pub(crate) const CHILD_COLUMNS: &str = "cu.serial AS child_serial, ml.code AS child_lot, ml.part_number AS child_lot_part, ml.supplier AS child_lot_supplier";

/// The consumed item of a row selecting [`CHILD_COLUMNS`]: exactly one of serial and lot is
/// set, and a lot comes with its material.
pub(crate) fn consumed_item(row: &sea_orm::QueryResult) -> Result<ConsumedItem, StoreError> {
    let serial: Option<String> = get(row, "child_serial")?;
    let lot: Option<String> = get(row, "child_lot")?;
    match (serial, lot) {
        (Some(s), None) => Ok(ConsumedItem::Serial(parse_id(SerialNumber::parse, s, "units", "serial")?)),
        (None, Some(l)) => {
            Ok(ConsumedItem::Lot(stored_lot(l, get(row, "child_lot_part")?, get(row, "child_lot_supplier")?)?))
        }
        (s, l) => Err(StoreError::Corrupt {
            table: "genealogy_edges",
            column: "child_unit_id/child_lot_id",
            value: format!("{s:?}/{l:?}"),
        }),
    }
}

/// A lot as stored: its code, part number and supplier.
pub(crate) fn stored_lot(code: String, part_number: String, supplier: String) -> Result<LotId, StoreError> {
    let corrupt = |value: String| StoreError::Corrupt { table: "material_lots", column: "part_number/supplier", value };
    let material = crate::domain::Material::new(&part_number, &supplier)
        .map_err(|_| corrupt(format!("{part_number}/{supplier}")))?;
    Ok(parse_id(LotId::parse, code, "material_lots", "code")?.of(material))
}

/// Parses a stored certainty.
pub(crate) fn certainty(value: String) -> Result<Certainty, StoreError> {
    Certainty::parse(&value).ok_or(StoreError::Corrupt { table: "genealogy_edges", column: "certainty", value })
}

fn corrupt(column: &'static str, value: i64) -> StoreError {
    StoreError::Corrupt { table: "station_results", column, value: value.to_string() }
}
