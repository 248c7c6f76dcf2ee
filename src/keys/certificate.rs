//! Certificate-backed keys (the eHealth certificate / ETK case): an administrator
//! imports an X.509 chain for an identity; the chain must reach one of the
//! configured roots (OpenSSL's path validation), the key's validity is the
//! certificate's, and the JWK carries `x5c` and `x5t#S256`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, Utc};
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509, X509StoreContext};
use x509_cert::der::Decode;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

/// What an imported key is to serve, for the leaf's extensions to allow.
#[derive(Debug, Clone, Copy)]
pub struct Purpose {
    pub signing: bool,
    pub encryption: bool,
}

/// The extended key usages an imported end entity may carry one of: the
/// authentication and message protection the depot's keys serve.
const FITTING_EXTENDED_USAGES: [const_oid::ObjectIdentifier; 3] = [
    const_oid::db::rfc5280::ANY_EXTENDED_KEY_USAGE,
    const_oid::db::rfc5280::ID_KP_CLIENT_AUTH,
    const_oid::db::rfc5280::ID_KP_EMAIL_PROTECTION,
];

/// Checks that the leaf (DER) is an end entity's certificate whose extensions allow
/// `purpose` (RFC 5280 §4.2.1.9 basicConstraints, §4.2.1.3 keyUsage, §4.2.1.12
/// extendedKeyUsage; an absent extension restricts nothing).
pub fn check_leaf(leaf_der: &[u8], purpose: Purpose) -> Result<(), String> {
    let cert = x509_cert::Certificate::from_der(leaf_der)
        .map_err(|e| format!("x5c[0] cannot be read: {e}"))?;
    let tbs = &cert.tbs_certificate;
    let unreadable =
        |what: &'static str| move |e| format!("x5c[0]: its {what} cannot be read: {e}");
    if let Some((_, constraints)) = tbs
        .get::<BasicConstraints>()
        .map_err(unreadable("basicConstraints"))?
        && constraints.ca
    {
        return Err(
            "x5c[0] is a CA certificate (basicConstraints cA): import the end entity's certificate, leaf first"
                .into(),
        );
    }
    if let Some((_, usage)) = tbs.get::<KeyUsage>().map_err(unreadable("keyUsage"))? {
        if purpose.signing && !(usage.digital_signature() || usage.non_repudiation()) {
            return Err(
                "the certificate's keyUsage does not allow signatures (digitalSignature) for use \"sig\""
                    .into(),
            );
        }
        if purpose.encryption && !(usage.key_encipherment() || usage.key_agreement()) {
            return Err(
                "the certificate's keyUsage allows neither keyEncipherment nor keyAgreement for use \"enc\""
                    .into(),
            );
        }
    }
    if let Some((_, extended)) = tbs
        .get::<ExtendedKeyUsage>()
        .map_err(unreadable("extendedKeyUsage"))?
        && !extended
            .0
            .iter()
            .any(|oid| FITTING_EXTENDED_USAGES.contains(oid))
    {
        let named: Vec<String> = extended
            .0
            .iter()
            .map(|oid| {
                const_oid::db::DB
                    .by_oid(oid)
                    .map_or_else(|| oid.to_string(), str::to_owned)
            })
            .collect();
        return Err(format!(
            "the certificate's extendedKeyUsage ({}) allows neither client authentication nor message protection",
            named.join(", ")
        ));
    }
    Ok(())
}

/// The trusted roots of certificate imports; none configured: imports are refused.
pub struct CertificateRoots {
    store: Option<X509Store>,
}

/// A verified chain.
pub struct Certified {
    /// `x5c`: standard base64 of each certificate's DER, leaf first.
    pub x5c: Vec<String>,
    /// `x5t#S256` of the leaf, which is also the key's `kid`.
    pub thumbprint: String,
    pub public_key: PKey<Public>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

fn to_chrono(time: &Asn1TimeRef) -> Result<DateTime<Utc>, String> {
    let epoch = Asn1Time::from_unix(0).map_err(|e| e.to_string())?;
    let diff = epoch.diff(time).map_err(|e| e.to_string())?;
    let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    DateTime::from_timestamp(seconds, 0).ok_or_else(|| "certificate time out of range".into())
}

impl CertificateRoots {
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, String> {
        Self::load_named(path, "DEPOT_CERTIFICATE_TRUST_ROOTS")
    }

    /// The roots in a PEM file, `variable` naming the setting in errors.
    pub fn load_named(path: Option<&std::path::Path>, variable: &str) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self { store: None });
        };
        let fail = |what: String| format!("{variable} {}: {what}", path.display());
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let certs = X509::stack_from_pem(&pem).map_err(|e| fail(e.to_string()))?;
        if certs.is_empty() {
            return Err(fail("no certificate in the file".into()));
        }
        let mut builder = X509StoreBuilder::new().map_err(|e| fail(e.to_string()))?;
        for cert in certs {
            builder.add_cert(cert).map_err(|e| fail(e.to_string()))?;
        }
        Ok(Self {
            store: Some(builder.build()),
        })
    }

    /// Checks an `x5c` chain (leaf first) against the roots, now, and that its leaf is
    /// an end entity's certificate fit for `purpose`.
    pub fn verify(&self, x5c: &[String], purpose: Purpose) -> Result<Certified, String> {
        let store = self
            .store
            .as_ref()
            .ok_or("certificate imports are disabled: no trust roots are configured")?;
        let certs = x5c
            .iter()
            .enumerate()
            .map(|(i, b64)| {
                let der = STANDARD
                    .decode(b64)
                    .map_err(|_| format!("x5c[{i}] is not standard base64"))?;
                X509::from_der(&der).map_err(|_| format!("x5c[{i}] is not an X.509 certificate"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let (leaf, rest) = certs.split_first().ok_or("x5c is empty")?;
        verify_path(store, leaf, rest)
            .map_err(|reason| format!("the certificate chain is not trusted: {reason}"))?;
        check_leaf(&leaf.to_der().map_err(|e| e.to_string())?, purpose)?;
        let digest = leaf
            .digest(MessageDigest::sha256())
            .map_err(|e| e.to_string())?;
        Ok(Certified {
            x5c: x5c.to_vec(),
            thumbprint: B64.encode(digest),
            public_key: leaf.public_key().map_err(|e| e.to_string())?,
            not_before: to_chrono(leaf.not_before())?,
            not_after: to_chrono(leaf.not_after())?,
        })
    }

    /// Whether any root is configured.
    pub fn is_configured(&self) -> bool {
        self.store.is_some()
    }

    /// Checks that `leaf` chains, through `rest`, to one of the roots now (RFC 5280
    /// path validation by OpenSSL); the reason when not. No roots: never.
    pub fn verify_chain(&self, leaf: &X509, rest: &[X509]) -> Result<(), String> {
        let store = self.store.as_ref().ok_or("no trust roots are configured")?;
        verify_path(store, leaf, rest)
    }
}

fn verify_path(store: &X509Store, leaf: &X509, rest: &[X509]) -> Result<(), String> {
    let mut chain = Stack::new().map_err(|e| e.to_string())?;
    for cert in rest {
        chain.push(cert.clone()).map_err(|e| e.to_string())?;
    }
    let mut context = X509StoreContext::new().map_err(|e| e.to_string())?;
    let verdict = context
        .init(store, leaf, &chain, |ctx| {
            Ok(ctx.verify_cert()?.then_some(()).ok_or(ctx.error()))
        })
        .map_err(|e| e.to_string())?;
    verdict.map_err(|reason| reason.error_string().to_owned())
}
