//! A refresh token (stored as its SHA-256). Each use rotates it within its family; a
//! used one presented again revokes the whole family.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub family: String,
    pub client_id: String,
    pub ssin: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub grant: Json,
    /// The access token issued together with this refresh token.
    pub access_jti: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
