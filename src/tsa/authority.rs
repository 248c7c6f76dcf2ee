//! The co-hosted time-stamp authority (RFC 3161 with RFC 5816's ESSCertIDv2): checks
//! a TimeStampReq, and signs a TSTInfo into a CMS SignedData with OpenSSL.
//!
//! Its key and certificate are either the operator's (`DEPOT_TSA_CERT_FILE` and
//! `DEPOT_TSA_KEY_FILE`) or made at first start: a P-256 root that signs one P-256
//! TSA certificate (critical EKU `timeStamping`) and is then thrown away. The TSA
//! key is kept sealed under the master key, so that every instance signs with it.

use std::path::Path;

use chrono::{DateTime, Utc};
use cmpv2::status::PkiStatus;
use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
use cms::cert::CertificateChoices;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, Int, OctetString, SetOfVec, Uint};
use der::{Decode, Encode, Tag, Tagged};
use openssl::hash::{MessageDigest, hash};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::X509;
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, SignatureBitStringEncoding};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TspVersion};

use super::asn1::{
    ECDSA_WITH_SHA_256, EssCertIdV2, FailureInfo, GenTime, ID_AA_SIGNING_CERTIFICATE_V_2,
    ID_CT_TST_INFO, ID_KP_TIME_STAMPING, ID_SHA_256, ID_SHA_384, ID_SHA_512, IssuerSerial,
    SHA_256_WITH_RSA_ENCRYPTION, SigningCertificateV2, StatusInfo, TimeStampReply, TstInfo,
    issuer_and_serial,
};
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::secrets;

/// The name of the generated TSA key pair in `service_secret`.
const SECRET: &str = "tsa";

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("TSA configuration: {0}")]
    Config(String),
    #[error("TSA: openssl: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    #[error("TSA: DER: {0}")]
    Der(#[from] der::Error),
    #[error("TSA: CMS: {0}")]
    Cms(String),
    #[error("TSA: {0}")]
    Secret(#[from] secrets::SecretError),
}

/// Why a request is refused: the `failInfo` bit and a text for `statusString`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub failure: FailureInfo,
    pub text: String,
}

impl Refusal {
    fn new(failure: FailureInfo, text: impl Into<String>) -> Self {
        Self {
            failure,
            text: text.into(),
        }
    }
}

pub struct Authority {
    key: PKey<Private>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signer: x509_cert::Certificate,
    /// What `certReq` adds: the TSA certificate and the intermediates, not the root.
    certificates: Vec<CertificateChoices>,
    signing_certificate: Attribute,
    name: GeneralName,
    policy: ObjectIdentifier,
    accuracy: Option<Accuracy>,
    chain_pem: String,
    anchors: Vec<X509>,
}

impl Authority {
    /// The operator's key and certificate when configured, else the shared generated ones.
    pub async fn load(
        config: &Config,
        db: &sea_orm::DatabaseConnection,
        master: &MasterKey,
        now: DateTime<Utc>,
    ) -> Result<Self, AuthorityError> {
        let settings = &config.settings;
        let (chain, key) = match (&settings.tsa.tsa_cert_file, &settings.tsa.tsa_key_file) {
            (Some(cert), Some(key)) => (
                X509::stack_from_pem(&read(cert)?)?,
                PKey::private_key_from_pem(&read(key)?)?,
            ),
            (None, None) => {
                let issuer = config.issuer.clone();
                let secret = secrets::load_or_create(db, master, SECRET, now, || {
                    super::generated::chain(&issuer, now)
                })
                .await?;
                (
                    X509::stack_from_pem(secret.public.as_bytes())?,
                    PKey::private_key_from_pkcs8(&secret.private_der)?,
                )
            }
            _ => {
                return Err(AuthorityError::Config(
                    "DEPOT_TSA_CERT_FILE and DEPOT_TSA_KEY_FILE go together".into(),
                ));
            }
        };
        Self::new(
            chain,
            key,
            &settings.tsa.tsa_policy,
            settings.tsa.tsa_accuracy_millis,
        )
    }

