//! Schema migrations. Schema only, never seed data. They run at start-up and with
//! `depot migrate`; each is idempotent so that two instances starting together agree.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_authz;
mod m20261123_000002_people_login;
mod m20261123_000003_keystore;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_authz::Migration),
            Box::new(m20261123_000002_people_login::Migration),
            Box::new(m20261123_000003_keystore::Migration),
        ]
    }
}
