//! Repair actions: a repair bench reports what it did to a unit (`RESOLDER`, `REPLACE_PART`), so
//! a repair visit says more than "passed". Station results gain a nullable `repair_action`
//! code (null where a station reports none, and for every record stored before), and the codes
//! get a catalogue with a readable name in each language, as defect codes have.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StationResults {
    Table,
    RepairAction,
}

#[derive(DeriveIden)]
enum RepairActionCodes {
    Table,
    Id,
    Code,
    Name,
    NameVi,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(StationResults::Table).add_column(text_null(StationResults::RepairAction)).take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RepairActionCodes::Table)
                    .col(big_pk_auto(RepairActionCodes::Id))
                    .col(string_uniq(RepairActionCodes::Code))
                    .col(string(RepairActionCodes::Name))
                    .col(string_null(RepairActionCodes::NameVi))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(RepairActionCodes::Table).take()).await?;
        manager
            .alter_table(Table::alter().table(StationResults::Table).drop_column(StationResults::RepairAction).take())
            .await
    }
}
