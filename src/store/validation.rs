//! What the validation interlock reads (a unit's history, the route of the line that made it)
//! and writes (each answer, once per request).

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{OnConflict, Query};

use super::{Store, StoreError};
use crate::domain::equipment::StationKind;
use crate::domain::ids::{SerialNumber, StationId};
use crate::domain::validation::{UnitHistory, ValidationAnswer};

impl Store {
    /// The history the interlock judges a unit by; `None` for a serial never seen.
    pub async fn unit_history(&self, serial: &SerialNumber) -> Result<Option<UnitHistory>, StoreError> {
        let Some(trace) = self.backward_trace(serial).await? else { return Ok(None) };
        let Some(view) = trace.units.get(serial.as_str()) else { return Ok(None) };
        let visits: Vec<(StationId, crate::domain::record::Verdict)> =
            view.visits.iter().map(|v| (v.record.station.clone(), v.record.verdict)).collect();
        let Some(first) = view.visits.first() else {
            return Ok(None); // known only as a part consumed, never made here
        };
        let line = first.record.line.clone();
        let route = self.production_steps(line.as_str()).await?;
        Ok(Some(UnitHistory { visits, on_hold: view.unit.on_hold, line, route }))
    }

    /// The production steps of a line (its stations but repair, in position order).
    pub async fn production_steps(&self, line: &str) -> Result<Vec<StationId>, StoreError> {
        Ok(self
            .line_stations(line)
            .await?
            .into_iter()
            .filter(|s| s.kind != StationKind::Repair)
            .map(|s| s.id)
            .collect())
    }

    /// Records an answer; a second answer to the same request (a re-read after a reconnect)
    /// keeps the first.
    pub async fn record_validation(&self, answer: &ValidationAnswer) -> Result<(), StoreError> {
        let (station_id, _) = self.station_id(answer.line.as_str(), answer.station.as_str()).await?;
        let mut insert = Query::insert();
        insert
            .into_table(sea_orm::sea_query::Alias::new("validation_answers"))
            .columns(
                ["station_id", "plc_epoch", "request_seq", "serial", "verdict", "reason_code", "reason", "answered_at"]
                    .map(sea_orm::sea_query::Alias::new),
            )
            .values_panic([
                station_id.into(),
                i64::from(answer.epoch).into(),
                i64::from(answer.request_seq).into(),
                answer.serial.clone().into(),
                if answer.denied.is_some() { "deny" } else { "allow" }.into(),
                i32::from(answer.denied.map_or(0, |d| d.code())).into(),
                match (answer.denied, answer.unanswered) {
                    (Some(d), _) => Some(d.as_str().to_owned()),
                    (None, true) => Some(crate::domain::validation::UNANSWERED_ALLOWED.to_owned()),
                    (None, false) => None,
                }
                .into(),
                super::writer::truncate_to_micros(answer.answered_at).into(),
            ])
            .on_conflict(
                OnConflict::columns(["station_id", "plc_epoch", "request_seq"].map(sea_orm::sea_query::Alias::new))
                    .do_nothing()
                    .to_owned(),
            );
        let (_writer, txn) = self.begin_write().await?;
        let statement = self.sea_backend().build(&insert);
        txn.execute_raw(statement).await.map_err(StoreError::db("recording a validation answer"))?;
        txn.commit().await.map_err(StoreError::db("committing a validation answer"))
    }

    /// Every answer given to `line`'s stations, oldest first: `(station, request_seq, serial,
    /// reason code, reason)` (code 0 = allowed; the reason names a denial, or an unanswered
    /// request the station let pass).
    pub async fn validation_answers(
        &self,
        line: &str,
    ) -> Result<Vec<(String, u32, String, u16, Option<String>)>, StoreError> {
        let sql = "SELECT s.code AS station, v.request_seq, v.serial, v.reason_code, v.reason FROM validation_answers v \
                   JOIN stations s ON s.id = v.station_id JOIN lines l ON l.id = s.line_id \
                   WHERE l.code = $1 ORDER BY v.id";
        let rows = self
            .db
            .query_all_raw(super::sql::raw(self.sea_backend(), sql, vec![line.into()]))
            .await
            .map_err(StoreError::db("reading validation answers"))?;
        rows.iter()
            .map(|r| {
                Ok((
                    super::sql::get::<String>(r, "station")?,
                    u32::try_from(super::sql::get::<i64>(r, "request_seq")?).unwrap_or(0),
                    super::sql::get::<String>(r, "serial")?,
                    u16::try_from(super::sql::get::<i16>(r, "reason_code")?).unwrap_or(0),
                    super::sql::get::<Option<String>>(r, "reason")?,
                ))
            })
            .collect()
    }
}
