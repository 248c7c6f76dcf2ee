//! An authenticator vendor's attestation PKI, for `packed` attestation with `x5c`: a root
//! (what the depot is given in `DEPOT_WEBAUTHN_TRUST_ROOTS`) and attestation certificates
//! meeting W3C WebAuthn Level 2 §8.2.1 (version 3; subject C, O, OU "Authenticator
//! Attestation", CN; basic constraints CA false; optionally the id-fido-gen-ce-aaguid
//! extension), for an attestation key of any kind. Built with the `openssl` crate, independently
//! of the service.

use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509, X509Builder, X509Extension, X509NameBuilder};

use super::authenticator::{self, Attester, KeyKind};

/// id-fido-gen-ce-aaguid.
const AAGUID_OID: &str = "1.3.6.1.4.1.45724.1.1.4";

/// What an attestation certificate says about itself.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The subject OU; §8.2.1 requires "Authenticator Attestation".
    pub ou: &'static str,
    /// Basic constraints CA (§8.2.1: false).
    pub ca: bool,
    /// The id-fido-gen-ce-aaguid extension, when present.
    pub aaguid: Option<[u8; 16]>,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            ou: "Authenticator Attestation",
            ca: false,
            aaguid: None,
        }
    }
}

/// Critical basic constraints CA and key usage keyCertSign + cRLSign: what a CA
/// certificate of a test PKI carries.
pub fn mark_as_ca(builder: &mut X509Builder) {
    builder
        .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
        .unwrap();
    builder
        .append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
}

/// A vendor's attestation root.
pub struct AttestationRoot {
    pub cert: X509,
    key: PKey<Private>,
}

impl AttestationRoot {
    /// A self-signed root with a key of `kind`.
    pub fn new(cn: &str, kind: KeyKind) -> Self {
        let key = authenticator::generate(kind);
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COUNTRYNAME, "BE").unwrap();
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "Test Vendor")
            .unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
        let name = name.build();
        let mut builder = builder(&key);
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        mark_as_ca(&mut builder);
        builder.sign(&key, digest_for(&key)).unwrap();
        AttestationRoot {
            cert: builder.build(),
            key,
        }
    }

    /// The root as a PEM file's contents.
    pub fn pem(&self) -> Vec<u8> {
        self.cert.to_pem().unwrap()
    }

    /// A §8.2.1 attestation certificate for a new attestation key of `kind`.
    pub fn attester(&self, kind: KeyKind) -> Attester {
        self.attester_shaped(kind, &Shape::default())
    }

    /// An attestation certificate for a new key of `kind`, shaped as `shape` says.
    pub fn attester_shaped(&self, kind: KeyKind, shape: &Shape) -> Attester {
        let key = authenticator::generate(kind);
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COUNTRYNAME, "BE").unwrap();
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "Test Vendor")
            .unwrap();
        name.append_entry_by_nid(Nid::ORGANIZATIONALUNITNAME, shape.ou)
            .unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, &format!("Test Authenticator {kind:?}"))
            .unwrap();
        let name = name.build();
        let mut builder = builder(&key);
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(self.cert.subject_name()).unwrap();
        let mut constraints = BasicConstraints::new();
        constraints.critical();
        if shape.ca {
            constraints.ca();
        }
        builder
            .append_extension(constraints.build().unwrap())
            .unwrap();
        if let Some(aaguid) = shape.aaguid {
            // extnValue = DER of OCTET STRING (16 bytes).
            let value = der::Encode::to_der(&der::asn1::OctetString::new(aaguid).unwrap()).unwrap();
            let extension = X509Extension::new_from_der(
                &Asn1Object::from_str(AAGUID_OID).unwrap(),
                false,
                &Asn1OctetString::new_from_bytes(&value).unwrap(),
            )
            .unwrap();
            builder.append_extension(extension).unwrap();
        }
        builder.sign(&self.key, digest_for(&self.key)).unwrap();
        Attester {
            kind,
            key,
            x5c: vec![builder.build()],
        }
    }
}

/// A version 3 certificate builder for `key`, valid from yesterday for a year.
fn builder(key: &PKey<Private>) -> X509Builder {
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_pubkey(key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(365).unwrap())
        .unwrap();
    builder
}

/// Ed25519 signs certificates without a separate digest.
fn digest_for(key: &PKey<Private>) -> MessageDigest {
    if key.id() == Id::ED25519 {
        MessageDigest::null()
    } else {
        MessageDigest::sha256()
    }
}
