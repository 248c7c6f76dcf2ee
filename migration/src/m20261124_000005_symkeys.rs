//! Symmetric keys for unknown addressees (the KGSS role): each key sealed under the
//! master key with its access policy and creator, and the audit trail of every
//! creation, access and removal, which outlives the keys.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SymmetricKey {
    Table,
    KeyId,
    Sealed,
    Policy,
    CreatorOwner,
    Creator,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SymkeyAudit {
    Table,
    Id,
    At,
    KeyId,
    Event,
    ActorOwner,
    ActorSsin,
    ActorNihii,
    ActorCbe,
    ActorClientId,
    Actor,
    Reason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SymmetricKey::Table)
                    .if_not_exists()
                    .col(string(SymmetricKey::KeyId).primary_key())
                    .col(binary(SymmetricKey::Sealed))
                    .col(json_binary(SymmetricKey::Policy))
                    .col(string(SymmetricKey::CreatorOwner))
                    .col(json_binary(SymmetricKey::Creator))
                    .col(timestamp_with_time_zone(SymmetricKey::CreatedAt))
                    .col(timestamp_with_time_zone(SymmetricKey::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_symmetric_key_expires_at",
            SymmetricKey::Table,
            &[SymmetricKey::ExpiresAt.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(SymkeyAudit::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SymkeyAudit::Id))
                    .col(timestamp_with_time_zone(SymkeyAudit::At))
                    .col(string(SymkeyAudit::KeyId))
                    .col(string(SymkeyAudit::Event))
                    .col(string_null(SymkeyAudit::ActorOwner))
                    .col(string_null(SymkeyAudit::ActorSsin))
                    .col(string_null(SymkeyAudit::ActorNihii))
                    .col(string_null(SymkeyAudit::ActorCbe))
                    .col(string_null(SymkeyAudit::ActorClientId))
                    .col(json_binary_null(SymkeyAudit::Actor))
                    .col(text(SymkeyAudit::Reason))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_symkey_audit_key_id", SymkeyAudit::KeyId),
            ("ix_symkey_audit_actor_ssin", SymkeyAudit::ActorSsin),
            ("ix_symkey_audit_actor_nihii", SymkeyAudit::ActorNihii),
            ("ix_symkey_audit_actor_cbe", SymkeyAudit::ActorCbe),
        ] {
            index(manager, name, SymkeyAudit::Table, &[col.into_iden()]).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SymkeyAudit::Table.into_iden(),
            SymmetricKey::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
