//! The `packed` attestation statement's verification procedure (W3C WebAuthn Level 2
//! §8.2), for every algorithm the keystore offers. Signatures are verified with
//! OpenSSL (webauthn-rs-core 0.6 verifies neither EdDSA nor PS256, nor an Ed25519 or
//! RSA-PSS attestation certificate); the §8.2.1 certificate requirements and the
//! aaguid extension are checked by webauthn-rs-core's own functions on its parse of
//! the certificate. Whether the certificate chain is trusted is the caller's
//! decision (§7.1 steps 20–21).

use openssl::x509::X509;
use serde_cbor_2::Value as Cbor;
use webauthn_rs_core::attestation::{
    FidoGenCeAaguid, assert_packed_attest_req, validate_extension,
};
use webauthn_rs_core::proto::{ParsedAttestationData, SerialisableAttestationData};

use super::alg::Alg;
use super::cose::CredentialKey;

/// What a valid `packed` statement proves.
#[derive(Debug)]
pub enum Packed {
    /// §8.2 step 4: signed by the credential key itself.
    SelfAttestation,
    /// §8.2 step 2: signed by the attestation certificate, `x5c` leaf first, which
    /// meets §8.2.1; not yet known to be trusted.
    Certified(Vec<X509>),
}

/// Verifies `attStmt` over `authData ‖ clientDataHash`.
pub fn verify(
    att_stmt: &Cbor,
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
    credential: &CredentialKey,
    aaguid: &[u8; 16],
) -> Result<Packed, String> {
    // Step 1: attStmt = {alg, sig, x5c?}.
    let Cbor::Map(map) = att_stmt else {
        return Err("the packed attestation statement is not a CBOR map".into());
    };
    let member = |name: &str| map.get(&Cbor::Text(name.to_owned()));
    let alg_id = match member("alg") {
        Some(Cbor::Integer(n)) => *n,
        _ => return Err("the packed attestation statement has no integer alg".into()),
    };
    let Some(Cbor::Bytes(sig)) = member("sig") else {
        return Err("the packed attestation statement has no sig".into());
    };
    if member("ecdaaKeyId").is_some() {
        return Err("ECDAA attestation is not accepted".into());
    }
    let mut signed = auth_data.to_vec();
    signed.extend_from_slice(client_data_hash);

    let Some(x5c) = member("x5c") else {
        // Step 4: self attestation. The statement's alg is the credential key's.
        if i128::from(credential.alg.cose()) != alg_id {
            return Err(format!(
                "the attestation statement's alg (COSE {alg_id}) is not the credential key's ({}, COSE {})",
                credential.alg.jose(),
                credential.alg.cose()
            ));
        }
        return match credential.alg.verify(&credential.key, sig, &signed) {
            Ok(true) => Ok(Packed::SelfAttestation),
            Ok(false) | Err(_) => Err("the attestation signature does not verify".into()),
        };
    };

    // Step 2: attestation with a certificate, `x5c` = [attestnCert, caCert…].
    let Cbor::Array(items) = x5c else {
        return Err("x5c is not an array".into());
    };
    let ders = items
        .iter()
        .map(|item| match item {
            Cbor::Bytes(der) => Ok(der.clone()),
            _ => Err("an x5c element is not a byte string".to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let chain = ders
        .iter()
        .enumerate()
        .map(|(i, der)| {
            X509::from_der(der).map_err(|_| format!("x5c[{i}] is not an X.509 certificate"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = chain.first().ok_or("x5c is empty")?;
    let alg = Alg::from_cose(alg_id).ok_or_else(|| {
        format!(
            "the attestation algorithm COSE {alg_id} is not accepted (ES256, EdDSA, RS256, PS256)"
        )
    })?;
    let leaf_key = leaf
        .public_key()
        .map_err(|_| "the attestation certificate's key does not load".to_owned())?;
    if !alg.fits(&leaf_key) {
        return Err(format!(
            "the attestation certificate's key is not {} as the statement's alg {} needs",
            alg.key_kind(),
            alg.jose()
        ));
    }
    match alg.verify(&leaf_key, sig, &signed) {
        Ok(true) => {}
        Ok(false) | Err(_) => return Err("the attestation signature does not verify".into()),
    }
    // §8.2.1 and the id-fido-gen-ce-aaguid extension, as webauthn-rs-core checks them.
    let parsed =
        ParsedAttestationData::try_from(SerialisableAttestationData::Basic(vec![ders[0].clone()]))
            .map_err(|_| "the attestation certificate does not parse".to_owned())?;
    let ParsedAttestationData::Basic(parsed) = parsed else {
        return Err("the attestation certificate does not parse".into());
    };
    let attestn_cert = parsed
        .first()
        .ok_or("the attestation certificate does not parse")?;
    assert_packed_attest_req(attestn_cert).map_err(|_| {
        "the attestation certificate does not meet WebAuthn §8.2.1 (version 3; subject C, O, CN and OU \"Authenticator Attestation\"; basic constraints CA false; aaguid extension not critical)".to_owned()
    })?;
    validate_extension::<FidoGenCeAaguid>(attestn_cert, aaguid).map_err(|_| {
        "the attestation certificate's aaguid extension is not the authenticator data's aaguid"
            .to_owned()
    })?;
    Ok(Packed::Certified(chain))
}
