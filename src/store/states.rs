//! Reading machine state intervals back (downtime timelines, availability).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::entities::state_interval;
use super::results::parse_id;
use super::sql::{get, raw};
use super::sqlite_read::{instant, parse_instant};
use super::{Store, StoreError};
use crate::domain::ids::{LineId, StationId};
use crate::domain::state::{MachineState, StateInterval};

impl Store {
    /// Every state interval of a station, oldest first.
    pub async fn state_intervals(&self, line: &LineId, station: &StationId) -> Result<Vec<StateInterval>, StoreError> {
        self.state_intervals_in(line, station, None).await
    }

    /// The state intervals of a station that overlap `[from, to)` (all with `None`), oldest
    /// first; an interval still open overlaps everything after its start.
    pub async fn state_intervals_in(
        &self,
        line: &LineId,
        station: &StationId,
        window: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    ) -> Result<Vec<StateInterval>, StoreError> {
        self.state_intervals_as_of(line, station, window, i64::MAX).await
    }

    /// [`Store::state_intervals_in`] among the intervals recorded up to id `max_id` (a closed
    /// period's high-water mark).
    pub async fn state_intervals_as_of(
        &self,
        line: &LineId,
        station: &StationId,
        window: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
        max_id: i64,
    ) -> Result<Vec<StateInterval>, StoreError> {
        use sea_orm::Condition;
        let (station_id, _) = self.station_id(line.as_str(), station.as_str()).await?;
        let limit = super::MAX_READ_ROWS + 1;
        let rows: Vec<IntervalRow> = match &self.sqlite_reader {
            Some(reader) => {
                let window = window.map(|(from, to)| (instant(from), instant(to)));
                reader
                    .read("reading state intervals", move |c| {
                        let columns =
                            "SELECT started_at, ended_at, plc_code, state, fault_code, reason FROM state_intervals";
                        let decode = |r: &rusqlite::Row<'_>| {
                            Ok(IntervalRow {
                                started_at: parse_instant(&r.get::<_, String>(0)?)?,
                                ended_at: r.get::<_, Option<String>>(1)?.map(|t| parse_instant(&t)).transpose()?,
                                plc_code: r.get(2)?,
                                state: r.get(3)?,
                                fault_code: r.get(4)?,
                                reason: r.get(5)?,
                            })
                        };
                        match window {
                            Some((from, to)) => {
                                let sql = format!(
                                    "{columns} WHERE station_id = ?1 AND started_at < ?3 \
                                     AND (ended_at IS NULL OR ended_at > ?2) AND id <= ?4 ORDER BY started_at, id LIMIT {limit}"
                                );
                                let mut st = c.prepare(&sql)?;
                                st.query_map(rusqlite::params![station_id, from, to, max_id], decode)?.collect()
                            }
                            None => {
                                let mut st = c.prepare(&format!(
                                    "{columns} WHERE station_id = ?1 AND id <= ?2 ORDER BY started_at, id LIMIT {limit}"
                                ))?;
                                st.query_map(rusqlite::params![station_id, max_id], decode)?.collect()
                            }
                        }
                    })
                    .await?
            }
            None => {
                let mut query = state_interval::Entity::find()
                    .filter(state_interval::Column::StationId.eq(station_id))
                    .filter(state_interval::Column::Id.lte(max_id));
                if let Some((from, to)) = window {
                    query = query.filter(state_interval::Column::StartedAt.lt(to)).filter(
                        Condition::any()
                            .add(state_interval::Column::EndedAt.is_null())
                            .add(state_interval::Column::EndedAt.gt(from)),
                    );
                }
                query
                    .order_by_asc(state_interval::Column::StartedAt)
                    .order_by_asc(state_interval::Column::Id)
                    .limit(limit as u64)
                    .all(&self.db)
                    .await
                    .map_err(StoreError::db("reading state intervals"))?
                    .into_iter()
                    .map(|row| IntervalRow {
                        started_at: row.started_at,
                        ended_at: row.ended_at,
                        plc_code: i64::from(row.plc_code),
                        state: row.state,
                        fault_code: row.fault_code.map(i64::from),
                        reason: row.reason,
                    })
                    .collect()
            }
        };
        let rows = super::within_limit(rows, "the station's state intervals", super::MAX_READ_ROWS)?;
        rows.into_iter().map(|row| row.into_interval(line, station)).collect()
    }
}

/// A line's intervals that overlap `[$2, …)`, through the line's stations (a kept view's first
/// read): id, station code and the interval.
const LINE_INTERVALS_SQL: &str = "SELECT i.id, s.code AS station, i.started_at, i.ended_at, i.plc_code, i.state, \
     i.fault_code, i.reason FROM state_intervals i JOIN stations s ON s.id = i.station_id \
     WHERE s.line_id = $1 AND (i.ended_at IS NULL OR i.ended_at > $2)";

