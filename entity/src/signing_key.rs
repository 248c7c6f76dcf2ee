//! The authorization server's own token-signing keys. The private key is stored
//! sealed under the master key (envelope encryption), never in clear.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_key")]
pub struct Model {
    /// RFC 7638 thumbprint of the public key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub alg: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub public_jwk: Json,
    /// PKCS#8 DER of the private key, sealed (see `crypto::envelope`).
    pub sealed_private_key: Vec<u8>,
    pub created_at: DateTimeUtc,
    /// When a newer key became current; the key still verifies until its tokens expire.
    pub retired_at: Option<DateTimeUtc>,
    /// When an operator withdrew it at once (compromise): nothing it signed verifies.
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
