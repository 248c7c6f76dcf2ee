//! Groups by quality within an organization are read from the persons' profiles
//! (JSON). On PostgreSQL a GIN index (`jsonb_path_ops`) serves their containment
//! queries (`profiles @> …`), so that finding "the doctors of organization X" does
//! not read every person. SQLite, the embedded default for small deployments, reads
//! the table.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS ix_person_profiles ON person USING GIN (profiles jsonb_path_ops)",
            )
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ix_person_profiles")
            .await
            .map(drop)
    }
}
