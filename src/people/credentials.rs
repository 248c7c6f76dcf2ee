//! What a person proves at login: a password (Argon2id, RFC 9106, PHC strings) and a
//! TOTP code (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps, one step of skew either way).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id with the parameters OWASP recommends (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    openssl::rand::rand_bytes(&mut salt).map_err(|_| argon2::password_hash::Error::Crypto)?;
    let salt = SaltString::encode_b64(&salt)?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Checks a password against a stored hash. With no hash (unknown person, or a person
/// without a password) it still spends the time of a verification, so that timing
/// does not tell which persons exist.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a real password").ok());
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => match dummy {
            Some(d) => (d.as_str(), false),
            None => return false,
        },
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && real
}

/// The time step a TOTP code matches at `unix_time`, if any (±1 step).
pub fn totp_step(secret: &[u8], code: &str, unix_time: i64) -> Option<i64> {
    let totp = totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .build()
        .ok()?;
    let time = u64::try_from(unix_time).ok()?;
    totp.check(code.trim(), time)
        .and_then(|step| i64::try_from(step).ok())
}

/// The AAD purpose a person's sealed TOTP secret is bound to.
fn totp_purpose(ssin: &super::Ssin) -> String {
    format!("totp-secret:{ssin}")
}

pub fn seal_totp_secret(
    master: &crate::crypto::MasterKey,
    ssin: &super::Ssin,
    secret: &[u8],
) -> Result<Vec<u8>, crate::crypto::CryptoError> {
    master.seal(secret, &totp_purpose(ssin))
}

pub fn open_totp_secret(
    master: &crate::crypto::MasterKey,
    ssin: &super::Ssin,
    sealed: &[u8],
) -> Result<Vec<u8>, crate::crypto::CryptoError> {
    master.open(sealed, &totp_purpose(ssin))
}

/// Hashes the password and seals the TOTP secret of a checked registration (slow:
/// call it off the async executor).
pub fn protect(
    person: &super::NewPerson,
    master: &crate::crypto::MasterKey,
) -> anyhow::Result<(Option<String>, Option<Vec<u8>>)> {
    let hash = person
        .password
        .as_deref()
        .map(hash_password)
        .transpose()
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    let sealed = person
        .totp_secret
        .as_deref()
        .map(|s| seal_totp_secret(master, &person.ssin, s))
        .transpose()?;
    Ok((hash, sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", Some(&hash)));
        assert!(!verify_password("correct horsf", Some(&hash)));
        assert!(!verify_password("correct horse", None));
        assert!(!verify_password("x", Some("not a phc string")));
    }

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits there; the last 6 are ours).
    #[test]
    fn rfc6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(totp_step(secret, code, time), Some(time / 30), "{time}");
        }
        // One step either way is accepted, two are not.
        assert_eq!(
            totp_step(secret, "081804", 1_111_111_109 + 30),
            Some(37_037_036)
        );
        assert_eq!(totp_step(secret, "081804", 1_111_111_109 + 60), None);
        assert_eq!(totp_step(secret, "12345", 59), None);
    }
}
