//! A registered public key and its history (never deleted).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "public_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub owner: String,
    pub ssin: Option<String>,
    pub profile: String,
    pub nihii: Option<String>,
    pub cbe: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub identity: Json,
    pub client_id: Option<String>,
    pub name: String,
    pub key_use: String,
    pub alg: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub jwk: Json,
    pub jkt: String,
    pub source: String,
    pub attestation: Option<String>,
    pub created_at: DateTimeUtc,
    pub not_before: DateTimeUtc,
    pub not_after: DateTimeUtc,
    pub last_used_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
