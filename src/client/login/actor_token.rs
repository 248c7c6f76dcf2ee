//! The actor token of a token exchange (RFC 8693 §2.1, API.md "Token exchange"): a JWT
//! the client signs about itself with a key the service knows, naming that key in its
//! header (`kid`), so that what the exchange issues is held by that key. For a public
//! app, a device key registered in the keystore for the (person, app) pair with a use
//! that signs (its `kid` is the credential id the keystore answered, kept in the device
//! file); for a confidential client, one of its own registered keys.
//!
//! Claims: `iss` = `sub` = the client_id, `aud` = the issuer, `iat`, `exp` a minute
//! ahead (the service takes at most five), a random `jti` (accepted once). Signed with
//! josekit over OpenSSL, like the DPoP proofs and the messages' signatures.

use std::fmt;

use josekit::jws::{self, JwsHeader, JwsSigner};
use openssl::pkey::{PKey, Private};
use serde_json::json;

use super::LoginError;
use crate::client::device::DeviceKey;
use crate::client::{Alg, keypair};

/// RFC 8693 §3: the type of an actor token that is a JWT.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// How long an actor token is valid.
const LIFETIME_SECONDS: i64 = 60;

/// A key that signs actor tokens for a client, with the kid the service knows it by.
pub struct ActorKey {
    client_id: String,
    kid: String,
    alg: Alg,
    signer: Box<dyn JwsSigner>,
}

impl fmt::Debug for ActorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorKey")
            .field("client_id", &self.client_id)
            .field("kid", &self.kid)
            .field("alg", &self.alg.jose())
            .finish_non_exhaustive()
    }
}

impl ActorKey {
    /// `key`, registered for `client_id` under `kid`, signing with `alg`.
    pub fn new(
        client_id: &str,
        kid: &str,
        key: &PKey<Private>,
        alg: Alg,
    ) -> Result<Self, LoginError> {
        let signer =
            keypair::jws_signer(key, alg).map_err(|e| LoginError::ClientKey(e.to_string()))?;
        Ok(Self {
            client_id: client_id.to_owned(),
            kid: kid.to_owned(),
            alg,
            signer,
        })
    }

    /// A registered key of this device (a public app's case): it must be one that
    /// signs, and it signs with the algorithm it was registered with.
    pub fn device(client_id: &str, key: &DeviceKey) -> Result<Self, LoginError> {
        if !key.signs() {
            return Err(LoginError::ClientKey(format!(
                "the device key {} is registered for {}, not for signing",
                key.kid, key.key_use
            )));
        }
        let bad = |e: crate::client::ClientError| LoginError::ClientKey(e.to_string());
        Self::new(
            client_id,
            &key.kid,
            &key.private_key().map_err(bad)?,
            key.sig_alg().map_err(bad)?,
        )
    }

