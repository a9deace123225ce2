//! What the yield figures read: every visit to a line's stations of the units that visited it
//! in a period (their earlier visits too, so a first visit is known as first), with defects.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use super::sql::{get, raw};
use super::{Store, StoreError};
use crate::domain::ids::StationId;
use crate::domain::kpi::Visit;
use crate::domain::record::Verdict;

impl Store {
    /// The visits [`crate::domain::kpi::station_yields`] needs for `line` over `[from, to)`.
    pub async fn yield_visits(
        &self,
        line: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Visit>, StoreError> {
        let line_id = self.line_id(line).await?;
        let sql = "SELECT r.id, u.serial, s.code AS station, r.result, r.ended_at, d.code AS defect \
                   FROM station_results r \
                   JOIN units u ON u.id = r.unit_id \
                   JOIN stations s ON s.id = r.station_id \
                   LEFT JOIN station_result_defects d ON d.station_result_id = r.id \
                   WHERE r.line_id = $1 AND r.unit_id IN ( \
                     SELECT unit_id FROM station_results WHERE line_id = $1 AND ended_at >= $2 AND ended_at < $3) \
                   ORDER BY r.id, d.position";
        let rows = self
            .db
            .query_all_raw(raw(self.sea_backend(), sql, vec![line_id.into(), from.into(), to.into()]))
            .await
            .map_err(StoreError::db("reading visits for yield"))?;
        let mut visits: BTreeMap<i64, Visit> = BTreeMap::new();
        for row in &rows {
            let id: i64 = get(row, "id")?;
            if let Some(defect) = get::<Option<String>>(row, "defect")? {
                if let Some(v) = visits.get_mut(&id) {
                    v.defects.push(defect);
                    continue;
                }
                visits.insert(id, visit(row, vec![defect])?);
            } else {
                visits.entry(id).or_insert(visit(row, Vec::new())?);
            }
        }
        Ok(visits.into_values().collect())
    }
}

fn visit(row: &sea_orm::QueryResult, defects: Vec<String>) -> Result<Visit, StoreError> {
    let result: String = get(row, "result")?;
    let station: String = get(row, "station")?;
    Ok(Visit {
        serial: get(row, "serial")?,
        station: StationId::parse(station.clone()).map_err(|_| StoreError::Corrupt {
            table: "stations",
            column: "code",
            value: station,
        })?,
        verdict: Verdict::parse(&result).ok_or(StoreError::Corrupt {
            table: "station_results",
            column: "result",
            value: result.clone(),
        })?,
        ended_at: get(row, "ended_at")?,
        defects,
    })
}
