//! Server-side sessions: every login (page cookie or API token) is a row, so logging out,
//! changing a password or disabling a user ends it for every web process sharing the store,
//! instead of a signed token living on until it expires.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20261123_000001_initial::{fk, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    RevokedWhy,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    // 128 random bits, base64url: named in the signed token.
                    .col(string(Sessions::Id).primary_key())
                    .col(big_integer(Sessions::UserId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .col(string_null(Sessions::RevokedWhy))
                    .foreign_key(&mut fk((Sessions::Table, Sessions::UserId), (Users::Table, Users::Id)))
                    .take(),
            )
            .await?;
        manager.create_index(index("ix_sessions_user", Sessions::Table, &["user_id"], false)).await?;
        manager.create_index(index("ix_sessions_expires", Sessions::Table, &["expires_at"], false)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Sessions::Table).take()).await
    }
}
