//! Key pairs the service makes for itself at first start (the TSA key, the depot's own
//! client key) and every instance of a fleet shares: the public half in clear, the
//! private half sealed under the master key, in the `service_secret` table.

use chrono::{DateTime, Utc};
use entity::service_secret;
use sea_orm::{ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, SqlErr};

use crate::crypto::{CryptoError, MasterKey};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Generate(String),
}

/// A stored key pair: the public half as stored, the private half opened (PKCS#8 DER).
pub struct ServiceSecret {
    pub public: String,
    pub private_der: Vec<u8>,
}

fn purpose(name: &str) -> String {
    format!("service-secret:{name}")
}

/// The secret `name`, made by `generate` if no instance has made it yet. When two
/// instances start together, the first insert wins and the other reads it back.
pub async fn load_or_create(
    db: &DatabaseConnection,
    master: &MasterKey,
    name: &str,
    now: DateTime<Utc>,
    generate: impl FnOnce() -> Result<ServiceSecret, String>,
) -> Result<ServiceSecret, SecretError> {
    if let Some(row) = service_secret::Entity::find_by_id(name).one(db).await? {
        return open(master, row);
    }
    let fresh = generate().map_err(SecretError::Generate)?;
    let row = service_secret::ActiveModel {
        name: Set(name.to_owned()),
        public: Set(fresh.public.clone()),
        sealed_private: Set(master.seal(&fresh.private_der, &purpose(name))?),
        created_at: Set(now),
    };
    match service_secret::Entity::insert(row).exec(db).await {
        Ok(_) => Ok(fresh),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let row = service_secret::Entity::find_by_id(name)
                .one(db)
                .await?
                .ok_or_else(|| SecretError::Generate(format!("{name}: lost a creation race")))?;
            open(master, row)
        }
        Err(e) => Err(e.into()),
    }
}

fn open(master: &MasterKey, row: service_secret::Model) -> Result<ServiceSecret, SecretError> {
    Ok(ServiceSecret {
        private_der: master.open(&row.sealed_private, &purpose(&row.name))?,
        public: row.public,
    })
}
