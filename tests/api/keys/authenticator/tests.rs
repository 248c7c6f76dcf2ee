//! The test authenticator checked against webauthn-rs-core's verifier and OpenSSL.

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
