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

    /// Checks an `x5c` chain (leaf first) against the roots, now.
    pub fn verify(&self, x5c: &[String]) -> Result<Certified, String> {
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
