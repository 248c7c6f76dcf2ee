//! This device's private keys, in a local file only its owner can read.
//!
//! The file is JSON: which service and client the keys were registered with, and for
//! each key its kid (the credential id the keystore answered), its use, its signature
//! algorithm, when it was registered, and the PKCS#8 PEM private key. It is written with mode 0600 through a
//! temporary file and a rename, and refused when group or others can read it (as ssh
//! refuses a private key file anyone else can read).
//!
//! The device's signing key is also the key its tokens are bound to (DPoP, RFC 9449):
//! a login happens before any key can be registered (registering needs a token), so
//! the signing key pair is made first and kept as `unregistered`; the login binds the
//! tokens to it, and the next registration of a signing key registers that very pair,
//! so the keystore's `sig` key and the tokens' `cnf.jkt` are one key.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use openssl::pkey::{PKey, Private};
use serde::{Deserialize, Serialize};

use super::ClientError;
use super::dpop::DpopKey;
use super::keypair::generate;
use crate::keys::alg::Alg;

/// One registered key and its private half.
#[derive(Clone, Serialize, Deserialize)]
pub struct DeviceKey {
    pub kid: String,
    /// `sig`, `enc` or `sig+enc`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// The JOSE signature algorithm it was registered with (`ES256`, `EdDSA`, `RS256`,
    /// `PS256`); absent in files written before there was a choice, where the key
    /// type says it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    pub registered_at: DateTime<Utc>,
    /// PKCS#8 PEM.
    pub private_pem: String,
}

impl DeviceKey {
    pub fn private_key(&self) -> Result<PKey<Private>, ClientError> {
        PKey::private_key_from_pem(self.private_pem.as_bytes())
            .map_err(|e| ClientError::Device(format!("key {}: {e}", self.kid)))
    }

    /// The algorithm this key signs with: the registered one, else the one its type
    /// implies.
    pub fn sig_alg(&self) -> Result<Alg, ClientError> {
        match &self.alg {
            Some(name) => Alg::from_jose(name).ok_or_else(|| {
                ClientError::Device(format!("key {}: unknown algorithm {name:?}", self.kid))
            }),
            None => Alg::implied_by(self.private_key()?.as_ref()).ok_or_else(|| {
                ClientError::Device(format!("key {}: no signature algorithm fits it", self.kid))
            }),
        }
    }

    pub fn signs(&self) -> bool {
        self.key_use == "sig" || self.key_use == "sig+enc"
    }

    pub fn decrypts(&self) -> bool {
        self.key_use == "enc" || self.key_use == "sig+enc"
    }

    /// DPoP proofs by this key.
    pub fn dpop_key(&self) -> Result<DpopKey, ClientError> {
        DpopKey::new(&self.private_key()?, self.sig_alg()?)
    }
}

/// The device's signing key pair, made before it could be registered (see the module
/// documentation).
#[derive(Clone, Serialize, Deserialize)]
pub struct UnregisteredKey {
    /// The JOSE signature algorithm it is for.
    pub alg: String,
    pub created_at: DateTime<Utc>,
    /// PKCS#8 PEM.
    pub private_pem: String,
}

impl UnregisteredKey {
    pub fn sig_alg(&self) -> Result<Alg, ClientError> {
        Alg::from_jose(&self.alg).ok_or_else(|| {
            ClientError::Device(format!(
                "the unregistered key: unknown algorithm {:?}",
                self.alg
            ))
        })
    }

    pub fn private_key(&self) -> Result<PKey<Private>, ClientError> {
        PKey::private_key_from_pem(self.private_pem.as_bytes())
            .map_err(|e| ClientError::Device(format!("the unregistered key: {e}")))
    }

    pub fn dpop_key(&self) -> Result<DpopKey, ClientError> {
        DpopKey::new(&self.private_key()?, self.sig_alg()?)
    }
}

impl std::fmt::Debug for UnregisteredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnregisteredKey")
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceKey")
            .field("kid", &self.kid)
            .field("use", &self.key_use)
            .field("alg", &self.alg)
            .field("registered_at", &self.registered_at)
            .finish_non_exhaustive()
    }
}

/// The keys of one device, for one (service, client).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Device {
    pub issuer: String,
    pub client_id: String,
    pub keys: Vec<DeviceKey>,
    /// The signing key pair made before any signing key was registered, which the
    /// tokens are bound to until it is registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unregistered: Option<UnregisteredKey>,
}

