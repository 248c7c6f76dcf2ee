//! Test PKI made with the real `openssl` command: CAs, TSA certificates (with and
//! without the timeStamping EKU), an openssl `ts` configuration to run a TSA we did
//! not write, and a way to re-sign its replies the way an attacker would.

use std::path::{Path, PathBuf};
use std::process::Command;

use cms::cert::CertificateChoices;
use cms::signed_data::{CertificateSet, SignedData, SignerIdentifier, SignerInfos};
use depot::tsa::asn1::{
    EssCertIdV2, ID_AA_SIGNING_CERTIFICATE_V_2, IssuerSerial, SigningCertificateV2,
};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::x509::X509;
use x509_cert::ext::pkix::name::GeneralName;

/// Runs `openssl` in `dir`, asserting success; stdout and stderr together.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

/// Like [`openssl`], for commands expected to fail.
pub fn openssl_fails(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "openssl {args:?} succeeded:\n{text}"
    );
    text
}

/// A CA, TSA certificates under it, another CA, and an openssl `ts` configuration.
pub struct Pki {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Pki {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        for ca in ["ca", "foreign"] {
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            let subject = format!("/CN=test {ca} root");
            let (key, crt) = (format!("{ca}.key"), format!("{ca}.crt"));
            args.extend([
                "-keyout",
                &key,
                "-out",
                &crt,
                "-days",
                "30",
                "-subj",
                &subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ]);
            openssl(&dir, &args);
        }
        std::fs::write(
            dir.join("tsa.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("noeku.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
        )
        .unwrap();
        for (name, key, ext) in [
            ("tsa", "tsa.key", "tsa.ext"),
            ("other", "other.key", "tsa.ext"),
            ("noeku", "tsa.key", "noeku.ext"),
        ] {
            if !dir.join(key).exists() {
                openssl(
                    &dir,
                    &[
                        "genpkey",
                        "-algorithm",
                        "EC",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-out",
                        key,
                    ],
                );
            }
            let (csr, crt, subject) = (
                format!("{name}.csr"),
                format!("{name}.crt"),
                format!("/CN=test {name} TSA"),
            );
            openssl(
                &dir,
                &["req", "-new", "-key", key, "-subj", &subject, "-out", &csr],
            );
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "30",
                    "-extfile",
                    ext,
                    "-out",
                    &crt,
                ],
            );
        }
        let d = dir.display();
        let section = |name: &str, digests: &str, ess: &str| {
            format!(
                "[ {name} ]\ndir = {d}\nserial = $dir/serial-{name}\ncrypto_device = builtin\n\
                 signer_cert = $dir/tsa.crt\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\n\
                 default_policy = 1.2.3.4.1\ndigests = {digests}\naccuracy = secs:1\n\
                 tsa_name = yes\ness_cert_id_alg = {ess}\n"
            )
        };
        let config = format!(
            "[ tsa ]\ndefault_tsa = honest\n{}{}{}",
            section("honest", "sha256, sha384, sha512", "sha256"),
            section("ess_v1", "sha256", "sha1"),
            section("sha512_only", "sha512", "sha256"),
        );
        std::fs::write(dir.join("tsa.cnf"), config).unwrap();
        // An operator's chain file: the TSA certificate, then its root.
        let chain = ["tsa.crt", "ca.crt"].map(|f| std::fs::read_to_string(dir.join(f)).unwrap());
        std::fs::write(dir.join("chain.pem"), chain.concat()).unwrap();
        Self { _tmp: tmp, dir }
    }

    pub fn cert(&self, name: &str) -> X509 {
        X509::from_pem(&std::fs::read(self.dir.join(format!("{name}.crt"))).unwrap()).unwrap()
    }

    /// `openssl ts -reply` for `query` with a section of `tsa.cnf`.
    pub fn reply(&self, section: &str, query: &[u8]) -> Vec<u8> {
        let tmp = tempfile::tempdir_in(&self.dir).unwrap();
        std::fs::write(tmp.path().join("q.tsq"), query).unwrap();
        let config = self.dir.join("tsa.cnf");
        openssl(
            tmp.path(),
            &[
                "ts",
                "-reply",
                "-config",
                config.to_str().unwrap(),
                "-section",
                section,
                "-queryfile",
                "q.tsq",
                "-out",
                "r.tsr",
            ],
        );
        std::fs::read(tmp.path().join("r.tsr")).unwrap()
    }

    /// The reply with its SignerInfo signed again by `key`; with `cert`, that
    /// certificate replaces the signer's in the token, the signer identifier and the
    /// ESS signing-certificate attribute (so only what `cert` itself lacks is wrong).
    pub fn resign(&self, reply: &[u8], key: &str, cert: Option<&str>) -> Vec<u8> {
        let mut response = x509_tsp::TimeStampResp::from_der(reply).unwrap();
        let mut token = response.time_stamp_token.take().unwrap();
        let mut signed = SignedData::from_der(&token.content.to_der().unwrap()).unwrap();
        let mut signer = signed.signer_infos.0.get(0).unwrap().clone();
        if let Some(cert) = cert {
            let der = self.cert(cert).to_der().unwrap();
            let parsed = x509_cert::Certificate::from_der(&der).unwrap();
            signer.sid = SignerIdentifier::IssuerAndSerialNumber(
                depot::tsa::asn1::issuer_and_serial(&parsed),
            );
            let ess = SigningCertificateV2 {
                certs: vec![EssCertIdV2 {
                    hash_algorithm: None,
                    cert_hash: OctetString::new(
                        openssl::hash::hash(MessageDigest::sha256(), &der)
                            .unwrap()
                            .to_vec(),
                    )
                    .unwrap(),
                    issuer_serial: Some(IssuerSerial {
                        issuer: vec![GeneralName::DirectoryName(
                            parsed.tbs_certificate.issuer.clone(),
                        )],
                        serial_number: parsed.tbs_certificate.serial_number.clone(),
                    }),
                }],
            };
            let attributes: Vec<_> = signer
                .signed_attrs
                .take()
                .unwrap()
                .into_vec()
                .into_iter()
                .map(|mut a| {
                    if a.oid == ID_AA_SIGNING_CERTIFICATE_V_2 {
                        a.values =
                            SetOfVec::try_from(vec![Any::encode_from(&ess).unwrap()]).unwrap();
                    }
                    a
                })
                .collect();
            signer.signed_attrs = Some(SetOfVec::try_from(attributes).unwrap());
            signed.certificates = Some(CertificateSet(
                SetOfVec::try_from(vec![CertificateChoices::Certificate(parsed)]).unwrap(),
            ));
        }
        let key = PKey::private_key_from_pem(&std::fs::read(self.dir.join(key)).unwrap()).unwrap();
        let to_sign = signer.signed_attrs.as_ref().unwrap().to_der().unwrap();
        let mut signing = openssl::sign::Signer::new(MessageDigest::sha256(), &key).unwrap();
        signer.signature =
            OctetString::new(signing.sign_oneshot_to_vec(&to_sign).unwrap()).unwrap();
        signed.signer_infos = SignerInfos(SetOfVec::try_from(vec![signer]).unwrap());
        token.content = Any::encode_from(&signed).unwrap();
        response.time_stamp_token = Some(token);
        response.to_der().unwrap()
    }
}
