//! Lease epochs: which claim of a line is the current one. Each time a different process
//! claims a line (PostgreSQL, several collector processes) the line's epoch goes up, and a
//! commit of records whose numbers the MES assigns (flag-handshake stations) is refused unless
//! it names the current epoch: a holder cut off from the database whose line a standby took
//! can then no longer store such a record beside the standby's (fencing).

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261123_000001_initial::fk;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LineLeases {
    Table,
    LineId,
    Epoch,
    Holder,
    ClaimedAt,
}

#[derive(DeriveIden)]
enum Lines {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LineLeases::Table)
                    .col(big_integer(LineLeases::LineId).primary_key())
                    .col(big_integer(LineLeases::Epoch))
                    .col(string(LineLeases::Holder))
                    .col(timestamp_with_time_zone(LineLeases::ClaimedAt))
                    .foreign_key(&mut fk((LineLeases::Table, LineLeases::LineId), (Lines::Table, Lines::Id)))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LineLeases::Table).take()).await
    }
}
