//! Verification of an RFC 3161 reply, by whoever holds the TSA's roots: the depot for
//! the proofs it keeps, and `client::open` for the proof a message came with. Status,
//! imprint, nonce, the signed attributes, the signature, the signing-certificate
//! attribute, the chain to a root at `genTime`, the `timeStamping` key usage; and what
//! the timestamp says (RFC 3161 § 2.4.2), `genTime` with its accuracy.

use chrono::{DateTime, Utc};
use cmpv2::status::PkiStatus;
use cms::content_info::ContentInfo;
use cms::signed_data::SignerIdentifier;
use der::asn1::{AnyRef, Int, OctetString, Uint};
use der::{Decode, Encode, Tag, Tagged};
use openssl::bn::BigNum;
use openssl::hash::{MessageDigest, hash};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509PurposeId, X509StoreContext};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TspVersion};

use super::TsaError;
use super::asn1::{self, FailureInfo, SignedDataView, SignerInfoView, TimeStampReply, TstInfo};
use super::authority::timestamping_only;

/// What a verified timestamp says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub gen_time: DateTime<Utc>,
    /// How far from `gen_time` the TSA says the true time may be: its stated accuracy;
    /// for a whole-second `genTime` that states none, one second (the TSA may have cut
    /// or rounded the time to the second); zero for a fraction with no accuracy.
    pub uncertainty: chrono::TimeDelta,
    pub serial: String,
    pub policy: String,
}

impl Verified {
    /// The latest moment the TSA can have been asked: `gen_time` plus its uncertainty.
    pub fn latest(&self) -> DateTime<Utc> {
        self.gen_time + self.uncertainty
    }
}

/// RFC 3161 § 2.4.2: the accuracy of `genTime`, or what a missing one means here.
fn uncertainty(accuracy: Option<&Accuracy>, fraction: bool) -> chrono::TimeDelta {
    match accuracy {
        Some(a) => {
            // A year bounds an absurd accuracy (the arithmetic stays in range).
            let seconds = a.seconds.unwrap_or(0).min(366 * 86_400) as i64;
            chrono::TimeDelta::seconds(seconds)
                + chrono::TimeDelta::milliseconds(i64::from(a.millis.unwrap_or(0)))
                + chrono::TimeDelta::microseconds(i64::from(a.micros.unwrap_or(0)))
        }
        None if fraction => chrono::TimeDelta::zero(),
        None => chrono::TimeDelta::seconds(1),
    }
}

/// A TimeStampReq for `data`: its SHA-256 imprint, a random 64-bit nonce, `certReq`.
pub fn new_request(data: &[u8]) -> Result<TimeStampReq, String> {
    let err = |e: der::Error| e.to_string();
    let digest = hash(MessageDigest::sha256(), data).map_err(|e| e.to_string())?;
    let mut nonce = [0u8; 8];
    openssl::rand::rand_bytes(&mut nonce).map_err(|e| e.to_string())?;
    let nonce = Int::from(Uint::new(&nonce).map_err(err)?);
    let imprint = MessageImprint {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: asn1::ID_SHA_256,
            parameters: None,
        },
        hashed_message: OctetString::new(digest.to_vec()).map_err(err)?,
    };
    Ok(TimeStampReq {
        version: TspVersion::V1,
        message_imprint: imprint,
        req_policy: None,
        nonce: Some(nonce),
        cert_req: true,
        extensions: None,
    })
}

/// Verifies a TimeStampResp against the imprint (and nonce) that was asked.
pub fn verify_response(
    der: &[u8],
    imprint: &MessageImprint,
    nonce: Option<&Int>,
    anchors: &[X509],
) -> Result<Verified, TsaError> {
    let response = TimeStampReply::from_der(der)
        .map_err(|e| TsaError::Invalid(format!("not a DER TimeStampResp: {e}")))?;
    let status = &response.status;
    if !matches!(
        status.status,
        PkiStatus::Accepted | PkiStatus::GrantedWithMods
    ) {
        let text: Vec<&str> = status
            .status_string
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let failures = status
            .fail_info
            .as_ref()
            .map(FailureInfo::of)
            .unwrap_or_default();
        return Err(TsaError::Rejected(format!(
            "status {:?}, failInfo [{}]: {}",
            status.status,
            failures.join(", "),
            text.join(" ")
        )));
    }
    let token = response
        .time_stamp_token
        .ok_or_else(|| TsaError::Invalid("status granted but no token".into()))?
        .to_der()
        .map_err(|e| TsaError::Invalid(e.to_string()))?;
    verify_token(&token, imprint, nonce, anchors).map_err(TsaError::Invalid)
}

