//! Delegations between organizations (API.md "Organizations acting for
//! organizations"): a consumer organization lets a supplier organization's systems act
//! for it, for some scopes, until an optional `not_after` or until an administrator
//! ends it (`ended_at`). Rows are never deleted, so that an ended delegation stays on
//! record and the tokens issued under it can be refused by its id.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Delegation {
    Table,
    Id,
    ConsumerCbe,
    SupplierCbe,
    Scopes,
    NotAfter,
    Source,
    CreatedAt,
    EndedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Delegation::Table)
                    .if_not_exists()
                    .col(string(Delegation::Id).primary_key())
                    .col(string(Delegation::ConsumerCbe))
                    .col(string(Delegation::SupplierCbe))
                    .col(text(Delegation::Scopes))
                    .col(timestamp_with_time_zone_null(Delegation::NotAfter))
                    .col(text_null(Delegation::Source))
                    .col(timestamp_with_time_zone(Delegation::CreatedAt))
                    .col(timestamp_with_time_zone_null(Delegation::EndedAt))
                    .to_owned(),
            )
            .await?;
        // The token endpoint's look-up (this consumer, this supplier) and the admin
        // listing by either party.
        index(
            manager,
            "ix_delegation_consumer_supplier",
            Delegation::Table,
            &[
                Delegation::ConsumerCbe.into_iden(),
                Delegation::SupplierCbe.into_iden(),
            ],
        )
        .await?;
        index(
            manager,
            "ix_delegation_supplier",
            Delegation::Table,
            &[Delegation::SupplierCbe.into_iden()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(Delegation::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
