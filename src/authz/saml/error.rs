//! What can go wrong while loading the SAML signing key or issuing an assertion.

use crate::secrets::SecretError;

#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    /// The shared key pair could not be read, made or stored.
    #[error("SAML signing key: {0}")]
    Secret(#[from] SecretError),
    /// The stored key pair is unusable (corrupt, or the key does not fit the certificate).
    #[error("SAML signing key: {0}")]
    StoredKey(String),
    #[error("SAML: openssl: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// The actor's key cannot be stated in a `ds:KeyInfo` (unsupported or malformed JWK).
    #[error("SAML: holder key: {0}")]
    Holder(String),
    /// An identity member that has no attribute form.
    #[error("SAML: identity: {0}")]
    Identity(String),
    #[error("SAML: writing XML: {0}")]
    Write(#[from] std::io::Error),
    /// libxmlsec1 refused to parse or sign the template.
    #[error("SAML: signing: {0}")]
    Sign(#[from] samael::crypto::CryptoError),
}