/// Verifies a TimeStampToken (CMS SignedData over a TSTInfo).
pub fn verify_token(
    der: &[u8],
    imprint: &MessageImprint,
    nonce: Option<&Int>,
    anchors: &[X509],
) -> Result<Verified, String> {
    let info = ContentInfo::from_der(der).map_err(|e| format!("not a ContentInfo: {e}"))?;
    if info.content_type != asn1::ID_SIGNED_DATA {
        return Err("the token is not a SignedData".into());
    }
    let signed_der = info.content.to_der().map_err(|e| e.to_string())?;
    let signed = SignedDataView::from_der(&signed_der)
        .map_err(|e| format!("the SignedData does not parse: {e}"))?;
    if signed.encap_content_info.econtent_type != asn1::ID_CT_TST_INFO {
        return Err("the signed content is not a TSTInfo".into());
    }
    let content = signed
        .encap_content_info
        .econtent
        .as_ref()
        .filter(|c| c.tag() == Tag::OctetString)
        .ok_or("the TSTInfo is missing")?
        .value();
    let tst = TstInfo::from_der(content).map_err(|e| format!("the TSTInfo does not parse: {e}"))?;
    if tst.message_imprint.hash_algorithm.oid != imprint.hash_algorithm.oid
        || tst.message_imprint.hashed_message != imprint.hashed_message
    {
        return Err("the timestamp is over other data (message imprint differs)".into());
    }
    if let Some(nonce) = nonce
        && tst.nonce.as_ref() != Some(nonce)
    {
        return Err("the nonce differs from the request's (a replayed or misrouted reply)".into());
    }

    let signers: Vec<SignerInfoView> =
        asn1::elements(&signed.signer_infos).map_err(|e| format!("signerInfos: {e}"))?;
    let [signer] = signers.as_slice() else {
        return Err(format!(
            "{} signers; a timestamp has exactly one",
            signers.len()
        ));
    };
    let mut certificates = Vec::new();
    for any in signed.certificates.iter().flatten() {
        if any.tag() == Tag::Sequence {
            let der = any.to_der().map_err(|e| e.to_string())?;
            certificates.push((
                X509::from_der(&der).map_err(|e| format!("a certificate does not parse: {e}"))?,
                der,
            ));
        }
    }
    for anchor in anchors {
        let der = anchor.to_der().map_err(|e| e.to_string())?;
        certificates.push((anchor.clone(), der));
    }
    let (certificate, certificate_der) = certificates
        .iter()
        .find(|(_, der)| identifies(&signer.sid, der))
        .ok_or("the signer's certificate is neither in the token nor a trust anchor")?;
    let parsed = x509_cert::Certificate::from_der(certificate_der).map_err(|e| e.to_string())?;

    let attributes = signer
        .signed_attrs
        .as_ref()
        .ok_or("the signer has no signed attributes")?;
    let attributes_list: Vec<Attribute> =
        asn1::elements(attributes).map_err(|e| format!("signed attributes: {e}"))?;
    check_attributes(
        &attributes_list,
        &signer.digest_alg,
        content,
        &parsed,
        certificate_der,
    )?;

    // RFC 5652 § 5.4: the signature covers the attributes' DER with the SET OF tag.
    let signed_bytes = AnyRef::new(Tag::Set, attributes.value())
        .and_then(|a| a.to_der())
        .map_err(|e| e.to_string())?;
    let digest = signature_digest(&signer.signature_algorithm, &signer.digest_alg)?;
    let key = certificate.public_key().map_err(|e| e.to_string())?;
    let good = openssl::sign::Verifier::new(digest, &key)
        .and_then(|mut v| v.verify_oneshot(signer.signature.as_bytes(), &signed_bytes))
        .unwrap_or(false);
    if !good {
        return Err("the signature does not verify with the signing certificate's key".into());
    }

    timestamping_only(&parsed)?;
    let gen_time = tst.gen_time.to_utc();
    chain(certificate, &certificates, anchors, gen_time)?;
    let serial = BigNum::from_slice(tst.serial_number.as_bytes())
        .and_then(|n| n.to_dec_str().map(|s| s.to_string()))
        .map_err(|e| e.to_string())?;
    Ok(Verified {
        gen_time,
        uncertainty: uncertainty(tst.accuracy.as_ref(), tst.gen_time.has_fraction()),
        serial,
        policy: tst.policy.to_string(),
    })
}

