//! The keystore's registration ceremony for a key of this device, from the client's
//! side (W3C WebAuthn Level 2 §7.1 on the service's side): the service's creation
//! options are answered by the software authenticator ([`super::authenticator`]) with a
//! packed self-attested credential for a key pair this device holds.
//!
//! With the `client-tools` feature only, as the authenticator: the service binary
//! built without it registers nothing of its own.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Alg, ClientError, Device, DeviceKey, Session, authenticator, keypair};

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
}
