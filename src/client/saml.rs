//! SAML 2.0 holder-of-key assertions from the client's side (API.md "Token exchange"):
//! the service's signing certificate from its metadata (`GET /saml/metadata`, SAML 2.0
//! Metadata § 2.4.1 `KeyDescriptor use="signing"`), and an assertion checked the way a
//! SOAP service would before trusting it: its enveloped XML signature verified with
//! that certificate by libxmlsec1 (through samael), RSA-SHA256 or ECDSA-SHA256 only,
//! and then only what the signature covers is read — the `Issuer`, the `NameID`, the
//! audiences, and the key of the `holder-of-key` subject confirmation (SAML 2.0
//! Holder-of-Key Assertion Profile § 2.5: a `ds:KeyInfo` with an XML-DSig 1.1
//! `ECKeyValue`, an `RSAKeyValue` or a `DEREncodedKeyValue`).

mod xml;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, PKey, PKeyRef, Public};
use openssl::rsa::Rsa;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};

use super::ClientError;
use xml::Element;

/// SAML 2.0 Holder-of-Key Assertion Profile § 2.5.
pub const HOLDER_OF_KEY: &str = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key";

/// The service's SAML metadata: who it is and the certificate its assertions verify
/// with.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub entity_id: String,
    /// DER.
    pub certificate: Vec<u8>,
}

/// What a verified assertion says, read from the signed content only.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    pub audiences: Vec<String>,
    pub not_on_or_after: Option<String>,
    /// The key of the holder-of-key confirmation.
    pub holder: PKey<Public>,
}

impl VerifiedAssertion {
    /// Whether the holder-of-key is `key` (its public half).
    pub fn held_by<T: HasPublic>(&self, key: &PKeyRef<T>) -> bool {
        self.holder.public_eq(key)
    }
}

fn refused(what: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(format!("the SAML assertion: {what}"))
}

/// `GET /saml/metadata` of the service at `issuer`.
pub async fn metadata(http: &reqwest::Client, issuer: &str) -> Result<Metadata, ClientError> {
    let url = format!("{}/saml/metadata", issuer.trim_end_matches('/'));
    let unreachable = |e: reqwest::Error| ClientError::Unreachable {
        url: url.clone(),
        detail: e.to_string(),
    };
    let response = http.get(&url).send().await.map_err(unreachable)?;
    let status = response.status();
    let text = response.text().await.map_err(unreachable)?;
    if !status.is_success() {
        return Err(ClientError::Refused {
            method: "GET",
            path: "/saml/metadata".into(),
            status: status.as_u16(),
            detail: text.chars().take(300).collect(),
        });
    }
    parse_metadata(&text)
}

/// The `entityID` and the signing certificate of a metadata document.
pub fn parse_metadata(text: &str) -> Result<Metadata, ClientError> {
    let bad = |what: &str| ClientError::Protocol(format!("the SAML metadata: {what}"));
    let elements = xml::parse(text).map_err(|e| bad(&e))?;
    let root = elements
        .first()
        .filter(|e| e.name == "EntityDescriptor")
        .ok_or_else(|| bad("not an EntityDescriptor"))?;
    let entity_id = root
        .attribute("entityID")
        .ok_or_else(|| bad("no entityID"))?;
    let certificate = elements
        .iter()
        .filter(|e| e.name == "X509Certificate")
        .find(|e| {
            xml::ancestor(&elements, e, "KeyDescriptor")
                .is_some_and(|d| d.attribute("use").is_none_or(|u| u == "signing"))
        })
        .ok_or_else(|| bad("no signing certificate"))?;
    Ok(Metadata {
        entity_id: entity_id.to_owned(),
        certificate: base64(&certificate.text).map_err(|e| bad(&e))?,
    })
}

/// Verifies the signature of `assertion` with `certificate` (DER) and reads what it
/// covers; refused when the signature does not verify, or the signed content is not
/// a holder-of-key assertion.
pub fn verify(assertion: &str, certificate: &[u8]) -> Result<VerifiedAssertion, ClientError> {
    let signed = XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        assertion,
        &[CertificateDer::from(certificate.to_vec())],
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&[
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::EcdsaSha256,
        ]),
    )
    .map_err(|e| refused(format!("the signature does not verify: {e}")))?;
    read_signed(&signed)
}