/// Whether the certificate (DER) is the one a SignerIdentifier names.
fn identifies(sid: &SignerIdentifier, der: &[u8]) -> bool {
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return false;
    };
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            cert.tbs_certificate.issuer == isn.issuer
                && cert.tbs_certificate.serial_number == isn.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => X509::from_der(der).is_ok_and(|c| {
            c.subject_key_id()
                .is_some_and(|id| id.as_slice() == ski.0.as_bytes())
        }),
    }
}

/// Content type, message digest and the ESS signing-certificate attribute (v2 with
/// any SHA-2, or v1 with SHA-1 from older TSAs), which binds the signer certificate.
fn check_attributes(
    attributes: &[Attribute],
    digest_alg: &AlgorithmIdentifierOwned,
    content: &[u8],
    signer: &x509_cert::Certificate,
    signer_der: &[u8],
) -> Result<(), String> {
    let single = |oid| -> Result<Option<der::asn1::Any>, String> {
        match attributes
            .iter()
            .filter(|a| a.oid == oid)
            .collect::<Vec<_>>()[..]
        {
            [] => Ok(None),
            [attribute] if attribute.values.len() == 1 => Ok(attribute.values.get(0).cloned()),
            _ => Err(format!("the signed attribute {oid} appears more than once")),
        }
    };
    let content_type = single(asn1::ID_CONTENT_TYPE)?
        .ok_or("no content-type attribute")?
        .decode_as::<const_oid::ObjectIdentifier>()
        .map_err(|e| e.to_string())?;
    if content_type != asn1::ID_CT_TST_INFO {
        return Err("the content-type attribute is not TSTInfo".into());
    }
    let digest = single(asn1::ID_MESSAGE_DIGEST)?
        .ok_or("no message-digest attribute")?
        .decode_as::<OctetString>()
        .map_err(|e| e.to_string())?;
    let expected = hash(digest_of(&digest_alg.oid)?, content).map_err(|e| e.to_string())?;
    if digest.as_bytes() != &*expected {
        return Err("the message-digest attribute does not match the TSTInfo".into());
    }
    let (algorithm, cert_hash, issuer_serial) =
        if let Some(v2) = single(asn1::ID_AA_SIGNING_CERTIFICATE_V_2)? {
            let v2: asn1::SigningCertificateV2 = v2.decode_as().map_err(|e| e.to_string())?;
            let first = v2
                .certs
                .into_iter()
                .next()
                .ok_or("an empty ESSCertIDv2 list")?;
            let algorithm = first.hash_algorithm.map_or(asn1::ID_SHA_256, |a| a.oid);
            (algorithm, first.cert_hash, first.issuer_serial)
        } else if let Some(v1) = single(asn1::ID_AA_SIGNING_CERTIFICATE)? {
            let v1: asn1::SigningCertificate = v1.decode_as().map_err(|e| e.to_string())?;
            let first = v1
                .certs
                .into_iter()
                .next()
                .ok_or("an empty ESSCertID list")?;
            (asn1::ID_SHA_1, first.cert_hash, first.issuer_serial)
        } else {
            return Err("no signing-certificate attribute (RFC 3161 § 2.4.1)".into());
        };
    let md = if algorithm == asn1::ID_SHA_1 {
        MessageDigest::sha1()
    } else {
        digest_of(&algorithm)?
    };
    let actual = hash(md, signer_der).map_err(|e| e.to_string())?;
    if cert_hash.as_bytes() != &*actual {
        return Err("the signing-certificate attribute names another certificate".into());
    }
    if let Some(issuer_serial) = issuer_serial
        && issuer_serial.serial_number != signer.tbs_certificate.serial_number
    {
        return Err("the signing-certificate attribute names another serial number".into());
    }
    Ok(())
}

