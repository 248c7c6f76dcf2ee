//! The keystore: registration ceremonies in progress and every public key ever
//! registered. Keys are never deleted (revocation and expiry are times), so that
//! "which keys were active at T" can always be answered.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyRegistration {
    Table,
    Id,
    Owner,
    ClientId,
    Identity,
    KeyUse,
    Name,
    State,
    CreatedAt,
    ExpiresAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum PublicKey {
    Table,
    Kid,
    Owner,
    Ssin,
    Profile,
    Nihii,
    Cbe,
    Identity,
    ClientId,
    Name,
    KeyUse,
    Alg,
    Jwk,
    Jkt,
    Source,
    Attestation,
    CreatedAt,
    NotBefore,
    NotAfter,
    LastUsedAt,
    RevokedAt,
    RevokedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyRegistration::Table)
                    .if_not_exists()
                    .col(string(KeyRegistration::Id).primary_key())
                    .col(string(KeyRegistration::Owner))
                    .col(string(KeyRegistration::ClientId))
                    .col(json_binary(KeyRegistration::Identity))
                    .col(string(KeyRegistration::KeyUse))
                    .col(string(KeyRegistration::Name))
                    .col(json_binary(KeyRegistration::State))
                    .col(timestamp_with_time_zone(KeyRegistration::CreatedAt))
                    .col(timestamp_with_time_zone(KeyRegistration::ExpiresAt))
                    .col(timestamp_with_time_zone_null(KeyRegistration::FinishedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_key_registration_expires_at",
            KeyRegistration::Table,
            &[KeyRegistration::ExpiresAt.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(PublicKey::Table)
                    .if_not_exists()
                    .col(string(PublicKey::Kid).primary_key())
                    .col(string(PublicKey::Owner))
                    .col(string_null(PublicKey::Ssin))
                    .col(string(PublicKey::Profile))
                    .col(string_null(PublicKey::Nihii))
                    .col(string_null(PublicKey::Cbe))
                    .col(json_binary(PublicKey::Identity))
                    .col(string_null(PublicKey::ClientId))
                    .col(string(PublicKey::Name))
                    .col(string(PublicKey::KeyUse))
                    .col(string_null(PublicKey::Alg))
                    .col(json_binary(PublicKey::Jwk))
                    .col(string(PublicKey::Jkt))
                    .col(string(PublicKey::Source))
                    .col(string_null(PublicKey::Attestation))
                    .col(timestamp_with_time_zone(PublicKey::CreatedAt))
                    .col(timestamp_with_time_zone(PublicKey::NotBefore))
                    .col(timestamp_with_time_zone(PublicKey::NotAfter))
                    .col(timestamp_with_time_zone(PublicKey::LastUsedAt))
                    .col(timestamp_with_time_zone_null(PublicKey::RevokedAt))
                    .col(string_null(PublicKey::RevokedBy))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_public_key_ssin", PublicKey::Ssin),
            ("ix_public_key_nihii", PublicKey::Nihii),
            ("ix_public_key_cbe", PublicKey::Cbe),
            ("ix_public_key_client_id", PublicKey::ClientId),
        ] {
            index(manager, name, PublicKey::Table, &[col.into_iden()]).await?;
        }
        index(
            manager,
            "ix_public_key_owner_client",
            PublicKey::Table,
            &[
                PublicKey::Owner.into_iden(),
                PublicKey::ClientId.into_iden(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PublicKey::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(KeyRegistration::Table).to_owned())
            .await
    }
}
