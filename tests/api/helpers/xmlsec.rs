//! Independent XML-signature verifiers for the SAML assertions: the `xmlsec1` command
//! (libxmlsec1, what many SOAP stacks link) and Python's `signxml` (lxml and
//! `cryptography`, no libxmlsec1). `xml_tools_available()` says whether both are
//! installed; without them the tests that use them skip, unless `CI=true`, where a
//! missing tool fails the test.

use std::io::Write;
use std::process::{Command, Stdio};

/// Whether `xmlsec1` and python3's `signxml` can run. Prints why not and answers
/// false (the caller returns: skipped), or fails when `CI=true`.
pub fn xml_tools_available() -> bool {
    let xmlsec1 = Command::new("xmlsec1")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let signxml = Command::new("python3")
        .args(["-c", "import signxml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let available = xmlsec1 && signxml;
    if !available {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "xmlsec1 (apt install xmlsec1) or python3 signxml (pip install signxml) not installed, and CI=true"
        );
        eprintln!(
            "skipped: xmlsec1/signxml not installed (apt install xmlsec1; pip install signxml)"
        );
    }
    available
}

/// Whether `xmlsec1 --verify` accepts the enveloped signature of the SAML assertion
/// `xml` (the document's root, or one inside it) with the public key of `cert_pem`.
pub fn xmlsec1_verifies(xml: &str, cert_pem: &str) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("signed.xml");
    let certificate = dir.path().join("cert.pem");
    std::fs::write(&document, xml).unwrap();
    std::fs::write(&certificate, cert_pem).unwrap();
    // --pubkey-cert-pem: the certificate's key only (no chain to trust); --id-attr: the
    // assertion's `ID` is what `Reference URI="#…"` points at.
    let output = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(&certificate)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
        ])
        .arg(&document)
        .output()
        .expect("running xmlsec1");
    if !output.status.success() {
        eprintln!(
            "xmlsec1 refused: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    output.status.success()
}

/// signxml, expecting exactly one reference, RSA-SHA256 and SHA-256, verified with
/// `cert_pem` (the signature's own KeyInfo is not trusted).
const SIGNXML_VERIFY: &str = r#"
import json, sys
from signxml import XMLVerifier, SignatureConfiguration, SignatureMethod, DigestAlgorithm
given = json.load(sys.stdin)
config = SignatureConfiguration(
    expect_references=1,
    signature_methods=frozenset([SignatureMethod.RSA_SHA256]),
    digest_algorithms=frozenset([DigestAlgorithm.SHA256]),
)
try:
    XMLVerifier().verify(given["xml"].encode(), x509_cert=given["cert"], expect_config=config, id_attribute="ID")
except Exception as e:
    sys.stderr.write(f"{type(e).__name__}: {e}\n")
    sys.exit(1)
"#;

/// Whether Python's signxml accepts the signature of `xml` with `cert_pem`.
pub fn signxml_verifies(xml: &str, cert_pem: &str) -> bool {
    let mut child = Command::new("python3")
        .args(["-c", SIGNXML_VERIFY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running python3");
    let input = serde_json::json!({"xml": xml, "cert": cert_pem}).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if !output.status.success() {
        eprintln!(
            "signxml refused: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    output.status.success()
}
