//! A small software WebAuthn authenticator and client, playing the external authenticator in
//! integration tests.
//!
//! `webauthn-authenticator-rs` (`SoftPasskey`) only makes well-formed ES256 credentials. The tests
//! also need what a real but unusual, or broken, authenticator might send: RSA keys (RS256 and
//! PS256, at 2048 and 1024 bits), an ES384 key (an algorithm the server does not offer), a response
//! without the User Present flag, `fmt: "none"`, and authenticator data hashed over the wrong RP ID.
//! So this module is an independent authenticator built directly from primitives: `openssl` for
//! keys, hashes and signatures and `serde_cbor_2` for CBOR. It implements the client side of
//! `navigator.credentials.create()` (W3C WebAuthn Level 2 §5.1.3) and authenticatorMakeCredential
//! (§6.3.2) in the plainest way, with packed self attestation (§8.2) or none attestation (§8.7).
//!
//! The unit test at the bottom checks it against `webauthn-rs-core`'s verifier, so that the
//! authenticator is a faithful peer of a well-known relying party implementation.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::{BigNum, BigNumContext, BigNumRef};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::{Padding, Rsa};
use openssl::sha::sha256;
use openssl::sign::{RsaPssSaltlen, Signer};
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};

/// The kind of credential key pair the authenticator generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256 (COSE alg -7).
    Es256,
    /// ECDSA on P-384 with SHA-384 (COSE alg -35).
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (COSE alg -257), modulus of `bits` bits, e = 65537.
    Rs256 { bits: u32 },
    /// RSASSA-PSS with SHA-256, salt length 32 (COSE alg -37), modulus of `bits` bits, e = 65537.
    Ps256 { bits: u32 },
}

impl KeyKind {
    /// The COSE algorithm identifier (IANA "COSE Algorithms" registry).
    pub fn cose_alg(self) -> i64 {
        match self {
            KeyKind::Es256 => -7,
            KeyKind::Es384 => -35,
            KeyKind::Rs256 { .. } => -257,
            KeyKind::Ps256 { .. } => -37,
        }
    }
}

/// The attestation statement format of the attestation object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `fmt: "packed"` with self attestation: `attStmt = {alg, sig}`, signed by the credential key.
    PackedSelf,
    /// `fmt: "none"` with an empty `attStmt`.
    None,
}

/// How to build the credential; [`Options::default`] gives a correct ES256 packed self attestation.
#[derive(Debug, Clone)]
pub struct Options {
    /// The key pair to generate.
    pub kind: KeyKind,
    /// The attestation statement format.
    pub format: Format,
    /// Whether to set the User Present (UP) flag in the authenticator data.
    pub user_present: bool,
    /// An RP ID to hash into the authenticator data instead of the `rp.id` of the options.
    pub rp_id: Option<String>,
    /// A credential ID to use instead of a fresh random one (a cloned or replaying device).
    pub credential_id: Option<Vec<u8>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kind: KeyKind::Es256,
            format: Format::PackedSelf,
            user_present: true,
            rp_id: None,
            credential_id: None,
        }
    }
}

/// A credential made by [`register`].
pub struct Made {
    /// The `PublicKeyCredential` as `RegistrationResponseJSON`, ready to post to the server.
    pub credential: Value,
    /// The credential's private key.
    pub key: PKey<Private>,
    /// The credential ID.
    pub credential_id: Vec<u8>,
}

/// Authenticator data flag: User Present.
const FLAG_UP: u8 = 0x01;
/// Authenticator data flag: User Verified.
const FLAG_UV: u8 = 0x04;
/// Authenticator data flag: Attested credential data included.
const FLAG_AT: u8 = 0x40;