    /// Checks that the key fits the first certificate and that the certificate may sign
    /// timestamps (RFC 3161 § 2.3: the critical EKU `timeStamping`, alone).
    pub fn new(
        chain: Vec<X509>,
        key: PKey<Private>,
        policy: &str,
        accuracy_millis: u32,
    ) -> Result<Self, AuthorityError> {
        let leaf = chain.first().ok_or_else(|| {
            AuthorityError::Config("DEPOT_TSA_CERT_FILE holds no PEM certificate".into())
        })?;
        if !leaf.public_key()?.public_eq(&key) {
            return Err(AuthorityError::Config(
                "the TSA key does not belong to the first certificate of the chain".into(),
            ));
        }
        let signature_algorithm = signature_algorithm(&key)?;
        let leaf_der = leaf.to_der()?;
        let signer = x509_cert::Certificate::from_der(&leaf_der)?;
        timestamping_only(&signer).map_err(AuthorityError::Config)?;
        let policy = ObjectIdentifier::new(policy).map_err(|e| {
            AuthorityError::Config(format!("DEPOT_TSA_POLICY {policy:?} is not an OID: {e}"))
        })?;
        let mut certificates = vec![CertificateChoices::Certificate(signer.clone())];
        let mut anchors = Vec::new();
        let mut chain_pem = String::new();
        for (i, cert) in chain.iter().enumerate() {
            let self_signed = cert.issued(cert) == openssl::x509::X509VerifyResult::OK;
            if self_signed {
                anchors.push(cert.clone());
            } else if i > 0 {
                certificates.push(CertificateChoices::Certificate(
                    x509_cert::Certificate::from_der(&cert.to_der()?)?,
                ));
            }
            chain_pem.push_str(&String::from_utf8_lossy(&cert.to_pem()?));
        }
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: None,
                cert_hash: OctetString::new(hash(MessageDigest::sha256(), &leaf_der)?.to_vec())?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(
                        signer.tbs_certificate.issuer.clone(),
                    )],
                    serial_number: signer.tbs_certificate.serial_number.clone(),
                }),
            }],
        };
        let signing_certificate = Attribute {
            oid: ID_AA_SIGNING_CERTIFICATE_V_2,
            values: SetOfVec::try_from(vec![Any::encode_from(&ess)?])?,
        };
        Ok(Self {
            key,
            signature_algorithm,
            name: GeneralName::DirectoryName(signer.tbs_certificate.subject.clone()),
            signer,
            certificates,
            signing_certificate,
            policy,
            accuracy: accuracy(accuracy_millis),
            chain_pem,
            anchors,
        })
    }

    /// The chain as served by `GET /tsa/certs`: the TSA certificate first.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The self-signed certificates of the chain: what a verifier of our tokens trusts.
    pub fn anchors(&self) -> &[X509] {
        &self.anchors
    }

    /// Parses and checks a TimeStampReq; a refusal says which `failInfo` to answer.
    pub fn check(&self, der: &[u8]) -> Result<TimeStampReq, Refusal> {
        let request = TimeStampReq::from_der(der).map_err(|e| {
            Refusal::new(
                FailureInfo::BadDataFormat,
                format!("the body is not a DER TimeStampReq (version 1): {e}"),
            )
        })?;
        check_imprint(&request.message_imprint)?;
        if let Some(asked) = request.req_policy
            && asked != self.policy
        {
            return Err(Refusal::new(
                FailureInfo::UnacceptedPolicy,
                format!(
                    "this TSA issues timestamps under policy {} only",
                    self.policy
                ),
            ));
        }
        if request.extensions.as_ref().is_some_and(|e| !e.is_empty()) {
            return Err(Refusal::new(
                FailureInfo::UnacceptedExtension,
                "this TSA supports no request extension",
            ));
        }
        Ok(request)
    }

    /// Signs a timestamp for a checked request: the TimeStampResp DER.
    pub fn sign(
        &self,
        request: &TimeStampReq,
        serial: u64,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, AuthorityError> {
        let tst_info = TstInfo {
            version: TspVersion::V1,
            policy: self.policy,
            message_imprint: request.message_imprint.clone(),
            serial_number: Int::from(Uint::new(&serial.to_be_bytes())?),
            gen_time: GenTime::from_millis(now)?,
            accuracy: self.accuracy.clone(),
            ordering: false,
            nonce: request.nonce.clone(),
            tsa: Some(self.name.clone()),
            extensions: None,
        };
        let content = EncapsulatedContentInfo {
            econtent_type: ID_CT_TST_INFO,
            econtent: Some(Any::new(Tag::OctetString, tst_info.to_der()?)?),
        };
        let signer = OpenSslSigner {
            key: &self.key,
            algorithm: &self.signature_algorithm,
        };
        let mut signer_info = SignerInfoBuilder::new(
            &signer,
            SignerIdentifier::IssuerAndSerialNumber(issuer_and_serial(&self.signer)),
            sha256(),
            &content,
            None,
        )
        .map_err(cms_error)?;
        signer_info
            .add_signed_attribute(self.signing_certificate.clone())
            .map_err(cms_error)?;
        let mut signed_data = SignedDataBuilder::new(&content);
        signed_data
            .add_digest_algorithm(sha256())
            .map_err(cms_error)?;
        if request.cert_req {
            for certificate in &self.certificates {
                signed_data
                    .add_certificate(certificate.clone())
                    .map_err(cms_error)?;
            }
        }
        signed_data
            .add_signer_info::<_, DerSignature>(signer_info)
            .map_err(cms_error)?;
        let token = signed_data.build().map_err(cms_error)?;
        Ok(TimeStampReply {
            status: StatusInfo {
                status: PkiStatus::Accepted,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(token),
        }
        .to_der()?)
    }
}

/// The stated accuracy of `genTime` (RFC 3161 § 2.4.2), in seconds and milliseconds;
/// none when zero.
fn accuracy(millis: u32) -> Option<Accuracy> {
    let whole = u64::from(millis / 1000);
    // Below 1000, so it fits the field's INTEGER (1..999).
    let rest = (millis % 1000) as i16;
    (millis > 0).then_some(Accuracy {
        seconds: (whole > 0).then_some(whole),
        millis: (rest > 0).then_some(rest),
        micros: None,
    })
}

/// A TimeStampResp with status `rejection`, the failure bit and a text.
pub fn refuse(refusal: &Refusal) -> Result<Vec<u8>, AuthorityError> {
    Ok(TimeStampReply {
        status: StatusInfo {
            status: PkiStatus::Rejection,
            status_string: Some(vec![refusal.text.clone()]),
            fail_info: Some(refusal.failure.bits()?),
        },
        time_stamp_token: None,
    }
    .to_der()?)
}

/// SHA-256, SHA-384 or SHA-512, with absent or NULL parameters, and a digest of the
/// algorithm's length.
fn check_imprint(imprint: &MessageImprint) -> Result<(), Refusal> {
    let algorithm = &imprint.hash_algorithm;
    let length = match algorithm.oid {
        ID_SHA_256 => 32,
        ID_SHA_384 => 48,
        ID_SHA_512 => 64,
        other => {
            return Err(Refusal::new(
                FailureInfo::BadAlg,
                format!("hash algorithm {other} is not accepted; use SHA-256, SHA-384 or SHA-512"),
            ));
        }
    };
    if algorithm
        .parameters
        .as_ref()
        .is_some_and(|p| p.tag() != Tag::Null || !p.value().is_empty())
    {
        return Err(Refusal::new(
            FailureInfo::BadDataFormat,
            "the hash algorithm's parameters must be absent or NULL",
        ));
    }
    let got = imprint.hashed_message.as_bytes().len();
    if got != length {
        return Err(Refusal::new(
            FailureInfo::BadDataFormat,
            format!(
                "the message imprint has {got} bytes; {} has {length}",
                algorithm.oid
            ),
        ));
    }
    Ok(())
}

/// RFC 3161 § 2.3: the certificate's only extended key usage is `timeStamping`, and
/// the extension is critical.
pub fn timestamping_only(cert: &x509_cert::Certificate) -> Result<(), String> {
    let eku = cert
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)
        .ok_or("the TSA certificate has no extended key usage (timeStamping is required)")?;
    let usages = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(eku.extn_value.as_bytes())
        .map_err(|e| format!("the extended key usage does not parse: {e}"))?;
    if usages.0 != [ID_KP_TIME_STAMPING] || !eku.critical {
        return Err(
            "the TSA certificate's extended key usage must be timeStamping only, critical".into(),
        );
    }
    Ok(())
}

