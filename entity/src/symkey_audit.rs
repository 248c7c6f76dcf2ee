//! One event in the life of a symmetric key: created, granted, refused, gone,
//! unknown, deleted or purged; who asked (columns to filter by) and why.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "symkey_audit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub key_id: String,
    pub event: String,
    pub actor_owner: Option<String>,
    pub actor_ssin: Option<String>,
    pub actor_nihii: Option<String>,
    pub actor_cbe: Option<String>,
    pub actor_client_id: Option<String>,
    /// `{"identity", "client_id"}` of the token; none for the purge job.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub actor: Option<Json>,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
