//! Token exchange (RFC 8693): the access tokens issued by exchange, per person and
//! client, so that withdrawing the person's consent to `exchange` revokes them.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ExchangedToken {
    Table,
    Jti,
    Ssin,
    ClientId,
    IssuedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExchangedToken::Table)
                    .if_not_exists()
                    .col(string(ExchangedToken::Jti).primary_key())
                    .col(string(ExchangedToken::Ssin))
                    .col(string(ExchangedToken::ClientId))
                    .col(timestamp_with_time_zone(ExchangedToken::IssuedAt))
                    .col(timestamp_with_time_zone(ExchangedToken::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_exchanged_token_person_client",
            ExchangedToken::Table,
            &[
                ExchangedToken::Ssin.into_iden(),
                ExchangedToken::ClientId.into_iden(),
            ],
        )
        .await?;
        index(
            manager,
            "ix_exchanged_token_expires_at",
            ExchangedToken::Table,
            &[ExchangedToken::ExpiresAt.into_iden()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ExchangedToken::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
