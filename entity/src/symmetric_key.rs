//! A symmetric key for unknown addressees: the key sealed under the master key, its
//! access policy and its creator. The row goes when the key is deleted or purged.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "symmetric_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key_id: String,
    /// The 32 key bytes, sealed with the purpose `symkey:{key_id}`.
    pub sealed: Vec<u8>,
    /// The access policy as the creator gave it (after validation).
    #[sea_orm(column_type = "JsonBinary")]
    pub policy: Json,
    /// `ssin:<ssin>` or `client:<client_id>`: who may delete it and always read it.
    pub creator_owner: String,
    /// `{"identity", "client_id"}` of the creating token.
    #[sea_orm(column_type = "JsonBinary")]
    pub creator: Json,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
