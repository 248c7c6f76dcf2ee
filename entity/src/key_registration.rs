//! A WebAuthn registration ceremony in progress: its challenge state, single use.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "key_registration")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub owner: String,
    pub client_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub identity: Json,
    pub key_use: String,
    pub name: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub state: Json,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
