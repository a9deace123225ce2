//! Reading machine state intervals back (downtime timelines, availability).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::entities::state_interval;
use super::results::parse_id;
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
        use sea_orm::Condition;
        let (station_id, _) = self.station_id(line.as_str(), station.as_str()).await?;
        let mut query = state_interval::Entity::find().filter(state_interval::Column::StationId.eq(station_id));
        if let Some((from, to)) = window {
            query = query.filter(state_interval::Column::StartedAt.lt(to)).filter(
                Condition::any()
                    .add(state_interval::Column::EndedAt.is_null())
                    .add(state_interval::Column::EndedAt.gt(from)),
            );
        }
        let rows = query
            .order_by_asc(state_interval::Column::StartedAt)
            .all(&self.db)
            .await
            .map_err(StoreError::db("reading state intervals"))?;
        rows.into_iter()
            .map(|row| {
                let state = parse_id(
                    |s: String| MachineState::parse(&s).ok_or(()),
                    row.state.clone(),
                    "state_intervals",
                    "state",
                )?;
                Ok(StateInterval {
                    line: line.clone(),
                    station: station.clone(),
                    started_at: row.started_at,
                    ended_at: row.ended_at,
                    plc_code: u16::try_from(row.plc_code).map_err(|_| StoreError::Corrupt {
                        table: "state_intervals",
                        column: "plc_code",
                        value: row.plc_code.to_string(),
                    })?,
                    state,
                    fault_code: row.fault_code.and_then(|c| u16::try_from(c).ok()),
                    reason: row.reason,
                })
            })
            .collect()
    }
}

impl Store {
    /// Raw counter samples of a station, by counter then time: the input of counter deltas.
    pub async fn counter_samples(
        &self,
        line: &LineId,
        station: &StationId,
    ) -> Result<Vec<crate::domain::counter::CounterSample>, StoreError> {
        use super::entities::counter_sample;
        use crate::domain::counter::{CounterKind, CounterSample};
        use crate::domain::ids::PlcEpoch;
        let (station_id, _) = self.station_id(line.as_str(), station.as_str()).await?;
        let rows = counter_sample::Entity::find()
            .filter(counter_sample::Column::StationId.eq(station_id))
            .order_by_asc(counter_sample::Column::Counter)
            .order_by_asc(counter_sample::Column::SampledAt)
            .order_by_asc(counter_sample::Column::Id)
            .all(&self.db)
            .await
            .map_err(StoreError::db("reading counter samples"))?;
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
        txn.commit().await.map_err(StoreError::db("committing closed intervals"))?;
        Ok(done.rows_affected())
    }
}
