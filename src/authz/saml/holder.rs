//! The actor's public key as the holder-of-key confirmation states it (SAML 2.0
//! Holder-of-Key Assertion Profile § 2.5): a `ds:KeyInfo` with the key value (XML-DSig
//! § 4.4.2 `RSAKeyValue`; XML-DSig 1.1 § 4.5.2.3 `ECKeyValue`) and, when the JWK has
//! `x5c`, its certificates in `ds:X509Data`.

use std::io;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Rsa;
use openssl::x509::X509;
use quick_xml::Writer;
use quick_xml::events::BytesText;
use serde_json::Value;

use super::SamlError;

pub(super) const DSIG11: &str = "http://www.w3.org/2009/xmldsig11#";

/// How the key itself is written.
enum KeyValue {
    /// Modulus and exponent, big-endian without leading zeros (`ds:CryptoBinary`).
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    /// The curve's OID as a URN (RFC 3279 names) and the uncompressed point.
    Ec { curve: &'static str, point: Vec<u8> },
    /// Ed25519 / Ed448: the SubjectPublicKeyInfo DER.
    Der(Vec<u8>),
}

/// A checked holder key: parsed from the JWK, on its curve, matching its certificate.
pub(super) struct HolderKey {
    value: KeyValue,
    /// The `x5c` certificates (DER), the key's own first.
    certificates: Vec<Vec<u8>>,
}

fn invalid(message: impl Into<String>) -> SamlError {
    SamlError::Holder(message.into())
}

fn member<'a>(jwk: &'a Value, name: &str) -> Result<&'a str, SamlError> {
    jwk.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("the JWK has no {name:?}")))
}

fn bytes(jwk: &Value, name: &str) -> Result<Vec<u8>, SamlError> {
    URL_SAFE_NO_PAD
        .decode(member(jwk, name)?)
        .map_err(|e| invalid(format!("{name:?} is not base64url: {e}")))
}

impl HolderKey {
    /// A public JWK (EC P-256/P-384/P-521, RSA, OKP Ed25519/Ed448), possibly with `x5c`.
    pub fn parse(jwk: &Value) -> Result<Self, SamlError> {
        if jwk.get("d").is_some() {
            return Err(invalid("a private JWK; the holder key must be public"));
        }
        let (value, public) = match member(jwk, "kty")? {
            "RSA" => {
                let (n, e) = (bytes(jwk, "n")?, bytes(jwk, "e")?);
                let public = PKey::from_rsa(Rsa::from_public_components(
                    BigNum::from_slice(&n)?,
                    BigNum::from_slice(&e)?,
                )?)?;
                let minimal = |b: Vec<u8>| b.into_iter().skip_while(|&x| x == 0).collect();
                let value = KeyValue::Rsa {
                    modulus: minimal(n),
                    exponent: minimal(e),
                };
                (value, public)
            }
            "EC" => {
                let (nid, curve, size) = match member(jwk, "crv")? {
                    "P-256" => (Nid::X9_62_PRIME256V1, "urn:oid:1.2.840.10045.3.1.7", 32),
                    "P-384" => (Nid::SECP384R1, "urn:oid:1.3.132.0.34", 48),
                    "P-521" => (Nid::SECP521R1, "urn:oid:1.3.132.0.35", 66),
                    other => return Err(invalid(format!("unsupported curve {other:?}"))),
                };
                let (x, y) = (bytes(jwk, "x")?, bytes(jwk, "y")?);
                if x.len() != size || y.len() != size {
                    return Err(invalid("x and y do not have the curve's length"));
                }
                let point = [&[4u8][..], &x, &y].concat();
                let group = EcGroup::from_curve_name(nid)?;
                let mut context = BigNumContext::new()?;
                let on_curve = EcPoint::from_bytes(&group, &point, &mut context)
                    .and_then(|p| EcKey::from_public_key(&group, &p))
                    .and_then(|k| k.check_key().map(|()| k))
                    .map_err(|_| invalid("the point is not on the curve"))?;
                (KeyValue::Ec { curve, point }, PKey::from_ec_key(on_curve)?)
            }
            "OKP" => {
                let id = match member(jwk, "crv")? {
                    "Ed25519" => Id::ED25519,
                    "Ed448" => Id::ED448,
                    other => return Err(invalid(format!("unsupported curve {other:?}"))),
                };
                let public = PKey::public_key_from_raw_bytes(&bytes(jwk, "x")?, id)
                    .map_err(|_| invalid("x is not a key of the curve"))?;
                (KeyValue::Der(public.public_key_to_der()?), public)
            }
            other => return Err(invalid(format!("unsupported kty {other:?}"))),
        };
        let certificates = certificates(jwk, &public)?;
        Ok(Self {
            value,
            certificates,
        })
    }

