//! Absences and substitutes (out of office): a person or organization is absent from
//! its boxes for a time and names who substitutes for it. One row per (absence, box)
//! it covers, so that a recipient's box finds its absence by one indexed look-up.
//! A box entry delivered to a substitute names the box it stands in for.
//!
//! The depot asks for the absences of every message's recipients, so instances cache
//! them; like the client and key registries, every write of `absence` counts in
//! `registry_version` (a trigger), which each instance follows.

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Absence {
    Table,
    Id,
    BoxKey,
    Owner,
    StartsAt,
    EndsAt,
    Substitutes,
    ClientId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BoxEntry {
    Table,
    SubstituteFor,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Absence::Table)
                    .if_not_exists()
                    .col(string(Absence::Id))
                    .col(string(Absence::BoxKey))
                    .col(string(Absence::Owner))
                    .col(timestamp_with_time_zone(Absence::StartsAt))
                    .col(timestamp_with_time_zone(Absence::EndsAt))
                    .col(json_binary(Absence::Substitutes))
                    .col(string(Absence::ClientId))
                    .col(timestamp_with_time_zone(Absence::CreatedAt))
                    .primary_key(Index::create().col(Absence::Id).col(Absence::BoxKey))
                    .to_owned(),
            )
            .await?;
        super::index(
            manager,
            "ix_absence_box",
            Absence::Table,
            &[Absence::BoxKey.into_iden(), Absence::EndsAt.into_iden()],
        )
        .await?;
        super::index(
            manager,
            "ix_absence_owner",
            Absence::Table,
            &[Absence::Owner.into_iden(), Absence::StartsAt.into_iden()],
        )
        .await?;
        counted_in_registry_version(manager).await?;
        if manager.has_column("box_entry", "substitute_for").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(BoxEntry::Table)
                    .add_column(json_binary_null(BoxEntry::SubstituteFor))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS absence_registry_changed ON absence")
                    .await?;
            }
            _ => {
                for event in EVENTS {
                    db.execute_unprepared(&format!(
                        "DROP TRIGGER IF EXISTS absence_registry_{}",
                        event.to_lowercase()
                    ))
                    .await?;
                }
            }
        }
        manager
            .alter_table(
                Table::alter()
                    .table(BoxEntry::Table)
                    .drop_column(BoxEntry::SubstituteFor)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Absence::Table).if_exists().to_owned())
            .await
    }
}

const EVENTS: [&str; 3] = ["INSERT", "UPDATE", "DELETE"];

/// Every row written to `absence` adds one to `registry_version` (see
/// `m20261203_000013_registry_version`, whose function this reuses on PostgreSQL).
async fn counted_in_registry_version(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.execute_unprepared(
                "CREATE OR REPLACE TRIGGER absence_registry_changed \
                 AFTER INSERT OR UPDATE OR DELETE ON absence \
                 FOR EACH ROW EXECUTE FUNCTION registry_changed()",
            )
            .await?;
        }
        _ => {
            for event in EVENTS {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER IF NOT EXISTS absence_registry_{} AFTER {event} ON absence \
                     BEGIN UPDATE registry_version SET version = version + 1 WHERE id = 1; END",
                    event.to_lowercase()
                ))
                .await?;
            }
        }
    }
    Ok(())
}
