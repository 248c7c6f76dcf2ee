//! Secrets the service generates for itself at first start and every instance of a
//! fleet must share (the time-stamp authority's key, the depot's own client key),
//! sealed under the master key; and the time-stamp serial number sequence.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServiceSecret {
    Table,
    Name,
    Public,
    SealedPrivate,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TsaSerial {
    Table,
    Id,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ServiceSecret::Table)
                    .if_not_exists()
                    .col(string(ServiceSecret::Name).primary_key())
                    .col(text(ServiceSecret::Public))
                    .col(binary(ServiceSecret::SealedPrivate))
                    .col(timestamp_with_time_zone(ServiceSecret::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // Serial numbers must be unique and increasing across every instance: a real
        // sequence on PostgreSQL; on SQLite (one writer at a time) a one-row counter.
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("CREATE SEQUENCE IF NOT EXISTS tsa_serial AS BIGINT START 1")
                .await?;
        } else {
            manager
                .create_table(
                    Table::create()
                        .table(TsaSerial::Table)
                        .if_not_exists()
                        .col(integer(TsaSerial::Id).primary_key())
                        .col(big_integer(TsaSerial::Value))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP SEQUENCE IF EXISTS tsa_serial")
                .await?;
        } else {
            manager
                .drop_table(Table::drop().table(TsaSerial::Table).if_exists().to_owned())
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table(ServiceSecret::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
