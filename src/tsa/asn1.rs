//! The ASN.1 types RFC 3161 needs beyond what `x509-tsp` and `cms` define: the ESS
//! signing-certificate attributes (RFC 2634, RFC 5035) and tolerant read-only views of
//! SignedData for verifying replies of other TSAs. Declared with `der`'s derive
//! macros: the `der` crate does every encoding and decoding.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitString, OctetString, OctetStringRef};
use der::{Decode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::name::GeneralNames;
use x509_cert::serial_number::SerialNumber;

/// id-ct-TSTInfo (RFC 3161 § 2.4.2).
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub use const_oid::db::rfc5911::{
    ID_AA_SIGNING_CERTIFICATE, ID_AA_SIGNING_CERTIFICATE_V_2, ID_CONTENT_TYPE, ID_MESSAGE_DIGEST,
    ID_SIGNED_DATA,
};
pub use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, ID_KP_TIME_STAMPING, ID_SHA_1,
    ID_SHA_256, ID_SHA_384, ID_SHA_512, RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION,
    SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};

/// `PKIStatusInfo` (RFC 3161 § 2.4.2) with `failInfo` as a plain BIT STRING: the
/// `cmpv2` crate's flag type numbers its bits as masks, not positions, so it cannot
/// say `badDataFormat` (bit 5) or `badAlg` (bit 0).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct StatusInfo {
    pub status: cmpv2::status::PkiStatus,
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

/// `TimeStampResp` (RFC 3161 § 2.4.2) over [`StatusInfo`].
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampReply {
    pub status: StatusInfo,
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<cms::content_info::ContentInfo>,
}

/// The `PKIFailureInfo` bits RFC 3161 § 2.4.2 names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureInfo {
    BadAlg = 0,
    BadRequest = 2,
    BadDataFormat = 5,
    TimeNotAvailable = 14,
    UnacceptedPolicy = 15,
    UnacceptedExtension = 16,
    AddInfoNotAvailable = 17,
    SystemFailure = 25,
}

impl FailureInfo {
    const ALL: [FailureInfo; 8] = [
        Self::BadAlg,
        Self::BadRequest,
        Self::BadDataFormat,
        Self::TimeNotAvailable,
        Self::UnacceptedPolicy,
        Self::UnacceptedExtension,
        Self::AddInfoNotAvailable,
        Self::SystemFailure,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::BadAlg => "badAlg",
            Self::BadRequest => "badRequest",
            Self::BadDataFormat => "badDataFormat",
            Self::TimeNotAvailable => "timeNotAvailable",
            Self::UnacceptedPolicy => "unacceptedPolicy",
            Self::UnacceptedExtension => "unacceptedExtension",
            Self::AddInfoNotAvailable => "addInfoNotAvailable",
            Self::SystemFailure => "systemFailure",
        }
    }

    /// The named-bit BIT STRING with this one bit set (DER: no trailing zero bits).
    pub fn bits(self) -> der::Result<BitString> {
        let position = self as usize;
        let mut bytes = vec![0u8; position / 8 + 1];
        bytes[position / 8] = 0x80 >> (position % 8);
        BitString::new(7 - (position % 8) as u8, bytes)
    }

    /// The named bits set in a received `failInfo`.
    pub fn of(bits: &BitString) -> Vec<&'static str> {
        let set: Vec<bool> = bits.bits().collect();
        Self::ALL
            .into_iter()
            .filter(|f| set.get(*f as usize).copied().unwrap_or(false))
            .map(Self::name)
            .collect()
    }
}

/// `IssuerSerial` (RFC 5035 § 4).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    pub issuer: GeneralNames,
    pub serial_number: SerialNumber,
}

/// `ESSCertIDv2` (RFC 5035 § 4): `hashAlgorithm` DEFAULT id-sha256, so it is absent
/// (`None`) when SHA-256 is used.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificateV2` (RFC 5035 § 3); the policies are not used here.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
}

/// `ESSCertID` (RFC 2634 § 5.4.1): a SHA-1 hash. Read only, for older TSAs.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertId {
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificate` (RFC 2634 § 5.4). Read only.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificate {
    pub certs: Vec<EssCertId>,
}

/// SignedData as a verifier reads it. Unlike `cms::signed_data::SignedData` it keeps
/// the certificates as a plain list (other TSAs, `openssl ts -reply` among them, may
/// list a certificate twice, which a DER SET OF forbids) and every signer's signed
/// attributes as the bytes that were signed.
#[derive(Clone, Debug, Sequence)]
pub struct SignedDataView<'a> {
    pub version: CmsVersion,
    pub digest_algorithms: AnyRef<'a>,
    pub encap_content_info: EncapsulatedContentInfo,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub certificates: Option<Vec<AnyRef<'a>>>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub crls: Option<AnyRef<'a>>,
    pub signer_infos: AnyRef<'a>,
}

/// SignerInfo with its signed attributes as received (see [`SignedDataView`]).
#[derive(Clone, Debug, Sequence)]
pub struct SignerInfoView<'a> {
    pub version: CmsVersion,
    pub sid: SignerIdentifier,
    pub digest_alg: AlgorithmIdentifierOwned,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub signed_attrs: Option<AnyRef<'a>>,
    pub signature_algorithm: AlgorithmIdentifierOwned,
    pub signature: OctetStringRef<'a>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub unsigned_attrs: Option<AnyRef<'a>>,
}

/// The elements of a SET OF or SEQUENCE OF, in the order received, without the
/// ordering and uniqueness checks of `SetOfVec`.
pub fn elements<'a, T: Decode<'a>>(any: &AnyRef<'a>) -> der::Result<Vec<T>> {
    let mut reader = der::SliceReader::new(any.value())?;
    let mut out = Vec::new();
    while !der::Reader::is_finished(&reader) {
        out.push(der::Reader::decode(&mut reader)?);
    }
    Ok(out)
}

/// The signer as IssuerAndSerialNumber, for ESS and SignerIdentifier comparisons.
pub fn issuer_and_serial(cert: &x509_cert::Certificate) -> IssuerAndSerialNumber {
    IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    }
}