impl Device {
    pub fn new(issuer: &str, client_id: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            keys: Vec::new(),
            unregistered: None,
        }
    }

    /// The same device with a signing key pair to bind tokens to (ES256), made unless
    /// it has one, registered or not.
    pub fn with_proof_key(mut self) -> Result<Self, ClientError> {
        self.ensure_proof_key()?;
        Ok(self)
    }

    /// Makes a signing key pair (ES256) to bind tokens to, unless the device has one,
    /// registered or not; `true` when it made one (the file is to be saved).
    pub fn ensure_proof_key(&mut self) -> Result<bool, ClientError> {
        if self.signing_key().is_some() || self.unregistered.is_some() {
            return Ok(false);
        }
        let alg = Alg::Es256;
        let (_, pem) = generate(alg)?;
        self.unregistered = Some(UnregisteredKey {
            alg: alg.jose().to_owned(),
            created_at: Utc::now(),
            private_pem: pem,
        });
        Ok(true)
    }

    /// The key a new login binds its tokens to: the newest registered signing key, else
    /// the unregistered one; none when the device has neither
    /// ([`Self::ensure_proof_key`] makes one).
    pub fn proof_key(&self) -> Result<Option<DpopKey>, ClientError> {
        match (self.signing_key(), &self.unregistered) {
            (Some(key), _) => key.dpop_key().map(Some),
            (None, Some(key)) => key.dpop_key().map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The signing key, registered or not, whose thumbprint is `jkt`: the one a login's
    /// tokens were bound to.
    pub fn proof_key_for(&self, jkt: &str) -> Result<Option<DpopKey>, ClientError> {
        for key in self.keys.iter().rev().filter(|k| k.signs()) {
            let key = key.dpop_key()?;
            if key.jkt() == jkt {
                return Ok(Some(key));
            }
        }
        match &self.unregistered {
            Some(key) => Ok(Some(key.dpop_key()?).filter(|k| k.jkt() == jkt)),
            None => Ok(None),
        }
    }

    /// The newest registered key that signs.
    pub fn signing_key(&self) -> Option<&DeviceKey> {
        self.keys.iter().rev().find(|k| k.signs())
    }

    pub fn key(&self, kid: &str) -> Option<&DeviceKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Reads a device file, refusing one that others can read.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let text = read_private(path)?;
        serde_json::from_str(&text)
            .map_err(|e| ClientError::Device(format!("{}: not a device file: {e}", path.display())))
    }

    /// Writes the file readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| ClientError::Device(format!("serializing the device file: {e}")))?;
        write_private(path, &text)
    }
}

/// Reads a file of secrets, refusing one that others can read.
pub fn read_private(path: &Path) -> Result<String, ClientError> {
    check_private(path)?;
    std::fs::read_to_string(path)
        .map_err(|e| ClientError::Device(format!("{}: {e}", path.display())))
}

/// Writes a file of secrets with mode 0600; the new file replaces the old one whole
/// (a temporary file, then a rename), so a crash never leaves half a file.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    use std::io::Write as _;
    let failed = |e: std::io::Error| ClientError::Device(format!("{}: {e}", path.display()));
    let partial = partial_path(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&partial).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
    }
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&partial, path).map_err(failed)
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), ClientError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path)
        .map_err(|e| ClientError::Device(format!("{}: {e}", path.display())))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ClientError::Device(format!(
            "{} holds private keys but others can read it (mode {mode:o}); chmod 600 it",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), ClientError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.json");
        let (_, pem) = crate::client::keypair::generate_p256().unwrap();
        let mut device = Device::new("http://localhost:8080", "app");
        device.keys.push(DeviceKey {
            kid: "k1".into(),
            key_use: "sig".into(),
            alg: None,
            registered_at: Utc::now(),
            private_pem: pem,
        });
        device.save(&path).unwrap();
        let loaded = Device::load(&path).unwrap();
        assert_eq!(loaded.signing_key().unwrap().kid, "k1");
        assert_eq!(
            loaded.keys[0].sig_alg().unwrap(),
            Alg::Es256,
            "implied by the key"
        );
        assert!(!std::fs::read_to_string(&path).unwrap().contains("\"alg\""));
        assert!(loaded.keys[0].private_key().is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let refused = Device::load(&path).unwrap_err().to_string();
            assert!(refused.contains("others can read it"), "{refused}");
        }
        assert!(!format!("{:?}", loaded.keys[0]).contains("PRIVATE"));
    }
}
