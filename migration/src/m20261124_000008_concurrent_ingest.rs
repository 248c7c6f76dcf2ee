//! Lets accepted messages commit side by side instead of one after the other.
//!
//! - `box_entry.xid`: the writing transaction's id on PostgreSQL (`pg_current_xact_id()`,
//!   64 bits, never wraps), 0 on SQLite. A box is listed in `(xid, seq)` order, and only
//!   up to the oldest transaction still running, so an entry that commits late can
//!   never land behind a cursor already handed out. Until now a lock made `seq` follow
//!   commit order, and every accepted message waited its turn for it.
//! - `box_usage` becomes `box_usage_stripe`: a box's totals are the sum of a few rows,
//!   each message adding to one of them in turn, so that messages to the same box do
//!   not queue on one row lock until their commit.

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BoxEntry {
    Table,
    Xid,
    Seq,
    BoxKey,
    Folder,
}

#[derive(DeriveIden)]
enum BoxUsage {
    Table,
    BoxKey,
    Stripe,
    Bytes,
    Messages,
}

#[derive(DeriveIden)]
enum BoxUsageStripe {
    Table,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        if !manager.has_column("box_entry", "xid").await? {
            // Entries stored before this migration committed in `seq` order (the lock):
            // xid 0 keeps them in that order, before every later one.
            manager
                .alter_table(
                    Table::alter()
                        .table(BoxEntry::Table)
                        .add_column(big_integer(BoxEntry::Xid).default(0))
                        .to_owned(),
                )
                .await?;
        }
        if backend == DatabaseBackend::Postgres {
            db.execute_raw(Statement::from_string(
                backend,
                "ALTER TABLE box_entry ALTER COLUMN xid \
                 SET DEFAULT (pg_current_xact_id()::text::bigint)",
            ))
            .await?;
        }
        index(
            manager,
            "ix_box_entry_box_order",
            BoxEntry::Table,
            &[
                BoxEntry::BoxKey.into_iden(),
                BoxEntry::Folder.into_iden(),
                BoxEntry::Xid.into_iden(),
                BoxEntry::Seq.into_iden(),
            ],
        )
        .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("ix_box_entry_box")
                    .table(BoxEntry::Table)
                    .to_owned(),
            )
            .await?;

        if manager.has_table("box_usage").await? {
            manager
                .create_table(
                    Table::create()
                        .table(BoxUsageStripe::Table)
                        .if_not_exists()
                        .col(string(BoxUsage::BoxKey))
                        .col(integer(BoxUsage::Stripe))
                        .col(big_integer(BoxUsage::Bytes))
                        .col(big_integer(BoxUsage::Messages))
                        .primary_key(Index::create().col(BoxUsage::BoxKey).col(BoxUsage::Stripe))
                        .to_owned(),
                )
                .await?;
            db.execute_raw(Statement::from_string(
                backend,
                "INSERT INTO box_usage_stripe (box_key, stripe, bytes, messages) \
                 SELECT box_key, 0, bytes, messages FROM box_usage",
            ))
            .await?;
            manager
                .drop_table(Table::drop().table(BoxUsage::Table).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        manager
            .create_table(
                Table::create()
                    .table(BoxUsage::Table)
                    .col(string(BoxUsage::BoxKey).primary_key())
                    .col(big_integer(BoxUsage::Bytes))
                    .col(big_integer(BoxUsage::Messages))
                    .to_owned(),
            )
            .await?;
        db.execute_raw(Statement::from_string(
            backend,
            "INSERT INTO box_usage (box_key, bytes, messages) \
             SELECT box_key, SUM(bytes), SUM(messages) FROM box_usage_stripe GROUP BY box_key",
        ))
        .await?;
        manager
            .drop_table(Table::drop().table(BoxUsageStripe::Table).to_owned())
            .await?;
        index(
            manager,
            "ix_box_entry_box",
            BoxEntry::Table,
            &[
                BoxEntry::BoxKey.into_iden(),
                BoxEntry::Folder.into_iden(),
                BoxEntry::Seq.into_iden(),
            ],
        )
        .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("ix_box_entry_box_order")
                    .table(BoxEntry::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(BoxEntry::Table)
                    .drop_column(BoxEntry::Xid)
                    .to_owned(),
            )
            .await
    }
}
