//! Schema migrations of the MES store, written in the SeaQuery DSL so one definition serves
//! SQLite and PostgreSQL. Each migration is tested up and down on both backends.
//!
//! Must never: edit a released migration. A schema change is a new migration.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_initial;
mod m20261123_000002_validation;
mod m20261201_000003_ideal_cycle;
mod m20261203_000004_sessions;
mod m20261203_000005_ledger;
mod m20261206_000006_release_reason;
mod m20261206_000007_names;
mod m20261207_000008_line_leases;
mod m20261207_000009_lot_material;
mod m20261207_000010_repair_actions;

pub use m20261203_000005_ledger::RECORDED;

/// All migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_validation::Migration),
            Box::new(m20261201_000003_ideal_cycle::Migration),
            Box::new(m20261203_000004_sessions::Migration),
            Box::new(m20261203_000005_ledger::Migration),
            Box::new(m20261206_000006_release_reason::Migration),
            Box::new(m20261206_000007_names::Migration),
            Box::new(m20261207_000008_line_leases::Migration),
            Box::new(m20261207_000009_lot_material::Migration),
            Box::new(m20261207_000010_repair_actions::Migration),
        ]
    }
}
