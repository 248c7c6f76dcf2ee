//! The signature algorithms of registered device keys: ES256 (ECDSA P-256, SHA-256),
//! EdDSA (Ed25519), RS256 (RSASSA-PKCS1-v1_5, SHA-256) and PS256 (RSASSA-PSS, SHA-256,
//! MGF1 SHA-256, salt = digest length), with their COSE (RFC 9053 §2, RFC 8230 §2)
//! and JOSE (RFC 7518 §3.1, RFC 8037 §3.1) names, the key type each needs, and the
//! signature itself through OpenSSL. WebAuthn signatures (§6.5.5) and JWS signatures
//! differ only in the ECDSA encoding (DER there, r‖s here); JWS goes through josekit.

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPrivate, HasPublic, Id, PKeyRef};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer, Verifier};

/// The smallest RSA modulus accepted for any registered key.
pub const MIN_RSA_BITS: u32 = 2048;

/// A signature algorithm a device key may be registered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Es256,
    EdDsa,
    Rs256,
    Ps256,
}

impl Alg {
    /// Every algorithm, in the order of preference of `pubKeyCredParams` (API.md).
    pub const ALL: [Alg; 4] = [Alg::Es256, Alg::EdDsa, Alg::Rs256, Alg::Ps256];

    /// The COSE algorithm identifier.
    pub fn cose(self) -> i64 {
        match self {
            Alg::Es256 => -7,
            Alg::EdDsa => -8,
            Alg::Rs256 => -257,
            Alg::Ps256 => -37,
        }
    }

    pub fn from_cose(id: i128) -> Option<Self> {
        Self::ALL.into_iter().find(|a| i128::from(a.cose()) == id)
    }

    /// The JOSE `alg`.
    pub fn jose(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
        }
    }

    pub fn from_jose(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.jose() == name)
    }

    /// What kind of key the algorithm needs, in words.
    pub fn key_kind(self) -> &'static str {
        match self {
            Alg::Es256 => "an EC P-256 key",
            Alg::EdDsa => "an Ed25519 key",
            Alg::Rs256 | Alg::Ps256 => "an RSA key of at least 2048 bits",
        }
    }

    /// Whether `key` is of the type this algorithm signs with.
    pub fn fits<T: HasPublic>(self, key: &PKeyRef<T>) -> bool {
        match (self, key.id()) {
            (Alg::Es256, Id::EC) => key
                .ec_key()
                .is_ok_and(|ec| ec.group().curve_name() == Some(Nid::X9_62_PRIME256V1)),
            (Alg::EdDsa, Id::ED25519) => true,
            (Alg::Rs256 | Alg::Ps256, Id::RSA) => key.bits() >= MIN_RSA_BITS,
            _ => false,
        }
    }

    /// The algorithm a key signs with when nothing else says which: RSA keys are
    /// taken as RS256.
    pub fn implied_by<T: HasPublic>(key: &PKeyRef<T>) -> Option<Self> {
        [Alg::Es256, Alg::EdDsa, Alg::Rs256]
            .into_iter()
            .find(|a| a.fits(key))
    }

    /// Verifies `signature` over `data` (ECDSA signatures DER-encoded, as WebAuthn
    /// §6.5.5 has them). A key of the wrong type does not verify.
    pub fn verify<T: HasPublic>(
        self,
        key: &PKeyRef<T>,
        signature: &[u8],
        data: &[u8],
    ) -> Result<bool, ErrorStack> {
        if !self.fits(key) {
            return Ok(false);
        }
        let mut verifier = match self {
            Alg::EdDsa => Verifier::new_without_digest(key)?,
            _ => Verifier::new(MessageDigest::sha256(), key)?,
        };
        if self == Alg::Ps256 {
            verifier.set_rsa_padding(Padding::PKCS1_PSS)?;
            verifier.set_rsa_mgf1_md(MessageDigest::sha256())?;
            verifier.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
        }
        // OpenSSL reports a malformed signature as an error; it is simply not valid.
        Ok(verifier.verify_oneshot(signature, data).unwrap_or(false))
    }

    /// Signs `data` (ECDSA signatures DER-encoded).
    pub fn sign<T: HasPrivate>(self, key: &PKeyRef<T>, data: &[u8]) -> Result<Vec<u8>, ErrorStack> {
        let mut signer = match self {
            Alg::EdDsa => Signer::new_without_digest(key)?,
            _ => Signer::new(MessageDigest::sha256(), key)?,
        };
        if self == Alg::Ps256 {
            signer.set_rsa_padding(Padding::PKCS1_PSS)?;
            signer.set_rsa_mgf1_md(MessageDigest::sha256())?;
            signer.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
        }
        signer.sign_oneshot_to_vec(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;

    fn keys() -> Vec<(Alg, PKey<Private>)> {
        let p256 = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        vec![
            (
                Alg::Es256,
                PKey::from_ec_key(EcKey::generate(&p256).unwrap()).unwrap(),
            ),
            (Alg::EdDsa, PKey::generate_ed25519().unwrap()),
            (Alg::Rs256, rsa.clone()),
            (Alg::Ps256, rsa),
        ]
    }

    #[test]
    fn names_round_trip() {
        for alg in Alg::ALL {
            assert_eq!(Alg::from_cose(alg.cose().into()), Some(alg));
            assert_eq!(Alg::from_jose(alg.jose()), Some(alg));
        }
        assert_eq!(Alg::from_cose(-35), None, "ES384 is not accepted");
        assert_eq!(Alg::from_jose("HS256"), None);
    }

    #[test]
    fn each_algorithm_signs_and_verifies_with_its_key_only() {
        let keys = keys();
        for (alg, key) in &keys {
            let signature = alg.sign(key, b"data").unwrap();
            assert!(alg.verify(key, &signature, b"data").unwrap(), "{alg:?}");
            assert!(!alg.verify(key, &signature, b"other").unwrap(), "{alg:?}");
            for (other, other_key) in &keys {
                // Includes the same RSA key under the other RSA scheme.
                if other != alg {
                    assert!(
                        !other.verify(other_key, &signature, b"data").unwrap(),
                        "{alg:?} signature verified as {other:?}"
                    );
                }
            }
        }
        // PKCS#1 v1.5 and PSS over the same RSA key are not interchangeable.
        let rsa = &keys[2].1;
        let pkcs1 = Alg::Rs256.sign(rsa, b"data").unwrap();
        assert!(!Alg::Ps256.verify(rsa, &pkcs1, b"data").unwrap());
        let pss = Alg::Ps256.sign(rsa, b"data").unwrap();
        assert!(!Alg::Rs256.verify(rsa, &pss, b"data").unwrap());
    }

    #[test]
    fn key_types() {
        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert!(!Alg::Rs256.fits(&small) && !Alg::Ps256.fits(&small));
        let p384 = EcGroup::from_curve_name(Nid::SECP384R1).unwrap();
        let p384 = PKey::from_ec_key(EcKey::generate(&p384).unwrap()).unwrap();
        assert!(!Alg::Es256.fits(&p384));
        assert_eq!(Alg::implied_by(&p384), None);
        for (alg, key) in keys() {
            let implied = Alg::implied_by(&key).unwrap();
            assert!(implied == alg || (alg == Alg::Ps256 && implied == Alg::Rs256));
        }
    }
}