/// Creates a credential for `public_key`, the `PublicKeyCredentialCreationOptions` JSON object
/// (what the server returns under `"publicKey"`), as a browser at `origin` would.
///
/// The authenticator ignores `pubKeyCredParams`, `excludeCredentials` and the rest: it makes the
/// credential described by `options`, so a test can force what a well-behaved client would refuse.
pub fn register(public_key: &Value, origin: &str, options: &Options) -> Made {
    let challenge = public_key["challenge"]
        .as_str()
        .expect("publicKey.challenge is a string");
    let rp_id = match &options.rp_id {
        Some(rp_id) => rp_id.as_str(),
        None => public_key["rp"]["id"]
            .as_str()
            .expect("publicKey.rp.id is a string"),
    };

    // §5.8.1.1: the members in this order, `challenge` exactly as the relying party sent it.
    let client_data_json = format!(
        r#"{{"type":"webauthn.create","challenge":{},"origin":{},"crossOrigin":false}}"#,
        json!(challenge),
        json!(origin),
    )
    .into_bytes();

    let key = generate(options.kind);
    let credential_id = options.credential_id.clone().unwrap_or_else(|| {
        let mut fresh = vec![0; 32];
        openssl::rand::rand_bytes(&mut fresh).expect("random credential ID");
        fresh
    });

    // §6.1: rpIdHash || flags || signCount || attestedCredentialData.
    let mut flags = FLAG_UV | FLAG_AT;
    if options.user_present {
        flags |= FLAG_UP;
    }
    let mut auth_data = sha256(rp_id.as_bytes()).to_vec();
    auth_data.push(flags);
    auth_data.extend_from_slice(&0u32.to_be_bytes());
    // §6.5.1: aaguid || credentialIdLength || credentialId || credentialPublicKey.
    auth_data.extend_from_slice(&[0; 16]);
    let id_len = u16::try_from(credential_id.len()).expect("credential ID fits a u16 length");
    auth_data.extend_from_slice(&id_len.to_be_bytes());
    auth_data.extend_from_slice(&credential_id);
    auth_data.extend(serde_cbor_2::to_vec(&cose_key(options.kind, &key)).expect("COSE_Key CBOR"));

    let (fmt, att_stmt) = match options.format {
        Format::PackedSelf => {
            // §8.2: sig over authenticatorData || clientDataHash, with the credential key itself.
            let mut signed = auth_data.clone();
            signed.extend_from_slice(&sha256(&client_data_json));
            let statement = cbor_map([
                (text("alg"), Cbor::Integer(options.kind.cose_alg().into())),
                (text("sig"), Cbor::Bytes(sign(options.kind, &key, &signed))),
            ]);
            ("packed", statement)
        }
        Format::None => ("none", cbor_map([])),
    };
    let attestation_object = serde_cbor_2::to_vec(&cbor_map([
        (text("fmt"), text(fmt)),
        (text("attStmt"), att_stmt),
        (text("authData"), Cbor::Bytes(auth_data)),
    ]))
    .expect("attestation object CBOR");

    let id = URL_SAFE_NO_PAD.encode(&credential_id);
    let credential = json!({
        "id": id,
        "rawId": id,
        "type": "public-key",
        "response": {
            "clientDataJSON": URL_SAFE_NO_PAD.encode(&client_data_json),
            "attestationObject": URL_SAFE_NO_PAD.encode(&attestation_object),
            "transports": ["internal"],
        },
        "extensions": {},
    });
    Made {
        credential,
        key,
        credential_id,
    }
}

/// Lets `f` change the client data of `credential` (`response.clientDataJSON`), after signing: the
/// attestation signature no longer covers what the server receives.
pub fn tamper_client_data(credential: &mut Value, f: impl FnOnce(&mut Value)) {
    let field = &mut credential["response"]["clientDataJSON"];
    let bytes = URL_SAFE_NO_PAD
        .decode(field.as_str().expect("response.clientDataJSON is a string"))
        .expect("response.clientDataJSON is base64url");
    let mut client_data: Value = serde_json::from_slice(&bytes).expect("client data is JSON");
    f(&mut client_data);
    let bytes = serde_json::to_vec(&client_data).expect("client data serializes");
    *field = Value::String(URL_SAFE_NO_PAD.encode(bytes));
}

