//! The `absence` table: one row per (absence, box it covers).

use chrono::{DateTime, Utc};
use entity::absence;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set, Statement, TransactionTrait,
};

use super::Absence;
use crate::people::Identifier;

/// The absences of `rows`, their boxes gathered, in the rows' order.
fn gathered(rows: Vec<absence::Model>) -> Vec<Absence> {
    let mut absences: Vec<Absence> = Vec::new();
    for row in rows {
        if let Some(known) = absences.iter_mut().find(|a| a.id == row.id) {
            known.boxes.push(row.box_key);
            continue;
        }
        let substitutes: Vec<Identifier> =
            serde_json::from_value(row.substitutes).unwrap_or_default();
        absences.push(Absence {
            id: row.id,
            owner: row.owner,
            boxes: vec![row.box_key],
            from: row.starts_at,
            until: row.ends_at,
            substitutes,
            client_id: row.client_id,
            created_at: row.created_at,
        });
    }
    absences
}

/// Inserts `absence` unless another of its owner's overlaps it: then the other's id.
/// On PostgreSQL the owner's absences are locked for the check (a transaction-scoped
/// advisory lock on the owner), so two instances cannot both insert overlapping ones;
/// SQLite has one writer.
pub async fn insert_unless_overlapping(
    db: &DatabaseConnection,
    absence: &Absence,
) -> Result<Option<String>, DbErr> {
    let txn = db.begin().await?;
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            [absence.owner.clone().into()],
        ))
        .await?;
    }
    let overlapping = absence::Entity::find()
        .filter(absence::Column::Owner.eq(absence.owner.as_str()))
        .filter(absence::Column::StartsAt.lt(absence.until))
        .filter(absence::Column::EndsAt.gt(absence.from))
        .one(&txn)
        .await?;
    if let Some(other) = overlapping {
        return Ok(Some(other.id));
    }
    let substitutes =
        serde_json::to_value(&absence.substitutes).map_err(|e| DbErr::Custom(e.to_string()))?;
    let rows = absence.boxes.iter().map(|key| absence::ActiveModel {
        id: Set(absence.id.clone()),
        box_key: Set(key.clone()),
        owner: Set(absence.owner.clone()),
        starts_at: Set(absence.from),
        ends_at: Set(absence.until),
        substitutes: Set(substitutes.clone()),
        client_id: Set(absence.client_id.clone()),
        created_at: Set(absence.created_at),
    });
    absence::Entity::insert_many(rows).exec(&txn).await?;
    txn.commit().await?;
    Ok(None)
}

pub async fn of_owner(
    db: &impl ConnectionTrait,
    owner: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Absence>, DbErr> {
    let rows = absence::Entity::find()
        .filter(absence::Column::Owner.eq(owner))
        .filter(absence::Column::EndsAt.gt(now))
        .order_by_asc(absence::Column::StartsAt)
        .order_by_asc(absence::Column::Id)
        .order_by_asc(absence::Column::BoxKey)
        .all(db)
        .await?;
    Ok(gathered(rows))
}

pub async fn remove(db: &impl ConnectionTrait, owner: &str, id: &str) -> Result<bool, DbErr> {
    let removed = absence::Entity::delete_many()
        .filter(absence::Column::Owner.eq(owner))
        .filter(absence::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(removed.rows_affected > 0)
}

/// Every absence covering `box_key` (its holder's absences do not overlap); ended
/// ones until the purge.
pub async fn of_box(db: &impl ConnectionTrait, box_key: &str) -> Result<Vec<Absence>, DbErr> {
    let rows = absence::Entity::find()
        .filter(absence::Column::BoxKey.eq(box_key))
        .order_by_asc(absence::Column::StartsAt)
        .all(db)
        .await?;
    Ok(gathered(rows))
}

/// Removes the absences that ended before `before` (the housekeeping's purge).
pub async fn purge(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let removed = absence::Entity::delete_many()
        .filter(absence::Column::EndsAt.lt(before))
        .exec(db)
        .await?;
    Ok(removed.rows_affected)
}
