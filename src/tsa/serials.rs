//! The authority's serial numbers: unique and increasing across every instance sharing
//! the database (a PostgreSQL sequence; on SQLite, a counter row updated by its one
//! writer). Requests that need one at the same moment take theirs in one round trip
//! (`crate::batch`); each is still drawn when it is asked for, never reserved ahead,
//! so serials stay increasing in the order instances ask for them.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use crate::batch::Batcher;

/// At most this many serials drawn in one round trip.
const MAX_BATCH: usize = 64;
/// At most this many draws running at a time.
const MAX_IN_FLIGHT: usize = 2;

#[derive(Clone)]
pub struct Serials {
    batcher: Batcher<(), Result<u64, DbErr>>,
}

impl Serials {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            batcher: Batcher::new(MAX_BATCH, MAX_IN_FLIGHT, move |wanted: Vec<()>| {
                let db = db.clone();
                async move {
                    match draw(&db, wanted.len()).await {
                        Ok(serials) => serials.into_iter().map(Ok).collect(),
                        Err(e) => wanted.iter().map(|()| Err(e.clone())).collect(),
                    }
                }
            }),
        }
    }

    /// The next serial number.
    pub async fn next(&self) -> Result<u64, DbErr> {
        self.batcher.ask(()).await
    }
}

/// `n` new serial numbers, in increasing order.
async fn draw(db: &DatabaseConnection, n: usize) -> Result<Vec<u64>, DbErr> {
    let backend = db.get_database_backend();
    let count = i64::try_from(n).map_err(|e| DbErr::Custom(e.to_string()))?;
    let values: Vec<i64> = match backend {
        DbBackend::Postgres => {
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    "SELECT nextval('tsa_serial') FROM generate_series(1, $1::bigint)",
                    [count.into()],
                ))
                .await?;
            let mut values = rows
                .iter()
                .map(|row| row.try_get_by_index::<i64>(0))
                .collect::<Result<Vec<_>, _>>()?;
            values.sort_unstable();
            values
        }
        _ => {
            let row = db
                .query_one_raw(Statement::from_sql_and_values(
                    backend,
                    "INSERT INTO tsa_serial (id, value) VALUES (1, $1) \
                     ON CONFLICT (id) DO UPDATE SET value = tsa_serial.value + $1 RETURNING value",
                    [count.into()],
                ))
                .await?
                .ok_or_else(|| DbErr::Custom("the serial number query returned nothing".into()))?;
            let last: i64 = row.try_get_by_index(0)?;
            (last - count + 1..=last).collect()
        }
    };
    if values.len() != n {
        return Err(DbErr::Custom(format!(
            "asked for {n} serial numbers, got {}",
            values.len()
        )));
    }
    values
        .into_iter()
        .map(|v| {
            u64::try_from(v).map_err(|_| DbErr::Custom(format!("serial number {v} is negative")))
        })
        .collect()
}
