//! A consumer organization's delegation to a supplier organization: for which scopes,
//! until when, from which source, and when (if ever) it was ended.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delegation")]
pub struct Model {
    /// A UUID v7, as text.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub consumer_cbe: String,
    pub supplier_cbe: String,
    /// Space-delimited, as the `scope` parameter (RFC 6749 §3.3).
    #[sea_orm(column_type = "Text")]
    pub scopes: String,
    pub not_after: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub source: Option<String>,
    pub created_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
