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
        let (station_id, _) = self.station_id(line.as_str(), station.as_str()).await?;
        let rows = state_interval::Entity::find()
            .filter(state_interval::Column::StationId.eq(station_id))
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
