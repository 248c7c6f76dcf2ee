//! The application state handed to every handler: no globals, everything explicit.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::authz::bearer::TokenVerifier;
use crate::authz::pdp::Policy;
use crate::authz::signing::SigningKeys;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::ops::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    /// What the authorization server's flows need (a part of what is below).
    pub authz: crate::authz::context::AuthzContext,
    pub config: Arc<Config>,
    pub db: DatabaseConnection,
    pub clock: Clock,
    pub master: Arc<MasterKey>,
    pub keys: Arc<SigningKeys>,
    pub verifier: TokenVerifier,
    pub metrics: Arc<Metrics>,
    pub policy: Arc<Policy>,
    pub keystore: Arc<crate::keys::Keystore>,
    /// Which registered keys are active (the depot's check of a message's kids).
    pub key_directory: crate::keys::directory::KeyDirectory,
    /// Who is absent from which box, and who substitutes (the depot asks per message).
    pub absences: crate::depot::absences::Absences,
    /// Which symmetric keys are live (likewise).
    pub live_symkeys: crate::symkeys::store::LiveSymkeys,
    /// Issues the SAML holder-of-key assertions of the token exchange.
    pub saml: Arc<crate::authz::saml::SamlIssuer>,
    /// The co-hosted time-stamp authority.
    pub tsa: Arc<crate::tsa::Authority>,
    /// Its serial numbers.
    pub tsa_serials: crate::tsa::Serials,
    /// The depot's own OAuth client (client credentials with private_key_jwt).
    pub service_client: Arc<crate::service_client::ServiceClient>,
    /// How the depot obtains proofs of reception.
    pub stamper: Arc<crate::tsa::Stamper>,
    /// The configured bounds of a message, read once.
    pub depot_limits: crate::depot::accept::Limits,
    /// The room the bodies of posted messages share until they are stored.
    pub depot_bodies: crate::body::Budget,
    /// The per-sender rate limit of posting.
    pub sender_rate: Arc<crate::depot::rate::SenderRate>,
    /// Stores accepted messages, several to a statement under load.
    pub depot: crate::depot::store::Store,
    /// The outbox relay, when a broker is configured and the server runs.
    pub relay: Option<queues::relay::RelayControl>,
    /// The registry version the caches of clients and key references follow.
    pub freshness: crate::cache::registry::Freshness,
    /// The upstream OpenID Provider logins can be delegated to, when configured.
    pub federation: Option<Arc<crate::authz::federation::Upstream>>,
}