fn sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    }
}

fn signature_algorithm(key: &PKey<Private>) -> Result<AlgorithmIdentifierOwned, AuthorityError> {
    match key.id() {
        Id::EC if key.ec_key()?.group().curve_name() == Some(Nid::X9_62_PRIME256V1) => {
            Ok(AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA_256,
                parameters: None,
            })
        }
        Id::RSA if key.bits() >= 2048 => Ok(AlgorithmIdentifierOwned {
            oid: SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        }),
        _ => Err(AuthorityError::Config(
            "the TSA key must be EC P-256 or RSA of at least 2048 bits".into(),
        )),
    }
}

fn cms_error(e: cms::builder::Error) -> AuthorityError {
    AuthorityError::Cms(format!("{e:?}"))
}

fn read(path: &Path) -> Result<Vec<u8>, AuthorityError> {
    std::fs::read(path).map_err(|e| AuthorityError::Config(format!("{}: {e}", path.display())))
}

/// Lets the `cms` builder sign through OpenSSL (SHA-256 with the TSA key).
struct OpenSslSigner<'a> {
    key: &'a PKey<Private>,
    algorithm: &'a AlgorithmIdentifierOwned,
}

/// A signature as OpenSSL returns it (DER ECDSA-Sig-Value, or the RSA block).
struct DerSignature(Vec<u8>);

impl signature::Keypair for OpenSslSigner<'_> {
    type VerifyingKey = ();
    fn verifying_key(&self) {}
}

impl DynSignatureAlgorithmIdentifier for OpenSslSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(self.algorithm.clone())
    }
}

impl signature::Signer<DerSignature> for OpenSslSigner<'_> {
    fn try_sign(&self, message: &[u8]) -> Result<DerSignature, signature::Error> {
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), self.key)
            .map_err(signature::Error::from_source)?;
        signer
            .sign_oneshot_to_vec(message)
            .map(DerSignature)
            .map_err(signature::Error::from_source)
    }
}

impl SignatureBitStringEncoding for DerSignature {
    fn to_bitstring(&self) -> der::Result<BitString> {
        BitString::from_bytes(&self.0)
    }
}
