//! People (the authentic source), and what the login and the authorization code flow
//! keep between requests: sessions, throttling counters, pending authorization
//! requests, consents, codes and refresh tokens. All in the database, so that any
//! instance of a fleet can serve any step.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Person {
    Table,
    Ssin,
    Name,
    PasswordHash,
    SealedTotpSecret,
    TotpLastStep,
    Profiles,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LoginSession {
    Table,
    Id,
    Ssin,
    Acr,
    Amr,
    AuthTime,
    Csrf,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginThrottle {
    Table,
    Key,
    Failures,
    WindowStartedAt,
    BlockedUntil,
}

#[derive(DeriveIden)]
enum AuthorizationRequest {
    Table,
    Id,
    Browser,
    ClientId,
    Params,
    Csrf,
    SessionId,
    AuthenticatedAt,
    Profile,
    Consented,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Consent {
    Table,
    Ssin,
    ClientId,
    Scopes,
    GrantedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCode {
    Table,
    CodeHash,
    ClientId,
    Grant,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    AccessJti,
    RefreshFamily,
}

#[derive(DeriveIden)]
enum RefreshToken {
    Table,
    TokenHash,
    Family,
    ClientId,
    Ssin,
    Grant,
    AccessJti,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Person::Table)
                    .if_not_exists()
                    .col(string(Person::Ssin).primary_key())
                    .col(string(Person::Name))
                    .col(string_null(Person::PasswordHash))
                    .col(blob_null(Person::SealedTotpSecret))
                    .col(big_integer_null(Person::TotpLastStep))
                    .col(json_binary(Person::Profiles))
                    .col(timestamp_with_time_zone(Person::CreatedAt))
                    .col(timestamp_with_time_zone(Person::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginSession::Table)
                    .if_not_exists()
                    .col(string(LoginSession::Id).primary_key())
                    .col(string(LoginSession::Ssin))
                    .col(string(LoginSession::Acr))
                    .col(json_binary(LoginSession::Amr))
                    .col(timestamp_with_time_zone(LoginSession::AuthTime))
                    .col(string(LoginSession::Csrf))
                    .col(timestamp_with_time_zone(LoginSession::CreatedAt))
                    .col(timestamp_with_time_zone(LoginSession::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_login_session_expires_at",
            LoginSession::Table,
            &[LoginSession::ExpiresAt.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginThrottle::Table)
                    .if_not_exists()
                    .col(string(LoginThrottle::Key).primary_key())
                    .col(integer(LoginThrottle::Failures))
                    .col(timestamp_with_time_zone(LoginThrottle::WindowStartedAt))
                    .col(timestamp_with_time_zone_null(LoginThrottle::BlockedUntil))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuthorizationRequest::Table)
                    .if_not_exists()
                    .col(string(AuthorizationRequest::Id).primary_key())
                    .col(string(AuthorizationRequest::Browser))
                    .col(string(AuthorizationRequest::ClientId))
                    .col(json_binary(AuthorizationRequest::Params))
                    .col(string(AuthorizationRequest::Csrf))
                    .col(string_null(AuthorizationRequest::SessionId))
                    .col(timestamp_with_time_zone_null(
                        AuthorizationRequest::AuthenticatedAt,
                    ))
                    .col(json_binary_null(AuthorizationRequest::Profile))
                    .col(boolean(AuthorizationRequest::Consented))
                    .col(timestamp_with_time_zone(AuthorizationRequest::CreatedAt))
                    .col(timestamp_with_time_zone(AuthorizationRequest::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_authorization_request_expires_at",
            AuthorizationRequest::Table,
            &[AuthorizationRequest::ExpiresAt.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Consent::Table)
                    .if_not_exists()
                    .col(string(Consent::Ssin))
                    .col(string(Consent::ClientId))
                    .col(json_binary(Consent::Scopes))
                    .col(timestamp_with_time_zone(Consent::GrantedAt))
                    .primary_key(Index::create().col(Consent::Ssin).col(Consent::ClientId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCode::Table)
                    .if_not_exists()
                    .col(string(AuthorizationCode::CodeHash).primary_key())
                    .col(string(AuthorizationCode::ClientId))
                    .col(json_binary(AuthorizationCode::Grant))
                    .col(timestamp_with_time_zone(AuthorizationCode::CreatedAt))
                    .col(timestamp_with_time_zone(AuthorizationCode::ExpiresAt))
                    .col(timestamp_with_time_zone_null(AuthorizationCode::UsedAt))
                    .col(string_null(AuthorizationCode::AccessJti))
                    .col(string_null(AuthorizationCode::RefreshFamily))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_authorization_code_expires_at",
            AuthorizationCode::Table,
            &[AuthorizationCode::ExpiresAt.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(RefreshToken::Table)
                    .if_not_exists()
                    .col(string(RefreshToken::TokenHash).primary_key())
                    .col(string(RefreshToken::Family))
                    .col(string(RefreshToken::ClientId))
                    .col(string(RefreshToken::Ssin))
                    .col(json_binary(RefreshToken::Grant))
                    .col(string(RefreshToken::AccessJti))
                    .col(timestamp_with_time_zone(RefreshToken::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshToken::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshToken::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshToken::RevokedAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_refresh_token_family",
            RefreshToken::Table,
            &[RefreshToken::Family.into_iden()],
        )
        .await?;
        index(
            manager,
            "ix_refresh_token_person_client",
            RefreshToken::Table,
            &[
                RefreshToken::Ssin.into_iden(),
                RefreshToken::ClientId.into_iden(),
            ],
        )
        .await?;
        index(
            manager,
            "ix_refresh_token_expires_at",
            RefreshToken::Table,
            &[RefreshToken::ExpiresAt.into_iden()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RefreshToken::Table.into_iden(),
            AuthorizationCode::Table.into_iden(),
            Consent::Table.into_iden(),
            AuthorizationRequest::Table.into_iden(),
            LoginThrottle::Table.into_iden(),
            LoginSession::Table.into_iden(),
            Person::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
