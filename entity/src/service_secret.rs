//! A key pair the service made for itself (the TSA key, the depot's own client key):
//! the public half in clear (certificate chain or JWK), the private half sealed under
//! the master key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_secret")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// PEM certificate chain or JWK, as the owner of the secret needs it.
    #[sea_orm(column_type = "Text")]
    pub public: String,
    /// PKCS#8 DER of the private key, sealed with the purpose `service-secret:{name}`.
    pub sealed_private: Vec<u8>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
