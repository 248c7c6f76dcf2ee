//! The keystore's transparency log (RFC 9162 structure): one row per key event
//! (registered, revoked, expired), numbered densely from 0 in the order of the Merkle
//! tree's leaves. `entry` holds the event's canonical JSON (RFC 8785), the exact bytes
//! that the leaf hashes. Rows are only ever appended.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyLog {
    Table,
    Idx,
    Kid,
    Event,
    Entry,
    LoggedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyLog::Table)
                    .if_not_exists()
                    .col(big_integer(KeyLog::Idx).primary_key())
                    .col(string(KeyLog::Kid))
                    .col(string(KeyLog::Event))
                    .col(text(KeyLog::Entry))
                    .col(timestamp_with_time_zone(KeyLog::LoggedAt))
                    .to_owned(),
            )
            .await?;
        super::index(
            manager,
            "ix_key_log_kid",
            KeyLog::Table,
            &[KeyLog::Kid.into_iden(), KeyLog::Idx.into_iden()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyLog::Table).if_exists().to_owned())
            .await
    }
}
