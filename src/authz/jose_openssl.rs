//! jsonwebtoken's signatures done by OpenSSL.
//!
//! jsonwebtoken keeps the JWT rules (header, claims, validation); this module only
//! plugs OpenSSL in as its [`CryptoProvider`], so that the whole service has one
//! crypto library (josekit uses OpenSSL too) and the token endpoint gets OpenSSL's
//! assembly P-256 instead of a portable implementation (about 3× faster per
//! verify + sign). Only the algorithms we accept exist here: ES256, ES384, PS256 and
//! EdDSA; any other algorithm is an error, whatever the token's header says.

use std::sync::LazyLock;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer, Verifier};
use signature::Error as SignatureError;

use crate::cache::Memo;

static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    // JWK thumbprints and component extraction stay with jsonwebtoken's own helpers.
    key_utils: jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
        .key_utils
        .clone(),
});

/// Makes OpenSSL jsonwebtoken's provider for this process (idempotent).
pub fn install() {
    // Err means a provider is installed already: ours, by an earlier call.
    let _ = PROVIDER.install_default();
}

fn invalid_key() -> JwtError {
    ErrorKind::InvalidKeyFormat.into()
}

fn unsupported() -> JwtError {
    ErrorKind::InvalidAlgorithm.into()
}

#[derive(Clone, Copy)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn for_algorithm(alg: Algorithm) -> Option<Self> {
        match alg {
            Algorithm::ES256 => Some(Self::P256),
            Algorithm::ES384 => Some(Self::P384),
            _ => None,
        }
    }

    fn nid(self) -> Nid {
        match self {
            Self::P256 => Nid::X9_62_PRIME256V1,
            Self::P384 => Nid::SECP384R1,
        }
    }

    fn digest(self) -> MessageDigest {
        match self {
            Self::P256 => MessageDigest::sha256(),
            Self::P384 => MessageDigest::sha384(),
        }
    }

    /// Bytes of r (and of s) in a JWS signature (RFC 7518 §3.4).
    fn scalar_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }
}

struct EcSigner {
    alg: Algorithm,
    curve: Curve,
    key: EcKey<Private>,
}

/// Our signing keys, decoded once: OpenSSL 3's PKCS#8 decoder costs several times
/// an ECDSA signature, and jsonwebtoken asks for a signer on every token. Only the
/// service's own few signing keys pass here.
fn ec_private_key(pkcs8: &[u8]) -> Result<EcKey<Private>, JwtError> {
    static KEYS: LazyLock<Memo<Vec<u8>, EcKey<Private>>> = LazyLock::new(|| Memo::new(64));
    KEYS.get_or_try_insert(pkcs8, || {
        PKey::private_key_from_pkcs8(pkcs8)
            .and_then(|k| k.ec_key())
            .map_err(|_| invalid_key())
    })
}

struct EcVerifier {
    alg: Algorithm,
    curve: Curve,
    key: EcKey<Public>,
}

struct PkeySigner {
    alg: Algorithm,
    key: PKey<Private>,
}

