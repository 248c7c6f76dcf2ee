//! SAML 2.0 holder-of-key assertions for SOAP services (API.md, Token exchange,
//! `requested_token_type=…:saml2`), and the metadata that publishes their certificate.
//!
//! Standards: SAML 2.0 Core (assertions), SAML 2.0 Holder-of-Key Assertion Profile
//! (the `ds:KeyInfo` confirmation), SAML 2.0 Metadata, XML-DSig 1.1 (an enveloped
//! signature with exclusive canonicalization, RSA-SHA256). The XML is written with
//! quick-xml; libxmlsec1 (through samael) canonicalizes and signs it.

mod assertion;
mod error;
mod holder;
mod key;
mod metadata;
pub mod routes;
#[cfg(test)]
mod tests;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use samael::crypto::{CryptoProvider, XmlSec};
use sea_orm::DatabaseConnection;

pub use error::SamlError;

use crate::crypto::MasterKey;

/// What one assertion states.
pub struct AssertionInput<'a> {
    /// The `NameID`: the person's SSIN (format `…:1.1:nameid-format:unspecified`).
    pub name_id: &'a str,
    /// The token's `identity` claim; each of `profile`, `ssin`, `nihii`, `quality`,
    /// `cbe`, `mandator` present becomes an attribute.
    pub identity: &'a serde_json::Value,
    pub permissions: &'a [String],
    /// The `AuthnContextClassRef`; none: the `unspecified` class.
    pub acr: Option<&'a str>,
    pub audience: &'a str,
    /// The actor's public JWK (EC, RSA or OKP), possibly with `x5c`.
    pub holder: &'a serde_json::Value,
    pub issued_at: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
}

/// A signed `saml:Assertion` (no XML declaration, ready for a WS-Security header).
#[derive(Debug, Clone)]
pub struct SignedAssertion {
    /// Its `ID`.
    pub id: String,
    pub xml: String,
}

/// Issues the assertions. Cheap to clone.
#[derive(Clone)]
pub struct SamlIssuer {
    issuer: String,
    /// The signing key as libxmlsec1 loads it (DER).
    key_der: Vec<u8>,
    certificate_pem: String,
    /// The certificate as `ds:X509Certificate` holds it (base64 DER).
    certificate_b64: String,
    metadata: String,
}

impl SamlIssuer {
    /// The signing key and its self-signed certificate, shared by every instance on
    /// the database (made by the first one, sealed under the master key).
    pub async fn load(
        db: &DatabaseConnection,
        master: &MasterKey,
        issuer: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, SamlError> {
        let stored = key::load(db, master, issuer, now).await?;
        Self::new(issuer, &stored.key, &stored.certificate)
    }

    /// An issuer signing with `key`, whose certificate is `certificate`.
    pub fn new(issuer: &str, key: &PKey<Private>, certificate: &X509) -> Result<Self, SamlError> {
        if !certificate.public_key()?.public_eq(key) {
            return Err(SamlError::StoredKey(
                "the key does not belong to the certificate".into(),
            ));
        }
        let certificate_b64 = STANDARD.encode(certificate.to_der()?);
        let metadata =
            metadata::document(issuer, &format!("{issuer}/oauth2/token"), &certificate_b64)?;
        Ok(Self {
            issuer: issuer.to_owned(),
            key_der: key.private_key_to_der()?,
            certificate_pem: String::from_utf8_lossy(&certificate.to_pem()?).into_owned(),
            certificate_b64,
            metadata,
        })
    }

    /// The EntityDescriptor of `GET /saml/metadata`.
    pub fn metadata(&self) -> String {
        self.metadata.clone()
    }

    /// The signing certificate (PEM).
    pub fn certificate_pem(&self) -> String {
        self.certificate_pem.clone()
    }

    /// Builds and signs one assertion. Blocking CPU work (an RSA signature): run it in
    /// `spawn_blocking` / `web::block`.
    pub fn assertion(&self, input: &AssertionInput<'_>) -> Result<SignedAssertion, SamlError> {
        // An xs:ID must not start with a digit.
        let id = format!("_{}", uuid::Uuid::new_v4().simple());
        let template = assertion::template(&self.issuer, &id, &self.certificate_b64, input)?;
        let signed = XmlSec::sign_xml(&template, &self.key_der)?;
        Ok(SignedAssertion {
            id,
            xml: without_declaration(&signed).to_owned(),
        })
    }
}

/// libxml2 writes an XML declaration before the root; an assertion goes inside another
/// document, so it is left out (canonicalization ignores it anyway).
fn without_declaration(xml: &str) -> &str {
    let xml = xml.trim();
    match xml
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split_once("?>"))
    {
        Some((_, root)) => root.trim_start(),
        None => xml,
    }
}