/// The public JWK (RFC 7518 §6.2, §6.3) of `key`, to compare with what the server stores.
pub fn jwk_of(key: &PKey<Private>) -> Value {
    match key.id() {
        Id::EC => {
            let ec = key.ec_key().expect("EC key");
            let (crv, size) = match ec.group().curve_name() {
                Some(Nid::X9_62_PRIME256V1) => ("P-256", 32),
                Some(Nid::SECP384R1) => ("P-384", 48),
                other => panic!("unexpected curve {other:?}"),
            };
            let (x, y) = coordinates(&ec, size);
            json!({
                "kty": "EC",
                "crv": crv,
                "x": URL_SAFE_NO_PAD.encode(x),
                "y": URL_SAFE_NO_PAD.encode(y),
            })
        }
        Id::RSA => {
            let rsa = key.rsa().expect("RSA key");
            json!({
                "kty": "RSA",
                "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
                "e": URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
            })
        }
        other => panic!("unexpected key type {other:?}"),
    }
}

/// Generates a key pair of `kind`.
fn generate(kind: KeyKind) -> PKey<Private> {
    match kind {
        KeyKind::Es256 => ec_key(Nid::X9_62_PRIME256V1),
        KeyKind::Es384 => ec_key(Nid::SECP384R1),
        KeyKind::Rs256 { bits } | KeyKind::Ps256 { bits } => {
            let e = BigNum::from_u32(65537).expect("e");
            let rsa = Rsa::generate_with_e(bits, &e).expect("RSA key generation");
            PKey::from_rsa(rsa).expect("RSA PKey")
        }
    }
}

fn ec_key(curve: Nid) -> PKey<Private> {
    let group = EcGroup::from_curve_name(curve).expect("curve");
    PKey::from_ec_key(EcKey::generate(&group).expect("EC key generation")).expect("EC PKey")
}

/// The affine coordinates of an EC public key, big-endian, left-padded to `size` bytes.
fn coordinates<T: openssl::pkey::HasPublic>(ec: &EcKey<T>, size: i32) -> (Vec<u8>, Vec<u8>) {
    let mut ctx = BigNumContext::new().expect("BN context");
    let mut x = BigNum::new().expect("BN");
    let mut y = BigNum::new().expect("BN");
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .expect("affine coordinates");
    let pad = |n: &BigNumRef| n.to_vec_padded(size).expect("coordinate fits the field");
    (pad(&x), pad(&y))
}

/// The credential public key as a COSE_Key (RFC 9053 §7.1 EC2, RFC 8230 §4 RSA).
fn cose_key(kind: KeyKind, key: &PKey<Private>) -> Cbor {
    let alg = Cbor::Integer(kind.cose_alg().into());
    match kind {
        KeyKind::Es256 | KeyKind::Es384 => {
            let (crv, size) = if kind == KeyKind::Es256 {
                (1, 32)
            } else {
                (2, 48)
            };
            let (x, y) = coordinates(&key.ec_key().expect("EC key"), size);
            cbor_map([
                (Cbor::Integer(1), Cbor::Integer(2)),
                (Cbor::Integer(3), alg),
                (Cbor::Integer(-1), Cbor::Integer(crv)),
                (Cbor::Integer(-2), Cbor::Bytes(x)),
                (Cbor::Integer(-3), Cbor::Bytes(y)),
            ])
        }
        KeyKind::Rs256 { .. } | KeyKind::Ps256 { .. } => {
            let rsa = key.rsa().expect("RSA key");
            cbor_map([
                (Cbor::Integer(1), Cbor::Integer(3)),
                (Cbor::Integer(3), alg),
                (Cbor::Integer(-1), Cbor::Bytes(rsa.n().to_vec())),
                (Cbor::Integer(-2), Cbor::Bytes(rsa.e().to_vec())),
            ])
        }
    }
}

