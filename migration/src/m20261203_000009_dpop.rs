//! DPoP (RFC 9449): a client may be registered as one whose access tokens must be
//! DPoP-bound (`dpop_bound_access_tokens`, RFC 9449 §5.2). Clients registered before
//! keep bearer tokens allowed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Client {
    Table,
    DpopBoundAccessTokens,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager
            .has_column("client", "dpop_bound_access_tokens")
            .await?
        {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Client::Table)
                    .add_column(boolean(Client::DpopBoundAccessTokens).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Client::Table)
                    .drop_column(Client::DpopBoundAccessTokens)
                    .to_owned(),
            )
            .await
    }
}
