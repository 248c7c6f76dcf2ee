//! How a client authenticates at the token endpoint: `none` for a public client, which
//! only names itself with `client_id` (RFC 6749 §2.3, §3.2.1), or `private_key_jwt`
//! (RFC 7523 §2.2, OpenID Connect Core §9): a short-lived ES256 assertion signed with
//! the client's registered P-256 key. The server refuses shared secrets. Either may
//! come with a DPoP key (RFC 9449) that what is issued is bound to.

use std::fmt;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use serde_json::json;

use super::LoginError;
use crate::client::DpopKey;

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid; the server accepts at most five minutes.
const ASSERTION_LIFETIME_SECONDS: i64 = 60;

/// A client's P-256 private key with the ids the server knows it by: what signs its
/// assertions. Only a key that can sign ES256 is accepted.
pub struct ClientAssertionKey {
    client_id: String,
    kid: String,
    key: EncodingKey,
}

impl fmt::Debug for ClientAssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertionKey")
            .field("client_id", &self.client_id)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl ClientAssertionKey {
    /// The key of `client_id` registered under `kid`, from a PEM private key (PKCS#8,
    /// or SEC 1 `EC PRIVATE KEY`) on curve P-256.
    pub fn from_pem(
        client_id: &str,
        kid: &str,
        private_key_pem: &[u8],
    ) -> Result<Self, LoginError> {
        let key = PKey::private_key_from_pem(private_key_pem)
            .map_err(|e| LoginError::ClientKey(format!("not a PEM private key: {e}")))?;
        let curve = key.ec_key().ok().and_then(|ec| ec.group().curve_name());
        if curve != Some(Nid::X9_62_PRIME256V1) {
            return Err(LoginError::ClientKey(
                "not a P-256 EC key (ES256 is what the server accepts)".into(),
            ));
        }
        let pkcs8 = key
            .private_key_to_pkcs8()
            .map_err(|e| LoginError::ClientKey(e.to_string()))?;
        Ok(Self {
            client_id: client_id.to_owned(),
            kid: kid.to_owned(),
            key: EncodingKey::from_ec_der(&pkcs8),
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A fresh assertion for `audience` (the token endpoint's URL), issued at `now`
    /// (Unix seconds): RFC 7523 §3, `iss` = `sub` = the client, a unique `jti`, and
    /// an `exp` a minute ahead.
    pub fn assertion(&self, audience: &str, now: i64) -> Result<String, LoginError> {
        let claims = json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        });
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| LoginError::Crypto(format!("signing the client assertion: {e}")))
    }

    /// RFC 7523 §2.2: the two form parameters that carry an assertion.
    pub(super) fn form_params(
        &self,
        token_endpoint: &str,
    ) -> Result<Vec<(&'static str, String)>, LoginError> {
        let now = chrono::Utc::now().timestamp();
        Ok(vec![
            ("client_assertion_type", JWT_BEARER.to_owned()),
            ("client_assertion", self.assertion(token_endpoint, now)?),
        ])
    }
}

/// How a client proves who it is at the token endpoint, and the key it binds what it
/// is issued to, if any.
#[derive(Debug)]
pub struct ClientAuth {
    method: Method,
    dpop: Option<DpopKey>,
}

#[derive(Debug)]
enum Method {
    /// A public client (a native app, the CLI): no secret, only its `client_id`.
    None { client_id: String },
    /// A confidential or system client with a registered key.
    PrivateKeyJwt(ClientAssertionKey),
}

impl ClientAuth {
    /// A public client, which only names itself. It gets a refresh token only with a
    /// DPoP key ([`Self::with_dpop`]).
    pub fn public(client_id: &str) -> Self {
        Self {
            method: Method::None {
                client_id: client_id.to_owned(),
            },
            dpop: None,
        }
    }

    /// The same client, sending a DPoP proof by `key` with every token request: the
    /// tokens issued are bound to it (RFC 9449 §5), and refreshing needs it again.
    pub fn with_dpop(mut self, key: DpopKey) -> Self {
        self.dpop = Some(key);
        self
    }

    /// The key its tokens are bound to, if any.
    pub fn dpop(&self) -> Option<&DpopKey> {
        self.dpop.as_ref()
    }

    pub fn client_id(&self) -> &str {
        match &self.method {
            Method::None { client_id } => client_id,
            Method::PrivateKeyJwt(key) => key.client_id(),
        }
    }

    /// The form parameters that authenticate this client at `token_endpoint`.
    pub(super) fn form_params(
        &self,
        token_endpoint: &str,
    ) -> Result<Vec<(&'static str, String)>, LoginError> {
        match &self.method {
            Method::None { client_id } => Ok(vec![("client_id", client_id.clone())]),
            Method::PrivateKeyJwt(key) => key.form_params(token_endpoint),
        }
    }
}

impl From<ClientAssertionKey> for ClientAuth {
    fn from(key: ClientAssertionKey) -> Self {
        Self {
            method: Method::PrivateKeyJwt(key),
            dpop: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use openssl::ec::{EcGroup, EcKey};
    use serde_json::Value;

    use super::*;

    fn pem(curve: Nid) -> (Vec<u8>, Vec<u8>) {
        let group = EcGroup::from_curve_name(curve).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        (
            key.private_key_to_pem_pkcs8().unwrap(),
            key.public_key_to_pem().unwrap(),
        )
    }

    fn part(jwt: &str, i: usize) -> Value {
        serde_json::from_slice(&B64.decode(jwt.split('.').nth(i).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn an_assertion_follows_rfc_7523_and_verifies_with_the_public_key() {
        let (private, public) = pem(Nid::X9_62_PRIME256V1);
        let key = ClientAssertionKey::from_pem("lab-system", "lab-key-1", &private).unwrap();
        let aud = "https://depot.example/oauth2/token";
        let jwt = key.assertion(aud, 1_800_000_000).unwrap();

        let header = part(&jwt, 0);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "lab-key-1");
        let claims = part(&jwt, 1);
        assert_eq!(claims["iss"], "lab-system");
        assert_eq!(claims["sub"], "lab-system");
        assert_eq!(claims["aud"], aud);
        assert_eq!(claims["iat"], 1_800_000_000);
        assert_eq!(claims["exp"], 1_800_000_060);
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
        assert_ne!(
            part(&key.assertion(aud, 1_800_000_000).unwrap(), 1)["jti"],
            claims["jti"],
            "every assertion has its own jti"
        );

        // Verified with another library than the one that signed.
        let verifier = josekit::jws::ES256.verifier_from_pem(&public).unwrap();
        josekit::jwt::decode_with_verifier(&jwt, &verifier).unwrap();
    }

    #[test]
    fn only_p256_keys_are_taken() {
        let (p384, _) = pem(Nid::SECP384R1);
        let refused = ClientAssertionKey::from_pem("c", "k", &p384).unwrap_err();
        assert!(refused.to_string().contains("P-256"), "{refused}");
        assert!(ClientAssertionKey::from_pem("c", "k", b"not a key").is_err());
    }

    #[test]
    fn a_public_client_only_names_itself() {
        let params = ClientAuth::public("depot-cli")
            .form_params("https://depot.example/oauth2/token")
            .unwrap();
        assert_eq!(params, vec![("client_id", "depot-cli".to_owned())]);
    }
}
