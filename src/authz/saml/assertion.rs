//! The assertion before signing (SAML 2.0 Core § 2.3.3, in the schema's order): Issuer,
//! the XML-DSig template that libxmlsec1 fills, Subject with the holder-of-key
//! confirmation, Conditions, AuthnStatement, AttributeStatement. Every value goes
//! through quick-xml's writer, which escapes it.

use std::io;

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::Writer;
use quick_xml::events::BytesText;
use serde_json::Value;

use super::holder::{HolderKey, text};
use super::{AssertionInput, SamlError};

pub(super) const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub(super) const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XS: &str = "http://www.w3.org/2001/XMLSchema";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub(super) const NAMEID_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";
const HOLDER_OF_KEY: &str = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key";
const AC_UNSPECIFIED: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified";
const ATTRNAME_BASIC: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";

/// The identity members stated as attributes, in this order.
const IDENTITY_MEMBERS: [&str; 6] = ["profile", "ssin", "nihii", "quality", "cbe", "mandator"];

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The identity's attributes: `(name, value)` for each member present. `mandator`
/// (`{"type", "value"}`) is stated as `type:value`.
fn identity_attributes(identity: &Value) -> Result<Vec<(&'static str, String)>, SamlError> {
    let mut attributes = Vec::new();
    for name in IDENTITY_MEMBERS {
        let value = match identity.get(name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(m)) if name == "mandator" => {
                match (
                    m.get("type").and_then(Value::as_str),
                    m.get("value").and_then(Value::as_str),
                ) {
                    (Some(t), Some(v)) => format!("{t}:{v}"),
                    _ => return Err(SamlError::Identity("mandator needs type and value".into())),
                }
            }
            Some(_) => {
                return Err(SamlError::Identity(format!("{name} is not a string")));
            }
        };
        attributes.push((name, value));
    }
    Ok(attributes)
}

/// The unsigned assertion with an empty enveloped signature over `#id`, whose KeyInfo
/// already holds the signing certificate (`certificate`: base64 DER): samael's
/// `sign_xml` loads the bare key, so libxmlsec1 has no certificate of its own to write
/// there; KeyInfo is outside what the signature covers.
pub(super) fn template(
    issuer: &str,
    id: &str,
    certificate: &str,
    input: &AssertionInput<'_>,
) -> Result<Vec<u8>, SamlError> {
    let holder = HolderKey::parse(input.holder)?;
    let attributes = identity_attributes(input.identity)?;
    let issued = instant(input.issued_at);
    let mut w = Writer::new(Vec::new());
    w.create_element("saml:Assertion")
        .with_attributes([
            ("xmlns:saml", SAML),
            ("xmlns:ds", DS),
            ("xmlns:xs", XS),
            ("xmlns:xsi", XSI),
            ("ID", id),
            ("Version", "2.0"),
            ("IssueInstant", issued.as_str()),
        ])
        .write_inner_content(|w| {
            text(w, "saml:Issuer", issuer)?;
            signature(w, id, certificate)?;
            w.create_element("saml:Subject").write_inner_content(|w| {
                w.create_element("saml:NameID")
                    .with_attribute(("Format", NAMEID_UNSPECIFIED))
                    .write_text_content(BytesText::new(input.name_id))?;
                w.create_element("saml:SubjectConfirmation")
                    .with_attribute(("Method", HOLDER_OF_KEY))
                    .write_inner_content(|w| {
                        w.create_element("saml:SubjectConfirmationData")
                            .with_attribute(("xsi:type", "saml:KeyInfoConfirmationDataType"))
                            .write_inner_content(|w| holder.write(w))?;
                        Ok(())
                    })?;
                Ok(())
            })?;
            w.create_element("saml:Conditions")
                .with_attributes([
                    ("NotBefore", issued.as_str()),
                    ("NotOnOrAfter", instant(input.not_on_or_after).as_str()),
                ])
                .write_inner_content(|w| {
                    w.create_element("saml:AudienceRestriction")
                        .write_inner_content(|w| text(w, "saml:Audience", input.audience))?;
                    Ok(())
                })?;
            // AuthnContext must name a class or a declaration: without an acr, the
            // "unspecified" class says that none is known.
            w.create_element("saml:AuthnStatement")
                .with_attribute(("AuthnInstant", issued.as_str()))
                .write_inner_content(|w| {
                    w.create_element("saml:AuthnContext")
                        .write_inner_content(|w| {
                            let class = input.acr.unwrap_or(AC_UNSPECIFIED);
                            text(w, "saml:AuthnContextClassRef", class)
                        })?;
                    Ok(())
                })?;
            w.create_element("saml:AttributeStatement")
                .write_inner_content(|w| {
                    for (name, value) in &attributes {
                        attribute(w, name, std::slice::from_ref(value))?;
                    }
                    // Always present, even empty, so the statement is never empty.
                    attribute(w, "permissions", input.permissions)
                })?;
            Ok(())
        })?;
    Ok(w.into_inner())
}

