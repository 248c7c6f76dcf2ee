//! The keystore's calls, from the client's side: revoking a key of this device, and the
//! JWK Set search by which senders find their recipients' keys and receivers the
//! signer's key as it was at a message's timestamp. Registering a key is
//! `registration`'s (feature `client-tools`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::{ClientError, Session};
use crate::people::Identifier;
use crate::people::model::identifier_parts;

impl Session {
    /// Revokes one of the caller's keys.
    pub async fn revoke_key(&self, kid: &str) -> Result<(), ClientError> {
        self.call("DELETE", &format!("/keys/{kid}"), None).await?;
        Ok(())
    }

    /// The keys `GET /keys/jwks` finds for these query parameters.
    pub async fn jwks(&self, query: &[(&str, &str)]) -> Result<Vec<Value>, ClientError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let set = self.get_json(&format!("/keys/jwks?{query}")).await?;
        Ok(set["keys"].as_array().cloned().unwrap_or_default())
    }

    /// Every active `enc` key of someone, now.
    pub async fn enc_keys_of(&self, identifier: &Identifier) -> Result<Vec<Value>, ClientError> {
        let (kind, value) = identifier_parts(identifier);
        self.jwks(&[
            ("identity_type", kind),
            ("identity_value", value),
            ("use", "enc"),
        ])
        .await
    }

    /// Every active `enc` key of the members of a group: the professionals of
    /// `quality` of organization `organization` (each key names its owner in
    /// `identity`).
    pub async fn group_enc_keys(
        &self,
        organization: &crate::people::Cbe,
        quality: &str,
    ) -> Result<Vec<Value>, ClientError> {
        self.jwks(&[
            ("organization", organization.as_str()),
            ("quality", quality),
            ("use", "enc"),
        ])
        .await
    }

    /// The key `kid` as it was at `at`, if it was active then.
    pub async fn key_at(&self, kid: &str, at: DateTime<Utc>) -> Result<Option<Value>, ClientError> {
        Ok(self.key_vouched_at(kid, at).await?.map(|(key, _)| key))
    }

    /// [`Self::key_at`], with the signed head of the transparency log that the key's
    /// `log` proof is against (`log_head` of the answer).
    pub async fn key_vouched_at(
        &self,
        kid: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<(Value, Value)>, ClientError> {
        let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("kid", kid), ("at", at.as_str())])
            .finish();
        let set = self.get_json(&format!("/keys/jwks?{query}")).await?;
        let head = set["log_head"].clone();
        Ok(set["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
            .map(|key| (key.clone(), head)))
    }
}
