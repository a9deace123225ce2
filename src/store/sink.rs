//! The store as the acquisition's ports: [`RecordSink`] (commit, resume positions, open
//! intervals, master data) and [`Interlock`] (unit histories, validation answers). The only
//! thing the store takes from acquisition is these two traits, which it implements.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::{Store, StoreError};
use crate::acquisition::sink::{Interlock, RecordSink, SinkError};
use crate::domain::ids::{LineId, SerialNumber, StationId};
use crate::domain::plant::PlantModel;
use crate::domain::record::{CommitReceipt, RecordBatch, UnitRecord};
use crate::domain::validation::{UnitHistory, ValidationAnswer};

impl From<StoreError> for SinkError {
    fn from(e: StoreError) -> Self {
        SinkError { missing_master_data: e.is_missing_master_data(), source: Box::new(e) }
    }
}

impl RecordSink for Store {
    fn resume_positions<'a>(
        &'a self,
        line: &'a LineId,
    ) -> BoxFuture<'a, Result<HashMap<StationId, UnitRecord>, SinkError>> {
        Box::pin(async move {
            let last = self.last_results(line).await?;
            Ok(last.into_values().map(|r| (r.record.station.clone(), r.record)).collect())
        })
    }

    fn commit<'a>(&'a self, batch: &'a RecordBatch) -> BoxFuture<'a, Result<CommitReceipt, SinkError>> {
        Box::pin(async move { Ok(Store::commit(self, batch).await?) })
    }

    fn close_open_intervals<'a>(
        &'a self,
        line: &'a LineId,
        at: DateTime<Utc>,
        why: &'a str,
    ) -> BoxFuture<'a, Result<u64, SinkError>> {
        Box::pin(async move { Ok(Store::close_open_intervals(self, line, at, why).await?) })
    }

    fn register_plant<'a>(&'a self, plant: &'a PlantModel) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.forget_master_ids().await;
            Ok(Store::register_plant(self, plant).await?)
        })
    }
}

impl Interlock for Store {
    fn unit_history<'a>(&'a self, serial: &'a SerialNumber) -> BoxFuture<'a, Result<Option<UnitHistory>, SinkError>> {
        Box::pin(async move { Ok(Store::unit_history(self, serial).await?) })
    }

    fn record_answer<'a>(&'a self, answer: &'a ValidationAnswer) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move { Ok(self.record_validation(answer).await?) })
    }
}
