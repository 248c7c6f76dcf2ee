//! An absence (out of office) as it covers one box: the same `id` for every box of
//! the owner it covers.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "absence")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// `ssin:…`, `nihii:…` or `cbe:…`: a box the absence covers.
    #[sea_orm(primary_key, auto_increment = false)]
    pub box_key: String,
    /// Whose absence it is: `ssin:…` for a person, `cbe:…` for an organization.
    pub owner: String,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    /// The substitutes' identifiers (`[{"type", "value"}…]`).
    #[sea_orm(column_type = "JsonBinary")]
    pub substitutes: Json,
    /// The client through which it was set.
    pub client_id: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
