//! An authorization request between `/oauth2/authorize` and the redirect back: its
//! validated parameters and how far the person got (login, profile, consent).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authorization_request")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the browser cookie that started it: another browser cannot continue it.
    pub browser: String,
    pub client_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub params: Json,
    pub csrf: String,
    pub session_id: Option<String>,
    /// When the person authenticated within this request (for `prompt=login`).
    pub authenticated_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub profile: Option<Json>,
    pub consented: bool,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
