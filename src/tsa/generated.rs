//! The chain the co-hosted TSA makes for itself at first start, when the operator
//! configures none: a P-256 root that signs one P-256 TSA certificate (critical EKU
//! `timeStamping` only) and whose key is then thrown away.

use chrono::{DateTime, Utc};
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder};

use crate::secrets::ServiceSecret;

/// A P-256 root that signs a P-256 TSA certificate and is then forgotten: the chain
/// (TSA certificate, root) as PEM, and the TSA key.
pub fn chain(issuer: &str, now: DateTime<Utc>) -> Result<ServiceSecret, String> {
    let made = || -> Result<ServiceSecret, openssl::error::ErrorStack> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
        let root_key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let tsa_key = PKey::from_ec_key(EcKey::generate(&group)?)?;
        let host = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "depot".into());
        let not_before = Asn1Time::from_unix(now.timestamp() - 3600)?;
        let certificate = |subject: &str,
                           key: &PKey<Private>,
                           days: i64,
                           issuer: Option<(&X509, &PKey<Private>)>|
         -> Result<X509, openssl::error::ErrorStack> {
            let mut name = X509NameBuilder::new()?;
            name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "eHealth depot")?;
            name.append_entry_by_nid(Nid::COMMONNAME, subject)?;
            let name = name.build();
            let mut serial = BigNum::new()?;
            serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
            let mut builder = X509Builder::new()?;
            builder.set_version(2)?;
            let serial = Asn1Integer::from_bn(&serial)?;
            builder.set_serial_number(&serial)?;
            builder.set_subject_name(&name)?;
            builder.set_issuer_name(issuer.map_or(&name, |(cert, _)| cert.subject_name()))?;
            builder.set_pubkey(key)?;
            builder.set_not_before(&not_before)?;
            let not_after = Asn1Time::from_unix(now.timestamp() + days * 86_400)?;
            builder.set_not_after(&not_after)?;
            let ski = SubjectKeyIdentifier::new()
                .build(&builder.x509v3_context(issuer.map(|(cert, _)| cert.as_ref()), None))?;
            builder.append_extension(ski)?;
            match issuer {
                None => {
                    builder.append_extension(
                        BasicConstraints::new().critical().ca().pathlen(0).build()?,
                    )?;
                    builder.append_extension(
                        KeyUsage::new()
                            .critical()
                            .key_cert_sign()
                            .crl_sign()
                            .build()?,
                    )?;
                }
                Some((cert, _)) => {
                    builder.append_extension(BasicConstraints::new().critical().build()?)?;
                    builder.append_extension(
                        KeyUsage::new()
                            .critical()
                            .digital_signature()
                            .non_repudiation()
                            .build()?,
                    )?;
                    builder.append_extension(
                        ExtendedKeyUsage::new().critical().time_stamping().build()?,
                    )?;
                    let aki = AuthorityKeyIdentifier::new()
                        .keyid(true)
                        .build(&builder.x509v3_context(Some(cert), None))?;
                    builder.append_extension(aki)?;
                }
            }
            builder.sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())?;
            Ok(builder.build())
        };
        let root = certificate(&format!("{host} TSA root"), &root_key, 20 * 365, None)?;
        let tsa = certificate(
            &format!("{host} time-stamp authority"),
            &tsa_key,
            10 * 365,
            Some((&root, &root_key)),
        )?;
        let mut public = String::from_utf8_lossy(&tsa.to_pem()?).into_owned();
        public.push_str(&String::from_utf8_lossy(&root.to_pem()?));
        Ok(ServiceSecret {
            public,
            private_der: tsa_key.private_key_to_pkcs8()?,
        })
    };
    made().map_err(|e| format!("generating the TSA key and certificate: {e}"))
}
