//! Names in both languages: the shop floor reads the pages in Vietnamese, so lines, stations
//! and products carry a second name (a profile's `name_vi`; nullable: a name without a
//! translation shows the display name), and defect codes get a catalogue with a readable name
//! in each language (`SOLDER_BRIDGE` is "Solder bridge", "Cầu hàn"); downtime reasons, stored
//! as text with each fault interval, get their Vietnamese text ("conveyor jam", "kẹt băng tải").

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Lines {
    Table,
}

#[derive(DeriveIden)]
enum Stations {
    Table,
}

#[derive(DeriveIden)]
enum Products {
    Table,
}

#[derive(DeriveIden)]
enum Names {
    NameVi,
}

#[derive(DeriveIden)]
enum DefectCodes {
    Table,
    Id,
    Code,
    Name,
    NameVi,
}

#[derive(DeriveIden)]
enum FaultReasons {
    Table,
    Id,
    Reason,
    NameVi,
}

/// The tables that gain the column.
fn tables() -> [DynIden; 3] {
    [Lines::Table.into_iden(), Stations::Table.into_iden(), Products::Table.into_iden()]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One statement per table: SQLite alters one column at a time.
        for table in tables() {
            manager.alter_table(Table::alter().table(table).add_column(text_null(Names::NameVi)).take()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(DefectCodes::Table)
                    .col(big_pk_auto(DefectCodes::Id))
                    .col(string_uniq(DefectCodes::Code))
                    .col(string(DefectCodes::Name))
                    .col(string_null(DefectCodes::NameVi))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FaultReasons::Table)
                    .col(big_pk_auto(FaultReasons::Id))
                    .col(string_uniq(FaultReasons::Reason))
                    .col(string(FaultReasons::NameVi))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(FaultReasons::Table).take()).await?;
        manager.drop_table(Table::drop().table(DefectCodes::Table).take()).await?;
        for table in tables() {
            manager.alter_table(Table::alter().table(table).drop_column(Names::NameVi).take()).await?;
        }
        Ok(())
    }
}