/// The same for the intervals written after id `$3`; the `+` keeps both backends on the
/// primary key's range (what is new), not on the line's history.
const LINE_INTERVALS_AFTER_SQL: &str = "SELECT i.id, s.code AS station, i.started_at, i.ended_at, i.plc_code, \
     i.state, i.fault_code, i.reason FROM state_intervals i JOIN stations s ON s.id = i.station_id \
     WHERE i.id > $3 AND +s.line_id = $1 AND (i.ended_at IS NULL OR i.ended_at > $2)";

impl Store {
    /// The state intervals of `line`'s stations, keyed by id, that overlap `[from, …)` and were
    /// written after id `after` (all with 0), and again those of `reopen` (the ones the caller
    /// holds open: closing one rewrites its row under the same id). What a line's kept figures
    /// read when the store moved (see `crate::figures::kept`).
    pub async fn line_intervals_changed(
        &self,
        line: &LineId,
        from: chrono::DateTime<chrono::Utc>,
        after: i64,
        reopen: &[i64],
    ) -> Result<Vec<(i64, StateInterval)>, StoreError> {
        let line_id = self.line_id(line.as_str()).await?;
        let mut statements = vec![if after <= 0 {
            raw(self.sea_backend(), LINE_INTERVALS_SQL, vec![line_id.into(), from.into()])
        } else {
            raw(self.sea_backend(), LINE_INTERVALS_AFTER_SQL, vec![line_id.into(), from.into(), after.into()])
        }];
        for chunk in reopen.chunks(super::sql::MAX_BINDS - 1) {
            let sql = format!(
                "SELECT i.id, s.code AS station, i.started_at, i.ended_at, i.plc_code, i.state, i.fault_code, \
                 i.reason FROM state_intervals i JOIN stations s ON s.id = i.station_id \
                 WHERE s.line_id = $1 AND i.id IN ({})",
                super::sql::placeholders(2, chunk.len())
            );
            let mut values: Vec<sea_orm::Value> = vec![line_id.into()];
            values.extend(chunk.iter().map(|id| sea_orm::Value::from(*id)));
            statements.push(raw(self.sea_backend(), &sql, values));
        }
        let mut out = std::collections::BTreeMap::new();
        for statement in statements {
            let rows =
                self.db.query_all_raw(statement).await.map_err(StoreError::db("reading a line's state intervals"))?;
            for row in &rows {
                let station: String = get(row, "station")?;
                let interval = IntervalRow {
                    started_at: get(row, "started_at")?,
                    ended_at: get(row, "ended_at")?,
                    plc_code: i64::from(get::<i32>(row, "plc_code")?),
                    state: get(row, "state")?,
                    fault_code: get::<Option<i32>>(row, "fault_code")?.map(i64::from),
                    reason: get(row, "reason")?,
                };
                let station = parse_id(StationId::parse, station, "stations", "code")?;
                out.insert(get::<i64>(row, "id")?, interval.into_interval(line, &station)?);
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// One stored interval, whichever path read it.
struct IntervalRow {
    started_at: chrono::DateTime<chrono::Utc>,
    ended_at: Option<chrono::DateTime<chrono::Utc>>,
    plc_code: i64,
    state: String,
    fault_code: Option<i64>,
    reason: Option<String>,
}

impl Store {
    /// Raw counter samples of a station, by counter then time: the input of counter deltas.
    pub async fn counter_samples(
        &self,
        line: &LineId,
        station: &StationId,
    ) -> Result<Vec<crate::domain::counter::CounterSample>, StoreError> {
        self.counter_samples_of(line, station, None, i64::MAX).await
    }

    /// The samples of one counter whose deltas end in `[from, to)`: those sampled in the
    /// period and the last one before it (the first delta's earlier end), in time order.
    pub async fn counter_samples_in(
        &self,
        line: &LineId,
        station: &StationId,
        counter: crate::domain::counter::CounterKind,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::domain::counter::CounterSample>, StoreError> {
        self.counter_samples_as_of(line, station, counter, (from, to), i64::MAX).await
    }

    /// [`Store::counter_samples_in`] among the samples recorded up to id `max_id` (a closed
    /// period's high-water mark).
    pub async fn counter_samples_as_of(
        &self,
        line: &LineId,
        station: &StationId,
        counter: crate::domain::counter::CounterKind,
        (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
        max_id: i64,
    ) -> Result<Vec<crate::domain::counter::CounterSample>, StoreError> {
        self.counter_samples_of(line, station, Some((counter, from, to)), max_id).await
    }

    async fn counter_samples_of(
        &self,
        line: &LineId,
        station: &StationId,
        period: Option<(
            crate::domain::counter::CounterKind,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
        )>,
        max_id: i64,
    ) -> Result<Vec<crate::domain::counter::CounterSample>, StoreError> {
        use super::entities::counter_sample;
        use crate::domain::counter::{CounterKind, CounterSample};
        use crate::domain::ids::PlcEpoch;
        let (station_id, _) = self.station_id(line.as_str(), station.as_str()).await?;
        let base = || {
            counter_sample::Entity::find()
                .filter(counter_sample::Column::StationId.eq(station_id))
                .filter(counter_sample::Column::Id.lte(max_id))
        };
        let rows = match period {
            None => base()
                .order_by_asc(counter_sample::Column::Counter)
                .order_by_asc(counter_sample::Column::SampledAt)
                .order_by_asc(counter_sample::Column::Id)
                .limit((super::MAX_READ_ROWS + 1) as u64)
                .all(&self.db)
                .await
                .map_err(StoreError::db("reading counter samples"))?,
            Some((counter, from, to)) => {
                let of_counter = || base().filter(counter_sample::Column::Counter.eq(counter.as_str()));
                let before = of_counter()
                    .filter(counter_sample::Column::SampledAt.lt(from))
                    .order_by_desc(counter_sample::Column::SampledAt)
                    .order_by_desc(counter_sample::Column::Id)
                    .one(&self.db)
                    .await
                    .map_err(StoreError::db("reading counter samples"))?;
                let during = of_counter()
                    .filter(counter_sample::Column::SampledAt.gte(from))
                    .filter(counter_sample::Column::SampledAt.lt(to))
                    .order_by_asc(counter_sample::Column::SampledAt)
                    .order_by_asc(counter_sample::Column::Id)
                    .limit((super::MAX_READ_ROWS + 1) as u64)
                    .all(&self.db)
                    .await
                    .map_err(StoreError::db("reading counter samples"))?;
                before.into_iter().chain(during).collect()
            }
        };
        let rows = super::within_limit(rows, "the station's counter samples", super::MAX_READ_ROWS)?;
        let corrupt =
            |column: &'static str, value: String| StoreError::Corrupt { table: "counter_samples", column, value };
        rows.into_iter()
            .map(|row| {
                Ok(CounterSample {
                    line: line.clone(),
                    station: station.clone(),
                    counter: CounterKind::parse(&row.counter).ok_or_else(|| corrupt("counter", row.counter.clone()))?,
                    epoch: PlcEpoch(
                        u32::try_from(row.plc_epoch).map_err(|_| corrupt("plc_epoch", row.plc_epoch.to_string()))?,
                    ),
                    sampled_at: row.sampled_at,
                    raw: u32::try_from(row.raw_value).map_err(|_| corrupt("raw_value", row.raw_value.to_string()))?,
                    width_bits: u8::try_from(row.width_bits)
                        .map_err(|_| corrupt("width_bits", row.width_bits.to_string()))?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Closes every state interval of `line`'s stations still open, at `at`, noting `why` on
    /// those without a reason: a collector that stops, or starts after an earlier run died, does
    /// not know what the stations did unwatched, so the last known state ends there. Returns how
    /// many were closed.
    pub async fn close_open_intervals(
        &self,
        line: &LineId,
        at: chrono::DateTime<chrono::Utc>,
        why: &str,
    ) -> Result<u64, StoreError> {
        use sea_orm::ConnectionTrait;
        let line_id = self.line_id(line.as_str()).await?;
        let sql = "UPDATE state_intervals SET ended_at = $1, reason = COALESCE(reason, $3) \
                   WHERE ended_at IS NULL AND started_at <= $1 AND station_id IN (SELECT id FROM stations WHERE line_id = $2)";
        let (_writer, txn) = self.begin_write().await?;
        let done = txn
            .execute_raw(super::sql::raw(
                self.sea_backend(),
                sql,
                vec![super::writer::truncate_to_micros(at).into(), line_id.into(), why.into()],
            ))
            .await
            .map_err(StoreError::db("closing open state intervals"))?;
        self.announce(&txn).await?;
        txn.commit().await.map_err(StoreError::db("committing closed intervals"))?;
        Ok(done.rows_affected())
    }
}

impl IntervalRow {
    fn into_interval(self, line: &LineId, station: &StationId) -> Result<StateInterval, StoreError> {
        let state = parse_id(|s: String| MachineState::parse(&s).ok_or(()), self.state, "state_intervals", "state")?;
        Ok(StateInterval {
            line: line.clone(),
            station: station.clone(),
            started_at: self.started_at,
            ended_at: self.ended_at,
            plc_code: u16::try_from(self.plc_code).map_err(|_| StoreError::Corrupt {
                table: "state_intervals",
                column: "plc_code",
                value: self.plc_code.to_string(),
            })?,
            state,
            fault_code: self.fault_code.and_then(|c| u16::try_from(c).ok()),
            reason: self.reason,
        })
    }
}
