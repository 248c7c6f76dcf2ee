//! A registered OAuth client (the "API portal" registry).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// `public`, `confidential` or `system`.
    pub client_type: String,
    pub name: String,
    /// CBE of the owning organization.
    pub organization: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub redirect_uris: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub scopes: Json,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub claims: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub jwks: Option<Json>,
    pub min_acr: Option<String>,
    pub attestation: Option<String>,
    /// RFC 9449 §5.2: every access token of this client must be DPoP-bound.
    pub dpop_bound_access_tokens: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
