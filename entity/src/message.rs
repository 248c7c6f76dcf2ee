//! A sealed message as the depot accepted it: the JWE exactly as posted, the sender's
//! claims, the recipients and the RFC 3161 proof of reception.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub application: String,
    /// `ssin:<ssin>` or `client:<client_id>`: whose sent box holds it.
    pub sender_owner: String,
    /// `{"identity", "client_id", "acr", "keys", "act"?}` of the sending token.
    #[sea_orm(column_type = "JsonBinary")]
    pub sender: Json,
    /// The exact UTF-8 bytes of `sealed` as received (the compact string, or the
    /// JSON object's text), which the timestamp covers.
    #[sea_orm(column_type = "Text")]
    pub sealed: String,
    /// Whether `sealed` was a JSON object (general serialization), not a string.
    pub sealed_is_json: bool,
    pub size: i64,
    /// The recipients' identifiers, as posted (after validation).
    #[sea_orm(column_type = "JsonBinary")]
    pub recipients: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub metadata: Json,
    /// The TimeStampResp DER.
    pub timestamp: Vec<u8>,
    pub received_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
