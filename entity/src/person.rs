//! A person of the authentic source: identified by SSIN, with the profiles they hold.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "person")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ssin: String,
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    /// The TOTP secret, sealed under the master key.
    pub sealed_totp_secret: Option<Vec<u8>>,
    /// The last TOTP time step accepted: a code is never accepted twice.
    pub totp_last_step: Option<i64>,
    #[sea_orm(column_type = "JsonBinary")]
    pub profiles: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
