//! Unit-validation answers: every allow or deny the MES gave a station, with its
//! reason, so an interlock decision can be audited like a record.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261123_000001_initial::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ValidationAnswers {
    Table,
    Id,
    StationId,
    PlcEpoch,
    RequestSeq,
    Serial,
    Verdict,
    ReasonCode,
    Reason,
    AnsweredAt,
}

#[derive(DeriveIden)]
enum Stations {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ValidationAnswers::Table)
                    .col(big_pk_auto(ValidationAnswers::Id))
                    .col(big_integer(ValidationAnswers::StationId))
                    .col(big_integer(ValidationAnswers::PlcEpoch))
                    .col(big_integer(ValidationAnswers::RequestSeq))
                    .col(string_len(ValidationAnswers::Serial, 512))
                    .col(
                        string(ValidationAnswers::Verdict)
                            .check(Expr::col(ValidationAnswers::Verdict).is_in(["allow", "deny"])),
                    )
                    .col(small_integer(ValidationAnswers::ReasonCode))
                    .col(string_null(ValidationAnswers::Reason))
                    .col(timestamp_with_time_zone(ValidationAnswers::AnsweredAt))
                    .foreign_key(&mut fk(
                        (ValidationAnswers::Table, ValidationAnswers::StationId),
                        (Stations::Table, Stations::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_validation_answers_request",
                ValidationAnswers::Table,
                &["station_id", "plc_epoch", "request_seq"],
                true,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ValidationAnswers::Table).take()).await
    }
}
