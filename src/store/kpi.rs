//! What the yield and OEE figures read: every visit to a line's stations of the units that
//! visited it in a period (their earlier visits too, so a first visit is known as first), with
//! defects and the unit's defect opportunities; the line's stations with their ideal cycle
//! times; the opportunities per unit of what the line makes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::station;
use super::sql::{get, raw};
use super::sqlite_read::{instant, parse_instant};
use super::{Store, StoreError};
use crate::domain::equipment::{Station, StationKind};
use crate::domain::ids::StationId;
use crate::domain::kpi::Visit;
use crate::domain::record::Verdict;

impl Store {
    /// The visits [`crate::domain::kpi::station_yields`] needs for `line` over `[from, to)`.
    /// On a SQLite file the rows come through the direct read path (see `sqlite_read`).
    pub async fn yield_visits(
        &self,
        line: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Visit>, StoreError> {
        self.yield_visits_as_of(line, from, to, i64::MAX).await
    }

    /// [`Store::yield_visits`] as the store held them when its results ended at id `max_id`
    /// (a closed period's high-water mark: later arrivals are not counted).
    pub async fn yield_visits_as_of(
        &self,
        line: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        max_id: i64,
    ) -> Result<Vec<Visit>, StoreError> {
        let read = self.visits_by_id(line, VISITS_SQL, (from, to), max_id).await?;
        Ok(read.into_iter().map(|(_, v)| v).collect())
    }

    /// Every visit, keyed by result id, of the units with a result on `line` after id `after`
    /// (their earlier visits too): what changed for a line's kept figures since they last read
    /// up to `after` (see `crate::figures::kept`). With `after` 0: every visit of the units
    /// seen on the line since `from`.
    pub async fn visits_touched_after(
        &self,
        line: &str,
        from: DateTime<Utc>,
        after: i64,
    ) -> Result<Vec<(i64, Visit)>, StoreError> {
        if after <= 0 {
            return self.visits_by_id(line, VISITS_SQL, (from, far_future()), i64::MAX).await;
        }
        self.visits_by_id(line, VISITS_AFTER_SQL, (DateTime::<Utc>::UNIX_EPOCH, far_future()), after).await
    }

    /// Runs a visits query (`$1` line, `$2`/`$3` the period, `$4` an id bound) and gathers its
    /// rows, one per defect, into visits keyed by result id.
    async fn visits_by_id(
        &self,
        line: &str,
        sql: &'static str,
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        id_bound: i64,
    ) -> Result<Vec<(i64, Visit)>, StoreError> {
        let line_id = self.line_id(line).await?;
        let rows = match &self.sqlite_reader {
            Some(reader) => {
                let sql = format!("{} LIMIT {}", sql.replace('$', "?"), super::MAX_READ_ROWS + 1);
                let (from, to) = (instant(from), instant(to));
                reader
                    .read("reading visits for yield", move |c| {
                        let mut statement = c.prepare(&sql)?;
                        let rows = statement.query_map(rusqlite::params![line_id, from, to, id_bound], |r| {
                            Ok(VisitRow {
                                id: r.get(0)?,
                                serial: r.get(1)?,
                                station: r.get(2)?,
                                result: r.get(3)?,
                                ended_at: parse_instant(&r.get::<_, String>(4)?)?,
                                defect: r.get(5)?,
                                opportunities: r.get(6)?,
                            })
                        })?;
                        rows.collect::<Result<Vec<_>, _>>()
                    })
                    .await?
            }
            None => {
                let rows = self
                    .db
                    .query_all_raw(raw(
                        self.sea_backend(),
                        &format!("{sql} LIMIT {}", super::MAX_READ_ROWS + 1),
                        vec![line_id.into(), from.into(), to.into(), id_bound.into()],
                    ))
                    .await
                    .map_err(StoreError::db("reading visits for yield"))?;
                rows.iter()
                    .map(|row| {
                        Ok(VisitRow {
                            id: get(row, "id")?,
                            serial: get(row, "serial")?,
                            station: get(row, "station")?,
                            result: get(row, "result")?,
                            ended_at: get(row, "ended_at")?,
                            defect: get(row, "defect")?,
                            opportunities: get(row, "opportunities")?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?
            }
        };
        let rows = super::within_limit(rows, "the period's station results", super::MAX_READ_ROWS)?;
        let mut visits: BTreeMap<i64, Visit> = BTreeMap::new();
        for row in rows {
            let id = row.id;
            let defect = row.defect.clone();
            let v = match visits.entry(id) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(visit(row)?),
            };
            if let Some(d) = defect {
                v.defects.push(d);
            }
        }
        Ok(visits.into_iter().collect())
    }

    /// A line's stations as registered (repair included), in position order: kinds for the
    /// fail disposition, ideal cycle times for OEE.
    pub async fn line_stations(&self, line: &str) -> Result<Vec<Station>, StoreError> {
        let line_id = self.line_id(line).await?;
        let rows = station::Entity::find()
            .filter(station::Column::LineId.eq(line_id))
            .order_by_asc(station::Column::Position)
            .all(&self.db)
            .await
            .map_err(StoreError::db("reading stations"))?;
        rows.into_iter()
            .map(|s| {
                let corrupt =
                    |column: &'static str, value: String| StoreError::Corrupt { table: "stations", column, value };
                Ok(Station {
                    kind: StationKind::parse(&s.kind).ok_or_else(|| corrupt("kind", s.kind.clone()))?,
                    id: StationId::parse(s.code.clone()).map_err(|_| corrupt("code", s.code.clone()))?,
                    name: s.name,
                    name_vi: s.name_vi,
                    position: u32::try_from(s.position).unwrap_or(0),
                    ideal_cycle_ms: s.ideal_cycle_ms.and_then(|c| u32::try_from(c).ok()),
                })
            })
            .collect()
    }

    /// Defect opportunities per unit of what `line` makes, when its routes name products that
    /// all declare the same figure (units without a product of their own count with it).
    pub async fn line_opportunities(&self, line: &str) -> Result<Option<u32>, StoreError> {
        let line_id = self.line_id(line).await?;
        let sql = "SELECT DISTINCT p.opportunities_per_unit AS o FROM routes r \
                   JOIN products p ON p.id = r.product_id WHERE r.line_id = $1";
        let rows = self
            .db
            .query_all_raw(raw(self.sea_backend(), sql, vec![line_id.into()]))
            .await
            .map_err(StoreError::db("reading the line's products"))?;
        Ok(match rows.as_slice() {
            [one] => u32::try_from(get::<i32>(one, "o")?).ok().filter(|o| *o > 0),
            _ => None,
        })
    }
}

/// Every visit to line `$1` of the units `$units` picks, one row per defect (or one without),
/// in id order: the one shape of the visits queries below.
macro_rules! visits_of_units {
    ($units:literal) => {
        concat!(
            "SELECT r.id, u.serial, s.code AS station, r.result, r.ended_at, d.code AS defect, \
             p.opportunities_per_unit AS opportunities \
             FROM station_results r \
             JOIN units u ON u.id = r.unit_id \
             JOIN stations s ON s.id = r.station_id \
             LEFT JOIN products p ON p.id = u.product_id \
             LEFT JOIN station_result_defects d ON d.station_result_id = r.id \
             WHERE +r.line_id = $1 AND ",
            $units,
            " ORDER BY r.id, d.position"
        )
    };
}

/// Visits of the units seen on line `$1` in `[$2, $3)`, committed up to result id `$4`.
// `+r.line_id` keeps SQLite off the line's own index: through it the planner walked every
// result the line ever recorded and tested each against the period's units, so a period's
// visits cost the line's whole history (a ledger close or verify, quadratic over months).
// Through the period's units (`ix_station_results_unit`) it costs the period.
const VISITS_SQL: &str = visits_of_units!(
    "r.id <= $4 AND r.unit_id IN ( \
     SELECT unit_id FROM station_results WHERE line_id = $1 AND ended_at >= $2 AND ended_at < $3 AND id <= $4)"
);

/// The visits of the units with a result on line `$1` after id `$4` (ended in `[$2, $3)`,
/// which the kept figures leave open: a late record of an old date changes a unit's history
/// too): what a line's kept figures read when the store moved. The `+` keep both backends on
/// the primary key's range (the results since the last read), not on the line's history.
const VISITS_AFTER_SQL: &str = visits_of_units!(
    "r.unit_id IN ( \
     SELECT unit_id FROM station_results WHERE id > $4 AND +line_id = $1 AND ended_at >= $2 AND ended_at < $3)"
);

/// An instant after any record's: the open end of a kept read.
fn far_future() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// One row of [`VISITS_SQL`], whichever path read it.
struct VisitRow {
    id: i64,
    serial: String,
    station: String,
    result: String,
    ended_at: DateTime<Utc>,
    defect: Option<String>,
    opportunities: Option<i32>,
}

fn visit(row: VisitRow) -> Result<Visit, StoreError> {
    Ok(Visit {
        station: StationId::parse(row.station.clone()).map_err(|_| StoreError::Corrupt {
            table: "stations",
            column: "code",
            value: row.station,
        })?,
        verdict: Verdict::parse(&row.result).ok_or(StoreError::Corrupt {
            table: "station_results",
            column: "result",
            value: row.result.clone(),
        })?,
        serial: row.serial,
        ended_at: row.ended_at,
        defects: Vec::new(),
        opportunities_per_unit: row.opportunities.and_then(|o| u32::try_from(o).ok()),
    })
}
