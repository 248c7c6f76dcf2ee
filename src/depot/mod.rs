//! The depot: sealed messages accepted with a proof of reception, kept in the boxes of
//! their recipients and their sender, listed, fetched with receipts, and removed
//! (API.md "Depot"; DESIGN.md, both flows). The depot never sees plaintext: it checks
//! the JWE's shape and that every key it is encrypted to belongs where it should.

pub mod absences;
pub mod accept;
pub mod boxes;
pub mod deliveries;
pub mod jwe;
pub mod rate;
pub mod request;
pub mod routes;
pub mod signals;
pub mod store;
pub mod views;

use serde_json::{Value, json};

use crate::authz::tokens::AccessTokenClaims;
use crate::keys::Owner;

/// Who calls the depot, from their access token: whose sent box is theirs, which
/// inboxes they may read, and the claims stored with what they send.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `ssin:<ssin>` or `client:<client_id>`.
    pub owner: Owner,
    /// The inbox keys this identity may read (`ssin:…`, `nihii:…`, `cbe:…`).
    pub inboxes: Vec<String>,
    pub claims: AccessTokenClaims,
}

impl Caller {
    pub fn of_token(claims: AccessTokenClaims) -> Result<Self, String> {
        let owner = Owner::of_token(&claims)?;
        let inboxes = boxes::inbox_keys(&claims.identity);
        Ok(Self {
            owner,
            inboxes,
            claims,
        })
    }

    /// The sender claims a message keeps (API.md: identity, client_id, acr, keys, act).
    pub fn sender_claims(&self) -> Value {
        let c = &self.claims;
        let mut claims = json!({
            "identity": c.identity,
            "client_id": c.client_id,
            "acr": c.acr,
            "keys": c.keys,
        });
        if let Some(act) = &c.act {
            claims["act"] = act.clone();
        }
        claims
    }

    /// The key of this caller's sent box.
    pub fn sent_box(&self) -> &str {
        &self.owner.owner
    }
}
