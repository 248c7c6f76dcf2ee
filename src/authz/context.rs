//! What the authorization server's own flows (client authentication, the grants, the
//! login) need: its signing keys, its policy, the keystore's key references, the
//! database, the clock and the configuration. They take this, never the
//! application's whole state; the routes hand it to them.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use super::login::hash_gate::HashGate;
use super::pdp::Policy;
use super::signing::SigningKeys;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::keys::Keystore;

#[derive(Clone)]
pub struct AuthzContext {
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    pub clock: Clock,
    /// Opens the persons' sealed TOTP secrets.
    pub master: Arc<MasterKey>,
    pub keys: Arc<SigningKeys>,
    pub policy: Arc<Policy>,
    pub keystore: Arc<Keystore>,
    /// The registered clients, cached.
    pub clients: super::store::Clients,
    /// The one-time ids of assertions and proofs.
    pub replays: super::store::Replays,
    /// Bounds the password checks running and waiting at once.
    pub password_checks: Arc<HashGate>,
}
