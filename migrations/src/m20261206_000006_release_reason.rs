//! Why a hold was released: a quality engineer lifting a hold says why, and the reason is kept
//! beside who released it and when. Nullable: releases made before this migration have none.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Holds {
    Table,
    ReleaseReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Holds::Table).add_column(text_null(Holds::ReleaseReason)).take()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Holds::Table).drop_column(Holds::ReleaseReason).take()).await
    }
}
