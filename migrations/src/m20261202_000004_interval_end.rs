//! State intervals by station and end: "what overlaps this period" looks up the intervals that
//! end after its start (and the open ones) instead of every interval a station ever had that
//! started before its end — a year of a station flipping between running and starved is
//! millions of rows.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StateIntervals {
    Table,
    StationId,
    EndedAt,
}

const NAME: &str = "ix_state_intervals_station_end";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(NAME)
                    .table(StateIntervals::Table)
                    .col(StateIntervals::StationId)
                    .col(StateIntervals::EndedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name(NAME).table(StateIntervals::Table).to_owned()).await
    }
}
