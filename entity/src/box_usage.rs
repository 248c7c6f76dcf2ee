//! The running totals of one inbox, in a few stripes: what the quota check reads (the
//! sum of the box's stripes). Each accepted message adds to one stripe picked at
//! random, so messages to one box do not wait for each other's row lock.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "box_usage_stripe")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub box_key: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub stripe: i32,
    /// This stripe's part of the sum of the sizes of the box's live inbox entries.
    pub bytes: i64,
    pub messages: i64,
    /// Those of them not read yet.
    pub unread: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
