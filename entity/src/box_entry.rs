//! A message in a box: one entry per recipient identifier (folder `inbox`, with that
//! recipient's receipts) and one for the sender (folder `sent`). `(xid, seq)` orders a
//! box and is its listing cursor.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "box_entry")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The id of the transaction that stored the entry on PostgreSQL (set by the
    /// column's default), 0 on SQLite, where transactions commit one at a time.
    pub xid: i64,
    pub message_id: String,
    /// `ssin:…`, `nihii:…`, `cbe:…` for an inbox; the sender's owner for `sent`.
    pub box_key: String,
    /// `inbox` or `sent`.
    pub folder: String,
    pub application: String,
    /// The recipient identifier of an inbox entry.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub recipient: Option<Json>,
    pub size: i64,
    pub received_at: DateTimeUtc,
    /// The recipient's first fetch (its `receivedAt` receipt).
    pub fetched_at: Option<DateTimeUtc>,
    pub read_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    /// An inbox entry of a message that lies in another inbox too: a reader of both
    /// boxes counts it once (its summary reads these entries, not the whole box).
    pub shared: bool,
    /// For an entry delivered to a substitute: the absent recipient's identifier whose
    /// message it is (the sender encrypted it for the substitute too).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub substitute_for: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
