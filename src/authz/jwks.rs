//! A client's registered JWK Set (RFC 7517) and the keys in it that may sign client
//! assertions. Only public keys are accepted; each key gets a `kid` (its RFC 7638
//! thumbprint when none is given) so that an assertion selects exactly one key.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use josekit::jwk::Jwk;

use crate::cache::Memo;
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};

/// JWS algorithms accepted for client authentication (RFC 7523). `none`, HS* and
/// RS256 are not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    Es256,
    Es384,
    Ps256,
    EdDsa,
}

impl SigAlg {
    pub const ALL: [SigAlg; 4] = [SigAlg::Es256, SigAlg::Es384, SigAlg::Ps256, SigAlg::EdDsa];

    pub fn as_str(self) -> &'static str {
        match self {
            SigAlg::Es256 => "ES256",
            SigAlg::Es384 => "ES384",
            SigAlg::Ps256 => "PS256",
            SigAlg::EdDsa => "EdDSA",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }
}

/// Key-management algorithms a registered `enc` key may name.
pub const ENC_ALGS: &[&str] = &["ECDH-ES+A256KW", "RSA-OAEP-256"];
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("{0}")]
    Set(String),
    #[error("key {index}: {reason}")]
    Key { index: usize, reason: String },
}

/// One registered public key.
#[derive(Debug, Clone)]
pub struct ClientKey {
    pub kid: String,
    /// `sig`, `enc`, or none (usable for both, as RFC 7517 §4.2 allows).
    pub key_use: Option<String>,
    /// The signature algorithm the key type implies, when the key can sign.
    pub sig_alg: Option<SigAlg>,
    /// RFC 7638 thumbprint (SHA-256).
    pub jkt: String,
    /// The public JWK as stored and published (with `kid`).
    pub jwk: Map<String, Value>,
}

impl ClientKey {
    /// A verifier pinned to the algorithm of the registered key, never the header's.
    /// The verifier for this key, built once per key and algorithm: OpenSSL's key
    /// decoding costs more than the verification itself. Keyed by the RFC 7638
    /// thumbprint, i.e. by the key material, so an entry can never go stale.
    pub fn verifier(&self) -> Result<Arc<dyn JwsVerifier>, josekit::JoseError> {
        static VERIFIERS: LazyLock<Memo<String, Arc<dyn JwsVerifier>>> =
            LazyLock::new(|| Memo::new(4096));
        let alg = self.sig_alg.map(SigAlg::as_str).unwrap_or("none");
        VERIFIERS.get_or_try_insert(&format!("{alg}:{}", self.jkt), || {
            self.build_verifier().map(Arc::from)
        })
    }

    fn build_verifier(&self) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
        let jwk = Jwk::from_map(self.jwk.clone())?;
        Ok(match self.sig_alg {
            Some(SigAlg::Es256) => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk)?),
            Some(SigAlg::Es384) => Box::new(josekit::jws::ES384.verifier_from_jwk(&jwk)?),
            Some(SigAlg::Ps256) => Box::new(josekit::jws::PS256.verifier_from_jwk(&jwk)?),
            Some(SigAlg::EdDsa) => Box::new(josekit::jws::EdDSA.verifier_from_jwk(&jwk)?),
            None => {
                return Err(josekit::JoseError::InvalidKeyFormat(anyhow::anyhow!(
                    "key {} cannot sign",
                    self.kid
                )));
            }
        })
    }

    /// Whether this key may authenticate the client.
    pub fn can_sign(&self) -> bool {
        self.sig_alg.is_some() && self.key_use.as_deref() != Some("enc")
    }
}

#[derive(Debug, Clone)]
pub struct ClientJwks {
    pub keys: Vec<ClientKey>,
}

impl ClientJwks {
    /// Checks a JWK Set offered for registration, loading every key.
    pub fn parse(value: &Value) -> Result<Self, JwksError> {
        Self::parse_checked(value, true)
    }

    /// A set read back from the database: checked when it was registered, so the
    /// keys are not loaded again (their verifiers are built on first use).
    pub fn parse_stored(value: &Value) -> Result<Self, JwksError> {
        Self::parse_checked(value, false)
    }

    fn parse_checked(value: &Value, load: bool) -> Result<Self, JwksError> {
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksError::Set("must be a JWK Set: {\"keys\": [...]}".into()))?;
        if keys.is_empty() || keys.len() > 20 {
            return Err(JwksError::Set("must hold 1 to 20 keys".into()));
        }
        let mut seen = HashSet::new();
        let keys = keys
            .iter()
            .enumerate()
            .map(|(index, key)| {
                let key =
                    parse_key(key, load).map_err(|reason| JwksError::Key { index, reason })?;
                if !seen.insert(key.kid.clone()) {
                    return Err(JwksError::Key {
                        index,
                        reason: format!("duplicate kid {:?}", key.kid),
                    });
                }
                Ok(key)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { keys })
    }

    /// The set as stored and published.
    pub fn to_value(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| Value::Object(k.jwk.clone()))
            .collect();
        serde_json::json!({ "keys": keys })
    }

    pub fn find(&self, kid: &str) -> Option<&ClientKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