/// `<saml:Attribute Name>` with one `xs:string` value each.
fn attribute(w: &mut Writer<Vec<u8>>, name: &str, values: &[String]) -> io::Result<()> {
    w.create_element("saml:Attribute")
        .with_attributes([("Name", name), ("NameFormat", ATTRNAME_BASIC)])
        .write_inner_content(|w| {
            for value in values {
                w.create_element("saml:AttributeValue")
                    .with_attribute(("xsi:type", "xs:string"))
                    .write_text_content(BytesText::new(value))?;
            }
            Ok(())
        })?;
    Ok(())
}

/// The enveloped-signature template (XML-DSig § 6.6.4; exclusive c14n, RSA-SHA256,
/// SHA-256). `xs` is used only inside attribute values (`xsi:type="xs:string"`), which
/// exclusive c14n does not see: the InclusiveNamespaces PrefixList keeps its binding
/// under the signature.
fn signature(w: &mut Writer<Vec<u8>>, id: &str, certificate: &str) -> io::Result<()> {
    let algorithm = |w: &mut Writer<Vec<u8>>, name: &str, uri: &str| -> io::Result<()> {
        w.create_element(name)
            .with_attribute(("Algorithm", uri))
            .write_empty()?;
        Ok(())
    };
    let reference = format!("#{id}");
    w.create_element("ds:Signature").write_inner_content(|w| {
        w.create_element("ds:SignedInfo").write_inner_content(|w| {
            algorithm(w, "ds:CanonicalizationMethod", EXC_C14N)?;
            algorithm(w, "ds:SignatureMethod", RSA_SHA256)?;
            w.create_element("ds:Reference")
                .with_attribute(("URI", reference.as_str()))
                .write_inner_content(|w| {
                    w.create_element("ds:Transforms").write_inner_content(|w| {
                        algorithm(w, "ds:Transform", ENVELOPED)?;
                        w.create_element("ds:Transform")
                            .with_attribute(("Algorithm", EXC_C14N))
                            .write_inner_content(|w| {
                                w.create_element("ec:InclusiveNamespaces")
                                    .with_attributes([("xmlns:ec", EXC_C14N), ("PrefixList", "xs")])
                                    .write_empty()?;
                                Ok(())
                            })?;
                        Ok(())
                    })?;
                    algorithm(w, "ds:DigestMethod", SHA256)?;
                    w.create_element("ds:DigestValue").write_empty()?;
                    Ok(())
                })?;
            Ok(())
        })?;
        w.create_element("ds:SignatureValue").write_empty()?;
        w.create_element("ds:KeyInfo").write_inner_content(|w| {
            w.create_element("ds:X509Data")
                .write_inner_content(|w| text(w, "ds:X509Certificate", certificate))?;
            Ok(())
        })?;
        Ok(())
    })?;
    Ok(())
}
