//! A login sent to the upstream OpenID Provider, waiting for its callback; `state_digest`
//! is the SHA-256 of the `state` sent, the PKCE verifier is sealed under the master key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "federation_pending")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_digest: String,
    pub interaction_id: String,
    pub browser: String,
    pub nonce: String,
    pub sealed_verifier: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
