//! The order of a box and its listing. A box is listed in `(xid, seq)` order: on
//! PostgreSQL `xid` is the id of the transaction that stored the entry, and a listing
//! shows only entries of transactions older than every transaction still running that
//! may be the depot's (`listable_below`), so an entry that commits late can never land
//! behind a cursor already handed out. On SQLite, transactions commit one at a time in
//! `seq` order, and `xid` is 0.

use entity::box_entry;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use super::EntryRow;

/// The oldest transaction still running in this database, or the next transaction
/// id when none is, as the `xid` column stores ids (`xid8` as a number). The running
/// ones are those of a snapshot (`xip`), less those a backend of another database of
/// the cluster holds: a long transaction there does not hold this database's listings
/// back, as `pg_snapshot_xmin` alone would. A transaction this role may not see the
/// backend of (another role's, without `pg_read_all_stats`) still counts: it can delay
/// a listing, never make it skip an entry.
const LISTABLE_BELOW: &str = "SELECT COALESCE(\
    (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x \
     WHERE x::text::bigint % 4294967296 NOT IN (SELECT backend_xid::text::bigint \
       FROM pg_stat_activity WHERE datname <> current_database() AND backend_xid IS NOT NULL)), \
    pg_snapshot_xmax(s)::text::bigint) AS xid FROM pg_current_snapshot() AS s";

/// A place in a box's order: just after the entry `(xid, seq)`. Written `seq` when
/// `xid` is 0 (SQLite, and entries stored before transactions ran side by side, whose
/// cursors were plain `seq` numbers), `xid:seq` otherwise.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub xid: i64,
    pub seq: i64,
}

impl Cursor {
    pub fn of(entry: &EntryRow) -> Self {
        Self {
            xid: entry.xid,
            seq: entry.seq,
        }
    }
}

impl std::str::FromStr for Cursor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let number = |n: &str| n.parse::<i64>().ok().filter(|n| *n >= 0).ok_or(());
        match s.split_once(':') {
            None => Ok(Self {
                xid: 0,
                seq: number(s)?,
            }),
            Some((xid, seq)) => Ok(Self {
                xid: number(xid)?,
                seq: number(seq)?,
            }),
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.xid {
            0 => write!(f, "{}", self.seq),
            xid => write!(f, "{xid}:{}", self.seq),
        }
    }
}

/// Which entries to list.
pub struct Listing<'a> {
    pub boxes: &'a [String],
    pub folder: &'a str,
    pub application: Option<&'a str>,
    pub after: Cursor,
    pub limit: u64,
}

/// The live entries of the listing after its cursor, in no particular order.
fn after_cursor(listing: &Listing<'_>) -> sea_orm::Select<box_entry::Entity> {
    use box_entry::Column as C;
    let mut query = box_entry::Entity::find()
        .filter(C::BoxKey.is_in(listing.boxes.iter().map(String::as_str)))
        .filter(C::Folder.eq(listing.folder))
        .filter(C::DeletedAt.is_null())
        .filter(
            Expr::tuple([Expr::col(C::Xid), Expr::col(C::Seq)]).gt(Expr::tuple([
                listing.after.xid.into(),
                listing.after.seq.into(),
            ])),
        );
    if let Some(application) = listing.application {
        query = query.filter(C::Application.eq(application));
    }
    query
}

/// On PostgreSQL, the transaction id below which every entry is in its final place:
/// every transaction older than it has ended. Read before the listing itself, whose
/// statement then sees all of them committed.
pub async fn listable_below(db: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(None);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            LISTABLE_BELOW,
        ))
        .await?;
    row.map(|r| r.try_get::<i64>("", "xid")).transpose()
}

/// Live entries after the cursor, oldest first; with `below` (PostgreSQL), only those
/// of transactions older than it.
pub async fn entries(
    db: &impl ConnectionTrait,
    listing: &Listing<'_>,
    below: Option<i64>,
) -> Result<Vec<EntryRow>, DbErr> {
    use box_entry::Column as C;
    let mut query = after_cursor(listing);
    if let Some(below) = below {
        query = query.filter(C::Xid.lt(below));
    }
    query
        .order_by_asc(C::Xid)
        .order_by_asc(C::Seq)
        .limit(listing.limit)
        .all(db)
        .await
}

/// The newest transaction among the committed entries after the cursor that `entries`
/// holds back because they are not `below`.
pub async fn held_back(
    db: &impl ConnectionTrait,
    listing: &Listing<'_>,
    below: i64,
) -> Result<Option<i64>, DbErr> {
    use box_entry::Column as C;
    let newest: Option<Option<i64>> = after_cursor(listing)
        .filter(C::Xid.gte(below))
        .select_only()
        .column_as(C::Xid.max(), "xid")
        .into_tuple()
        .one(db)
        .await?;
    Ok(newest.flatten())
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_read_back_as_written_and_old_ones_still_read() {
        for (text, xid, seq) in [("0", 0, 0), ("42", 0, 42), ("7:42", 7, 42)] {
            let cursor: Cursor = text.parse().unwrap();
            assert_eq!(cursor, Cursor { xid, seq }, "{text}");
            assert_eq!(cursor.to_string(), text);
        }
        assert!(Cursor { xid: 7, seq: 1 } > Cursor { xid: 6, seq: 99 });
        for bad in ["", "abc", "-1", "1:-2", "1:2:3", ":5", "5:", "1.5"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }
}
