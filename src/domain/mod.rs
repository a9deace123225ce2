//! The domain: pure types and rules of the plant, shared by acquisition, store, web and reports.
//!
//! Owns: identifiers, the equipment hierarchy, products and routes, units and their station
//! results, genealogy, material lots, machine states, counter samples, holds, shifts, ledger
//! entry shape, users and roles.
//!
//! Must never: perform I/O, read the clock, spawn tasks, or import sea_orm, actix or tokio. Every
//! instant comes in as an argument, so every rule here is testable with plain values.

pub mod counter;
pub mod equipment;
pub mod genealogy;
pub mod hold;
pub mod ids;
pub mod kpi;
pub mod ledger;
pub mod material;
pub mod oee;
pub mod plant;
pub mod product;
pub mod record;
pub mod shift;
pub mod state;
pub mod unit;
pub mod user;
pub mod validation;

pub use ids::{
    DefectCode, IdError, LineId, LotId, PlcEpoch, ProductCode, RecordSeq, RepairActionCode, SerialNumber, StationId,
    WorkOrderId,
};
pub use material::Material;
