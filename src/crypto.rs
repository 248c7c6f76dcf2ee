//! Secrets at rest: the master key and envelope encryption.
//!
//! Every secret is encrypted with its own random data key (AES-256-GCM); the data key
//! is wrapped under the master key (AES-256-GCM as well). Re-keying the master key only
//! re-wraps data keys. The purpose of each secret is bound as additional authenticated
//! data, so a sealed value cannot be moved to another column or row.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::hash::{MessageDigest, hash};
use openssl::rand::rand_bytes;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key file {path}: {reason}")]
    MasterKeyFile { path: String, reason: String },
    #[error("sealed secret was made under master key {found}, this instance has {expected}")]
    WrongMasterKey { expected: String, found: String },
    #[error("sealed secret is corrupt or was tampered with")]
    Corrupt,
    #[error("openssl: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// A fresh bearer secret (session cookie, code, refresh token): 256 random bits,
/// base64url.
pub fn random_token() -> Result<String, CryptoError> {
    let mut bytes = [0u8; 32];
    rand_bytes(&mut bytes)?;
    Ok(B64.encode(bytes))
}

/// How a bearer secret is stored: its SHA-256, base64url. A database leak then gives
/// no usable session, code or refresh token.
pub fn token_digest(token: &str) -> String {
    B64.encode(openssl::sha::sha256(token.as_bytes()))
}

/// Constant-time comparison of two secrets of any length.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

/// HMAC-SHA-256 (RFC 2104) under a 32-byte key. HMAC pads a key shorter than the
/// hash's 64-byte block with zeros (RFC 2104 §2); giving `hmac` that block itself is the
/// same MAC, through its constructor that cannot fail.
fn hmac_sha256(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    use hmac::digest::KeyInit;
    use hmac::{Hmac, Mac};
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new(&block.into());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The key-encryption key shared by every instance of a fleet.
pub struct MasterKey {
    key: SecretBox<[u8; KEY_LEN]>,
    /// Public fingerprint of the key, stored next to every sealed secret.
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    v: u8,
    kek: String,
    /// nonce ‖ ciphertext ‖ tag of the data key under the master key.
    dek: String,
    /// nonce ‖ ciphertext ‖ tag of the secret under the data key.
    ct: String,
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, CryptoError> {
        let digest = hash(MessageDigest::sha256(), &bytes)?;
        Ok(Self {
            id: B64.encode(&digest[..8]),
            key: SecretBox::new(Box::new(bytes)),
        })
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh random key when it
    /// does not exist. Two instances racing to create it end up reading the same file.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        let err = |reason: String| CryptoError::MasterKeyFile {
            path: path.display().to_string(),
            reason,
        };
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::files::private_dir(dir).map_err(|e| err(e.to_string()))?;
            }
            let mut key = [0u8; KEY_LEN];
            rand_bytes(&mut key)?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    writeln!(file, "{}", B64.encode(key)).map_err(|e| err(e.to_string()))?;
                    file.sync_all().map_err(|e| err(e.to_string()))?;
                    tracing::info!(path = %path.display(), "generated a new master key");
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(err(e.to_string())),
            }
        }
        if let Some(mode) = crate::files::loose_mode(path).map_err(|e| err(e.to_string()))? {
            return Err(err(format!(
                "others may read it (mode {mode:o}); chmod 600 it"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| err("not base64url".into()))?;
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| err(format!("must hold {KEY_LEN} bytes")))?;
        Self::from_bytes(key)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// A keyed pseudonym of `value` (HMAC-SHA-256 under a key derived for `purpose`, by
    /// HMAC-SHA-256 of `purpose` under the master key): stable across instances and
    /// versions, useless without the master key. RustCrypto's HMAC rather than
    /// OpenSSL's: OpenSSL 3 builds a provider key object for every HMAC key, which cost
    /// 60 µs a call, a fifth of the depot's CPU per accepted message (three box tags).
    pub fn pseudonym(&self, purpose: &str, value: &[u8]) -> [u8; 32] {
        let subkey = hmac_sha256(self.key.expose_secret(), purpose.as_bytes());
        hmac_sha256(&subkey, value)
    }

    /// How a log names a person or other owner (`ssin:…`): a keyed pseudonym, the same
    /// across instances and restarts (so one person's lines can be followed), that
    /// reveals nothing without the master key (issue 22: no personal identifiers in
    /// logs).
    pub fn log_name(&self, value: &str) -> String {
        format!(
            "p-{}",
            B64.encode(&self.pseudonym("log", value.as_bytes())[..9])
        )
    }

    /// Encrypts `plaintext` for storage; `purpose` must be given again to open it.
    pub fn seal(&self, plaintext: &[u8], purpose: &str) -> Result<Vec<u8>, CryptoError> {
        let mut dek = [0u8; KEY_LEN];
        rand_bytes(&mut dek)?;
        let wrapped = aead_seal(self.key.expose_secret(), &dek, purpose.as_bytes())?;
        let ct = aead_seal(&dek, plaintext, purpose.as_bytes())?;
        let sealed = Sealed {
            v: 1,
            kek: self.id.clone(),
            dek: B64.encode(wrapped),
            ct: B64.encode(ct),
        };
        serde_json::to_vec(&sealed).map_err(|_| CryptoError::Corrupt)
    }

    pub fn open(&self, sealed: &[u8], purpose: &str) -> Result<Vec<u8>, CryptoError> {
        let sealed: Sealed = serde_json::from_slice(sealed).map_err(|_| CryptoError::Corrupt)?;
        if sealed.kek != self.id {
            return Err(CryptoError::WrongMasterKey {
                expected: self.id.clone(),
                found: sealed.kek,
            });
        }
        let wrapped = B64.decode(sealed.dek).map_err(|_| CryptoError::Corrupt)?;
        let dek = aead_open(self.key.expose_secret(), &wrapped, purpose.as_bytes())?;
        let ct = B64.decode(sealed.ct).map_err(|_| CryptoError::Corrupt)?;
        aead_open(&dek, &ct, purpose.as_bytes())
    }
}

fn aead_seal(key: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand_bytes(&mut nonce)?;
    let mut tag = [0u8; TAG_LEN];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(&nonce),
        aad,
        plaintext,
        &mut tag,
    )?;
    Ok([&nonce[..], &ct, &tag].concat())
}

