//! Public keys as JWKs (RFC 7517/7518, RFC 8037 for OKP) with their RFC 7638
//! thumbprint, from a WebAuthn credential key or from an X.509 certificate's key, and
//! the rules a key must meet for its use: EC P-256 (ES256 / ECDH-ES+A256KW), Ed25519
//! (EdDSA; it cannot encrypt) or RSA of at least 2048 bits (RS256 or PS256 as
//! registered / RSA-OAEP-256).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::bn::BigNumContext;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKeyRef, Public};
use serde_json::{Map, Value, json};

use super::KeyUse;
use super::alg::{Alg, MIN_RSA_BITS};
use super::cose::CredentialKey;
use crate::authz::jwks::thumbprint;

/// A public key ready to be stored and published.
#[derive(Debug, Clone)]
pub struct PublicJwk {
    /// The JWK with `kid`, and `use`/`alg` unless the key serves both uses.
    pub jwk: Map<String, Value>,
    pub alg: Option<String>,
    /// RFC 7638 thumbprint (SHA-256, base64url).
    pub jkt: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kty {
    EcP256,
    Ed25519,
    Rsa,
}

/// The JWK `alg` of a key type for a use, `sig` being the key's signature
/// algorithm; none for `sig+enc` (API.md: both omitted).
fn alg(kty: Kty, key_use: KeyUse, sig: Alg) -> Result<Option<&'static str>, String> {
    Ok(match (kty, key_use) {
        (Kty::Ed25519, KeyUse::Enc | KeyUse::SigEnc) => {
            return Err(format!(
                "an Ed25519 key can only sign, it cannot be registered for use {:?}: register it for \"sig\" (an encryption key is EC P-256 or RSA)",
                key_use.as_str()
            ));
        }
        (_, KeyUse::SigEnc) => None,
        (_, KeyUse::Sig) => Some(sig.jose()),
        (Kty::EcP256, KeyUse::Enc) => Some("ECDH-ES+A256KW"),
        (Kty::Rsa, KeyUse::Enc) => Some("RSA-OAEP-256"),
    })
}

fn finish(
    kty: Kty,
    mut members: Map<String, Value>,
    kid: &str,
    key_use: KeyUse,
    sig: Alg,
) -> Result<PublicJwk, String> {
    let alg = alg(kty, key_use, sig)?;
    let jkt = thumbprint(&Value::Object(members.clone()))
        .ok_or_else(|| "the public key cannot be expressed as a JWK".to_owned())?;
    members.insert("kid".into(), json!(kid));
    if let Some(alg) = alg {
        members.insert("use".into(), json!(key_use.as_str()));
        members.insert("alg".into(), json!(alg));
    }
    Ok(PublicJwk {
        jwk: members,
        alg: alg.map(str::to_owned),
        jkt,
    })
}

/// A key of a client's registered JWK Set (already checked by [`ClientJwks`]), as the
/// keystore keeps it. Its use is the JWK's `use`, else what its `alg` implies, else
/// both (an Ed25519 key: signing); the published JWK then carries `use` and `alg`
/// unless it serves both (API.md), the signature algorithm being the one its type
/// implies and the encryption algorithm the one this keystore uses for its type.
///
/// [`ClientJwks`]: crate::authz::jwks::ClientJwks
pub fn from_client_key(key: &crate::authz::jwks::ClientKey) -> (PublicJwk, KeyUse) {
    let stated_alg = key.jwk.get("alg").and_then(Value::as_str);
    let kty = key.jwk.get("kty").and_then(Value::as_str);
    let key_use = match (key.key_use.as_deref().and_then(KeyUse::parse), stated_alg) {
        (Some(key_use), _) => key_use,
        (None, Some(alg)) if crate::authz::jwks::ENC_ALGS.contains(&alg) => KeyUse::Enc,
        (None, Some(_)) => KeyUse::Sig,
        (None, None) if kty == Some("OKP") => KeyUse::Sig,
        (None, None) => KeyUse::SigEnc,
    };
    let enc_alg = match kty {
        Some("RSA") => Some("RSA-OAEP-256"),
        Some("EC") if key.jwk.get("crv").and_then(Value::as_str) == Some("P-256") => {
            Some("ECDH-ES+A256KW")
        }
        _ => None,
    };
    let alg = match key_use {
        KeyUse::SigEnc => None,
        KeyUse::Sig => stated_alg
            .map(str::to_owned)
            .or_else(|| key.sig_alg.map(|a| a.as_str().to_owned())),
        KeyUse::Enc => stated_alg.or(enc_alg).map(str::to_owned),
    };
    let mut jwk = key.jwk.clone();
    if let Some(alg) = &alg {
        jwk.insert("use".into(), json!(key_use.as_str()));
        jwk.insert("alg".into(), json!(alg));
    }
    let public = PublicJwk {
        jwk,
        alg,
        jkt: key.jkt.clone(),
    };
    (public, key_use)
}

