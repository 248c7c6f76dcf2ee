//! What each box holds, kept as running totals in the transactions that change it, so
//! the quota check of every accepted message reads one row instead of summing a box.

use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BoxUsage {
    Table,
    BoxKey,
    Bytes,
    Messages,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BoxUsage::Table)
                    .if_not_exists()
                    .col(string(BoxUsage::BoxKey).primary_key())
                    .col(big_integer(BoxUsage::Bytes))
                    .col(big_integer(BoxUsage::Messages))
                    .to_owned(),
            )
            .await?;
        // Boxes filled before this migration start from what they hold.
        let db = manager.get_connection();
        db.execute_raw(Statement::from_string(
            manager.get_database_backend(),
            "INSERT INTO box_usage (box_key, bytes, messages) \
             SELECT box_key, SUM(size), COUNT(*) FROM box_entry \
             WHERE folder = 'inbox' AND deleted_at IS NULL GROUP BY box_key",
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BoxUsage::Table).if_exists().to_owned())
            .await
    }
}
