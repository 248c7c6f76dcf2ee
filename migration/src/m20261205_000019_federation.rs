//! Upstream federation (src/authz/federation): the logins sent to the upstream OpenID
//! Provider and waiting for its callback (keyed by the digest of their `state`, single
//! use), and the sessions such a login opened (which upstream, which subject, and the
//! profiles its profiles claim allows).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::index;

#[derive(DeriveIden)]
enum FederationPending {
    Table,
    StateDigest,
    InteractionId,
    Browser,
    Nonce,
    SealedVerifier,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum FederatedSession {
    Table,
    SessionId,
    Issuer,
    Subject,
    Profiles,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FederationPending::Table)
                    .if_not_exists()
                    .col(string(FederationPending::StateDigest).primary_key())
                    .col(string(FederationPending::InteractionId))
                    .col(string(FederationPending::Browser))
                    .col(string(FederationPending::Nonce))
                    .col(blob(FederationPending::SealedVerifier))
                    .col(timestamp_with_time_zone(FederationPending::CreatedAt))
                    .col(timestamp_with_time_zone(FederationPending::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_federation_pending_expires_at",
            FederationPending::Table,
            &[FederationPending::ExpiresAt.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(FederatedSession::Table)
                    .if_not_exists()
                    .col(string(FederatedSession::SessionId).primary_key())
                    .col(string(FederatedSession::Issuer))
                    .col(string(FederatedSession::Subject))
                    .col(json_binary_null(FederatedSession::Profiles))
                    .col(timestamp_with_time_zone(FederatedSession::CreatedAt))
                    .col(timestamp_with_time_zone(FederatedSession::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_federated_session_expires_at",
            FederatedSession::Table,
            &[FederatedSession::ExpiresAt.into_iden()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(FederatedSession::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(FederationPending::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