fn ec_p256(x: &[u8], y: &[u8]) -> Result<Map<String, Value>, String> {
    if x.len() != 32 || y.len() != 32 {
        return Err("a P-256 key has 32-byte coordinates".into());
    }
    let mut m = Map::new();
    m.insert("kty".into(), json!("EC"));
    m.insert("crv".into(), json!("P-256"));
    m.insert("x".into(), json!(B64.encode(x)));
    m.insert("y".into(), json!(B64.encode(y)));
    Ok(m)
}

/// RFC 8037 §2.
fn okp_ed25519(x: &[u8]) -> Result<Map<String, Value>, String> {
    if x.len() != 32 {
        return Err("an Ed25519 key is 32 bytes".into());
    }
    let mut m = Map::new();
    m.insert("kty".into(), json!("OKP"));
    m.insert("crv".into(), json!("Ed25519"));
    m.insert("x".into(), json!(B64.encode(x)));
    Ok(m)
}

fn rsa(n: &[u8], e: &[u8]) -> Result<Map<String, Value>, String> {
    let n = strip_zeros(n);
    let e = strip_zeros(e);
    let bits = n.len() * 8;
    if bits < MIN_RSA_BITS as usize {
        return Err(format!(
            "an RSA key must have at least {MIN_RSA_BITS} bits, this one has {bits}"
        ));
    }
    if e.is_empty() {
        return Err("the RSA exponent is zero".into());
    }
    let mut m = Map::new();
    m.insert("kty".into(), json!("RSA"));
    m.insert("n".into(), json!(B64.encode(n)));
    m.insert("e".into(), json!(B64.encode(e)));
    Ok(m)
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// The JWK of a registered credential's key; a signing key's `alg` is the one it was
/// registered with (an RSA key is RS256 or PS256).
pub fn from_credential(
    key: &CredentialKey,
    kid: &str,
    key_use: KeyUse,
) -> Result<PublicJwk, String> {
    from_public(&key.key, Some(key.alg), kid, key_use)
}

/// The JWK of a certificate's (or a generated) public key: EC P-256, Ed25519 or
/// RSA ≥ 2048, signing with the algorithm its type implies (RSA: RS256).
pub fn from_openssl(
    key: &PKeyRef<Public>,
    kid: &str,
    key_use: KeyUse,
) -> Result<PublicJwk, String> {
    from_public(key, None, kid, key_use)
}

fn from_public(
    key: &PKeyRef<Public>,
    sig: Option<Alg>,
    kid: &str,
    key_use: KeyUse,
) -> Result<PublicJwk, String> {
    let err = |e: openssl::error::ErrorStack| e.to_string();
    let (kty, members) = match key.id() {
        Id::EC => {
            let ec = key.ec_key().map_err(err)?;
            if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
                return Err("an EC key must be on P-256".into());
            }
            let mut x = openssl::bn::BigNum::new().map_err(err)?;
            let mut y = openssl::bn::BigNum::new().map_err(err)?;
            let mut ctx = BigNumContext::new().map_err(err)?;
            ec.public_key()
                .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
                .map_err(err)?;
            let x = x.to_vec_padded(32).map_err(err)?;
            let y = y.to_vec_padded(32).map_err(err)?;
            (Kty::EcP256, ec_p256(&x, &y)?)
        }
        Id::ED25519 => (
            Kty::Ed25519,
            okp_ed25519(&key.raw_public_key().map_err(err)?)?,
        ),
        Id::RSA => {
            let r = key.rsa().map_err(err)?;
            (Kty::Rsa, rsa(&r.n().to_vec(), &r.e().to_vec())?)
        }
        _ => return Err("only EC P-256, Ed25519 and RSA keys are accepted".into()),
    };
    let sig = sig
        .or_else(|| Alg::implied_by(key))
        .filter(|a| a.fits(key))
        .ok_or("the key does not fit its signature algorithm")?;
    finish(kty, members, kid, key_use, sig)
}

