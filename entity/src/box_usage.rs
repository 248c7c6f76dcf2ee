//! The running totals of one inbox: what the quota check reads.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "box_usage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub box_key: String,
    /// Sum of the sizes of the box's live inbox entries.
    pub bytes: i64,
    pub messages: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
