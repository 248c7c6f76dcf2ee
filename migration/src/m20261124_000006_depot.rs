//! The depot: sealed messages with their sender claims and proof of reception, the
//! boxes that hold them (one entry per recipient identifier, plus the sender's), the
//! idempotency records of `POST /depot/messages`, and the transactional outbox of
//! notifications the relay publishes to RabbitMQ.

use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Message {
    Table,
    Id,
    Application,
    SenderOwner,
    Sender,
    Sealed,
    SealedIsJson,
    Size,
    Recipients,
    Metadata,
    Timestamp,
    ReceivedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum BoxEntry {
    Table,
    Seq,
    MessageId,
    BoxKey,
    Folder,
    Application,
    Recipient,
    Size,
    ReceivedAt,
    FetchedAt,
    ReadAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum IdempotencyRecord {
    Table,
    Scope,
    Key,
    RequestHash,
    MessageId,
    Response,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    RoutingKey,
    Payload,
    CreatedAt,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Message::Table)
                    .if_not_exists()
                    .col(string(Message::Id).primary_key())
                    .col(string(Message::Application))
                    .col(string(Message::SenderOwner))
                    .col(json_binary(Message::Sender))
                    .col(text(Message::Sealed))
                    .col(boolean(Message::SealedIsJson))
                    .col(big_integer(Message::Size))
                    .col(json_binary(Message::Recipients))
                    .col(json_binary(Message::Metadata))
                    .col(binary(Message::Timestamp))
                    .col(timestamp_with_time_zone(Message::ReceivedAt))
                    .col(timestamp_with_time_zone(Message::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_message_expires_at",
            Message::Table,
            &[Message::ExpiresAt.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(BoxEntry::Table)
                    .if_not_exists()
                    .col(big_pk_auto(BoxEntry::Seq))
                    .col(string(BoxEntry::MessageId))
                    .col(string(BoxEntry::BoxKey))
                    .col(string(BoxEntry::Folder))
                    .col(string(BoxEntry::Application))
                    .col(json_binary_null(BoxEntry::Recipient))
                    .col(big_integer(BoxEntry::Size))
                    .col(timestamp_with_time_zone(BoxEntry::ReceivedAt))
                    .col(timestamp_with_time_zone_null(BoxEntry::FetchedAt))
                    .col(timestamp_with_time_zone_null(BoxEntry::ReadAt))
                    .col(timestamp_with_time_zone_null(BoxEntry::DeletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BoxEntry::Table, BoxEntry::MessageId)
                            .to(Message::Table, Message::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
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
        index(
            manager,
            "ix_box_entry_message",
            BoxEntry::Table,
            &[BoxEntry::MessageId.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyRecord::Table)
                    .if_not_exists()
                    .col(string(IdempotencyRecord::Scope))
                    .col(string(IdempotencyRecord::Key))
                    .col(string(IdempotencyRecord::RequestHash))
                    .col(string(IdempotencyRecord::MessageId))
                    .col(json_binary(IdempotencyRecord::Response))
                    .col(timestamp_with_time_zone(IdempotencyRecord::CreatedAt))
                    .col(timestamp_with_time_zone(IdempotencyRecord::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyRecord::Scope)
                            .col(IdempotencyRecord::Key),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_idempotency_record_expires_at",
            IdempotencyRecord::Table,
            &[IdempotencyRecord::ExpiresAt.into_iden()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Outbox::Id))
                    .col(string(Outbox::RoutingKey))
                    .col(text(Outbox::Payload))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::SentAt))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "ix_outbox_sent_at",
            Outbox::Table,
            &[Outbox::SentAt.into_iden(), Outbox::Id.into_iden()],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Outbox::Table.into_iden(),
            IdempotencyRecord::Table.into_iden(),
            BoxEntry::Table.into_iden(),
            Message::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
