//! Key pairs of a device or an application: making one for an algorithm, and the JWS
//! signer of one (the messages' signatures, DPoP proofs). Shared by the device file,
//! the DPoP proofs and the sealing; it knows neither.

use josekit::jws::{self, JwsSigner};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;

use super::ClientError;
use crate::keys::alg::{Alg, MIN_RSA_BITS};

/// A JWS signer for `key` with `alg`.
pub fn jws_signer(key: &PKey<Private>, alg: Alg) -> Result<Box<dyn JwsSigner>, ClientError> {
    let crypto = |e: josekit::JoseError| ClientError::Crypto(e.to_string());
    let openssl = |e: openssl::error::ErrorStack| ClientError::Crypto(e.to_string());
    if alg == Alg::Ps256 {
        // josekit 0.10 reads a PKCS#8 key for PSS only when its algorithm is
        // RSASSA-PSS, and fails on a PKCS#1 PEM under OpenSSL 3; a plain RSA key goes
        // as PKCS#1 DER, with the parameters of PS256.
        let pkcs1 = key
            .rsa()
            .and_then(|rsa| rsa.private_key_to_der())
            .map_err(openssl)?;
        return Ok(Box::new(jws::PS256.signer_from_der(pkcs1).map_err(crypto)?));
    }
    let pem = key.private_key_to_pem_pkcs8().map_err(openssl)?;
    Ok(match alg {
        Alg::Es256 => Box::new(jws::ES256.signer_from_pem(&pem).map_err(crypto)?),
        Alg::EdDsa => Box::new(jws::EdDSA.signer_from_pem(&pem).map_err(crypto)?),
        Alg::Rs256 | Alg::Ps256 => Box::new(jws::RS256.signer_from_pem(&pem).map_err(crypto)?),
    })
}

/// A new P-256 key pair, as PKCS#8 PEM.
pub fn generate_p256() -> Result<(PKey<Private>, String), ClientError> {
    generate(Alg::Es256)
}

/// A new key pair for `alg` (P-256, Ed25519, or RSA of 2048 bits), as PKCS#8 PEM.
pub fn generate(alg: Alg) -> Result<(PKey<Private>, String), ClientError> {
    let crypto = |e: openssl::error::ErrorStack| ClientError::Crypto(e.to_string());
    let key = match alg {
        Alg::Es256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(crypto)?;
            PKey::from_ec_key(EcKey::generate(&group).map_err(crypto)?).map_err(crypto)?
        }
        Alg::EdDsa => PKey::generate_ed25519().map_err(crypto)?,
        Alg::Rs256 | Alg::Ps256 => {
            PKey::from_rsa(Rsa::generate(MIN_RSA_BITS).map_err(crypto)?).map_err(crypto)?
        }
    };
    let pem = key.private_key_to_pem_pkcs8().map_err(crypto)?;
    let pem = String::from_utf8(pem).map_err(|e| ClientError::Crypto(e.to_string()))?;
    Ok((key, pem))
}