fn digest_of(oid: &const_oid::ObjectIdentifier) -> Result<MessageDigest, String> {
    match *oid {
        asn1::ID_SHA_256 => Ok(MessageDigest::sha256()),
        asn1::ID_SHA_384 => Ok(MessageDigest::sha384()),
        asn1::ID_SHA_512 => Ok(MessageDigest::sha512()),
        other => Err(format!("digest algorithm {other} is not accepted")),
    }
}

/// The digest the signature algorithm implies (ECDSA or PKCS #1 v1.5 with SHA-2).
fn signature_digest(
    signature: &AlgorithmIdentifierOwned,
    digest: &AlgorithmIdentifierOwned,
) -> Result<MessageDigest, String> {
    match signature.oid {
        asn1::ECDSA_WITH_SHA_256 | asn1::SHA_256_WITH_RSA_ENCRYPTION => Ok(MessageDigest::sha256()),
        asn1::ECDSA_WITH_SHA_384 | asn1::SHA_384_WITH_RSA_ENCRYPTION => Ok(MessageDigest::sha384()),
        asn1::ECDSA_WITH_SHA_512 | asn1::SHA_512_WITH_RSA_ENCRYPTION => Ok(MessageDigest::sha512()),
        asn1::RSA_ENCRYPTION => digest_of(&digest.oid),
        other => Err(format!("signature algorithm {other} is not accepted")),
    }
}

/// The signer certificate chains to an anchor, was valid at `genTime`, and may sign
/// timestamps (OpenSSL's `timestampsign` purpose).
fn chain(
    signer: &X509,
    certificates: &[(X509, Vec<u8>)],
    anchors: &[X509],
    at: DateTime<Utc>,
) -> Result<(), String> {
    let err = |e: openssl::error::ErrorStack| e.to_string();
    let mut store = X509StoreBuilder::new().map_err(err)?;
    for anchor in anchors {
        store.add_cert(anchor.clone()).map_err(err)?;
    }
    let mut param = X509VerifyParam::new().map_err(err)?;
    param.set_time(at.timestamp());
    param
        .set_purpose(X509PurposeId::TIMESTAMP_SIGN)
        .map_err(err)?;
    store.set_param(&param).map_err(err)?;
    let store = store.build();
    let mut untrusted = Stack::new().map_err(err)?;
    for (certificate, _) in certificates {
        untrusted.push(certificate.clone()).map_err(err)?;
    }
    let mut context = X509StoreContext::new().map_err(err)?;
    let outcome = context
        .init(&store, signer, &untrusted, |c| {
            let ok = c.verify_cert()?;
            Ok((ok, c.error().error_string().to_owned()))
        })
        .map_err(err)?;
    match outcome {
        (true, _) => Ok(()),
        (false, reason) => Err(format!(
            "the signing certificate does not chain to a trusted root: {reason}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accuracy(seconds: Option<u64>, millis: Option<i16>, micros: Option<i16>) -> Accuracy {
        Accuracy {
            seconds,
            millis,
            micros,
        }
    }

    #[test]
    fn the_latest_moment_a_timestamp_allows() {
        use chrono::TimeDelta as D;
        // Ours: milliseconds, accuracy 1 ms.
        let ours = accuracy(None, Some(1), None);
        assert_eq!(uncertainty(Some(&ours), true), D::milliseconds(1));
        // Another TSA's stated accuracy is taken as it is, with or without a fraction.
        let other = accuracy(Some(2), Some(500), Some(7));
        assert_eq!(
            uncertainty(Some(&other), false),
            D::milliseconds(2_500) + D::microseconds(7)
        );
        // A whole second and no accuracy: the time may have been cut to the second.
        assert_eq!(uncertainty(None, false), D::seconds(1));
        // A fraction and no accuracy: the time as stated.
        assert_eq!(uncertainty(None, true), D::zero());
        // An absurd accuracy stays in range.
        let absurd = accuracy(Some(u64::MAX), None, None);
        assert_eq!(uncertainty(Some(&absurd), false), D::days(366));
    }
}