/// Signs `data` as COSE algorithm `kind` prescribes (ECDSA signatures DER-encoded).
fn sign(kind: KeyKind, key: &PKey<Private>, data: &[u8]) -> Vec<u8> {
    let digest = match kind {
        KeyKind::Es384 => MessageDigest::sha384(),
        _ => MessageDigest::sha256(),
    };
    let mut signer = Signer::new(digest, key).expect("signer");
    if let KeyKind::Ps256 { .. } = kind {
        signer
            .set_rsa_padding(Padding::PKCS1_PSS)
            .expect("PSS padding");
        signer
            .set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
            .expect("PSS salt length");
    }
    signer.sign_oneshot_to_vec(data).expect("signature")
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_owned())
}

fn cbor_map<const N: usize>(entries: [(Cbor, Cbor); N]) -> Cbor {
    Cbor::Map(BTreeMap::from(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::sign::Verifier;
    use webauthn_rs_core::WebauthnCore;
    use webauthn_rs_core::error::WebauthnError;
    use webauthn_rs_core::proto::{
        COSEAlgorithm, COSEKeyType, RegisterPublicKeyCredential, RegistrationState,
    };

    const ORIGIN: &str = "http://localhost:8080";

    fn options(kind: KeyKind) -> Options {
        Options {
            kind,
            ..Options::default()
        }
    }

    fn parse(made: &Made) -> RegisterPublicKeyCredential {
        serde_json::from_value(made.credential.clone()).expect("RegisterPublicKeyCredential")
    }

    fn core() -> WebauthnCore {
        WebauthnCore::new_unsafe_experts_only(
            "x",
            "localhost",
            vec![url::Url::parse(ORIGIN).unwrap()],
            std::time::Duration::from_secs(60),
            None,
            None,
        )
    }

    /// A registration challenge offering ES256 and RS256, as the `publicKey` JSON object.
    fn challenge(core: &WebauthnCore) -> (Value, RegistrationState) {
        let builder = core
            .new_challenge_register_builder(b"user", "user", "User")
            .unwrap()
            .credential_algorithms(vec![COSEAlgorithm::ES256, COSEAlgorithm::RS256]);
        let (ccr, state) = core.generate_challenge_register(builder).unwrap();
        (serde_json::to_value(&ccr.public_key).unwrap(), state)
    }

    fn verify(
        options: &Options,
    ) -> (
        Made,
        Result<webauthn_rs_core::proto::Credential, WebauthnError>,
    ) {
        let core = core();
        let (public_key, state) = challenge(&core);
        let made = register(&public_key, ORIGIN, options);
        let result = core.register_credential(&parse(&made), &state, None);
        (made, result)
    }

    #[test]
    fn every_kind_deserializes_as_a_registration_response() {
        let public_key = challenge(&core()).0;
        for kind in [
            KeyKind::Es256,
            KeyKind::Es384,
            KeyKind::Rs256 { bits: 2048 },
            KeyKind::Rs256 { bits: 1024 },
            KeyKind::Ps256 { bits: 2048 },
        ] {
            for format in [Format::PackedSelf, Format::None] {
                let made = register(
                    &public_key,
                    ORIGIN,
                    &Options {
                        format,
                        ..options(kind)
                    },
                );
                let reg = parse(&made);
                assert_eq!(reg.raw_id, made.credential_id);
                assert_eq!(reg.type_, "public-key");
                let client_data: Value =
                    serde_json::from_slice(&reg.response.client_data_json).unwrap();
                assert_eq!(client_data["challenge"], public_key["challenge"]);
                assert_eq!(client_data["origin"], ORIGIN);
            }
        }
    }

    #[test]
    fn a_well_known_verifier_accepts_correct_credentials() {
        for options in [
            options(KeyKind::Es256),
            options(KeyKind::Rs256 { bits: 2048 }),
            Options {
                format: Format::None,
                ..Options::default()
            },
        ] {
            let (made, result) = verify(&options);
            let credential = result.unwrap_or_else(|e| panic!("{options:?}: {e:?}"));
            assert_eq!(credential.cred_id.as_slice(), made.credential_id.as_slice());
            // The key the verifier decoded from the COSE_Key is the one `jwk_of` describes.
            let jwk = jwk_of(&made.key);
            let b64 = |bytes: &[u8]| json!(URL_SAFE_NO_PAD.encode(bytes));
            match &credential.cred.key {
                COSEKeyType::EC_EC2(ec) => {
                    assert_eq!(
                        (b64(&ec.x), b64(&ec.y)),
                        (jwk["x"].clone(), jwk["y"].clone())
                    );
                }
                COSEKeyType::RSA(rsa) => {
                    assert_eq!(
                        (b64(&rsa.n), b64(&rsa.e)),
                        (jwk["n"].clone(), jwk["e"].clone())
                    );
                }
                other => panic!("unexpected key {other:?}"),
            }
        }
    }

    #[test]
    fn a_well_known_verifier_rejects_faulty_credentials() {
        let (_, result) = verify(&Options {
            user_present: false,
            ..Options::default()
        });
        assert!(
            matches!(result, Err(WebauthnError::UserNotPresent)),
            "{result:?}"
        );

        let (_, result) = verify(&Options {
            rp_id: Some("evil.example".into()),
            ..Options::default()
        });
        assert!(
            matches!(result, Err(WebauthnError::InvalidRPIDHash)),
            "{result:?}"
        );

        // Correctly signed, but with an algorithm the relying party did not offer.
        let (_, result) = verify(&options(KeyKind::Es384));
        assert!(
            matches!(result, Err(WebauthnError::CredentialAlteredAlgFromRequest)),
            "{result:?}"
        );

        let core = core();
        let (public_key, state) = challenge(&core);
        let mut made = register(&public_key, ORIGIN, &Options::default());
        // A member the verifier ignores: only the signature notices the change.
        tamper_client_data(&mut made.credential, |c| c["other"] = json!("x"));
        let result = core.register_credential(&parse(&made), &state, None);
        assert!(
            matches!(result, Err(WebauthnError::AttestationStatementSigInvalid)),
            "{result:?}"
        );
        tamper_client_data(&mut made.credential, |c| {
            c["origin"] = json!("http://evil.example")
        });
        let result = core.register_credential(&parse(&made), &state, None);
        assert!(
            matches!(result, Err(WebauthnError::InvalidRPOrigin)),
            "{result:?}"
        );
    }

    #[test]
    fn ps256_and_es384_signatures_verify_with_openssl() {
        for kind in [KeyKind::Es384, KeyKind::Ps256 { bits: 2048 }] {
            let key = generate(kind);
            let signature = sign(kind, &key, b"data");
            let digest = if kind == KeyKind::Es384 {
                MessageDigest::sha384()
            } else {
                MessageDigest::sha256()
            };
            let mut verifier = Verifier::new(digest, &key).unwrap();
            if kind != KeyKind::Es384 {
                verifier.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
                verifier
                    .set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                    .unwrap();
            }
            assert!(
                verifier.verify_oneshot(&signature, b"data").unwrap(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn jwk_matches_the_key() {
        let key = generate(KeyKind::Es384);
        let jwk = jwk_of(&key);
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-384");
        for c in ["x", "y"] {
            let bytes = URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap();
            assert_eq!(bytes.len(), 48);
        }
        assert_eq!(jwk_of(&generate(KeyKind::Es256))["crv"], "P-256");

        let key = generate(KeyKind::Rs256 { bits: 1024 });
        let jwk = jwk_of(&key);
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["e"], "AQAB");
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n, key.rsa().unwrap().n().to_vec());
        assert_eq!(n.len(), 128);
    }
}
