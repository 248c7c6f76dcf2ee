//! `GET /saml/metadata`'s document (SAML 2.0 Metadata § 2.3.2, § 2.4.3): an
//! EntityDescriptor for the issuer whose IDPSSODescriptor publishes the signing
//! certificate in a `KeyDescriptor use="signing"`.

use quick_xml::Writer;

use super::SamlError;
use super::assertion::{DS, NAMEID_UNSPECIFIED};
use super::holder::text;

const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The schema requires a SingleSignOnService. Assertions are obtained by the OAuth
/// token exchange at the token endpoint; its grant type names that "binding".
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// `certificate`: the signing certificate, base64 DER.
pub(super) fn document(
    issuer: &str,
    token_endpoint: &str,
    certificate: &str,
) -> Result<String, SamlError> {
    let mut w = Writer::new(Vec::new());
    w.create_element("md:EntityDescriptor")
        .with_attributes([("xmlns:md", MD), ("xmlns:ds", DS), ("entityID", issuer)])
        .write_inner_content(|w| {
            w.create_element("md:IDPSSODescriptor")
                .with_attribute(("protocolSupportEnumeration", PROTOCOL))
                .write_inner_content(|w| {
                    w.create_element("md:KeyDescriptor")
                        .with_attribute(("use", "signing"))
                        .write_inner_content(|w| {
                            w.create_element("ds:KeyInfo").write_inner_content(|w| {
                                w.create_element("ds:X509Data").write_inner_content(|w| {
                                    text(w, "ds:X509Certificate", certificate)
                                })?;
                                Ok(())
                            })?;
                            Ok(())
                        })?;
                    text(w, "md:NameIDFormat", NAMEID_UNSPECIFIED)?;
                    w.create_element("md:SingleSignOnService")
                        .with_attributes([
                            ("Binding", TOKEN_EXCHANGE),
                            ("Location", token_endpoint),
                        ])
                        .write_empty()?;
                    Ok(())
                })?;
            Ok(())
        })?;
    let mut xml = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    xml.push('\n');
    xml.push_str(&String::from_utf8_lossy(&w.into_inner()));
    Ok(xml)
}
