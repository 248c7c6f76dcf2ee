//! Box summaries from running totals: each box's stripes also count its unread
//! entries, and an inbox entry says whether its message lies in another inbox too
//! (`shared`), so that a reader of two boxes counts such a message once by looking at
//! those entries alone, never at the whole box.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BoxUsageStripe {
    Table,
    Unread,
}

#[derive(DeriveIden)]
enum BoxEntry {
    Table,
    Shared,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BoxUsageStripe::Table)
                    .add_column(big_integer(BoxUsageStripe::Unread).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BoxEntry::Table)
                    .add_column(boolean(BoxEntry::Shared).default(false))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Boxes filled before this migration start from what they hold.
        db.execute_unprepared(
            "INSERT INTO box_usage_stripe (box_key, stripe, bytes, messages, unread) \
             SELECT box_key, 0, 0, 0, COUNT(*) FROM box_entry \
             WHERE folder = 'inbox' AND deleted_at IS NULL AND read_at IS NULL \
             GROUP BY box_key \
             ON CONFLICT (box_key, stripe) DO UPDATE SET unread = excluded.unread",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE box_entry SET shared = true WHERE folder = 'inbox' AND message_id IN \
             (SELECT message_id FROM box_entry WHERE folder = 'inbox' \
              GROUP BY message_id HAVING COUNT(*) > 1)",
        )
        .await?;
        // The live shared entries of a box, the only ones a summary reads one by one.
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_box_entry_shared ON box_entry (box_key, message_id) \
             WHERE shared AND deleted_at IS NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_box_entry_shared")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BoxEntry::Table)
                    .drop_column(BoxEntry::Shared)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BoxUsageStripe::Table)
                    .drop_column(BoxUsageStripe::Unread)
                    .to_owned(),
            )
            .await
    }
}
