//! The ASN.1 types RFC 3161 needs beyond what `x509-tsp` and `cms` define: a TSTInfo
//! whose `genTime` carries fractional seconds, the ESS signing-certificate attributes
//! (RFC 2634, RFC 5035) and tolerant read-only views of SignedData for verifying
//! replies of other TSAs. Declared with `der`'s derive macros: the `der` crate does
//! every encoding and decoding, except the text of a fractional GeneralizedTime,
//! which `der` 0.7 cannot write and the `asn1` crate (pyca's rust-asn1) writes and
//! reads.

use chrono::{DateTime, Datelike, DurationRound, TimeDelta, Timelike, Utc};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitString, Int, OctetString, OctetStringRef};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag,
    Writer,
};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::serial_number::SerialNumber;
use x509_tsp::{Accuracy, MessageImprint, TspVersion};

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

/// `TSTInfo` (RFC 3161 § 2.4.2), as `x509_tsp::TstInfo` but with a [`GenTime`].
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    pub version: TspVersion,
    pub policy: ObjectIdentifier,
    pub message_imprint: MessageImprint,
    pub serial_number: Int,
    pub gen_time: GenTime,
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// `genTime` (RFC 3161 § 2.4.2): a DER GeneralizedTime in UTC that may carry a
/// fraction of a second, "YYYYMMDDhhmmss[.s…]Z" without trailing zeros (and without
/// the dot when the fraction is zero).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GenTime(::asn1::GeneralizedTime);

impl GenTime {
    /// `time` to the millisecond (what the TSA issues).
    pub fn from_millis(time: DateTime<Utc>) -> der::Result<Self> {
        let time = time
            .duration_trunc(TimeDelta::milliseconds(1))
            .map_err(|_| der::Tag::GeneralizedTime.value_error())?;
        let invalid = |_| der::Tag::GeneralizedTime.value_error();
        let date = ::asn1::DateTime::new(
            u16::try_from(time.year()).map_err(|_| der::Tag::GeneralizedTime.value_error())?,
            time.month() as u8,
            time.day() as u8,
            time.hour() as u8,
            time.minute() as u8,
            time.second() as u8,
        )
        .map_err(invalid)?;
        let nanos = time.nanosecond();
        Ok(Self(
            ::asn1::GeneralizedTime::new(date, (nanos > 0).then_some(nanos)).map_err(invalid)?,
        ))
    }

    pub fn to_utc(&self) -> DateTime<Utc> {
        let d = self.0.as_datetime();
        chrono::NaiveDate::from_ymd_opt(i32::from(d.year()), d.month().into(), d.day().into())
            .and_then(|day| {
                day.and_hms_nano_opt(
                    d.hour().into(),
                    d.minute().into(),
                    d.second().into(),
                    self.0.nanoseconds().unwrap_or(0),
                )
            })
            .map(|t| t.and_utc())
            // Unreachable: `asn1` checked the date and the time of day when it read them.
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Whether the time says less than a second (a TSA that issues whole seconds only
    /// says nothing of where in that second the request came).
    pub fn has_fraction(&self) -> bool {
        self.0.nanoseconds().is_some()
    }

    /// The content octets, as `asn1` writes them.
    fn value(&self) -> der::Result<Vec<u8>> {
        let tlv = ::asn1::write_single(&self.0).map_err(|_| Tag::GeneralizedTime.value_error())?;
        Ok(AnyRef::from_der(&tlv)?.value().to_vec())
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.value()?.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.value()?)
    }
}

impl<'a> DecodeValue<'a> for GenTime {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let value = reader.read_vec(header.length)?;
        let tlv = AnyRef::new(Tag::GeneralizedTime, &value)?.to_der()?;
        ::asn1::parse_single::<::asn1::GeneralizedTime>(&tlv)
            .map(Self)
            .map_err(|_| Tag::GeneralizedTime.value_error())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(time: &str) -> String {
        let time = DateTime::parse_from_rfc3339(time).unwrap().to_utc();
        let der = GenTime::from_millis(time).unwrap().to_der().unwrap();
        assert_eq!(der[0], 0x18, "a GeneralizedTime");
        String::from_utf8(der[2..].to_vec()).unwrap()
    }

    #[test]
    fn gen_time_has_milliseconds_without_trailing_zeros() {
        assert_eq!(encoded("2026-12-02T19:39:28.137Z"), "20261202193928.137Z");
        assert_eq!(encoded("2026-12-02T19:39:28.130Z"), "20261202193928.13Z");
        assert_eq!(encoded("2026-12-02T19:39:28.100Z"), "20261202193928.1Z");
        assert_eq!(encoded("2026-12-02T19:39:28Z"), "20261202193928Z");
        // Below the millisecond is cut, never rounded up into a later time.
        assert_eq!(encoded("2026-12-02T19:39:28.1379Z"), "20261202193928.137Z");
    }

    #[test]
    fn gen_time_reads_back_what_it_wrote_and_other_tsas_precision() {
        let time = DateTime::parse_from_rfc3339("2026-12-02T19:39:28.137Z")
            .unwrap()
            .to_utc();
        let der = GenTime::from_millis(time).unwrap().to_der().unwrap();
        let read = GenTime::from_der(&der).unwrap();
        assert_eq!(read.to_utc(), time);
        assert!(read.has_fraction());

        let whole = GenTime::from_der(b"\x18\x0f20261202193928Z").unwrap();
        assert!(!whole.has_fraction());
        assert_eq!(whole.to_utc().to_rfc3339(), "2026-12-02T19:39:28+00:00");
        let micros = GenTime::from_der(b"\x18\x1620261202193928.137412Z").unwrap();
        assert_eq!(micros.to_utc().timestamp_subsec_micros(), 137_412);
    }

    #[test]
    fn gen_time_refuses_what_der_forbids() {
        for bad in [
            &b"\x18\x1320261202193928.130Z"[..], // a trailing zero
            b"\x18\x1020261202193928.Z",         // a dot without digits
            b"\x18\x1320261202193928+0100",      // not UTC
            b"\x18\x0e20261202193928",           // no Z
        ] {
            assert!(GenTime::from_der(bad).is_err(), "{bad:?}");
        }
    }
}
