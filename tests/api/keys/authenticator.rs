//! A small software WebAuthn authenticator and client, playing the external authenticator in
//! integration tests.
//!
//! `webauthn-authenticator-rs` (`SoftPasskey`, `SoftToken`) only makes well-formed ES256
//! credentials. The tests also need what a real but unusual, or broken, authenticator might send:
//! Ed25519 keys (EdDSA), RSA keys (RS256 and PS256, at 2048 and 1024 bits), an ES384 key (an
//! algorithm the server does not offer), attestation certificates of every key type (`packed` with
//! `x5c`, see `attestation.rs`), a wrong attestation signature or `alg`, a response without the
//! User Present flag, `fmt: "none"`, and authenticator data hashed over the wrong RP ID.
//! So this module is an independent authenticator built directly from primitives: `openssl` for
//! keys, hashes and signatures and `serde_cbor_2` for CBOR. It implements the client side of
//! `navigator.credentials.create()` (W3C WebAuthn Level 2 §5.1.3) and authenticatorMakeCredential
//! (§6.3.2) in the plainest way, with packed self attestation or attestation by a certificate
//! (§8.2), or none attestation (§8.7).
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
use openssl::x509::X509;
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};

/// The kind of credential key pair the authenticator generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256 (COSE alg -7).
    Es256,
    /// ECDSA on P-384 with SHA-384 (COSE alg -35).
    Es384,
    /// EdDSA on Ed25519 (COSE alg -8).
    EdDsa,
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
            KeyKind::EdDsa => -8,
            KeyKind::Rs256 { .. } => -257,
            KeyKind::Ps256 { .. } => -37,
        }
    }
}

/// The attestation statement format of the attestation object.
#[derive(Debug, Clone)]
pub enum Format {
    /// `fmt: "packed"` with self attestation: `attStmt = {alg, sig}`, signed by the credential key.
    PackedSelf,
    /// `fmt: "packed"` with `attStmt = {alg, sig, x5c}`, signed by the attestation key.
    PackedX5c(Attester),
    /// `fmt: "none"` with an empty `attStmt`.
    None,
}

/// An attestation key and its certificate chain (leaf first), as an authenticator model holds it.
#[derive(Debug, Clone)]
pub struct Attester {
    pub kind: KeyKind,
    pub key: PKey<Private>,
    pub x5c: Vec<X509>,
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
    /// The authenticator's AAGUID.
    pub aaguid: [u8; 16],
    /// An `attStmt.alg` to state instead of the signing key's.
    pub statement_alg: Option<i64>,
    /// Whether to spoil the attestation signature after signing.
    pub bad_signature: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kind: KeyKind::Es256,
            format: Format::PackedSelf,
            user_present: true,
            rp_id: None,
            credential_id: None,
            aaguid: [0; 16],
            statement_alg: None,
            bad_signature: false,
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
    auth_data.extend_from_slice(&options.aaguid);
    let id_len = u16::try_from(credential_id.len()).expect("credential ID fits a u16 length");
    auth_data.extend_from_slice(&id_len.to_be_bytes());
    auth_data.extend_from_slice(&credential_id);
    auth_data.extend(serde_cbor_2::to_vec(&cose_key(options.kind, &key)).expect("COSE_Key CBOR"));

    // §8.2: sig over authenticatorData || clientDataHash, with the credential key itself or the
    // attestation key.
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&sha256(&client_data_json));
    let statement = |kind: KeyKind, key: &PKey<Private>| {
        let mut sig = sign(kind, key, &signed);
        if options.bad_signature {
            let last = sig.len() - 1;
            sig[last] ^= 0x01;
        }
        let alg = options.statement_alg.unwrap_or(kind.cose_alg());
        (Cbor::Integer(alg.into()), Cbor::Bytes(sig))
    };
    let (fmt, att_stmt) = match &options.format {
        Format::PackedSelf => {
            let (alg, sig) = statement(options.kind, &key);
            ("packed", cbor_map([(text("alg"), alg), (text("sig"), sig)]))
        }
        Format::PackedX5c(attester) => {
            let (alg, sig) = statement(attester.kind, &attester.key);
            let x5c = attester
                .x5c
                .iter()
                .map(|cert| Cbor::Bytes(cert.to_der().expect("certificate DER")))
                .collect();
            let statement = cbor_map([
                (text("alg"), alg),
                (text("sig"), sig),
                (text("x5c"), Cbor::Array(x5c)),
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
        Id::ED25519 => json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(key.raw_public_key().expect("Ed25519 public key")),
        }),
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
pub fn generate(kind: KeyKind) -> PKey<Private> {
    match kind {
        KeyKind::Es256 => ec_key(Nid::X9_62_PRIME256V1),
        KeyKind::Es384 => ec_key(Nid::SECP384R1),
        KeyKind::EdDsa => PKey::generate_ed25519().expect("Ed25519 key generation"),
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

/// The credential public key as a COSE_Key (RFC 9053 §7.1 EC2, §7.2 OKP, RFC 8230 §4 RSA).
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
        KeyKind::EdDsa => cbor_map([
            (Cbor::Integer(1), Cbor::Integer(1)),
            (Cbor::Integer(3), alg),
            (Cbor::Integer(-1), Cbor::Integer(6)),
            (
                Cbor::Integer(-2),
                Cbor::Bytes(key.raw_public_key().expect("Ed25519 public key")),
            ),
        ]),
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

/// Signs `data` as COSE algorithm `kind` prescribes (ECDSA signatures DER-encoded; Ed25519 over
/// the message itself, RFC 8032).
pub fn sign(kind: KeyKind, key: &PKey<Private>, data: &[u8]) -> Vec<u8> {
    let mut signer = match kind {
        KeyKind::EdDsa => Signer::new_without_digest(key),
        KeyKind::Es384 => Signer::new(MessageDigest::sha384(), key),
        _ => Signer::new(MessageDigest::sha256(), key),
    }
    .expect("signer");
    if let KeyKind::Ps256 { .. } = kind {
        signer
            .set_rsa_padding(Padding::PKCS1_PSS)
            .expect("PSS padding");
        signer
            .set_rsa_mgf1_md(MessageDigest::sha256())
            .expect("MGF1 SHA-256");
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
mod tests;
