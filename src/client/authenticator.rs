//! A software authenticator for this device's keys: it answers the keystore's
//! registration ceremony (`PublicKeyCredentialCreationOptions`) with a credential for a
//! key the client generated and keeps (ES256, EdDSA, RS256 or PS256), attested by
//! `packed` self-attestation (W3C WebAuthn Level 2 §8.2: the credential key signs its
//! own attestation).
//!
//! It plays the client side of `navigator.credentials.create()` (§5.1.3) and
//! authenticatorMakeCredential (§6.3.2): CBOR through `serde_cbor_2`, hashes and the
//! signature through OpenSSL.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use openssl::bn::BigNumContext;
use openssl::ec::PointConversionForm;
use openssl::pkey::{PKey, Private};
use openssl::sha::sha256;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};

use super::ClientError;
use crate::keys::alg::Alg;
/// Authenticator data flags: user present, user verified, attested credential data.
const FLAGS: u8 = 0x01 | 0x04 | 0x40;

/// The `RegistrationResponseJSON` for `key`, to sign with `alg`, answering `options`
/// (the `publicKey` member of `POST /keys/registrations`) as seen from `origin`. The
/// credential id is random; it becomes the key's `kid`.
pub fn make_credential(
    options: &Value,
    origin: &str,
    key: &PKey<Private>,
    alg: Alg,
) -> Result<Value, ClientError> {
    let field = |name: &str, value: Option<&str>| {
        value
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Protocol(format!("the registration options lack {name}")))
    };
    let challenge = field("challenge", options["challenge"].as_str())?;
    let rp_id = field("rp.id", options["rp"]["id"].as_str())?;
    let offered = options["pubKeyCredParams"]
        .as_array()
        .is_some_and(|p| p.iter().any(|p| p["alg"] == json!(alg.cose())));
    if !offered {
        return Err(ClientError::Protocol(format!(
            "the keystore does not offer {} (COSE {})",
            alg.jose(),
            alg.cose()
        )));
    }
    if !alg.fits(key) {
        return Err(ClientError::Crypto(format!(
            "{} needs {}",
            alg.jose(),
            alg.key_kind()
        )));
    }
    // §5.8.1.1: these members in this order, the challenge exactly as received.
    let client_data = json!({
        "type": "webauthn.create",
        "challenge": challenge,
        "origin": origin,
        "crossOrigin": false,
    })
    .to_string()
    .into_bytes();

    let crypto = |e: openssl::error::ErrorStack| ClientError::Crypto(e.to_string());
    let mut credential_id = [0u8; 32];
    openssl::rand::rand_bytes(&mut credential_id).map_err(crypto)?;

    // §6.1: rpIdHash ‖ flags ‖ signCount ‖ aaguid ‖ idLength ‖ credentialId ‖ COSE key.
    let mut auth_data = sha256(rp_id.as_bytes()).to_vec();
    auth_data.push(FLAGS);
    auth_data.extend_from_slice(&0u32.to_be_bytes());
    auth_data.extend_from_slice(&[0; 16]);
    auth_data.extend_from_slice(&32u16.to_be_bytes());
    auth_data.extend_from_slice(&credential_id);
    auth_data.extend(cbor(&cose_key(key, alg)?)?);

    // §8.2, self attestation: the credential key signs authData ‖ SHA-256(clientData).
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&sha256(&client_data));
    let signature = alg.sign(key, &signed).map_err(crypto)?;

    let statement = map([
        ("alg", Cbor::Integer(alg.cose().into())),
        ("sig", Cbor::Bytes(signature)),
    ]);
    let attestation = cbor(&map([
        ("fmt", Cbor::Text("packed".into())),
        ("attStmt", statement),
        ("authData", Cbor::Bytes(auth_data)),
    ]))?;
    let id = B64.encode(credential_id);
    Ok(json!({
        "id": id,
        "rawId": id,
        "type": "public-key",
        "response": {
            "clientDataJSON": B64.encode(&client_data),
            "attestationObject": B64.encode(attestation),
            "transports": ["internal"],
        },
        "clientExtensionResults": {},
    }))
}

/// The COSE_Key of `key` for `alg`: RFC 9053 §7.1 (EC2 on P-256), §7.2 (OKP
/// Ed25519), RFC 8230 §4 (RSA).
fn cose_key(key: &PKey<Private>, alg: Alg) -> Result<Cbor, ClientError> {
    let crypto = |e: openssl::error::ErrorStack| ClientError::Crypto(e.to_string());
    let label = |n: i128, v: Cbor| (Cbor::Integer(n), v);
    let alg_id = Cbor::Integer(alg.cose().into());
    match alg {
        Alg::Es256 => {}
        Alg::EdDsa => {
            let x = key.raw_public_key().map_err(crypto)?;
            return Ok(Cbor::Map(BTreeMap::from([
                label(1, Cbor::Integer(1)),
                label(3, alg_id),
                label(-1, Cbor::Integer(6)),
                label(-2, Cbor::Bytes(x)),
            ])));
        }
        Alg::Rs256 | Alg::Ps256 => {
            let rsa = key.rsa().map_err(crypto)?;
            return Ok(Cbor::Map(BTreeMap::from([
                label(1, Cbor::Integer(3)),
                label(3, alg_id),
                label(-1, Cbor::Bytes(rsa.n().to_vec())),
                label(-2, Cbor::Bytes(rsa.e().to_vec())),
            ])));
        }
    }
    let ec = key.ec_key().map_err(crypto)?;
    let mut ctx = BigNumContext::new().map_err(crypto)?;
    let point = ec
        .public_key()
        .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
        .map_err(crypto)?;
    if point.len() != 65 {
        return Err(ClientError::Crypto("not a P-256 key".into()));
    }
    let (x, y) = point[1..].split_at(32);
    Ok(Cbor::Map(BTreeMap::from([
        label(1, Cbor::Integer(2)),
        label(3, alg_id),
        label(-1, Cbor::Integer(1)),
        label(-2, Cbor::Bytes(x.to_vec())),
        label(-3, Cbor::Bytes(y.to_vec())),
    ])))
}

fn map<const N: usize>(entries: [(&str, Cbor); N]) -> Cbor {
    Cbor::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Cbor::Text(k.to_owned()), v))
            .collect(),
    )
}

fn cbor(value: &Cbor) -> Result<Vec<u8>, ClientError> {
    serde_cbor_2::to_vec(value).map_err(|e| ClientError::Crypto(format!("CBOR: {e}")))
}
