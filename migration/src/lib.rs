//! Schema migrations. Schema only, never seed data. They run at start-up and with
//! `depot migrate`, on PostgreSQL under an advisory lock (`depot::db::migrate`) so that
//! instances starting together take turns; each is idempotent besides.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_authz;
mod m20261123_000002_people_login;
mod m20261123_000003_keystore;
mod m20261123_000004_service_secrets;
mod m20261124_000005_symkeys;
mod m20261124_000006_depot;
mod m20261124_000007_box_usage;
mod m20261124_000008_concurrent_ingest;
mod m20261203_000009_dpop;
mod m20261203_000010_token_exchange;
mod m20261203_000011_delegations;
mod m20261203_000013_registry_version;
mod m20261204_000014_box_totals;
mod m20261204_000015_outbox_unsent;
mod m20261204_000016_sealed_uncompressed;
mod m20261204_000017_key_log;
mod m20261205_000018_absences;
mod m20261205_000019_federation;
mod m20261205_000020_person_profiles_index;

pub struct Migrator;

/// Creates an index unless it exists (so that two instances starting together agree).
async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    cols: &[DynIden],
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.if_not_exists().name(name).table(table);
    for col in cols {
        index.col(col.clone());
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_authz::Migration),
            Box::new(m20261123_000002_people_login::Migration),
            Box::new(m20261123_000003_keystore::Migration),
            Box::new(m20261123_000004_service_secrets::Migration),
            Box::new(m20261124_000005_symkeys::Migration),
            Box::new(m20261124_000006_depot::Migration),
            Box::new(m20261124_000007_box_usage::Migration),
            Box::new(m20261124_000008_concurrent_ingest::Migration),
            Box::new(m20261203_000009_dpop::Migration),
            Box::new(m20261203_000010_token_exchange::Migration),
            Box::new(m20261203_000011_delegations::Migration),
            Box::new(m20261203_000013_registry_version::Migration),
            Box::new(m20261204_000014_box_totals::Migration),
            Box::new(m20261204_000015_outbox_unsent::Migration),
            Box::new(m20261204_000016_sealed_uncompressed::Migration),
            Box::new(m20261204_000017_key_log::Migration),
            Box::new(m20261205_000018_absences::Migration),
            Box::new(m20261205_000019_federation::Migration),
            Box::new(m20261205_000020_person_profiles_index::Migration),
        ]
    }
}
