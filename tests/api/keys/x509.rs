//! X.509 chains for the certificate tests, built with the `openssl` crate,
//! independently of the service: a root, end entities and CAs under it.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use chrono::Utc;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder};
use serde_json::{Value, json};

use crate::helpers::*;

pub(super) const DAY: i64 = 86_400;

pub(super) fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

pub(super) struct Ca {
    pub cert: X509,
    key: PKey<Private>,
}

/// A certificate for `subject`, valid over [not_before, not_after] (Unix seconds),
/// signed by `issuer` (self-signed when none); a CA certificate when `ca`, else an end
/// entity's for signing and encryption.
pub(super) fn issue(
    subject: &PKey<Private>,
    cn: &str,
    issuer: Option<&Ca>,
    not_before: i64,
    not_after: i64,
    ca: bool,
) -> X509 {
    issue_with(subject, cn, issuer, not_before, not_after, |builder| {
        if ca {
            super::attestation::mark_as_ca(builder);
        } else {
            builder
                .append_extension(BasicConstraints::new().critical().build().unwrap())
                .unwrap();
            builder
                .append_extension(
                    KeyUsage::new()
                        .critical()
                        .digital_signature()
                        .key_agreement()
                        .key_encipherment()
                        .build()
                        .unwrap(),
                )
                .unwrap();
        }
    })
}

/// [`issue`] with the extensions that `extend` adds (besides the key identifiers).
pub(super) fn issue_with(
    subject: &PKey<Private>,
    cn: &str,
    issuer: Option<&Ca>,
    not_before: i64,
    not_after: i64,
    extend: impl FnOnce(&mut X509Builder),
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&name).unwrap();
    builder
        .set_issuer_name(issuer.map_or(&name, |i| i.cert.subject_name()))
        .unwrap();
    builder.set_pubkey(subject).unwrap();
    builder
        .set_not_before(&Asn1Time::from_unix(not_before).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_unix(not_after).unwrap())
        .unwrap();
    extend(&mut builder);
    let ski = SubjectKeyIdentifier::new()
        .build(&builder.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))
        .unwrap();
    builder.append_extension(ski).unwrap();
    if let Some(issuer) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(issuer.cert.as_ref()), None))
            .unwrap();
        builder.append_extension(aki).unwrap();
    }
    let signer = issuer.map_or(subject, |i| &i.key);
    builder.sign(signer, MessageDigest::sha256()).unwrap();
    builder.build()
}

pub(super) fn root(cn: &str) -> Ca {
    let key = p256();
    let now = Utc::now().timestamp();
    let cert = issue(&key, cn, None, now - DAY, now + 3650 * DAY, true);
    Ca { cert, key }
}

pub(super) fn b64(cert: &X509) -> String {
    STANDARD.encode(cert.to_der().unwrap())
}

/// `x5t#S256` of a certificate, computed here.
pub(super) fn x5t(cert: &X509) -> String {
    B64.encode(openssl::sha::sha256(&cert.to_der().unwrap()))
}

/// An import request for an `enc` certificate.
pub(super) fn cert_body(identity: Value, x5c: Vec<String>) -> Value {
    json!({"identity": identity, "use": "enc", "name": "ETK", "x5c": x5c})
}

/// An app trusting `ca`, with the PEM file kept in `dir`.
pub(super) async fn app_trusting(ca: &Ca, dir: &tempfile::TempDir) -> TestApp {
    let path = dir.path().join("roots.pem");
    std::fs::write(&path, ca.cert.to_pem().unwrap()).unwrap();
    spawn_app_with(move |s| s.keys.certificate_trust_roots = Some(path)).await
}
