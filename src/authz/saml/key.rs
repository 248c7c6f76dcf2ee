//! The SAML signing key: RSA 2048 (what WSS4J and .NET verify out of the box) and its
//! self-signed certificate, made by the first instance to start and kept in
//! `service_secret` (certificate in clear, key sealed under the master key), so that
//! every instance signs with the same key and a restart keeps it.

use chrono::{DateTime, Utc};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use openssl::x509::{X509, X509Builder, X509NameBuilder};
use sea_orm::DatabaseConnection;

use super::SamlError;
use crate::crypto::MasterKey;
use crate::secrets::{self, ServiceSecret};

/// The name of the key pair in `service_secret`.
const SECRET: &str = "saml";
const RSA_BITS: u32 = 2048;
const VALIDITY_DAYS: i64 = 10 * 365;

/// The signing key and the certificate that publishes it.
pub(super) struct SigningKey {
    pub key: PKey<Private>,
    pub certificate: X509,
}

/// The shared key pair: read back if an instance made it, else made and stored (when
/// two instances start together, the first insert wins and the other reads it back).
pub(super) async fn load(
    db: &DatabaseConnection,
    master: &MasterKey,
    issuer: &str,
    now: DateTime<Utc>,
) -> Result<SigningKey, SamlError> {
    let issuer = issuer.to_owned();
    let secret =
        secrets::load_or_create(db, master, SECRET, now, || generate(&issuer, now)).await?;
    let certificate = X509::from_pem(secret.public.as_bytes())
        .map_err(|e| SamlError::StoredKey(format!("certificate: {e}")))?;
    let key = PKey::private_key_from_pkcs8(&secret.private_der)
        .map_err(|e| SamlError::StoredKey(format!("private key: {e}")))?;
    if !certificate.public_key()?.public_eq(&key) {
        return Err(SamlError::StoredKey(
            "the stored key does not belong to the stored certificate".into(),
        ));
    }
    Ok(SigningKey { key, certificate })
}

/// A fresh RSA key and its self-signed certificate (CN: the issuer's host), as the
/// stored pair: certificate PEM, key PKCS#8 DER.
pub(super) fn generate(issuer: &str, now: DateTime<Utc>) -> Result<ServiceSecret, String> {
    let made = || -> Result<ServiceSecret, openssl::error::ErrorStack> {
        let key = PKey::from_rsa(Rsa::generate(RSA_BITS)?)?;
        let host = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "depot".into());
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "eHealth depot")?;
        name.append_entry_by_nid(Nid::COMMONNAME, &format!("{host} SAML signing"))?;
        let name = name.build();
        let mut serial = BigNum::new()?;
        serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = Asn1Integer::from_bn(&serial)?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        // An hour back, for verifiers whose clocks run a little behind.
        let not_before = Asn1Time::from_unix(now.timestamp() - 3600)?;
        let not_after = Asn1Time::from_unix(now.timestamp() + VALIDITY_DAYS * 86_400)?;
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.append_extension(BasicConstraints::new().critical().build()?)?;
        builder.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
        builder.sign(&key, MessageDigest::sha256())?;
        let certificate = builder.build();
        Ok(ServiceSecret {
            public: String::from_utf8_lossy(&certificate.to_pem()?).into_owned(),
            private_der: key.private_key_to_pkcs8()?,
        })
    };
    made().map_err(|e| format!("generating the SAML key and certificate: {e}"))
}
