//! A login session opened by an upstream login: the upstream issuer and subject, and
//! the profiles (form values or kinds) its profiles claim allows (`None`: all).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "federated_session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: String,
    pub issuer: String,
    pub subject: String,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub profiles: Option<Json>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
