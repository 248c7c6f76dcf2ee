//! PKCE (RFC 7636): the client proves at the code exchange that it is the one that
//! started the authorization. Also the other single-use random values of a login
//! (`state`, `nonce`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::LoginError;

/// A verifier and its `S256` challenge. The verifier stays with the client until the
/// code exchange; only the challenge goes into the authorization URL.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair: 32 random bytes, base64url, as the verifier (43 characters,
    /// RFC 7636 §4.1), and `BASE64URL(SHA256(verifier))` as the challenge (§4.2).
    pub fn new() -> Result<Self, LoginError> {
        Ok(Self::from_verifier(random_value()?))
    }

    fn from_verifier(verifier: String) -> Self {
        let challenge = B64.encode(openssl::sha::sha256(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// 256 random bits, base64url without padding: a verifier, a `state`, a `nonce`.
pub(super) fn random_value() -> Result<String, LoginError> {
    let mut bytes = [0u8; 32];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| LoginError::Crypto(e.to_string()))?;
    Ok(B64.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    #[test]
    fn the_challenge_of_the_rfc_example() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(
            pkce.challenge,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn fresh_verifiers_are_43_characters_and_differ() {
        let a = Pkce::new().unwrap();
        let b = Pkce::new().unwrap();
        assert_eq!(a.verifier.len(), 43);
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.challenge, b.challenge);
    }
}