/// A JWE encrypter to a registered public `enc` key, with the algorithm this
/// keystore uses for its type: ECDH-ES+A256KW for EC P-256, RSA-OAEP-256 for RSA.
/// Only the key material counts: the published `use`/`alg` (absent for a `sig+enc`
/// key) describe the registered key, and josekit would check them against the
/// algorithm.
pub fn jwe_encrypter(public: &Value) -> Result<Box<dyn josekit::jwe::JweEncrypter>, String> {
    use josekit::jwe;
    let map = public.as_object().ok_or("not a JWK")?;
    let mut jwk = josekit::jwk::Jwk::from_map(map.clone()).map_err(|e| e.to_string())?;
    jwk.set_key_use("enc");
    let encrypter: Box<dyn jwe::JweEncrypter> = match jwk.key_type() {
        "EC" => {
            jwk.set_algorithm("ECDH-ES+A256KW");
            Box::new(
                jwe::ECDH_ES_A256KW
                    .encrypter_from_jwk(&jwk)
                    .map_err(|e| e.to_string())?,
            )
        }
        "RSA" => {
            jwk.set_algorithm("RSA-OAEP-256");
            Box::new(
                jwe::RSA_OAEP_256
                    .encrypter_from_jwk(&jwk)
                    .map_err(|e| e.to_string())?,
            )
        }
        other => return Err(format!("key type {other} cannot be encrypted to")),
    };
    Ok(encrypter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;

    fn public(pkey: &PKey<openssl::pkey::Private>) -> PKey<Public> {
        PKey::public_key_from_der(&pkey.public_key_to_der().unwrap()).unwrap()
    }

    #[test]
    fn ec_key_by_use() {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        let sig = from_openssl(&public(&key), "k1", KeyUse::Sig).unwrap();
        assert_eq!(sig.jwk["alg"], "ES256");
        assert_eq!(sig.jwk["use"], "sig");
        let enc = from_openssl(&public(&key), "k1", KeyUse::Enc).unwrap();
        assert_eq!(enc.jwk["alg"], "ECDH-ES+A256KW");
        let both = from_openssl(&public(&key), "k1", KeyUse::SigEnc).unwrap();
        assert!(both.jwk.get("alg").is_none() && both.jwk.get("use").is_none());
        assert_eq!(sig.jkt, both.jkt, "the thumbprint covers the key only");
        assert_eq!(sig.jwk["kid"], "k1");
    }

    #[test]
    fn rsa_sizes() {
        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert!(from_openssl(&public(&small), "k", KeyUse::Enc).is_err());
        let fine = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let jwk = from_openssl(&public(&fine), "k", KeyUse::Enc).unwrap();
        assert_eq!(jwk.jwk["alg"], "RSA-OAEP-256");
        assert_eq!(jwk.jwk["e"], "AQAB");
    }

    #[test]
    fn other_curves_are_refused() {
        let group = EcGroup::from_curve_name(Nid::SECP384R1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
        assert!(from_openssl(&public(&key), "k", KeyUse::Sig).is_err());
    }

    #[test]
    fn credential_keys_keep_their_algorithm() {
        let ed = PKey::generate_ed25519().unwrap();
        let credential = CredentialKey {
            alg: Alg::EdDsa,
            key: public(&ed),
        };
        let jwk = from_credential(&credential, "k", KeyUse::Sig).unwrap();
        assert_eq!(jwk.jwk["kty"], "OKP");
        assert_eq!(jwk.jwk["crv"], "Ed25519");
        assert_eq!(jwk.jwk["alg"], "EdDSA");
        assert_eq!(
            jwk.jwk["x"],
            B64.encode(ed.raw_public_key().unwrap()).as_str()
        );
        for key_use in [KeyUse::Enc, KeyUse::SigEnc] {
            let refused = from_credential(&credential, "k", key_use).unwrap_err();
            assert!(refused.contains("Ed25519 key can only sign"), "{refused}");
        }

        let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        for alg in [Alg::Rs256, Alg::Ps256] {
            let credential = CredentialKey {
                alg,
                key: public(&rsa),
            };
            let sig = from_credential(&credential, "k", KeyUse::Sig).unwrap();
            assert_eq!(sig.jwk["alg"], alg.jose());
            let enc = from_credential(&credential, "k", KeyUse::Enc).unwrap();
            assert_eq!(enc.jwk["alg"], "RSA-OAEP-256");
            assert_eq!(sig.jkt, enc.jkt);
        }
        // A key that does not fit the algorithm it claims.
        let mismatch = CredentialKey {
            alg: Alg::Es256,
            key: public(&rsa),
        };
        assert!(from_credential(&mismatch, "k", KeyUse::Sig).is_err());
        // A certificate's Ed25519 key signs EdDSA.
        let jwk = from_openssl(&public(&ed), "k", KeyUse::Sig).unwrap();
        assert_eq!(jwk.jwk["alg"], "EdDSA");
    }

    #[test]
    fn a_client_keys_ed25519_key_without_use_signs_only() {
        let ed = PKey::generate_ed25519().unwrap();
        let x = B64.encode(ed.raw_public_key().unwrap());
        let set = crate::authz::jwks::ClientJwks::parse(
            &json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x}]}),
        )
        .unwrap();
        let (public, key_use) = from_client_key(&set.keys[0]);
        assert_eq!(key_use, KeyUse::Sig, "never found as an encryption key");
        assert_eq!(public.jwk["alg"], "EdDSA");
        assert_eq!(public.jwk["use"], "sig");
    }

    #[test]
    fn rfc8037_okp_thumbprint() {
        // RFC 8037 Appendix A.3.
        let key = PKey::public_key_from_raw_bytes(
            &B64.decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
                .unwrap(),
            Id::ED25519,
        )
        .unwrap();
        let jwk = from_openssl(&key, "k", KeyUse::Sig).unwrap();
        assert_eq!(jwk.jkt, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
        assert_eq!(
            thumbprint(&Value::Object(jwk.jwk.clone())).unwrap(),
            jwk.jkt,
            "the published JWK (with kid, use, alg) has the same thumbprint"
        );
    }
}
