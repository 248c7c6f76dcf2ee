//! The authorization server's tables: organizations, clients, signing keys, the
//! assertion replay store and revoked access tokens.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organization {
    Table,
    Cbe,
    Name,
    CreatedAt,
}

// Column names mirror the entity's fields, so some start with the table's name.
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Client {
    Table,
    ClientId,
    ClientType,
    Name,
    Organization,
    RedirectUris,
    Scopes,
    Claims,
    Jwks,
    MinAcr,
    Attestation,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SigningKey {
    Table,
    Kid,
    Alg,
    PublicJwk,
    SealedPrivateKey,
    CreatedAt,
    RetiredAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AssertionJti {
    Table,
    ClientId,
    Jti,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum RevokedToken {
    Table,
    Jti,
    ClientId,
    RevokedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organization::Table)
                    .if_not_exists()
                    .col(string(Organization::Cbe).primary_key())
                    .col(string(Organization::Name))
                    .col(timestamp_with_time_zone(Organization::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Client::Table)
                    .if_not_exists()
                    .col(string(Client::ClientId).primary_key())
                    .col(string(Client::ClientType))
                    .col(string(Client::Name))
                    .col(string_null(Client::Organization))
                    .col(json_binary(Client::RedirectUris))
                    .col(json_binary(Client::Scopes))
                    .col(json_binary_null(Client::Claims))
                    .col(json_binary_null(Client::Jwks))
                    .col(string_null(Client::MinAcr))
                    .col(string_null(Client::Attestation))
                    .col(timestamp_with_time_zone(Client::CreatedAt))
                    .col(timestamp_with_time_zone(Client::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_client_organization")
                            .from(Client::Table, Client::Organization)
                            .to(Organization::Table, Organization::Cbe),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SigningKey::Table)
                    .if_not_exists()
                    .col(string(SigningKey::Kid).primary_key())
                    .col(string(SigningKey::Alg))
                    .col(json_binary(SigningKey::PublicJwk))
                    .col(blob(SigningKey::SealedPrivateKey))
                    .col(timestamp_with_time_zone(SigningKey::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKey::RetiredAt))
                    .col(timestamp_with_time_zone_null(SigningKey::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AssertionJti::Table)
                    .if_not_exists()
                    .col(string(AssertionJti::ClientId))
                    .col(string(AssertionJti::Jti))
                    .col(timestamp_with_time_zone(AssertionJti::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(AssertionJti::ClientId)
                            .col(AssertionJti::Jti),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_assertion_jti_expires_at")
                    .table(AssertionJti::Table)
                    .col(AssertionJti::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RevokedToken::Table)
                    .if_not_exists()
                    .col(string(RevokedToken::Jti).primary_key())
                    .col(string(RevokedToken::ClientId))
                    .col(timestamp_with_time_zone(RevokedToken::RevokedAt))
                    .col(timestamp_with_time_zone(RevokedToken::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_revoked_token_expires_at")
                    .table(RevokedToken::Table)
                    .col(RevokedToken::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RevokedToken::Table.into_iden(),
            AssertionJti::Table.into_iden(),
            SigningKey::Table.into_iden(),
            Client::Table.into_iden(),
            Organization::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