struct PkeyVerifier {
    alg: Algorithm,
    key: PKey<Public>,
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, JwtError> {
    let alg = *alg;
    if let Some(curve) = Curve::for_algorithm(alg) {
        let key = ec_private_key(key.as_bytes())?;
        if key.group().curve_name() != Some(curve.nid()) {
            return Err(invalid_key());
        }
        return Ok(Box::new(EcSigner { alg, curve, key }));
    }
    let key = match alg {
        Algorithm::EdDSA => PKey::private_key_from_der(key.as_bytes()),
        Algorithm::PS256 => PKey::private_key_from_der(key.as_bytes()),
        _ => return Err(unsupported()),
    }
    .map_err(|_| invalid_key())?;
    Ok(Box::new(PkeySigner { alg, key }))
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, JwtError> {
    let alg = *alg;
    if let Some(curve) = Curve::for_algorithm(alg) {
        let DecodingKeyKind::SecretOrDer(point) = key.kind() else {
            return Err(invalid_key());
        };
        let key = ec_public_key(curve, point)?;
        return Ok(Box::new(EcVerifier { alg, curve, key }));
    }
    let key = match (alg, key.kind()) {
        (Algorithm::EdDSA, DecodingKeyKind::SecretOrDer(raw)) => {
            PKey::public_key_from_raw_bytes(raw, Id::ED25519)
        }
        (Algorithm::PS256, DecodingKeyKind::RsaModulusExponent { n, e }) => BigNum::from_slice(n)
            .and_then(|n| Ok((n, BigNum::from_slice(e)?)))
            .and_then(|(n, e)| Rsa::from_public_components(n, e))
            .and_then(PKey::from_rsa),
        (Algorithm::PS256, DecodingKeyKind::SecretOrDer(der)) => {
            Rsa::public_key_from_der_pkcs1(der).and_then(PKey::from_rsa)
        }
        (Algorithm::EdDSA, _) => return Err(invalid_key()),
        _ => return Err(unsupported()),
    }
    .map_err(|_| invalid_key())?;
    Ok(Box::new(PkeyVerifier { alg, key }))
}

/// An uncompressed SEC1 point (what jsonwebtoken keeps for an EC JWK) as a key,
/// checked to lie on the curve. Decoded once per point: the check costs more than
/// the verification itself, and jsonwebtoken asks for a verifier on every token.
/// The points come from key sets we chose to trust (our own signing keys, a
/// client's registered keys), so a small memo holds them all.
fn ec_public_key(curve: Curve, point: &[u8]) -> Result<EcKey<Public>, JwtError> {
    /// A point's curve (its OpenSSL NID) and bytes.
    type Point = (i32, Vec<u8>);
    static KEYS: LazyLock<Memo<Point, EcKey<Public>>> = LazyLock::new(|| Memo::new(256));
    let decode = || -> Result<EcKey<Public>, openssl::error::ErrorStack> {
        let group = EcGroup::from_curve_name(curve.nid())?;
        let mut ctx = BigNumContext::new()?;
        let point = EcPoint::from_bytes(&group, point, &mut ctx)?;
        let key = EcKey::from_public_key(&group, &point)?;
        key.check_key()?;
        Ok(key)
    };
    KEYS.get_or_try_insert(&(curve.nid().as_raw(), point.to_vec()), || {
        decode().map_err(|_| invalid_key())
    })
}

impl signature::Signer<Vec<u8>> for EcSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let digest = hash(self.curve.digest(), msg).map_err(SignatureError::from_source)?;
        let sig = EcdsaSig::sign(&digest, &self.key).map_err(SignatureError::from_source)?;
        let len = self.curve.scalar_len();
        let len = i32::try_from(len).map_err(SignatureError::from_source)?;
        let mut out = sig
            .r()
            .to_vec_padded(len)
            .map_err(SignatureError::from_source)?;
        out.extend(
            sig.s()
                .to_vec_padded(len)
                .map_err(SignatureError::from_source)?,
        );
        Ok(out)
    }
}

impl JwtSigner for EcSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

impl signature::Verifier<Vec<u8>> for EcVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), SignatureError> {
        let len = self.curve.scalar_len();
        if signature.len() != 2 * len {
            return Err(SignatureError::new());
        }
        let (r, s) = signature.split_at(len);
        let sig = BigNum::from_slice(r)
            .and_then(|r| Ok((r, BigNum::from_slice(s)?)))
            .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
            .map_err(SignatureError::from_source)?;
        let digest = hash(self.curve.digest(), msg).map_err(SignatureError::from_source)?;
        match sig.verify(&digest, &self.key) {
            Ok(true) => Ok(()),
            _ => Err(SignatureError::new()),
        }
    }
}

impl JwtVerifier for EcVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

impl signature::Signer<Vec<u8>> for PkeySigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let result = match self.alg {
            Algorithm::EdDSA => {
                Signer::new_without_digest(&self.key).and_then(|mut s| s.sign_oneshot_to_vec(msg))
            }
            _ => Signer::new(MessageDigest::sha256(), &self.key).and_then(|mut s| {
                s.set_rsa_padding(Padding::PKCS1_PSS)?;
                s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
                s.set_rsa_mgf1_md(MessageDigest::sha256())?;
                s.sign_oneshot_to_vec(msg)
            }),
        };
        result.map_err(SignatureError::from_source)
    }
}

