//! Storage of delegations (the only delegation code that sees sea-orm), and the
//! per-instance memory of their standing that the token check asks.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use entity::delegation;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, ExprTrait, QueryFilter,
    QueryOrder, Set,
};

use super::{Delegation, Standing};
use crate::authz::scope::ScopeSet;
// The authorization server's store error, so that a database outage is told apart
// (`crate::fault`) here as everywhere in `authz`.
pub use crate::authz::store::StoreError;
use crate::people::Cbe;

fn from_row(row: delegation::Model) -> Result<Delegation, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("delegation {}: {what}", row.id));
    Ok(Delegation {
        consumer: Cbe::parse(&row.consumer_cbe).map_err(|_| corrupt("consumer"))?,
        supplier: Cbe::parse(&row.supplier_cbe).map_err(|_| corrupt("supplier"))?,
        scopes: ScopeSet::parse(&row.scopes).map_err(|_| corrupt("scopes"))?,
        not_after: row.not_after,
        source: row.source,
        created_at: row.created_at,
        ended_at: row.ended_at,
        id: row.id,
    })
}

pub async fn insert(db: &impl ConnectionTrait, d: &Delegation) -> Result<(), StoreError> {
    let row = delegation::ActiveModel {
        id: Set(d.id.clone()),
        consumer_cbe: Set(d.consumer.to_string()),
        supplier_cbe: Set(d.supplier.to_string()),
        scopes: Set(d.scopes.to_string()),
        not_after: Set(d.not_after),
        source: Set(d.source.clone()),
        created_at: Set(d.created_at),
        ended_at: Set(d.ended_at),
    };
    delegation::Entity::insert(row).exec(db).await?;
    Ok(())
}

pub async fn get(db: &impl ConnectionTrait, id: &str) -> Result<Option<Delegation>, StoreError> {
    delegation::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(from_row)
        .transpose()
}

/// Every delegation (in force and ended) of this consumer and/or supplier, oldest
/// first.
pub async fn list(
    db: &impl ConnectionTrait,
    consumer: Option<&Cbe>,
    supplier: Option<&Cbe>,
) -> Result<Vec<Delegation>, StoreError> {
    let mut query = delegation::Entity::find();
    if let Some(consumer) = consumer {
        query = query.filter(delegation::Column::ConsumerCbe.eq(consumer.as_str()));
    }
    if let Some(supplier) = supplier {
        query = query.filter(delegation::Column::SupplierCbe.eq(supplier.as_str()));
    }
    query
        .order_by_asc(delegation::Column::CreatedAt)
        .order_by_asc(delegation::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// The delegations from `consumer` to `supplier` in force at `now`, newest first.
pub async fn in_force(
    db: &impl ConnectionTrait,
    consumer: &Cbe,
    supplier: &Cbe,
    now: DateTime<Utc>,
) -> Result<Vec<Delegation>, StoreError> {
    delegation::Entity::find()
        .filter(delegation::Column::ConsumerCbe.eq(consumer.as_str()))
        .filter(delegation::Column::SupplierCbe.eq(supplier.as_str()))
        .filter(delegation::Column::EndedAt.is_null())
        .filter(
            delegation::Column::NotAfter
                .is_null()
                .or(delegation::Column::NotAfter.gt(now)),
        )
        .order_by_desc(delegation::Column::CreatedAt)
        .order_by_desc(delegation::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Ends a delegation at `now` (an ended one keeps its first `ended_at`); `None` when
/// there is no such delegation.
pub async fn end(
    db: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Delegation>, StoreError> {
    delegation::Entity::update_many()
        .col_expr(delegation::Column::EndedAt, Expr::value(now))
        .filter(delegation::Column::Id.eq(id))
        .filter(delegation::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    get(db, id).await
}

/// The standing of the delegations named by tokens, as the token check asks it: read
/// from the database at most once per [`DelegationStanding::TTL`] and delegation, so
/// that a delegation ended at any instance is honoured by every instance within that
/// time.
#[derive(Clone)]
pub struct DelegationStanding {
    db: DatabaseConnection,
    known: Arc<RwLock<Known>>,
}

/// Per delegation id: its standing, and when it was read.
type Known = HashMap<String, (Standing, Instant)>;

impl DelegationStanding {
    pub const TTL: Duration = Duration::from_secs(2);
    const CAPACITY: usize = 10_000;

    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            known: Arc::default(),
        }
    }

    /// The standing of delegation `id` (`Ended` when there is none).
    pub async fn of(&self, id: &str) -> Result<Standing, StoreError> {
        if let Ok(known) = self.known.read()
            && let Some((standing, seen)) = known.get(id)
            && seen.elapsed() < Self::TTL
        {
            return Ok(*standing);
        }
        let standing = get(&self.db, id)
            .await?
            .map_or(Standing::Ended, |d| d.standing());
        if let Ok(mut known) = self.known.write() {
            if known.len() >= Self::CAPACITY {
                known.clear();
            }
            known.insert(id.to_owned(), (standing, Instant::now()));
        }
        Ok(standing)
    }

    /// Forgets what this instance remembers of `id` (after ending it here, so that
    /// this instance refuses its tokens at once).
    pub fn forget(&self, id: &str) {
        if let Ok(mut known) = self.known.write() {
            known.remove(id);
        }
    }
}