fn aead_open(key: &[u8], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Corrupt);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
    decrypt_aead(Cipher::aes_256_gcm(), key, Some(nonce), aad, ct, tag)
        .map_err(|_| CryptoError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_purpose_binding() {
        let key = MasterKey::from_bytes([7; 32]).unwrap();
        let sealed = key.seal(b"secret", "signing-key:abc").unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("secret"));
        assert_eq!(key.open(&sealed, "signing-key:abc").unwrap(), b"secret");
        assert!(matches!(
            key.open(&sealed, "signing-key:other"),
            Err(CryptoError::Corrupt)
        ));
    }

    /// The pseudonyms are stored (WebAuthn user handles) and followed across releases
    /// (log names): they must stay what OpenSSL's HMAC gave before, HMAC-SHA-256 of the
    /// value under HMAC-SHA-256 of the purpose under the master key.
    #[test]
    fn pseudonyms_are_hmac_of_the_value_under_the_purposes_subkey() {
        let openssl_hmac = |key: &[u8], data: &[u8]| {
            let key = openssl::pkey::PKey::hmac(key).unwrap();
            let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &key).unwrap();
            signer.update(data).unwrap();
            signer.sign_to_vec().unwrap()
        };
        let master = [0x5a; 32];
        let key = MasterKey::from_bytes(master).unwrap();
        for (purpose, value) in [
            ("log", &b"ssin:85073003328"[..]),
            ("box-signal", b""),
            ("webauthn-user-handle", &[0xff; 300]),
        ] {
            let expected = openssl_hmac(&openssl_hmac(&master, purpose.as_bytes()), value);
            assert_eq!(
                key.pseudonym(purpose, value).to_vec(),
                expected,
                "{purpose}"
            );
        }
        assert_ne!(
            key.pseudonym("log", b"x"),
            key.pseudonym("box-signal", b"x")
        );
        assert_ne!(
            key.pseudonym("log", b"x"),
            MasterKey::from_bytes([0x5b; 32])
                .unwrap()
                .pseudonym("log", b"x")
        );
    }

    #[test]
    fn another_master_key_is_named_not_guessed() {
        let sealed = MasterKey::from_bytes([1; 32])
            .unwrap()
            .seal(b"x", "p")
            .unwrap();
        let other = MasterKey::from_bytes([2; 32]).unwrap();
        assert!(matches!(
            other.open(&sealed, "p"),
            Err(CryptoError::WrongMasterKey { .. })
        ));
    }

    #[test]
    fn key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let a = MasterKey::load_or_create(&path).unwrap();
        let b = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(a.id(), b.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
    }

    /// A key file others may read is refused at start, not used (issue 22, item 9).
    #[cfg(unix)]
    #[test]
    fn a_key_file_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        MasterKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let refused = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(MasterKey::load_or_create(&path).is_ok());
    }
}