    /// One of a confidential client's registered keys, from its PEM private key
    /// (PKCS#8, or SEC 1 for P-256): the algorithm is the one its type implies
    /// (ES256, EdDSA, RS256).
    pub fn from_pem(
        client_id: &str,
        kid: &str,
        private_key_pem: &[u8],
    ) -> Result<Self, LoginError> {
        let key = PKey::private_key_from_pem(private_key_pem)
            .map_err(|e| LoginError::ClientKey(format!("not a PEM private key: {e}")))?;
        let alg = Alg::implied_by(key.as_ref()).ok_or_else(|| {
            LoginError::ClientKey("no signature algorithm the service accepts fits it".into())
        })?;
        Self::new(client_id, kid, &key, alg)
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A fresh actor token for the service `issuer`, issued at `now` (Unix seconds).
    pub fn token(&self, issuer: &str, now: i64) -> Result<String, LoginError> {
        let claims = json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": issuer.trim_end_matches('/'),
            "iat": now,
            "exp": now + LIFETIME_SECONDS,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let mut header = JwsHeader::new();
        header.set_token_type("JWT");
        header.set_key_id(&self.kid);
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| LoginError::Crypto(format!("the actor token's claims: {e}")))?;
        jws::serialize_compact(&payload, &header, self.signer.as_ref())
            .map_err(|e| LoginError::Crypto(format!("signing the actor token: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::Value;

    use super::*;

    fn part(jwt: &str, i: usize) -> Value {
        serde_json::from_slice(&B64.decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
    }

    fn device_key(key_use: &str, alg: Alg) -> (DeviceKey, PKey<Private>) {
        let (key, pem) = keypair::generate(alg).unwrap();
        let device_key = DeviceKey {
            kid: "credential-id-1".into(),
            key_use: key_use.into(),
            alg: Some(alg.jose().into()),
            registered_at: chrono::Utc::now(),
            private_pem: pem,
        };
        (device_key, key)
    }

    #[test]
    fn an_actor_token_names_the_registered_key_and_verifies_with_it() {
        for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256, Alg::Ps256] {
            let (device_key, key) = device_key("sig", alg);
            let actor = ActorKey::device("gp-app", &device_key).unwrap();
            let jwt = actor
                .token("https://depot.example/", 1_800_000_000)
                .unwrap();

            let header = part(&jwt, 0);
            assert_eq!(header["kid"], "credential-id-1");
            assert_eq!(header["typ"], "JWT");
            assert_eq!(header["alg"], alg.jose());
            let claims = part(&jwt, 1);
            assert_eq!(claims["iss"], "gp-app");
            assert_eq!(claims["sub"], "gp-app");
            assert_eq!(claims["aud"], "https://depot.example");
            assert_eq!(claims["iat"], 1_800_000_000);
            assert_eq!(claims["exp"], 1_800_000_060);
            assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
            let again = actor.token("https://depot.example", 1_800_000_000).unwrap();
            assert_ne!(part(&again, 1)["jti"], claims["jti"], "a jti per token");

            // Verified by the service's own verifier for the key's algorithm.
            let public = PKey::public_key_from_der(&key.public_key_to_der().unwrap()).unwrap();
            let mut jwk = crate::keys::jwk::from_openssl(
                &public,
                "credential-id-1",
                crate::keys::KeyUse::Sig,
            )
            .unwrap()
            .jwk;
            jwk.remove("alg"); // an RSA key's says RS256; PS256 signs with it too
            let jwk = josekit::jwk::Jwk::from_map(jwk).unwrap();
            let verifier: Box<dyn josekit::jws::JwsVerifier> = match alg {
                Alg::Es256 => Box::new(jws::ES256.verifier_from_jwk(&jwk).unwrap()),
                Alg::EdDsa => Box::new(jws::EdDSA.verifier_from_jwk(&jwk).unwrap()),
                Alg::Rs256 => Box::new(jws::RS256.verifier_from_jwk(&jwk).unwrap()),
                Alg::Ps256 => Box::new(jws::PS256.verifier_from_jwk(&jwk).unwrap()),
            };
            jws::deserialize_compact(&jwt, verifier.as_ref()).unwrap();
        }
    }

    #[test]
    fn an_encryption_key_does_not_act() {
        let (device_key, _) = device_key("enc", Alg::Es256);
        let refused = ActorKey::device("gp-app", &device_key).unwrap_err();
        assert!(refused.to_string().contains("not for signing"), "{refused}");
    }

    #[test]
    fn a_confidential_clients_pem_key_signs_with_its_implied_algorithm() {
        let (_, pem) = keypair::generate(Alg::Es256).unwrap();
        let actor = ActorKey::from_pem("lab-portal", "portal-key", pem.as_bytes()).unwrap();
        let jwt = actor.token("https://depot.example", 1_800_000_000).unwrap();
        assert_eq!(part(&jwt, 0)["alg"], "ES256");
        assert_eq!(part(&jwt, 0)["kid"], "portal-key");
        assert!(ActorKey::from_pem("c", "k", b"not a key").is_err());
    }
}