fn parse_key(value: &Value, load: bool) -> Result<ClientKey, String> {
    let mut jwk = value.as_object().cloned().ok_or("must be a JSON object")?;
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
        return Err(format!(
            "contains the private member {member:?}: register public keys only"
        ));
    }
    let text = |name: &str| jwk.get(name).and_then(Value::as_str).map(str::to_owned);
    let kty = text("kty").ok_or("kty is required")?;
    let implied = match (kty.as_str(), text("crv").as_deref()) {
        ("EC", Some("P-256")) => SigAlg::Es256,
        ("EC", Some("P-384")) => SigAlg::Es384,
        ("OKP", Some("Ed25519")) => SigAlg::EdDsa,
        ("RSA", _) => {
            let n = text("n").ok_or("n is required")?;
            let n = B64.decode(n).map_err(|_| "n is not base64url")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(format!(
                    "RSA keys must have at least 2048 bits, this one has {bits}"
                ));
            }
            SigAlg::Ps256
        }
        ("EC" | "OKP", crv) => return Err(format!("unsupported curve {crv:?}")),
        (other, _) => return Err(format!("unsupported kty {other:?} (EC, OKP or RSA)")),
    };
    let key_use = text("use");
    if let Some(u) = &key_use
        && u != "sig"
        && u != "enc"
    {
        return Err(format!("use must be sig or enc, not {u:?}"));
    }
    let sig_alg = match text("alg") {
        None => Some(implied),
        Some(alg) if alg == implied.as_str() => Some(implied),
        Some(alg) if ENC_ALGS.contains(&alg.as_str()) && key_use.as_deref() != Some("sig") => None,
        Some(alg) => return Err(format!("alg {alg:?} is not accepted for this key")),
    };
    if key_use.as_deref() == Some("enc") && implied == SigAlg::EdDsa {
        return Err("an Ed25519 key cannot encrypt".into());
    }
    if load {
        // The key material must load as a public key of its type; `use` and `alg` are
        // checked above (josekit's verifier would refuse an encryption key's).
        let mut material = jwk.clone();
        material.remove("use");
        material.remove("alg");
        let parsed = Jwk::from_map(material).map_err(|e| format!("not a valid JWK: {e}"))?;
        let probe = ClientKey {
            kid: String::new(),
            key_use: None,
            sig_alg: Some(implied),
            jkt: String::new(),
            jwk: parsed.as_ref().clone(),
        };
        probe
            .build_verifier()
            .map_err(|e| format!("not a valid {kty} public key: {e}"))?;
    }
    let jkt = thumbprint(value).ok_or("cannot compute the RFC 7638 thumbprint")?;
    let kid = match text("kid") {
        Some(kid) if !kid.is_empty() && kid.len() <= 256 => kid,
        Some(_) => return Err("kid must be 1 to 256 characters".into()),
        None => {
            jwk.insert("kid".into(), Value::String(jkt.clone()));
            jkt.clone()
        }
    };
    Ok(ClientKey {
        kid,
        key_use,
        sig_alg,
        jkt,
        jwk,
    })
}

/// RFC 7638 JWK thumbprint with SHA-256, base64url.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).ok()?;
    parsed
        .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        .ok()
}

/// The verifier of a public JWK for `alg` (ES256, EdDSA, PS256 or RS256: the
/// algorithms of keys a person's device or a client holds), the JWK's own `alg`,
/// `use`, `key_ops` and `kid` set aside. An RSA key needs 2048 bits at least.
pub fn verifier_for(alg: &str, jwk: &Map<String, Value>) -> Result<Arc<dyn JwsVerifier>, String> {
    let mut material = jwk.clone();
    for member in ["alg", "use", "key_ops", "kid", "x5c", "x5t#S256"] {
        material.remove(member);
    }
    if alg.ends_with("S256") && alg != "ES256" {
        let n = material
            .get("n")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bits = B64.decode(n).unwrap_or_default().len() * 8;
        if bits < 2048 {
            return Err("RSA key has fewer than 2048 bits".into());
        }
    }
    let jwk = Jwk::from_map(material).map_err(|e| format!("jwk: {e}"))?;
    let built: Result<Arc<dyn JwsVerifier>, josekit::JoseError> = match alg {
        "ES256" => josekit::jws::ES256
            .verifier_from_jwk(&jwk)
            .map(|v| Arc::new(v) as _),
        "EdDSA" => josekit::jws::EdDSA
            .verifier_from_jwk(&jwk)
            .map(|v| Arc::new(v) as _),
        "PS256" => josekit::jws::PS256
            .verifier_from_jwk(&jwk)
            .map(|v| Arc::new(v) as _),
        "RS256" => josekit::jws::RS256
            .verifier_from_jwk(&jwk)
            .map(|v| Arc::new(v) as _),
        other => return Err(format!("algorithm {other:?} is not accepted")),
    };
    built.map_err(|_| format!("jwk is not a key for {alg}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

    #[test]
    fn ec_key_gets_thumbprint_kid() {
        let set =
            ClientJwks::parse(&json!({"keys": [{"kty": "EC", "crv": "P-256", "x": X, "y": Y}]}))
                .unwrap();
        let key = &set.keys[0];
        assert_eq!(key.kid, key.jkt);
        assert_eq!(key.sig_alg, Some(SigAlg::Es256));
        assert!(key.can_sign());
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn refusals() {
        let cases = [
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "d": "x"}),
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!({"kty": "EC", "crv": "P-521", "x": X, "y": Y}),
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "alg": "HS256"}),
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "use": "wrap"}),
            json!({"kty": "RSA", "e": "AQAB", "n": "AQAB"}),
            json!({"kty": "EC", "crv": "P-256", "x": X, "y": X}),
        ];
        for key in cases {
            assert!(
                ClientJwks::parse(&json!({"keys": [key.clone()]})).is_err(),
                "{key}"
            );
        }
        let dup = json!({"kty": "EC", "crv": "P-256", "x": X, "y": Y, "kid": "a"});
        assert!(ClientJwks::parse(&json!({"keys": [dup.clone(), dup]})).is_err());
        assert!(ClientJwks::parse(&json!({"keys": []})).is_err());
        assert!(ClientJwks::parse(&json!([])).is_err());
    }
}
