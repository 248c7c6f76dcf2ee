//! The keystore's calls, from the client's side: the registration ceremony of a key of
//! this device (WebAuthn, see [`super::authenticator`]), revoking one, and the JWK Set
//! search by which senders find their recipients' keys and receivers the signer's key
//! as it was at a message's timestamp.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{Alg, ClientError, Device, DeviceKey, Session, authenticator, keypair};
use crate::people::Identifier;
use crate::people::model::identifier_parts;

impl Session {
    /// Runs the registration ceremony for a new ES256 key of this device; see
    /// [`Session::register_key_with`].
    pub async fn register_key(&self, key_use: &str, name: &str) -> Result<DeviceKey, ClientError> {
        self.register_key_with(key_use, name, Alg::Es256).await
    }

    /// Runs the registration ceremony for a new key of this device: generates a key
    /// pair for `alg` (P-256, Ed25519 or RSA 2048), answers the options with a packed
    /// self-attested credential, and returns the key as registered (its kid is the
    /// credential id).
    pub async fn register_key_with(
        &self,
        key_use: &str,
        name: &str,
        alg: Alg,
    ) -> Result<DeviceKey, ClientError> {
        let (key, pem) = keypair::generate(alg)?;
        self.register_key_pair(key_use, name, alg, &key, pem).await
    }

    /// Registers a key for `device` and keeps it there: for a use that signs, the
    /// device's unregistered signing key pair when it is for `alg` (the one its tokens
    /// are bound to, see [`device`]), else a new key pair.
    pub async fn register_device_key(
        &self,
        device: &mut Device,
        key_use: &str,
        name: &str,
        alg: Alg,
    ) -> Result<DeviceKey, ClientError> {
        let signs = key_use == "sig" || key_use == "sig+enc";
        let unregistered = device
            .unregistered
            .clone()
            .filter(|key| signs && key.sig_alg().ok() == Some(alg));
        let registered = match &unregistered {
            Some(key) => {
                self.register_key_pair(
                    key_use,
                    name,
                    alg,
                    &key.private_key()?,
                    key.private_pem.clone(),
                )
                .await?
            }
            None => self.register_key_with(key_use, name, alg).await?,
        };
        if unregistered.is_some() {
            device.unregistered = None;
        }
        device.keys.push(registered.clone());
        Ok(registered)
    }

    /// The registration ceremony for the key pair `key` (`pem`, PKCS#8) of this device.
    pub async fn register_key_pair(
        &self,
        key_use: &str,
        name: &str,
        alg: Alg,
        key: &openssl::pkey::PKey<openssl::pkey::Private>,
        pem: String,
    ) -> Result<DeviceKey, ClientError> {
        let started = self
            .post_json(
                "/keys/registrations",
                &json!({"use": key_use, "name": name}),
            )
            .await?;
        let id = started["registrationId"]
            .as_str()
            .ok_or_else(|| ClientError::Protocol("no registrationId".into()))?;
        let credential =
            authenticator::make_credential(&started["publicKey"], &self.issuer, key, alg)?;
        let registered = self
            .post_json(
                &format!("/keys/registrations/{id}"),
                &json!({"credential": credential}),
            )
            .await?;
        let kid = registered["kid"]
            .as_str()
            .ok_or_else(|| ClientError::Protocol("the registration answered no kid".into()))?;
        let registered_at = registered["notBefore"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        Ok(DeviceKey {
            kid: kid.to_owned(),
            key_use: key_use.to_owned(),
            alg: Some(alg.jose().to_owned()),
            registered_at,
            private_pem: pem,
        })
    }

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

    /// The key `kid` as it was at `at`, if it was active then.
    pub async fn key_at(&self, kid: &str, at: DateTime<Utc>) -> Result<Option<Value>, ClientError> {
        let at = at.to_rfc3339_opts(SecondsFormat::Millis, true);
        Ok(self
            .jwks(&[("kid", kid), ("at", at.as_str())])
            .await?
            .into_iter()
            .find(|k| k["kid"] == kid))
    }
}
