//! What can go wrong in the keystore's operations beneath the routes.

/// A keystore operation that could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("keystore: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("client registry: {0}")]
    Clients(#[from] crate::authz::store::StoreError),
}
