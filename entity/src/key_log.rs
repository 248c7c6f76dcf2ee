//! One event of the keystore's transparency log (append-only).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "key_log")]
pub struct Model {
    /// The leaf's index in the Merkle tree: dense, from 0.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i64,
    pub kid: String,
    /// `registered`, `revoked` or `expired`.
    pub event: String,
    /// The canonical JSON (RFC 8785) the leaf hashes.
    #[sea_orm(column_type = "Text")]
    pub entry: String,
    pub logged_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
