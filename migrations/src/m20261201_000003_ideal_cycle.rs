//! Ideal cycle time per station (ISO 22400 planned run time per unit, PRU): the master data OEE
//! effectiveness is computed against. Nullable: a station without one has no effectiveness.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Stations {
    Table,
    IdealCycleMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Stations::Table)
                    .add_column(integer_null(Stations::IdealCycleMs).check(Expr::col(Stations::IdealCycleMs).gt(0)))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Stations::Table).drop_column(Stations::IdealCycleMs).take()).await
    }
}