impl JwtSigner for PkeySigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

impl signature::Verifier<Vec<u8>> for PkeyVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), SignatureError> {
        let result = match self.alg {
            Algorithm::EdDSA => Verifier::new_without_digest(&self.key)
                .and_then(|mut v| v.verify_oneshot(signature, msg)),
            _ => Verifier::new(MessageDigest::sha256(), &self.key).and_then(|mut v| {
                v.set_rsa_padding(Padding::PKCS1_PSS)?;
                v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
                v.set_rsa_mgf1_md(MessageDigest::sha256())?;
                v.verify_oneshot(signature, msg)
            }),
        };
        match result {
            Ok(true) => Ok(()),
            _ => Err(SignatureError::new()),
        }
    }
}

impl JwtVerifier for PkeyVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use jsonwebtoken::{Header, Validation, decode, encode};
    use serde_json::{Value, json};

    fn roundtrip(alg: Algorithm, encoding: EncodingKey, public: DecodingKey) -> Value {
        install();
        let claims = json!({"sub": "x", "exp": 4_000_000_000u64});
        let token = encode(&Header::new(alg), &claims, &encoding).unwrap();
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp"]);
        let data = decode::<Value>(&token, &public, &validation).unwrap();
        // A changed signature is refused.
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let mut raw = B64.decode(signature).unwrap();
        raw[0] ^= 1;
        let forged = format!("{signed}.{}", B64.encode(raw));
        assert!(decode::<Value>(&forged, &public, &validation).is_err());
        data.claims
    }

    #[test]
    fn es256_and_es384_sign_and_verify_in_jws_format() {
        for (alg, nid) in [
            (Algorithm::ES256, Nid::X9_62_PRIME256V1),
            (Algorithm::ES384, Nid::SECP384R1),
        ] {
            let group = EcGroup::from_curve_name(nid).unwrap();
            let key = EcKey::generate(&group).unwrap();
            let der = PKey::from_ec_key(key.clone())
                .unwrap()
                .private_key_to_pkcs8()
                .unwrap();
            let mut ctx = BigNumContext::new().unwrap();
            let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
            key.public_key()
                .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
                .unwrap();
            let len = i32::try_from(Curve::for_algorithm(alg).unwrap().scalar_len()).unwrap();
            let public = DecodingKey::from_ec_components(
                &B64.encode(x.to_vec_padded(len).unwrap()),
                &B64.encode(y.to_vec_padded(len).unwrap()),
            )
            .unwrap();
            assert_eq!(
                roundtrip(alg, EncodingKey::from_ec_der(&der), public)["sub"],
                "x"
            );
        }
    }

    #[test]
    fn eddsa_and_ps256_sign_and_verify() {
        let ed = PKey::generate_ed25519().unwrap();
        let public =
            DecodingKey::from_ed_components(&B64.encode(ed.raw_public_key().unwrap())).unwrap();
        let encoding = EncodingKey::from_ed_der(&ed.private_key_to_pkcs8().unwrap());
        assert_eq!(roundtrip(Algorithm::EdDSA, encoding, public)["sub"], "x");

        let rsa = Rsa::generate(2048).unwrap();
        let public = DecodingKey::from_rsa_raw_components(&rsa.n().to_vec(), &rsa.e().to_vec());
        let encoding = EncodingKey::from_rsa_der(&rsa.private_key_to_der().unwrap());
        assert_eq!(roundtrip(Algorithm::PS256, encoding, public)["sub"], "x");
    }

    #[test]
    fn other_algorithms_and_wrong_keys_are_refused() {
        install();
        let key = DecodingKey::from_secret(b"secret");
        for alg in [
            Algorithm::HS256,
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ] {
            assert!(new_verifier(&alg, &key).is_err(), "{alg:?}");
        }
        assert!(new_signer(&Algorithm::HS256, &EncodingKey::from_secret(b"secret")).is_err());
    }
}