    /// `<ds:KeyInfo>` with the key value, then `ds:X509Data` when there are certificates.
    pub fn write(&self, w: &mut Writer<Vec<u8>>) -> io::Result<()> {
        let b64 = |b: &[u8]| STANDARD.encode(b);
        w.create_element("ds:KeyInfo").write_inner_content(|w| {
            match &self.value {
                KeyValue::Rsa { modulus, exponent } => {
                    w.create_element("ds:KeyValue").write_inner_content(|w| {
                        w.create_element("ds:RSAKeyValue")
                            .write_inner_content(|w| {
                                text(w, "ds:Modulus", &b64(modulus))?;
                                text(w, "ds:Exponent", &b64(exponent))
                            })?;
                        Ok(())
                    })?;
                }
                KeyValue::Ec { curve, point } => {
                    w.create_element("ds:KeyValue").write_inner_content(|w| {
                        w.create_element("dsig11:ECKeyValue")
                            .with_attribute(("xmlns:dsig11", DSIG11))
                            .write_inner_content(|w| {
                                w.create_element("dsig11:NamedCurve")
                                    .with_attribute(("URI", *curve))
                                    .write_empty()?;
                                text(w, "dsig11:PublicKey", &b64(point))
                            })?;
                        Ok(())
                    })?;
                }
                // XML-DSig has no KeyValue form for EdDSA keys: XML-DSig 1.1 § 4.5.6's
                // DEREncodedKeyValue (a child of KeyInfo, not of KeyValue) holds the
                // SubjectPublicKeyInfo, which names the algorithm itself.
                KeyValue::Der(spki) => {
                    w.create_element("dsig11:DEREncodedKeyValue")
                        .with_attribute(("xmlns:dsig11", DSIG11))
                        .write_text_content(BytesText::new(&b64(spki)))?;
                }
            }
            if !self.certificates.is_empty() {
                w.create_element("ds:X509Data").write_inner_content(|w| {
                    self.certificates
                        .iter()
                        .try_for_each(|c| text(w, "ds:X509Certificate", &b64(c)))
                })?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// The `x5c` chain (RFC 7517 § 4.7: standard base64 DER), whose first certificate
/// must hold the JWK's key.
fn certificates(jwk: &Value, public: &PKey<Public>) -> Result<Vec<Vec<u8>>, SamlError> {
    let Some(x5c) = jwk.get("x5c") else {
        return Ok(Vec::new());
    };
    let entries = x5c
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("x5c is not a non-empty array"))?;
    let der = entries
        .iter()
        .map(|c| {
            c.as_str()
                .and_then(|s| STANDARD.decode(s).ok())
                .ok_or_else(|| invalid("an x5c entry is not base64"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let first = der
        .first()
        .and_then(|d| X509::from_der(d).ok())
        .ok_or_else(|| invalid("the first x5c entry is not a certificate"))?;
    if !first.public_key()?.public_eq(public) {
        return Err(invalid(
            "the first x5c certificate does not hold the JWK's key",
        ));
    }
    Ok(der)
}

/// `<name>text</name>`, the text escaped.
pub(super) fn text(w: &mut Writer<Vec<u8>>, name: &str, content: &str) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(content))?;
    Ok(())
}