/// Reads a signed assertion (its signature already verified).
fn read_signed(signed: &str) -> Result<VerifiedAssertion, ClientError> {
    let elements = xml::parse(signed).map_err(refused)?;
    let root = elements
        .first()
        .filter(|e| e.name == "Assertion")
        .ok_or_else(|| refused("what is signed is not a saml:Assertion"))?;
    let child_of_root = |name: &str| {
        elements
            .iter()
            .find(|e| e.name == name && e.parent == Some(0))
    };
    let subject = child_of_root("Subject").ok_or_else(|| refused("no Subject"))?;
    let in_subject = |name: &str| {
        elements
            .iter()
            .find(|e| e.name == name && e.parent == Some(subject.index))
    };
    let confirmation = elements
        .iter()
        .find(|e| {
            e.name == "SubjectConfirmation"
                && e.parent == Some(subject.index)
                && e.attribute("Method") == Some(HOLDER_OF_KEY)
        })
        .ok_or_else(|| refused("no holder-of-key SubjectConfirmation"))?;
    let holder = holder_key(&elements, confirmation)?;
    let conditions = child_of_root("Conditions");
    Ok(VerifiedAssertion {
        id: root.attribute("ID").unwrap_or_default().to_owned(),
        issuer: child_of_root("Issuer")
            .map(|e| e.text.trim().to_owned())
            .ok_or_else(|| refused("no Issuer"))?,
        name_id: in_subject("NameID")
            .map(|e| e.text.trim().to_owned())
            .ok_or_else(|| refused("no NameID"))?,
        audiences: elements
            .iter()
            .filter(|e| {
                e.name == "Audience"
                    && xml::ancestor(&elements, e, "Conditions").map(|c| c.index)
                        == conditions.map(|c| c.index)
            })
            .map(|e| e.text.trim().to_owned())
            .collect(),
        not_on_or_after: conditions
            .and_then(|c| c.attribute("NotOnOrAfter"))
            .map(str::to_owned),
        holder,
    })
}

/// The public key in the `ds:KeyInfo` of a holder-of-key confirmation.
fn holder_key(elements: &[Element], confirmation: &Element) -> Result<PKey<Public>, ClientError> {
    let within = |name: &str| {
        elements.iter().find(|e| {
            e.name == name
                && xml::ancestor(elements, e, "SubjectConfirmation").map(|c| c.index)
                    == Some(confirmation.index)
                && xml::ancestor(elements, e, "KeyInfo").is_some()
        })
    };
    let crypto = |e: openssl::error::ErrorStack| refused(format!("the holder key: {e}"));
    if let Some(point) = within("PublicKey") {
        let curve = within("NamedCurve")
            .and_then(|c| c.attribute("URI"))
            .ok_or_else(|| refused("an ECKeyValue without its NamedCurve"))?;
        let nid = match curve {
            "urn:oid:1.2.840.10045.3.1.7" => Nid::X9_62_PRIME256V1,
            "urn:oid:1.3.132.0.34" => Nid::SECP384R1,
            "urn:oid:1.3.132.0.35" => Nid::SECP521R1,
            other => return Err(refused(format!("the curve {other} is not supported"))),
        };
        let group = EcGroup::from_curve_name(nid).map_err(crypto)?;
        let mut context = BigNumContext::new().map_err(crypto)?;
        let point =
            EcPoint::from_bytes(&group, &base64(&point.text).map_err(refused)?, &mut context)
                .map_err(crypto)?;
        let key = EcKey::from_public_key(&group, &point).map_err(crypto)?;
        return PKey::from_ec_key(key).map_err(crypto);
    }
    if let (Some(modulus), Some(exponent)) = (within("Modulus"), within("Exponent")) {
        let number = |e: &Element| {
            base64(&e.text)
                .map_err(refused)
                .and_then(|b| BigNum::from_slice(&b).map_err(crypto))
        };
        let rsa =
            Rsa::from_public_components(number(modulus)?, number(exponent)?).map_err(crypto)?;
        return PKey::from_rsa(rsa).map_err(crypto);
    }
    if let Some(der) = within("DEREncodedKeyValue") {
        return PKey::public_key_from_der(&base64(&der.text).map_err(refused)?).map_err(crypto);
    }
    Err(refused("the holder-of-key KeyInfo holds no key value"))
}

/// XML-DSig's base64 (standard alphabet, whitespace allowed).
fn base64(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|e| format!("not base64: {e}"))
}

#[cfg(test)]
mod tests;
